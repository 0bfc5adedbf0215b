"""Progress of long jobs: a tqdm bar on a terminal, a plain line every so often otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

#: Seconds between plain progress lines when stderr is not a terminal (logs, CI, pipes).
PLAIN_EVERY_S = 30.0


def progress(
    items: Iterable[T],
    total: int,
    desc: str,
    *,
    enabled: bool = True,
    stream: TextIO | None = None,
    every_s: float = PLAIN_EVERY_S,
    unit: str = "it",
) -> Iterator[T]:
    """Iterate ``items`` showing progress on ``stream`` (default stderr).

    On a terminal a tqdm bar; elsewhere a line ``desc: i/total (rate/s)`` at most every
    ``every_s`` seconds (and none for jobs shorter than that), so logs stay readable.

    >>> import io
    >>> out = io.StringIO()
    >>> list(progress(range(3), 3, "count", stream=out, every_s=0.0))
    [0, 1, 2]
    >>> out.getvalue().splitlines()[-1].startswith("count: 3/3")
    True
    """
    out = stream if stream is not None else sys.stderr
    if not enabled:
        yield from items
        return
    if out.isatty():
        from tqdm import tqdm

        yield from tqdm(
            items, total=total, desc=desc, file=out, leave=False, dynamic_ncols=True, unit=unit
        )
        return
    start = last = time.monotonic()
    for i, item in enumerate(items, 1):
        yield item
        now = time.monotonic()
        if now - last >= every_s:
            rate = i / max(now - start, 1e-9)
            print(f"{desc}: {i}/{total} ({rate:.1f} {unit}/s)", file=out, flush=True)
            last = now


class ByteProgress:
    """Progress of ``total`` bytes (or items, with ``unit``): :meth:`update`, then :meth:`close`."""

    def __init__(
        self,
        total: int,
        desc: str,
        stream: TextIO | None = None,
        every_s: float | None = None,
        unit: str = "B",
    ) -> None:
        # None reads PLAIN_EVERY_S now, not at import, so a test can shorten the period.
        self.every_s = PLAIN_EVERY_S if every_s is None else every_s
        self.total, self.desc, self.unit = total, desc, unit
        self.out = stream if stream is not None else sys.stderr
        self.done = 0
        self.start = self.last = time.monotonic()
        self.bar = None
        if self.out.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                desc=desc,
                file=self.out,
                unit=unit,
                unit_scale=unit == "B",
                leave=False,
            )

    def grow(self, n: int) -> None:
        """``n`` more to do than said so far (a job that learns its size as it goes)."""
        self.total += n
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def update(self, n: int) -> None:
        """``n`` more bytes (or items) are done."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= self.every_s:
            pct = 100.0 * self.done / self.total if self.total else 100.0
            if self.unit == "B":
                amount = f"{self.done / 1e6:.0f} of {self.total / 1e6:.0f} MB"
            else:
                amount = f"{self.done} of {self.total} {self.unit}s"
            print(f"{self.desc}: {amount} ({pct:.0f} %)", file=self.out, flush=True)
            self.last = now

    def close(self) -> None:
        """End the bar."""
        if self.bar is not None:
            self.bar.close()


def byte_progress(total: int, desc: str, stream: TextIO | None = None) -> ByteProgress:
    """A :class:`ByteProgress` over ``total`` bytes.

    >>> import io
    >>> out = io.StringIO()
    >>> p = ByteProgress(2_000_000, "reading x", out, every_s=0.0)
    >>> p.update(1_000_000)
    >>> p.close()
    >>> out.getvalue().strip()
    'reading x: 1 of 2 MB (50 %)'
    >>> out = io.StringIO()
    >>> p = ByteProgress(0, "curating", out, every_s=0.0, unit="frame")
    >>> p.grow(4)
    >>> p.update(1)
    >>> out.getvalue().strip()
    'curating: 1 of 4 frames (25 %)'
    """
    return ByteProgress(total, desc, stream)
