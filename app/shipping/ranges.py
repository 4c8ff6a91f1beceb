"""The byte ranges a log file's lines were posted in, kept beside ship's state, so that `ship` and
`import` post the same lines as the same batch under the same Idempotency-Key, whichever of them
reads the file first and however often (docs/deploy.md#the-same-lines-under-the-same-key).

A batch cut by time (ship posts what is there every second) cannot be found again from the
file's content, so its range is written down before it is posted; a sender at a recorded start
posts exactly the recorded range, and cuts its own batches only where none is recorded.

One file per log file, `<fingerprint>.<prefix hash>.ranges`: a header line, then one line per
range, `<start> <end> <digest>`, appended under an exclusive flock (ship and import may read the
same log at once) and fsynced before the batch is posted.
"""

from __future__ import annotations

import bisect
import fcntl
import hashlib
import os
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from app.errors import UsageMetricsError

HEADER = "usage-metrics ranges 1"
SUFFIX = ".ranges"
DIGEST_CHARS = 16  # of a batch body's sha256: tells a log file's ranges from another's
# The server forgets keys after USAGE_METRICS_IDEMPOTENCY_DAYS (30 by default): ranges older
# than that name batches it would count again anyway; a margin for a longer setting.
KEEP_DAYS = 90


class KeyStyle(StrEnum):
    """How a range's Idempotency-Key is spelt after the log's prefix."""

    OFFSETS = "offsets"  # <start>-<end>: ship's keys
    NUMBERS = "numbers"  # <n>, the nth range recorded: import's keys, as before ranges were kept


class SentRange(NamedTuple):
    start: int
    end: int
    digest: str
    number: int  # 1 for the first range recorded; 0 for one that could not be recorded


class RangeLogError(UsageMetricsError):
    """The ranges file cannot be written; the message names it."""


def range_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:DIGEST_CHARS]


def log_name(fingerprint: str, prefix: str) -> str:
    return f"{fingerprint[:32]}.{hashlib.sha256(prefix.encode()).hexdigest()[:16]}{SUFFIX}"


class RangeLog:
    """The ranges of one log file, read from its ranges file (or only in memory when `path` is
    None), and the keys they are posted under.

    Kept in arrays, sorted by start (a busy log's day is ~86 400 ranges: a few MB so, ten
    times more as tuples), and the ones behind a shipper's offset can be forgotten.
    """

    def __init__(
        self, fingerprint: str, prefix: str, style: KeyStyle, path: Path | None = None
    ) -> None:
        self.fingerprint = fingerprint
        self.prefix = prefix
        self.style = style
        self.path = path
        self._fd: int | None = None
        self._read_at = 0
        self._count = 0  # ranges read or recorded, forgotten ones too: the next one's number - 1
        self._starts = array("q")
        self._ends = array("q")
        self._numbers = array("q")
        self._digests = array("Q")  # the digest's 16 hex digits as a number

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else log_name(self.fingerprint, self.prefix)

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, index: int) -> SentRange:
        digest = f"{self._digests[index]:0{DIGEST_CHARS}x}"
        return SentRange(self._starts[index], self._ends[index], digest, self._numbers[index])

    @property
    def ranges(self) -> list[SentRange]:
        return [self[index] for index in range(len(self))]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextmanager
    def locked(self) -> Iterator[RangeLog]:
        """Up to date and alone: what is recorded meanwhile by another sender is seen here."""
        if self._fd is None:
            yield self
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._refresh()
            yield self
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def at(self, start: int) -> SentRange | None:
        """The range recorded from `start`: to be posted exactly as it was."""
        index = bisect.bisect_left(self._starts, start)
        found = index < len(self._starts) and self._starts[index] == start
        return self[index] if found else None

    def limit(self, start: int) -> int | None:
        """Where the next recorded range after `start` begins: a new batch must end there."""
        index = bisect.bisect_right(self._starts, start)
        return self._starts[index] if index < len(self._starts) else None

    def forget_before(self, offset: int) -> None:
        """Drop the ranges ending at or before `offset` from memory: a shipper never goes back."""
        index = bisect.bisect_right(self._ends, offset)
        for column in (self._starts, self._ends, self._numbers, self._digests):
            del column[:index]

    def record(self, start: int, end: int, digest: str) -> SentRange:
        """Write down the range [start, end) before it is posted (call it under `locked`)."""
        assert 0 <= start < end
        if self._overlaps(start, end):
            # Only an offset saved before ranges were kept can fall inside one: not recorded.
            return SentRange(start, end, digest, 0)
        if self._fd is not None and self.path is not None:
            line = f"{start} {end} {digest}\n".encode()
            try:
                size = os.fstat(self._fd).st_size
                # A sender killed mid-line left it unfinished: end it, it is skipped as malformed.
                torn = size > 0 and os.pread(self._fd, 1, size - 1) != b"\n"
                os.write(self._fd, b"\n" + line if torn else line)
                os.fsync(self._fd)
                self._read_at = os.fstat(self._fd).st_size
            except OSError as exc:
                raise RangeLogError(f"cannot write {self.path}: {exc.strerror}") from exc
        index = self._add(start, end, int(digest, 16))
        assert index is not None
        return self[index]

    def key(self, sent: SentRange) -> str:
        if self.style is KeyStyle.NUMBERS and sent.number > 0:
            return f"{self.prefix}{sent.number}"
        return f"{self.prefix}{sent.start}-{sent.end}"

    def _overlaps(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self._starts, start)
        if index < len(self._starts) and self._starts[index] < end:
            return True
        return index > 0 and self._ends[index - 1] > start

    def _add(self, start: int, end: int, digest: int) -> int | None:
        if not 0 <= start < end or self._overlaps(start, end):
            return None
        self._count += 1
        index = bisect.bisect_left(self._starts, start)
        if index == len(self._starts):  # nearly always: ranges are recorded in order
            self._starts.append(start)
            self._ends.append(end)
            self._numbers.append(self._count)
            self._digests.append(digest)
        else:
            self._starts.insert(index, start)
            self._ends.insert(index, end)
            self._numbers.insert(index, self._count)
            self._digests.insert(index, digest)
        return index

    def _refresh(self) -> None:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size <= self._read_at:
            return
        data = os.pread(self._fd, size - self._read_at, self._read_at)
        complete = data[: data.rfind(b"\n") + 1]  # an unfinished last line: read when ended
        self._read_at += len(complete)
        for line in complete.splitlines():
            self._parse(line)

    def _parse(self, line: bytes) -> None:
        fields = line.split()
        if len(fields) != 3 or len(fields[2]) != DIGEST_CHARS:
            return  # the header, or a line a killed sender left unfinished
        with suppress(ValueError):
            self._add(int(fields[0]), int(fields[1]), int(fields[2], 16))


