"""`usage-metrics import`: archived logs, plain or compressed, each line counted once however often
the same file is imported."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BufferedIOBase
from pathlib import Path
from typing import TextIO

from app.errors import UsageMetricsError
from app.shipping.answers import Tally
from app.shipping.batches import MAX_BATCH_BYTES, Batch, import_key
from app.shipping.deliver import Deliverer
from app.shipping.progress import Progress

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


@contextmanager
def open_archive(path: Path) -> Iterator[BufferedIOBase]:
    """The file's decompressed bytes (gzip, bzip2, xz), or the file itself.

    Told by content, not by name: logrotate's dateext names and compresscmd vary.
    """
    with path.open("rb") as file:
        head = file.read(len(XZ_MAGIC))
    opener = next((kind for magic, kind in DECOMPRESSORS if head.startswith(magic)), None)
    with opener(path, "rb") if opener else path.open("rb") as stream:
        yield stream


def read_digest(path: Path) -> tuple[str, int]:
    """The sha256 of the decompressed content, and its number of lines."""
    digest = hashlib.sha256()
    lines = 0
    last = b"\n"
    try:
        with open_archive(path) as stream:
            while chunk := stream.read(READ_BYTES):
                digest.update(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except DECOMPRESSION_ERRORS as exc:
        raise ArchiveError(f"cannot read {path} to its end: {exc}") from exc
    return digest.hexdigest(), lines + (last != b"\n")


def archive_batches(path: Path, content_sha256: str, max_lines: int) -> Iterator[Batch]:
    """Batches of `max_lines` lines (fewer past MAX_BATCH_BYTES), cut the same way each time;
    start and end are the 1-based numbers of their first and last lines."""
    number, first, size = 1, 1, 0
    lines: list[bytes] = []
    with open_archive(path) as stream:
        for line in stream:
            if lines and (len(lines) == max_lines or size + len(line) > MAX_BATCH_BYTES):
                yield _batch(lines, first, import_key(content_sha256, number))
                number, first, size = number + 1, first + len(lines), 0
                lines = []
            lines.append(line)
            size += len(line)
    if lines:
        yield _batch(lines, first, import_key(content_sha256, number))


def _batch(lines: list[bytes], first: int, key: str) -> Batch:
    return Batch(b"".join(lines), len(lines), first, first + len(lines) - 1, key)


def import_archives(
    paths: list[Path],
    deliverer: Deliverer,
    max_lines: int,
    stream: TextIO,
    notify: Callable[[str], None],
) -> int:
    """Send each file; 0 once all were answered, 1 if a stop was asked for before the end."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise ArchiveError(f"no such file: {', '.join(missing)}")
    total = Tally()
    for path in paths:
        sent = _import_one(path, deliverer, max_lines, stream)
        notify(f"{path}: {sent.describe()}")
        total.merge(sent)
        if sent.stopped:
            notify("stopped before the end: import the same files again to send the rest")
            return 1
    notify(f"imported {len(paths)} file(s): {total.describe()}")
    return 0


def _import_one(path: Path, deliverer: Deliverer, max_lines: int, stream: TextIO) -> Tally:
    content_sha256, line_count = read_digest(path)
    progress = Progress(stream, path.name, line_count)
    sent = Tally()
    try:
        for batch in archive_batches(path, content_sha256, max_lines):
            answer = deliverer.post(batch)
            if answer is None:
                sent.stopped = True
                break
            sent.add(batch.lines, answer)
            progress.advance(batch.lines)
    except DECOMPRESSION_ERRORS as exc:  # changed since it was read through
        raise ArchiveError(f"cannot read {path} to its end: {exc}") from exc
    finally:
        progress.finish()
    return sent
