"""Request body -> numbered entries: capped reading and gunzip, then framing by Content-Type."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator
from typing import Any

import orjson

from app.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

TEXT = "text/plain"
NDJSON = "application/x-ndjson"
JSON = "application/json"
MEDIA_TYPES = (TEXT, NDJSON, JSON)
# Lines are split this many characters at a time (and a line more).
_BLOCK_CHARS = 256 * 1024
_NDJSON_ALIASES = {"application/ndjson", "application/jsonl", "application/x-jsonlines"}
# A JSON array is decoded a slice of about this many characters at a time (_json_array): a
# few hundred log lines, a millisecond of orjson.
_SLICE_CHARS = 64 * 1024
_LONGEST_SLICE_CHARS = 4 * _SLICE_CHARS
_JSON_WHITESPACE = " \t\n\r"
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Where a slice may end: between two items of the kind of its first one (arrays: Data Fair's
# lines; objects: our named lines, shippers' events; strings: raw lines). The group is the comma.
_CUTS = {
    first: re.compile(rf"{re.escape(last)}[ \t\n\r]*(,)[ \t\n\r]*{re.escape(first)}")
    for first, last in (("[", "]"), ("{", "}"), ('"', '"'))
}
_DECODER = json.JSONDecoder()

# An entry is (1-based line number, value): a raw log line (str), a decoded JSON value, or
# a NotJson marker for an NDJSON line that does not parse (a rejected line, not a bad batch).
Entry = tuple[int, Any]


class NotJson(str):
    """An NDJSON line that is not JSON: carried to the pipeline so that it is rejected there."""


def media_type(content_type: str | None) -> str:
    """The body's framing from its Content-Type; anything we do not read -> 415."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in MEDIA_TYPES:
        return kind
    if kind in _NDJSON_ALIASES:
        return NDJSON
    raise UnsupportedMediaTypeError(
        f"Content-Type {kind or '(none)'!r} is not accepted: send text/plain (one log line per "
        "line), application/x-ndjson (one JSON value per line) or application/json (an array)"
    )


class BoundedBody:
    """Collects a request body, gunzipping as it arrives, and refuses it once it passes `limit`.

    Memory stays bounded by the limit whatever the compression ratio: inflation is asked for at
    most limit + 1 bytes at a time, so a gzip bomb is stopped after `limit` bytes of output.
    """

    def __init__(self, limit: int, gzipped: bool) -> None:
        self._limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
        self._received = 0

    def feed(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self._limit:
            raise self._too_large("the request body")
        if self._inflater is None:
            self._keep(chunk)
        else:
            self._inflate(chunk)

    def finish(self) -> bytes:
        if self._inflater is not None:
            if not self._inflater.eof and (self._received or self._parts):
                raise BadRequestError("the gzip body is truncated: its end was never received")
            self._keep(self._inflater.flush())
        return b"".join(self._parts)

    def _inflate(self, chunk: bytes) -> None:
        assert self._inflater is not None
        data = chunk
        while data:
            if self._inflater.eof:
                # Concatenated gzip members (cat a.gz b.gz) are one valid gzip stream.
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out = self._inflater.decompress(data, self._limit - self._size + 1)
            except zlib.error as exc:
                raise BadRequestError(
                    "the body is declared gzip (Content-Encoding: gzip) but is not valid gzip"
                ) from exc
            self._keep(out)
            data = (
                self._inflater.unused_data if self._inflater.eof else self._inflater.unconsumed_tail
            )

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._limit:
            raise self._too_large("the decompressed body")
        if data:
            self._parts.append(data)

    def _too_large(self, what: str) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"{what} is larger than the limit of {self._limit} bytes "
            "(USAGE_METRICS_MAX_BATCH_BYTES): send smaller batches"
        )


def entries(kind: str, body: bytes) -> Iterator[Entry]:
    """Number the body's entries; blank lines are skipped but keep their line numbers."""
    # nginx escape=json passes non-UTF-8 bytes through: replace them, never reject for that.
    text = body.decode("utf-8", "replace")
    if kind == JSON:
        yield from _json_array(text)
        return
    for number, line in _lines(text):
        if not line or line.isspace():
            continue
        if line[-1] == "\r":
            line = line[:-1]
        if kind == TEXT:
            yield number, line
        else:
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError:
                yield number, NotJson(line)


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """The numbered lines of `text`, split a block at a time: a list of every line of 16 MiB
    of `{}` lines alone took 300 MB."""
    number, start, size = 0, 0, len(text)
    while start < size:
        end = text.find("\n", min(start + _BLOCK_CHARS, size))
        if end == -1:
            end = size
        for line in text[start:end].split("\n"):
            number += 1
            yield number, line
        start = end + 1