def open_log(
    directory: Path, fingerprint: str, prefix: str, style: KeyStyle, *, create: bool = True
) -> RangeLog:
    """The ranges file of this log and prefix, created if there is none (and `create`).

    Raises RangeLogError when it cannot be read, or created."""
    path = directory / log_name(fingerprint, prefix)
    try:
        if create and not path.exists():
            _create(path, f"{HEADER} {style} {prefix} {fingerprint}\n")
        return _opened(path, os.O_RDWR | os.O_APPEND)
    except OSError as exc:
        raise RangeLogError(f"cannot keep the sent ranges in {path}: {exc.strerror}") from exc


def open_path(path: Path) -> RangeLog:
    """The ranges file at `path` (as named in ship's state), opened to record ranges in.

    Raises RangeLogError, with FileNotFoundError as its cause when there is none."""
    try:
        return _opened(path, os.O_RDWR | os.O_APPEND)
    except OSError as exc:
        raise RangeLogError(f"cannot write the sent ranges in {path}: {exc.strerror}") from exc


def find_logs(directory: Path, fingerprint: str) -> list[RangeLog]:
    """Every ranges file kept for a log file whose first line has this fingerprint."""
    found = []
    for path in sorted(directory.glob(f"{fingerprint[:32]}.*{SUFFIX}")):
        try:
            log = _opened(path, os.O_RDONLY)
        except OSError:
            continue  # unreadable, or removed since: as if it were not there
        log.close()
        if log.fingerprint == fingerprint:
            found.append(log)
    return found


def prune(directory: Path, keep_days: int = KEEP_DAYS, now: float | None = None) -> int:
    """Remove the ranges files not written to for `keep_days`; how many were removed."""
    oldest = (time.time() if now is None else now) - keep_days * 86_400
    removed = 0
    with suppress(OSError):
        for entry in os.scandir(directory):
            if entry.name.endswith(SUFFIX) and entry.stat().st_mtime < oldest:
                with suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def _opened(path: Path, flags: int) -> RangeLog:
    descriptor = os.open(path, flags)
    try:
        log = _from_header(path, os.pread(descriptor, 1024, 0))
        log._fd = descriptor
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        try:
            log._refresh()
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    except OSError:
        os.close(descriptor)
        raise
    return log


def _from_header(path: Path, head: bytes) -> RangeLog:
    fields = head.partition(b"\n")[0].decode("ascii", "replace").split()
    if fields[:3] != HEADER.split() or len(fields) != 6 or fields[3] not in set(KeyStyle):
        raise OSError(0, f"{path.name} is not a usage-metrics ranges file")
    return RangeLog(fields[5], fields[4], KeyStyle(fields[3]), path)


def _create(path: Path, header: str) -> None:
    """Write the header to a new file atomically; a file made meanwhile by another sender wins."""
    owner = _make_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as file:
        file.write(header.encode())
        file.flush()
        os.fsync(file.fileno())
        if owner is not None:
            os.fchown(file.fileno(), *owner)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    descriptor = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _make_folder(folder: Path) -> tuple[int, int] | None:
    """Make `folder` if need be; as root, what is made belongs to the owner of the folder it is
    made in (an import run as root in ship's state folder: ship must still write there)."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return None
    status = os.stat(existing)
    owner = (status.st_uid, status.st_gid)
    made = folder
    while made != existing:
        os.chown(made, *owner)
        made = made.parent
    return owner
