"""A mongoexport file, document by document: JSON lines, or one JSON array (`--jsonArray`,
pretty or not), read in blocks, in time linear in its size and memory bounded whatever it holds
(docs/coming-from-data-fair.md#2-import-the-history).

A document longer than MAX_DOCUMENT_BYTES is skipped without ever being held whole; neither
form parses a document twice or copies what follows it. A JSON array is cut into its elements
by the end of an object followed by `,{` or `]`, which orjson confirms (a complete JSON value is
never the prefix of another, so a confirmed cut is the element's end); when it does not (a `},{`
inside a string, an element that is not an object), a scanner that skips strings and counts
brackets finds the end, slower but rare.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

import orjson

from app.datafair.skips import Skipped

READ_BYTES = 1 << 20
# Data Fair's documents are a few hundred bytes; the longest title is cut at 1 000 characters.
MAX_DOCUMENT_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"
_BETWEEN = re.compile(rb"[\s,]*")  # what separates the elements of an array
_OBJECT_END = re.compile(rb"}\s*(?:,\s*\{|\])")
_STRING = rb'"(?:[^"\\]++|\\.)*+"'
# What holds no bracket outside strings, run over in one match: strings, and the rest but
# brackets (and, outside the element, commas).
_SKIP_INSIDE = re.compile(rb'(?:[^"\[\]{}]++|' + _STRING + rb")*+", re.DOTALL)
_SKIP_OUTSIDE = re.compile(rb'(?:[^"\[\]{},]++|' + _STRING + rb")*+", re.DOTALL)
_OPENING = re.compile(rb"[\[{]+")
_CLOSING = re.compile(rb"[\]}]+")
# The rest of a string from inside it: stops at its closing quote, at the end of the buffer, or
# before a backslash that is the buffer's last byte (its escaped character is in the next block).
_STRING_REST = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_QUOTE, _OPEN = ord('"'), b"[{"


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Document(NamedTuple):
    """One document's bytes, and its value when reading it parsed it already (else None)."""

    data: bytes
    value: Any = None


def documents(stream: Readable) -> Iterator[Document | Skipped]:
    """Each document of a mongoexport, or why one cannot be read. In an array, an element that
    never ends is Skipped.BAD_JSON and the last: nothing past it can be told apart."""
    head = stream.read(READ_BYTES).removeprefix(_BOM)
    while head.isspace():  # the form is told by the first character that is not a space
        head = stream.read(READ_BYTES)
    if head.lstrip()[:1] == b"[":
        yield from _Array(stream, head).elements()
    else:
        yield from _lines(stream, head)


def nesting_depth(data: bytes) -> int:
    """How deep the brackets of a JSON text nest, strings apart (without recursion)."""
    depth = deepest = position = 0
    while (position := _end(_SKIP_INSIDE, data, position)) < len(data):
        if data[position] == _QUOTE:
            break  # a string that never ends: the rest is in it
        if data[position] in _OPEN:
            run = _end(_OPENING, data, position)
            depth += run - position
            deepest = max(deepest, depth)
        else:
            run = _end(_CLOSING, data, position)
            depth -= run - position
        position = run
    return deepest


def _end(pattern: re.Pattern[bytes], data: bytes, position: int) -> int:
    # Both patterns match the empty string: they always match.
    found = pattern.match(data, position)
    return position if found is None else found.end()


