"""Which kept ranges describe a log file: the one whose every range is in the file, with the same
bytes (digests checked while the file is read once from its start), is the file's record."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from app.shipping.batches import FileIdentity, ship_prefix
from app.shipping.ranges import (
    DIGEST_CHARS,
    KeyStyle,
    RangeLog,
    RangeLogError,
    find_logs,
    log_name,
    open_log,
    open_path,
)

SCAN_BYTES = 1024 * 1024


@dataclass
class _Candidate:
    log: RangeLog
    index: int = 0  # the first range not checked yet
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    matched_bytes: int = 0
    differs: bool = False


class RangeCheck:
    """Checks candidate ranges files against a content fed from its first byte, in order.

    A file whose first line is the same as another's (a format without time, a quiet site) has
    the same fingerprint: its bytes tell them apart, so that neither is posted under the other's
    keys.
    """

    def __init__(self, logs: list[RangeLog]) -> None:
        self._candidates = [_Candidate(log) for log in logs]
        self._position = 0

    @property
    def candidates(self) -> list[_Candidate]:
        return self._candidates

    def feed(self, chunk: bytes) -> None:
        start, end = self._position, self._position + len(chunk)
        for candidate in self._candidates:
            if not candidate.differs:
                _check(candidate, chunk, start, end)
        self._position = end

    def best(self, size: int) -> RangeLog | None:
        """The log all of whose ranges lie in the first `size` bytes and match them; of several,
        the one covering most bytes."""
        found = [
            (candidate.matched_bytes, candidate.log.name, candidate.log)
            for candidate in self._candidates
            if len(candidate.log)
            and not candidate.differs
            and candidate.index == len(candidate.log)
            and candidate.log[-1].end <= size
        ]
        return max(found, key=lambda item: item[:2])[2] if found else None


def _check(candidate: _Candidate, chunk: bytes, start: int, end: int) -> None:
    ranges = candidate.log
    while candidate.index < len(ranges) and ranges[candidate.index].start < end:
        sent = ranges[candidate.index]
        low, high = max(sent.start, start), min(sent.end, end)
        if low < high:
            candidate.hasher.update(chunk[low - start : high - start])
        if sent.end > end:
            return  # continued in the next chunk
        if candidate.hasher.hexdigest()[:DIGEST_CHARS] != sent.digest:
            candidate.differs = True
            return
        candidate.matched_bytes += sent.end - sent.start
        candidate.index += 1
        candidate.hasher = hashlib.sha256()


@dataclass(frozen=True)
class Choice:
    """The ranges file a sender records in, and why, for its message."""

    log: RangeLog
    adopted: bool  # kept by an earlier run (ship's or import's), checked against the content


def choose(
    directory: Path,
    fingerprint: str,
    check: RangeCheck,
    size: int,
    prefix: str,
    style: KeyStyle,
) -> Choice:
    """The candidate that describes this content (`size` bytes), or a new log under `prefix`,
    or under a variant of it when another file with this first line took its name. Raises
    RangeLogError when no log can be created."""
    match = check.best(size)
    if match is not None:
        assert match.path is not None
        return Choice(open_path(match.path), adopted=True)
    # An empty log (its sender stopped before its first range) says nothing against this file.
    taken = {c.log.name for c in check.candidates if len(c.log)}
    own, number = prefix, 1
    while log_name(fingerprint, own) in taken:
        number += 1
        own = f"{prefix[:-1]}~{number}."  # its keys must differ from the other file's too
    return Choice(open_log(directory, fingerprint, own, style), adopted=False)


def candidates_for(directory: Path, fingerprint: str) -> list[RangeLog]:
    """The ranges files kept for files with this first line (none if the folder is unreadable)."""
    try:
        return find_logs(directory, fingerprint)
    except OSError:
        return []


def ranges_of_file(
    directory: Path, saved: str | None, identity: FileIdentity, descriptor: int
) -> Choice:
    """The ranges of a file ship reads (from `descriptor`): the ones its state names (`saved`),
    else the ones kept by an earlier run or import for the same bytes, else new ones."""
    if saved is not None:
        try:
            return Choice(open_path(directory / saved), adopted=False)
        except RangeLogError as exc:
            if not isinstance(exc.__cause__, FileNotFoundError):
                raise
    check = RangeCheck(candidates_for(directory, identity.fingerprint))
    size = os.fstat(descriptor).st_size
    position = 0
    while check.candidates and position < size:
        chunk = os.pread(descriptor, min(SCAN_BYTES, size - position), position)
        if not chunk:
            break
        check.feed(chunk)
        position += len(chunk)
    prefix = ship_prefix(identity)
    return choose(directory, identity.fingerprint, check, size, prefix, KeyStyle.OFFSETS)