def _json_array(text: str) -> Iterator[Entry]:
    """The items of a JSON array, decoded a slice of the body at a time: decoding the whole
    array at once took 600 to 800 MB and held the event loop 2 s for a 16 MiB body."""
    position = _skip_whitespace(text, 0)
    if text[position : position + 1] != "[":
        raise BadRequestError(
            "an application/json body must be a JSON array of log lines; "
            "for one value per line use application/x-ndjson"
        )
    closing = len(text.rstrip(_JSON_WHITESPACE)) - 1  # the array's last "]", if it is one
    if text[closing] != "]":
        closing = len(text)  # a body cut short: read item by item up to the fault
    position = _skip_whitespace(text, position + 1)
    number, separator, next_slice = 0, text[position : position + 1], position
    while separator != "]":
        if position == len(text):
            raise _not_json(f"unexpected end of data after item {number}", position)
        items: list[Any] | None = None
        if position >= next_slice:
            items, end = _slice_of_items(text, position, closing)
            next_slice = end if items is not None else end + 1
        if items is None:
            item, end = _json_item(text, position, number + 1)
            items = [item]
        for item in items:
            number += 1
            if item is not None and item != "":
                yield number, item
        position = _skip_whitespace(text, end)
        separator = text[position : position + 1]
        if separator not in (",", "]"):
            fault = "unexpected end of data" if not separator else "expected ',' or ']'"
            raise _not_json(f"{fault} after item {number}", position)
        if separator == ",":
            position = _skip_whitespace(text, position + 1)
    after = _skip_whitespace(text, position + 1)
    if after != len(text):
        raise _not_json("unexpected content after the array", after)


def _slice_of_items(text: str, start: int, closing: int) -> tuple[list[Any] | None, int]:
    """The items from `start` up to a cut about _SLICE_CHARS on, decoded in one call, and the
    cut. Only a cut between two items decodes (inside a string or a nested item, brackets or
    quotes stay open): otherwise None, and the caller reads items one at a time past the cut."""
    pattern = _CUTS.get(text[start])
    if pattern is None:
        return None, start
    if closing - start <= _LONGEST_SLICE_CHARS:
        cut = closing
    else:
        found = pattern.search(text, start + _SLICE_CHARS, start + _LONGEST_SLICE_CHARS)
        if found is None:
            return None, start + _LONGEST_SLICE_CHARS
        cut = found.start(1)
    try:
        items = orjson.loads("[" + text[start:cut] + "]")
    except orjson.JSONDecodeError:
        return None, cut
    return items, cut


def _skip_whitespace(text: str, position: int) -> int:
    found = _WHITESPACE.match(text, position)
    return found.end() if found else position


def _json_item(text: str, start: int, number: int) -> tuple[Any, int]:
    """Item `number` alone, which starts at `start`, decoded; and where it ends. The standard
    library's scanner finds its end (in C, without a copy of the rest of the body), orjson
    decodes it, as everything else, or says what is wrong."""
    try:
        end = _DECODER.raw_decode(text, start)[1]
    except RecursionError:
        raise _not_json(f"item {number} is nested too deeply", start) from None
    except ValueError:
        end = -1
    if end > start:
        try:
            return orjson.loads(text[start:end]), end
        except orjson.JSONDecodeError:
            pass
    raise _fault_in_item(text, start, number)


def _fault_in_item(text: str, start: int, number: int) -> BadRequestError:
    """orjson's account of what is wrong in the item (read once: the batch stops here)."""
    try:
        orjson.loads(text[start:])
    except orjson.JSONDecodeError as exc:
        if exc.msg != "unexpected content after document":
            return _not_json(f"{exc.msg} in item {number}", start + exc.pos)
    return _not_json(f"item {number} cannot be read", start)


def _not_json(fault: str, position: int) -> BadRequestError:
    return BadRequestError(
        f"the body is declared application/json but is not valid JSON ({fault} at character "
        f"{position}); send one JSON array of log lines"
    )
