"""Curation on a Dask distributed cluster: ``--dask local:N`` or ``--dask tcp://scheduler:8786``.

The cluster only runs the plan and frame-write tasks of :func:`echomark.dicom.curate.curate`;
listing, probing, de-duplication and the manifest stay in this process, so the output is the
same bytes as a single-process run. Each task writes its frames atomically into the output
folder, which every worker must see at the same path (a shared file system on a multi-host
cluster), as it must see the input files and the spool folder of in-memory instances. A
worker that dies has its tasks rerun elsewhere by the scheduler; if the run stops anyway,
the same command resumes it.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from echomark.errors import ConfigError

#: Address prefix that asks for a LocalCluster on this machine.
LOCAL_PREFIX = "local:"


@dataclass(frozen=True)
class DaskTarget:
    """Where to run: ``local`` with ``workers`` processes, or a scheduler ``address``."""

    address: str = ""
    workers: int = 0

    @property
    def local(self) -> bool:
        """A LocalCluster started (and stopped) by us."""
        return not self.address


def parse_dask(spec: str) -> DaskTarget:
    """Parse a ``--dask`` value.

    >>> parse_dask("local:2")
    DaskTarget(address='', workers=2)
    >>> parse_dask("tcp://10.0.0.5:8786").address
    'tcp://10.0.0.5:8786'

    Raises:
        ConfigError: Neither ``local:N`` (N >= 1) nor a ``tcp://``/``tls://`` address.
    """
    if spec.startswith(LOCAL_PREFIX):
        n = spec.removeprefix(LOCAL_PREFIX)
        if n.isdigit() and int(n) >= 1:
            return DaskTarget(workers=int(n))
    elif spec.startswith(("tcp://", "tls://")) and len(spec) > 6:
        return DaskTarget(address=spec)
    raise ConfigError(f"--dask wants local:N or tcp://HOST:PORT, got {spec!r}")


@dataclass
class DaskPool:
    """An open cluster connection, as curation wants it.

    Attributes:
        executor: concurrent.futures view of the cluster.
        slots: Worker threads in all (curation balances frame chunks over them).
        fatal: Exceptions that mean lost workers rather than a bad input.
        dashboard: The dashboard link, if any.
    """

    executor: cf.Executor
    slots: int
    fatal: tuple[type[BaseException], ...]
    dashboard: str = ""


@contextlib.contextmanager
def dask_pool(target: DaskTarget, *, ocr: bool, timeout_s: float = 60.0) -> Iterator[DaskPool]:
    """Connect to (or start) the cluster for the length of the ``with`` block.

    A LocalCluster has one single-threaded worker process per ``workers``, listening on
    127.0.0.1 only, without a dashboard.

    Raises:
        ConfigError: dask.distributed is not installed, or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
        from distributed.client import FutureCancelledError
        from distributed.comm.core import CommClosedError
        from distributed.scheduler import KilledWorker
    except ModuleNotFoundError:
        raise ConfigError("--dask needs dask.distributed: pip install 'echomark[dask]'") from None

    with contextlib.ExitStack() as stack:
        if target.local:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=target.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(target.address, timeout=timeout_s))
            except (OSError, TimeoutError) as exc:
                raise ConfigError(
                    f"cannot reach the Dask scheduler ({type(exc).__name__})", file=target.address
                ) from None
        client.register_plugin(_worker_setup(ocr), name="echomark-curate")
        slots = sum(client.nthreads().values()) or 1
        yield DaskPool(
            executor=client.get_executor(pure=False),
            slots=slots,
            fatal=(KilledWorker, CommClosedError, FutureCancelledError),
        )


def _worker_setup(ocr: bool) -> Any:
    """A Dask worker plugin doing curation's per-process set-up on every (new) worker."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class CurateWorkerSetup(WorkerPlugin):
        def setup(self, worker: Any) -> None:
            from echomark.dicom.curate import init_worker

            init_worker(ocr)

    return CurateWorkerSetup()
