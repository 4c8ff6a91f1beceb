"""Batches of whole log lines, and the Idempotency-Keys that name them so a replay is recognised."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Well under the server's default limit (USAGE_METRICS_MAX_BATCH_BYTES, 16 MiB): it refuses a
# larger batch with 413, and then the shipper would have to stop.
MAX_BATCH_BYTES = 8 * 1024 * 1024
# A file is told apart by its first line, or its first bytes when that line is longer.
FINGERPRINT_BYTES = 4096


@dataclass(frozen=True)
class FileIdentity:
    """Which file a byte offset belongs to, so that the same key never names two batches.

    An inode number is reused once its file is deleted, hence the fingerprint; a copytruncate
    rotation keeps the inode and may bring back the same first line, hence the generation.
    """

    device: int
    inode: int
    fingerprint: str  # sha256 (hex) of the first line, see fingerprint()
    generation: int = 0  # how many truncations of this file the shipper has seen


@dataclass(frozen=True)
class Batch:
    """Whole lines read from byte `start` to byte `end` of a file (decompressed), posted under
    `key`."""

    body: bytes
    lines: int
    start: int
    end: int
    key: str


def whole_lines(data: bytes, max_lines: int) -> tuple[int, int]:
    """The length of the longest prefix of `data` made of at most `max_lines` complete lines, and
    how many lines that is: a last line without its newline is never included."""
    end = 0
    count = 0
    while count < max_lines:
        newline = data.find(b"\n", end)
        if newline < 0:
            break
        end = newline + 1
        count += 1
    return end, count


def fingerprint(head: bytes, *, final: bool = False) -> str | None:
    """The sha256 of a file's first line (at most FINGERPRINT_BYTES of it), given the file's first
    bytes; None while that line is still being written, unless the file is `final`."""
    newline = head.find(b"\n", 0, FINGERPRINT_BYTES)
    if newline >= 0:
        first = head[: newline + 1]
    elif len(head) >= FINGERPRINT_BYTES:
        first = head[:FINGERPRINT_BYTES]
    elif final and head:
        first = head
    else:
        return None
    return hashlib.sha256(first).hexdigest()


def ship_prefix(identity: FileIdentity) -> str:
    """What the Idempotency-Keys of a file ship reads first begin with (KeyStyle.OFFSETS)."""
    return (
        f"um-ship-{identity.device:x}.{identity.inode:x}.{identity.fingerprint[:32]}"
        f".{identity.generation}."
    )


def ship_key(identity: FileIdentity, start: int, end: int) -> str:
    """The Idempotency-Key of the bytes [start, end) of a file ship read first: the same bytes
    re-sent after a crash, or by import, get the same key, any other batch another one."""
    return f"{ship_prefix(identity)}{start}-{end}"


def import_prefix(content_sha256: str) -> str:
    """What the keys of a file import reads first begin with (KeyStyle.NUMBERS): the sha256 of
    its (decompressed) content, as before the ranges were kept."""
    return f"um-import-{content_sha256}."


def import_key(content_sha256: str, number: int) -> str:
    """The Idempotency-Key of the `number`th batch of a file import read first."""
    return f"{import_prefix(content_sha256)}{number}"