def _lines(stream: Readable, block: bytes) -> Iterator[Document | Skipped]:
    # The line under way is kept as its pieces, joined once it ends: a long line costs its
    # length, not its length times its blocks. Past MAX_DOCUMENT_BYTES it is dropped until its end.
    pending: list[bytes] = []
    pending_bytes = 0
    too_long = False
    while block:
        lines = block.split(b"\n")
        last = lines.pop()
        if lines and too_long:
            lines[0] = b""
            yield Skipped.TOO_LONG
        elif lines and pending:
            lines[0] = b"".join((*pending, lines[0]))
        if lines:
            pending, pending_bytes, too_long = [], 0, False
        for line in lines:
            if len(line) > MAX_DOCUMENT_BYTES:
                yield Skipped.TOO_LONG
            elif line and not line.isspace():
                yield Document(line)
        if not too_long:
            pending.append(last)
            pending_bytes += len(last)
            if pending_bytes > MAX_DOCUMENT_BYTES:
                pending, pending_bytes, too_long = [], 0, True
        block = stream.read(READ_BYTES)
    line = b"".join(pending)
    if too_long:
        yield Skipped.TOO_LONG
    elif line and not line.isspace():
        yield Document(line)


class _Array:
    """The elements of one JSON array, from a buffer that keeps only the element under way."""

    def __init__(self, stream: Readable, head: bytes) -> None:
        self._stream = stream
        self._buffer = head
        self._position = head.index(b"[") + 1
        self._eof = False

    def elements(self) -> Iterator[Document | Skipped]:
        while True:
            self._position = _end(_BETWEEN, self._buffer, self._position)
            if self._position >= len(self._buffer):
                if not self._more():
                    return  # no closing bracket: what came is read
                continue
            if self._buffer[self._position] == ord("]"):
                return
            found = self._object() or self._scan()
            yield found
            if found is Skipped.BAD_JSON:
                return

    def _more(self) -> bool:
        """Drop what is read, append the next block; False at the end of the file."""
        block = b"" if self._eof else self._stream.read(READ_BYTES)
        if not block:
            self._eof = True
            return False
        self._buffer = self._buffer[self._position :] + block
        self._position = 0
        return True

    def _object(self) -> Document | None:
        """The fast way: an object cut where it seems to end, confirmed by parsing it."""
        while True:
            start = self._position
            found = _OBJECT_END.search(self._buffer, start)
            if found is not None:
                end = found.start() + 1
                if end - start > MAX_DOCUMENT_BYTES:
                    return None
                data = self._buffer[start:end]
                try:
                    value = orjson.loads(data)
                except orjson.JSONDecodeError:
                    return None
                self._position = end
                return Document(data, value)
            if len(self._buffer) - start > MAX_DOCUMENT_BYTES or not self._more():
                return None

    def _scan(self) -> Document | Skipped:
        """The slow way: skip strings, count brackets, to the element's end. Past
        MAX_DOCUMENT_BYTES the element is dropped as it is scanned (memory stays bounded)."""
        start = position = self._position
        depth = dropped = 0
        in_string = False
        while True:
            buffer = self._buffer
            if in_string:
                position = _end(_STRING_REST, buffer, position)
                if position < len(buffer) and buffer[position] == _QUOTE:
                    in_string = False
                    position += 1
                    continue
            else:
                position = _end(_SKIP_INSIDE if depth else _SKIP_OUTSIDE, buffer, position)
                if position < len(buffer):
                    char = buffer[position]
                    if char == _QUOTE:  # a string that goes on in the next block
                        in_string = True
                        position += 1
                        continue
                    if char in _OPEN:
                        run = _end(_OPENING, buffer, position)
                        depth, position = depth + run - position, run
                        continue
                    if depth == 0:  # a `,` or `]` after an element that is not an object
                        return self._scanned(start, position, dropped)
                    run = _end(_CLOSING, buffer, position)
                    if run - position >= depth:
                        return self._scanned(start, position + depth, dropped)
                    depth, position = depth - (run - position), run
                    continue
            if dropped or position - start > MAX_DOCUMENT_BYTES:
                dropped += position - start
                start = self._position = position  # too long already: keep none of it
            base = self._position
            if not self._more():
                return Skipped.BAD_JSON
            start, position = start - base, position - base

    def _scanned(self, start: int, end: int, dropped: int) -> Document | Skipped:
        self._position = end
        if dropped or end - start > MAX_DOCUMENT_BYTES:
            return Skipped.TOO_LONG
        return Document(self._buffer[start:end])
