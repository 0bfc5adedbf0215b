"""Curation from files, folders and servers, on this machine or a Dask cluster."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from echomark.dicom.curate import WORK_DIR, CurateOptions, CurateResult, Instance, curate
from echomark.errors import ConfigError
from echomark.sources.base import RetryPolicy, open_source, parse_server_spec
from echomark.sources.pull import PullState, pull, record_skips
from echomark.workflows.distributed import dask_pool, parse_dask

#: Server instances fetched and curated per pass (bounds the spool and lost work).
PULL_BATCH = 64


@dataclass
class ServerPull:
    """One server's part of a run: its name in messages and what the pull did."""

    label: str
    state: PullState = field(default_factory=PullState)


def run_curation(
    files: Sequence[str],
    servers: Sequence[str],
    options: CurateOptions,
    *,
    query: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    calling_aet: str = "ECHOMARK",
    dask: str = "",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    pull_batch: int = PULL_BATCH,
) -> tuple[CurateResult, list[ServerPull]]:
    """Curate ``files`` and every instance of ``servers`` into ``options.out_dir``.

    Args:
        files: Files, folders, DICOMDIRs.
        servers: Server specs (``dicomweb+http://...``, ``dimse://AET@host:port``).
        options: Curation settings.
        query: Study-level query for the servers.
        policy: Retries and timeouts for the servers.
        calling_aet: Our AE title for DIMSE servers.
        dask: ``local:N`` or a scheduler address to run the tasks on Dask; "" for none.
        progress: Show a progress bar.
        log: Line sink for per-input and per-server messages.
        pull_batch: Server instances fetched and curated per pass.

    Returns:
        The curation result and, per server, what its pull did.

    Raises:
        SourceError: A server cannot be queried.
        ConfigError: Bad specs or a missing optional library.
    """
    say = log or (lambda line: None)
    if pull_batch < 1:
        raise ConfigError(f"pull batch must be >= 1, got {pull_batch}")
    specs = [parse_server_spec(s) for s in servers]
    policy = policy or RetryPolicy()
    pulls: list[ServerPull] = []
    t0 = time.perf_counter()
    results: list[CurateResult] = []
    with contextlib.ExitStack() as stack:
        executor: Any = None
        fatal: tuple[type[BaseException], ...] = ()
        if dask:
            target = parse_dask(dask)
            pool = stack.enter_context(dask_pool(target, ocr=options.ocr))
            executor, fatal = pool.executor, pool.fatal
            spool = None if target.local else Path(options.out_dir) / WORK_DIR / "spool"
            options = replace(options, workers=pool.slots, spool_dir=spool)

        def run(sources: Iterable[str | Instance]) -> CurateResult:
            res = curate(
                sources, options, progress=progress, log=say, executor=executor, fatal=fatal
            )
            results.append(res)
            return res

        if files or not specs:
            run(files)
        for spec in specs:
            source = open_source(spec, query=query or {}, policy=policy, calling_aet=calling_aet)
            stack.callback(source.close)
            sp = ServerPull(spec.label)
            pulls.append(sp)
            stream = iter(pull(source, options, sp.state, say))
            # Curate in passes of pull_batch instances: the spool holds one pass, and a
            # killed run has finished (and will not fetch again) every earlier pass.
            while (first := next(stream, None)) is not None:
                res = run(itertools.chain([first], itertools.islice(stream, pull_batch - 1)))
                record_skips(Path(options.out_dir), sp.state, res.files)
            if not results:  # nothing listed: still write the (empty) outputs
                run([])
            st = sp.state
            say(
                f"{sp.label}: {st.listed} instances listed, {st.already} already curated here "
                f"(not fetched), {st.fetched} fetched, {st.failed} failed"
            )
    result = CurateResult(
        [f for r in results for f in r.files],
        sum(r.frames_written for r in results),
        sum(r.frames_skipped for r in results),
        time.perf_counter() - t0,
    )
    return result, pulls
