"""The spool: batches not yet answered by the server, one file each, bounded in bytes.

Every batch is written here before it is posted (write-ahead), and removed once the server
answered 200: a crash, a SIGKILL or a server away for hours loses no batch that was written.
Files are named by a number that only grows, and sent oldest first.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from app.errors import UsageMetricsError
from app.shipping.state import write_atomically

SUFFIX = ".batch"
NAME = re.compile(r"^(?P<number>\d{12})\.batch$")
LOCK_NAME = ".lock"
FILE_MODE = 0o600  # the lines hold IP addresses and tokens: for the receiver's user alone
DIRECTORY_MODE = 0o700


class SpoolError(UsageMetricsError):
    """The spool directory cannot be used; the message names it."""


@dataclass(frozen=True)
class SpooledBatch:
    """One batch file: its place in the order, its Idempotency-Key and what it holds."""

    number: int
    key: str
    lines: int
    size: int  # bytes on disk
    path: Path


def default_spool_path(listening: str, environ: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME/usage-metrics/syslog/<name>-<hash of what it listens on>, as ship's state.

    One directory per socket or address: two receivers never share a spool by default.
    """
    base = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME", ".")) / ".local/state")
    digest = hashlib.sha256(listening.encode()).hexdigest()[:12]
    label = re.sub(r"[^A-Za-z0-9._-]", "_", Path(listening).name or listening)
    return Path(base) / "usage-metrics" / "syslog" / f"{label}-{digest}"


def encode_batch(key: str, lines: int, body_gz: bytes) -> bytes:
    """A batch file: one JSON header line (key, line count), then the gzipped body."""
    header = json.dumps({"key": key, "lines": lines}, separators=(",", ":")).encode()
    return header + b"\n" + body_gz


def decode_header(data: bytes) -> tuple[str, int]:
    """The key and line count of a batch file's first bytes; raises ValueError."""
    header, newline, _ = data.partition(b"\n")
    if not newline:
        raise ValueError("no header line")
    fields = json.loads(header)
    key, lines = fields["key"], fields["lines"]
    if not isinstance(key, str) or not isinstance(lines, int):
        raise ValueError("bad header")
    return key, lines


class Spool:
    """The batch files of one directory, locked for one receiver. Thread-safe: the receiver adds,
    the sender takes the oldest and removes it once delivered."""

    def __init__(self, directory: Path, max_bytes: int, notify: Callable[[str], None]) -> None:
        self.directory = directory
        self._max_bytes = max_bytes
        self._notify = notify
        self._lock = threading.Lock()
        self._batches: list[SpooledBatch] = []
        self._sending: int | None = None  # never dropped while the sender posts it
        self._next_number = 1
        self._lock_fd: int | None = None

    def __enter__(self) -> Spool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=DIRECTORY_MODE)
            self._lock_fd = os.open(self.directory / LOCK_NAME, os.O_CREAT | os.O_RDWR, FILE_MODE)
        except OSError as exc:
            raise SpoolError(f"cannot use the spool directory {self.directory}: {exc}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._close_lock()
            raise SpoolError(
                f"another usage-metrics syslog uses the spool {self.directory}: give each "
                "receiver its own --spool"
            ) from exc
        self._scan()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._close_lock()

    @property
    def batches(self) -> int:
        with self._lock:
            return len(self._batches)

    @property
    def lines(self) -> int:
        with self._lock:
            return sum(batch.lines for batch in self._batches)

    def describe(self) -> str:
        with self._lock:
            lines = sum(batch.lines for batch in self._batches)
            return f"{len(self._batches)} batch(es), {lines} lines in the spool"

    def add(self, key: str, lines: int, body_gz: bytes) -> SpooledBatch:
        """Write a batch durably; past the bound, the oldest batches are dropped (with a warning
        giving their line count) so that the newest lines are kept. Raises SpoolError."""
        data = encode_batch(key, lines, body_gz)
        with self._lock:
            number = self._next_number
            path = self.directory / f"{number:012d}{SUFFIX}"
            try:
                write_atomically(path, data, FILE_MODE)
            except OSError as exc:
                raise SpoolError(
                    f"cannot write to the spool {self.directory}: {exc}; {lines} lines lost"
                ) from exc
            self._next_number += 1
            batch = SpooledBatch(number, key, lines, len(data), path)
            self._batches.append(batch)
            self._drop_past_bound()
        return batch

    def oldest(self) -> SpooledBatch | None:
        """The next batch to send; it is not dropped until remove() or release()."""
        with self._lock:
            if not self._batches:
                return None
            self._sending = self._batches[0].number
            return self._batches[0]

    def read(self, batch: SpooledBatch) -> bytes:
        """The batch's gzipped body. Raises OSError."""
        return batch.path.read_bytes().partition(b"\n")[2]

    def remove(self, batch: SpooledBatch) -> None:
        """Forget a batch the server answered (or refused for good)."""
        with self._lock:
            self._forget(batch)
            self._sending = None

    def release(self) -> None:
        """The sender waits before trying the oldest batch again: the bound may drop it."""
        with self._lock:
            self._sending = None

    def _forget(self, batch: SpooledBatch) -> None:
        if batch in self._batches:
            self._batches.remove(batch)
        batch.path.unlink(missing_ok=True)

    def _drop_past_bound(self) -> None:
        total = sum(batch.size for batch in self._batches)
        dropped_batches = dropped_lines = 0
        # The newest batch always stays, even alone past the bound.
        for batch in list(self._batches[:-1]):
            if total <= self._max_bytes:
                break
            if batch.number == self._sending:
                continue
            self._forget(batch)
            total -= batch.size
            dropped_batches += 1
            dropped_lines += batch.lines
        if dropped_batches:
            self._notify(
                f"warning: the spool {self.directory} is full ({self._max_bytes} bytes, "
                f"--spool-max-mb): dropped its {dropped_batches} oldest batch(es), "
                f"{dropped_lines} lines, to keep the newest"
            )

    def _scan(self) -> None:
        for path in self.directory.iterdir():
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)  # a write cut short: never renamed, never a batch
        found = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            match = NAME.match(path.name)
            if match is None:
                continue
            try:
                data = path.read_bytes()
                key, lines = decode_header(data)
            except (OSError, ValueError, KeyError, TypeError):
                self._notify(f"warning: {path} is not a batch file: left aside, not sent")
                continue
            found.append(SpooledBatch(int(match["number"]), key, lines, len(data), path))
        self._batches = found
        self._next_number = found[-1].number + 1 if found else 1

    def _close_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
