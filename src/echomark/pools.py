"""Executors shared by the commands that fan work out to processes (curate, synth)."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any


class InlineExecutor(cf.Executor):
    """Runs each task at submit time, in this process (one worker: no pool to start).

    A task's exception is kept in its future, as a pool would keep it.

    >>> InlineExecutor().submit(pow, 2, 5).result()
    32
    """

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        """Run ``fn(*args, **kwargs)`` now; its result or exception is in the future."""
        fut: cf.Future[Any] = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:
            fut.set_exception(exc)
        return fut


def process_pool(
    workers: int,
    *,
    preload: Sequence[str],
    initializer: Callable[..., object] | None = None,
    initargs: tuple[Any, ...] = (),
) -> cf.Executor:
    """An :class:`InlineExecutor` for one worker, else a ``forkserver`` process pool.

    The server process imports ``preload`` once and forks the workers from it. Plain
    ``fork`` would copy a parent that may hold onnxruntime or OpenCV thread pools (unsafe);
    ``spawn`` would import everything again in every worker.
    """
    if workers <= 1:
        return InlineExecutor()
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(preload))
    return cf.ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=initializer, initargs=initargs
    )
