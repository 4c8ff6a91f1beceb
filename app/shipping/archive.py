"""Archived logs, plain or compressed, read as their decompressed bytes: surveyed once (digest,
lines, first line, which kept ranges describe them), then cut into batches at the ranges kept for
them, or at `max_lines` lines where none are kept."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BufferedIOBase
from pathlib import Path

from app.errors import UsageMetricsError
from app.shipping.batches import FINGERPRINT_BYTES, MAX_BATCH_BYTES, Batch, fingerprint, whole_lines
from app.shipping.matching import RangeCheck
from app.shipping.ranges import RangeLog, range_digest

READ_BYTES = 1024 * 1024
XZ_MAGIC = b"\xfd7zXZ\x00"
# GzipFile reads concatenated members too, as `cat a.gz b.gz` or a restarted gzip leave them.
DECOMPRESSORS: tuple[tuple[bytes, type[gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile]], ...] = (
    (b"\x1f\x8b", gzip.GzipFile),
    (b"BZh", bz2.BZ2File),
    (XZ_MAGIC, lzma.LZMAFile),
)
DECOMPRESSION_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)


class ArchiveError(UsageMetricsError):
    """An archive that cannot be read (or decompressed) to its end."""


def is_compressed(path: Path) -> bool:
    """Told by content, not by name: logrotate's dateext names and compresscmd vary."""
    with path.open("rb") as file:
        head = file.read(len(XZ_MAGIC))
    return any(head.startswith(magic) for magic, _ in DECOMPRESSORS)


@contextmanager
def open_archive(path: Path) -> Iterator[BufferedIOBase]:
    """The file's decompressed bytes (gzip, bzip2, xz), or the file itself."""
    with path.open("rb") as file:
        head = file.read(len(XZ_MAGIC))
    opener = next((kind for magic, kind in DECOMPRESSORS if head.startswith(magic)), None)
    with opener(path, "rb") if opener else path.open("rb") as stream:
        yield stream


@dataclass(frozen=True)
class Survey:
    """What one reading of a file tells before anything is sent."""

    sha256: str  # of the whole decompressed content
    fingerprint: str | None  # of its first line (None: an empty file)
    size: int  # its bytes
    end: int  # the bytes to cut batches in: a plain file's last line without newline may be
    # still being written (a live log), and is left out; a kept range holding it is sent
    lines: int  # in those bytes


def survey_archive(
    path: Path, check_for: Callable[[str], RangeCheck], stopped: Callable[[], bool]
) -> Survey | None:
    """Read the file once, feeding the check made for its first line; None if `stopped`."""
    digest = hashlib.sha256()
    size = lines = lines_end = 0
    try:
        with open_archive(path) as stream:
            chunk = _read_up_to(stream, FINGERPRINT_BYTES)
            first = fingerprint(chunk, final=True)
            check = check_for(first) if first is not None else RangeCheck([])
            while chunk:
                if stopped():
                    return None
                check.feed(chunk)
                digest.update(chunk)
                if (newline := chunk.rfind(b"\n")) >= 0:
                    lines_end = size + newline + 1
                size += len(chunk)
                lines += chunk.count(b"\n")
                chunk = stream.read(READ_BYTES)
    except DECOMPRESSION_ERRORS as exc:
        raise ArchiveError(f"cannot read {path} to its end: {exc}") from exc
    if lines_end < size and is_compressed(path):  # an archive is whole: its last line too
        return Survey(digest.hexdigest(), first, size, size, lines + 1)
    return Survey(digest.hexdigest(), first, size, lines_end, lines)


def _read_up_to(stream: BufferedIOBase, size: int) -> bytes:
    data = b""
    while len(data) < size and (chunk := stream.read(size - len(data))):
        data += chunk
    return data


class _Content:
    """The decompressed bytes read forward, the ones not handed out yet kept in a buffer."""

    def __init__(self, stream: BufferedIOBase, size: int) -> None:
        self._stream = stream
        self.size = size
        self.position = 0  # of the buffer's first byte
        self._buffer = bytearray()

    def peek(self, upto: int) -> bytes:
        """The bytes from `position` to `upto` (fewer at the end)."""
        upto = min(upto, self.size)
        while self.position + len(self._buffer) < upto:
            missing = upto - self.position - len(self._buffer)
            chunk = self._stream.read(max(READ_BYTES, missing))
            if not chunk:
                break
            self._buffer += chunk
        return bytes(self._buffer[: upto - self.position])

    def take(self, upto: int) -> bytes:
        body = self.peek(upto)
        del self._buffer[: len(body)]
        self.position += len(body)
        return body


def archive_batches(
    path: Path, survey: Survey, ranges: RangeLog, max_lines: int
) -> Iterator[Batch]:
    """The file's batches in order: a range kept for it is sent as it was, the bytes no range
    holds in batches of `max_lines` lines (fewer past MAX_BATCH_BYTES), each recorded before
    it is handed out. The ranges are not locked while the caller posts."""
    try:
        with open_archive(path) as stream:
            content = _Content(stream, survey.size)
            while True:
                with ranges.locked():
                    batch = _next_batch(content, ranges, max_lines, survey.end)
                if batch is None:
                    return
                yield batch
    except DECOMPRESSION_ERRORS as exc:  # changed since it was surveyed
        raise ArchiveError(f"cannot read {path} to its end: {exc}") from exc


def _next_batch(content: _Content, ranges: RangeLog, max_lines: int, end: int) -> Batch | None:
    start = content.position
    sent = ranges.at(start)
    if sent is not None:
        # Past what was read (a live log ship reads on): its lines are for ship to post.
        fits = sent.end <= content.size
        return _batch(start, content.take(sent.end), ranges.key(sent)) if fits else None
    if start >= end:
        return None
    limit = min(end, ranges.limit(start) or end)
    data = content.peek(min(limit, start + MAX_BATCH_BYTES))
    cut, count = whole_lines(data, max_lines)
    if count < max_lines and start + len(data) == content.size and len(data) > cut:
        cut = len(data)  # a compressed file's last line without newline: a line, as before
    elif count == 0:  # a line longer than MAX_BATCH_BYTES: alone (the server will say 413)
        cut = _line_end(content, start, limit) - start
    body = content.take(start + cut)
    return _batch(start, body, ranges.key(ranges.record(start, start + cut, range_digest(body))))


def _line_end(content: _Content, start: int, limit: int) -> int:
    step = MAX_BATCH_BYTES
    while True:
        data = content.peek(min(limit, start + step))
        newline = data.find(b"\n")
        if newline >= 0:
            return start + newline + 1
        if start + len(data) >= limit:
            return limit
        step *= 2


def _batch(start: int, body: bytes, key: str) -> Batch:
    lines = body.count(b"\n") + (not body.endswith(b"\n"))
    return Batch(body, lines, start, start + len(body), key)
