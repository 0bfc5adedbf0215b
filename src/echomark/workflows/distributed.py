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
from pathlib import Path
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
    """

    executor: cf.Executor
    slots: int
    fatal: tuple[type[BaseException], ...]


@contextlib.contextmanager
def dask_pool(target: DaskTarget, *, ocr: bool, timeout_s: float = 60.0) -> Iterator[DaskPool]:
    """Connect to (or start) the cluster for the length of the ``with`` block.

    A LocalCluster has one single-threaded worker process per ``workers``, listening on
    127.0.0.1 only; its status page (the dashboard) takes a free loopback port.

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
                    dashboard_address="127.0.0.1:0",
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


# ------------------------------------------------------------------ prediction over a png-cache

#: Sub-folder of the prediction output holding one JSON per finished shard.
SHARD_DIR = "dask-shards"
#: Batches per shard (a shard is always whole batches, so batches match a local run).
SHARD_BATCHES = 16
_engines: dict[tuple[str, str, str], Any] = {}


def _predict_shard(
    inputs: list[str],
    keys: list[str],
    checkpoint: str,
    engine: str,
    device: str,
    batch_size: int,
    path: str,
) -> list[tuple[str, str]]:
    """One Dask task: predict ``keys`` of the png-cache ``inputs`` and write ``path``."""
    from echomark.labels.io import write_labels
    from echomark.labels.schema import LabelFile, LabelFormat
    from echomark.predict.api import load_engine
    from echomark.predict.inputs import collect_frames
    from echomark.predict.predictor import predict_frames

    cache_key = (checkpoint, engine, device)
    if cache_key not in _engines:  # one model load per worker process
        _engines[cache_key] = load_engine(checkpoint, engine=engine, device=device)
    eng, spec = _engines[cache_key]
    failed: list[tuple[str, str]] = []
    labels = predict_frames(
        collect_frames(inputs, keys=keys),
        eng,
        spec,
        batch_size=batch_size,
        on_error=lambda frame, exc: failed.append((frame.key, str(exc))),
    )
    write_labels(LabelFile(images=labels, format=LabelFormat.V2), path, format=LabelFormat.V2)
    return failed


def predict_on_dask(
    inputs: list[str],
    *,
    checkpoint: str,
    out: str,
    dask: str,
    keys: list[str] | None = None,
    engine: str = "torch",
    device: str = "cpu",
    batch_size: int = 8,
) -> tuple[Path, list[tuple[str, str]], int]:
    """Predict every frame of png-cache ``inputs`` on a Dask cluster into ``OUT/predictions.json``.

    Frames are split into shards of whole batches in the order a local run takes them, so
    every forward pass sees the same batch as ``echomark predict`` without ``--dask``. Each
    shard's labels are written atomically to ``OUT/dask-shards/``; a rerun predicts only the
    shards that are missing, then joins them in order.

    Returns:
        The predictions file, the frames that could not be read, and the number of shards
        predicted in this run.

    Raises:
        InputError: An input is not a png-cache or there is nothing to predict.
    """
    import hashlib
    import json

    from echomark.errors import InputError
    from echomark.labels.io import read_labels, write_labels
    from echomark.labels.schema import ImageLabels, LabelFile, LabelFormat
    from echomark.predict.api import PREDICTIONS_JSON
    from echomark.predict.inputs import collect_frames

    for raw in inputs:
        p = Path(raw)
        if not (p.is_dir() or p.suffix == ".zip"):
            raise InputError("--dask predicts over png-caches (folders or zips) only", file=raw)
    todo = [f.key for f in collect_frames(inputs, keys=keys)]
    if not todo:
        raise InputError("no frames to predict")
    out_dir = Path(out)
    shard_dir = out_dir / SHARD_DIR
    shard_dir.mkdir(parents=True, exist_ok=True)
    size = batch_size * SHARD_BATCHES
    shards = []
    for start in range(0, len(todo), size):
        part = todo[start : start + size]
        # The name pins the shard's keys and model: a changed input is never reused.
        ident = json.dumps([part, str(checkpoint), engine, batch_size]).encode()
        name = f"{start // size:06d}-{hashlib.sha256(ident).hexdigest()[:16]}.json"
        shards.append((part, shard_dir / name))
    missing = [(part, path) for part, path in shards if not path.is_file()]
    failed: list[tuple[str, str]] = []
    if missing:
        target = parse_dask(dask)
        with dask_pool(target, ocr=False) as pool:
            futures = [
                pool.executor.submit(
                    _predict_shard, list(map(str, inputs)), part, str(checkpoint), engine,
                    device, batch_size, str(path),
                )
                for part, path in missing
            ]  # fmt: skip
            for fut in futures:
                failed += fut.result()
    images: dict[str, ImageLabels] = {}
    for _part, path in shards:
        images.update(read_labels(path).images)
    json_path = out_dir / PREDICTIONS_JSON
    write_labels(
        LabelFile(images=images, format=LabelFormat.V2, wrapped=False, source=str(json_path)),
        json_path,
        format=LabelFormat.V2,
    )
    return json_path, failed, len(missing)
