"""Read a JSON object one top-level entry at a time, so memory follows the result, not the file.

A labels file is one object keyed by image name. :func:`iter_object_items` yields its
``(key, value)`` pairs in file order, decoding each value with the C JSON decoder
(``raw_decode``) on a sliding window of the text; only the window and the current entry are
held besides what the caller keeps. Errors carry the line and column of the whole file, as
``json.loads`` would report them.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

from echomark.errors import LabelError

#: Bytes read at a time.
CHUNK_BYTES = 1 << 20
#: Largest single entry accepted (chars); a longer one is a broken or hostile file.
MAX_ENTRY_CHARS = 64 << 20

_WS = re.compile(r"[ \t\n\r]*")
_UTF8_BOM = "\ufeff"


class _Window:
    """A sliding window of decoded text over a binary stream."""

    def __init__(
        self,
        stream: IO[bytes],
        source: str,
        decoder: json.JSONDecoder,
        on_bytes: Callable[[int], None] | None,
    ) -> None:
        self.stream = stream
        self.source = source
        self.decoder = decoder
        self.on_bytes = on_bytes
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.bytes_read = 0
        self.lines_before = 0  # newlines in text already dropped from the window
        self.col_before = 0  # chars after the last dropped newline
        self.first = True

    def more(self) -> bool:
        """Append the next chunk (dropping consumed text); False at the end of the stream."""
        if self.eof:
            return False
        data = self.stream.read(CHUNK_BYTES)
        start = self.bytes_read
        self.bytes_read += len(data)
        if self.on_bytes is not None and data:
            self.on_bytes(len(data))
        try:
            text = self.utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise LabelError(
                f"not UTF-8 text (bad byte at offset {start + exc.start})", file=self.source
            ) from None
        if self.first:
            text = text.removeprefix(_UTF8_BOM)
            self.first = False
        if not data:
            self.eof = True
        dropped = self.buf[: self.pos]
        newlines = dropped.count("\n")
        if newlines:
            self.lines_before += newlines
            self.col_before = len(dropped) - dropped.rfind("\n") - 1
        else:
            self.col_before += len(dropped)
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return bool(data)

    def peek(self) -> str:
        """The next non-blank char ('' at the end), not consumed."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or not self.more():
                return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def value(self) -> Any:
        """Decode the JSON value at the current position."""
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos < MAX_ENTRY_CHARS and self.more():
                    continue
                raise self.error(exc.msg, exc.pos) from None
            except RecursionError:
                raise LabelError("invalid JSON: nested too deeply", file=self.source) from None
            if end == len(self.buf) and self.more():
                continue  # a number or literal may go on in the next chunk
            self.pos = end
            return obj

    def error(self, message: str, pos: int | None = None) -> LabelError:
        """A LabelError at ``pos`` of the window, with file-wide line and column."""
        at = self.pos if pos is None else pos
        head = self.buf[:at]
        newlines = head.count("\n")
        line = self.lines_before + newlines + 1
        col = at - head.rfind("\n") if newlines else self.col_before + at + 1
        return LabelError(f"invalid JSON at line {line} column {col}: {message}", file=self.source)


def iter_object_items(
    stream: IO[bytes],
    *,
    source: str,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    on_bytes: Callable[[int], None] | None = None,
    not_an_object: Callable[[Any], Exception] | None = None,
) -> Iterator[tuple[str, Any]]:
    """The ``(key, value)`` pairs of the JSON object in ``stream``, in file order.

    Repeated keys are yielded each time they occur.

    Args:
        stream: Binary stream of UTF-8 JSON (a leading BOM is skipped).
        source: File name for messages.
        object_pairs_hook: Passed to the decoder of each value.
        on_bytes: Called with the number of bytes read, chunk by chunk (progress).
        not_an_object: Builds the exception raised when the top level is valid JSON but
            not an object (it receives the decoded value).

    Raises:
        LabelError: Not UTF-8, not valid JSON (line and column as ``json.loads`` gives
            them), or trailing data after the object.

    >>> import io
    >>> list(iter_object_items(io.BytesIO(b' {"a": [1, 2], "b": {"c": null}} '), source="x"))
    [('a', [1, 2]), ('b', {'c': None})]
    """
    w = _Window(stream, source, json.JSONDecoder(object_pairs_hook=object_pairs_hook), on_bytes)
    first = w.peek()
    if first != "{":
        if first == "":
            raise w.error("Expecting value")
        whole = w.value()
        _expect_end(w)
        raise (not_an_object(whole) if not_an_object else w.error("Expecting an object"))
    w.pos += 1
    if w.peek() == "}":
        w.pos += 1
        _expect_end(w)
        return
    while True:
        if w.peek() != '"':
            raise w.error("Expecting property name enclosed in double quotes")
        key = w.value()
        if w.peek() != ":":
            raise w.error("Expecting ':' delimiter")
        w.pos += 1
        if w.peek() == "":
            raise w.error("Expecting value")
        yield key, w.value()
        c = w.peek()
        w.pos += 1
        if c == "}":
            break
        if c != ",":
            w.pos -= 1
            raise w.error("Expecting ',' delimiter")
    _expect_end(w)


def _expect_end(w: _Window) -> None:
    if w.peek() != "":
        raise w.error("Extra data")
