"""Request body -> numbered entries: capped reading and gunzip, then framing by Content-Type."""

from __future__ import annotations

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
    try:
        values = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(
            f"the body is declared application/json but is not valid JSON ({exc.msg} at "
            f"character {exc.pos}); send one JSON array of log lines"
        ) from exc
    if not isinstance(values, list):
        raise BadRequestError(
            "an application/json body must be a JSON array of log lines; "
            "for one value per line use application/x-ndjson"
        )
    for number, value in enumerate(values, start=1):
        if value is not None and value != "":
            yield number, value
