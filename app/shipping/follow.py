"""Follow a growing log file like `tail -F`: by inode, across rename and copytruncate rotations.

Rename (logrotate's default): the file at the path is a new inode, and the writer keeps appending
to the old one until it reopens its log. The old file is read to its end, and left once it has
stopped growing for one poll; then the new file is read from its first byte.
Copytruncate: the same inode shrinks below our offset, or its first line changes. The lines we had
not read yet are in the copy: the newest file beside it with the same first line is read from our
offset to its end, then the truncated file from its first byte, one generation later.

Each batch's range is recorded in the file's ranges (app/shipping/ranges.py) before it is handed
out, and a range recorded earlier, by import or an earlier run, is handed out as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from app.errors import UsageMetricsError
from app.shipping.batches import (
    FINGERPRINT_BYTES,
    MAX_BATCH_BYTES,
    Batch,
    FileIdentity,
    fingerprint,
    whole_lines,
)
from app.shipping.matching import ranges_of_file
from app.shipping.ranges import RangeLog, prune, range_digest
from app.shipping.state import ShipState

FIRST_WINDOW = 64 * 1024
SCAN_BYTES = 1024 * 1024

Notify = Callable[[str], None]


class Follower:
    """Hands out batches of whole lines from where the server's lines end; see the module doc.

    The offset moves only when the caller acknowledges a batch, so a batch that was not
    delivered is handed out again, with the same bytes and the same key.
    """

    def __init__(
        self,
        path: Path,
        state: ShipState | None,
        *,
        settle: bool,
        notify: Notify,
        ranges_dir: Path,
    ) -> None:
        self._path = path
        self._settle = settle  # --once: a rotated file gets no more lines
        self._notify = notify
        self._ranges_dir = ranges_dir
        self._ranges: RangeLog | None = None  # opened at the file's first batch
        self._ranges_name: str | None = None  # the state's, until opened
        self._fd: int | None = None
        self._name = path  # where the file we read was found, for messages
        self._device = self._inode = -1
        self._fingerprint: str | None = None
        self._generation = 0
        self._offset = 0
        self._forced_end: int | None = None
        self._rotated = False  # the file we read is no longer at the path
        self._final = False  # ... and nothing writes to it any more (a copy)
        self._last_size: int | None = None
        self._waiting = False
        self._resume(state)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._ranges is not None:
            self._ranges.close()
            self._ranges = None

    def state(self, pending: Batch | None = None) -> ShipState | None:
        """What to save: with `pending`, before posting it; without, once it was acknowledged."""
        if self._fd is None:
            return None
        return ShipState(
            self._device,
            self._inode,
            self._fingerprint,
            self._generation,
            self._offset,
            pending.end if pending is not None else None,
            self._ranges.name if self._ranges is not None else self._ranges_name,
        )

    def acknowledge(self, batch: Batch) -> None:
        self._offset = batch.end
        self._forced_end = None
        if self._ranges is not None:
            self._ranges.forget_before(self._offset)  # a long-running shipper stays small

    def next_batch(self, max_lines: int) -> Batch | None:
        """Up to `max_lines` whole lines not yet acknowledged, or None while there are none."""
        if self._fd is None and not self._switch_to_path():
            return None
        self._notice_truncation()
        batch = self._read(max_lines)
        if batch is not None or not self._is_rotated_and_done():
            return batch
        tail = self._read_tail()
        if tail is not None:
            return tail
        if not self._switch_to_path():
            return None
        return self.next_batch(max_lines)

    def _resume(self, state: ShipState | None) -> None:
        if state is None:
            self._switch_to_path()
            return
        self._device, self._inode = state.device, state.inode
        self._fingerprint, self._generation = state.fingerprint, state.generation
        self._offset, self._forced_end = state.offset, state.pending_end
        self._ranges_name = state.ranges
        for candidate in (self._path, *_siblings(self._path)):
            if self._adopt(candidate):
                return
        self._notify(
            f"the file the state file points to (inode {state.inode}) is no longer beside "
            f"{self._path}: lines it got after byte {state.offset} were not sent"
        )
        self._switch_to_path()

    def _adopt(self, candidate: Path) -> bool:
        """Resuming: whether `candidate` is the state's file, which is then read on."""
        try:
            status = candidate.stat()
            if (status.st_dev, status.st_ino) != (self._device, self._inode):
                return False
            descriptor = os.open(candidate, os.O_RDONLY)
        except OSError:
            return False
        renamed = candidate != self._path
        # A renamed file is kept only if its first line proves it is ours (inode numbers are
        # reused); at the path, a changed first line is a truncation: _notice_truncation's job.
        if renamed and self._fingerprint is not None:
            head = os.pread(descriptor, FINGERPRINT_BYTES, 0)
            if fingerprint(head, final=True) != self._fingerprint:
                os.close(descriptor)
                return False
        self._fd, self._name, self._rotated = descriptor, candidate, renamed
        if renamed:
            self._notify(f"{self._path} was rotated: sending the rest of {candidate} first")
        return True

    def _switch_to_path(self) -> bool:
        """Read the file now at the path from its first byte; False while there is none."""
        try:
            descriptor = os.open(self._path, os.O_RDONLY)
        except FileNotFoundError:
            if not self._waiting:
                self._notify(f"waiting for {self._path} to appear")
                self._waiting = True
            return False
        except OSError as exc:
            raise FollowError(f"cannot read {self._path}: {exc.strerror}") from exc
        status = os.fstat(descriptor)
        same = (status.st_dev, status.st_ino) == (self._device, self._inode)
        self.close()
        self._ranges_name = None
        prune(self._ranges_dir)  # a new file, once a day or so: forget ranges no key outlives
        self._fd, self._name, self._waiting = descriptor, self._path, False
        self._device, self._inode = status.st_dev, status.st_ino
        # The same inode again is a truncated file: a new generation keeps its keys new.
        self._generation = self._generation + 1 if same else 0
        self._fingerprint, self._offset, self._forced_end = None, 0, None
        self._rotated = self._final = False
        self._last_size = None
        return True

    def _notice_truncation(self) -> None:
        if self._rotated or self._fd is None:
            return  # a renamed or copied file is not truncated by copytruncate
        size = os.fstat(self._fd).st_size
        if size >= max(self._offset, self._forced_end or 0) and (
            self._offset == 0
            or self._fingerprint is None
            or fingerprint(os.pread(self._fd, FINGERPRINT_BYTES, 0)) == self._fingerprint
        ):
            return
        copy = self._find_copy()
        try:
            descriptor = os.open(copy, os.O_RDONLY) if copy is not None else None
        except OSError:
            descriptor = None
        if copy is None or descriptor is None:
            self._notify(
                f"{self._path} was truncated and no copy of it was found beside it: "
                "reading it again from its first byte"
            )
            self._switch_to_path()
            return
        os.close(self._fd)  # the same file's ranges go on in its copy
        self._fd, self._name = descriptor, copy
        self._rotated = self._final = True
        self._notify(f"{self._path} was truncated: sending the rest of its copy {copy} first")

    def _find_copy(self) -> Path | None:
        """The newest file beside ours with our first line and at least our offset's bytes."""
        if self._fingerprint is None or self._offset == 0:
            return None
        found: list[tuple[int, Path]] = []
        for candidate in _siblings(self._path):
            try:
                status = candidate.stat()
                with candidate.open("rb") as file:
                    head = file.read(FINGERPRINT_BYTES)
            except OSError:
                continue
            if status.st_size >= self._offset and fingerprint(head) == self._fingerprint:
                found.append((status.st_mtime_ns, candidate))
        return max(found)[1] if found else None

    def _is_rotated_and_done(self) -> bool:
        """Whether the file we read has left the path and will not grow any more."""
        assert self._fd is not None
        if not self._rotated:
            try:
                status = os.stat(self._path)
            except FileNotFoundError:
                return False  # renamed, and no new file yet: the writer still has the old one
            if (status.st_dev, status.st_ino) == (self._device, self._inode):
                return False
            self._rotated = True
            self._notify(f"{self._path} was rotated: sending the rest of the old file first")
        if self._final or self._settle:
            return True
        # The writer appends to the old file until it reopens its log: one idle poll first.
        size = os.fstat(self._fd).st_size
        idle = size == self._last_size
        self._last_size = size
        return idle

    def _read(self, max_lines: int) -> Batch | None:
        assert self._fd is not None
        ranges = self._open_ranges(final=False)
        if ranges is None:
            return None  # no whole first line yet
        with ranges.locked():
            if self._has_recorded(ranges):
                # Not merged with new lines, and not cut otherwise while it is not all there.
                batch = self._read_recorded(ranges, os.fstat(self._fd).st_size)
                if batch is not None or self._has_recorded(ranges):
                    return batch
            limit = ranges.limit(self._offset)
            most = MAX_BATCH_BYTES if limit is None else min(MAX_BATCH_BYTES, limit - self._offset)
            window = min(most, max(FIRST_WINDOW, max_lines * 512))
            while True:
                data = os.pread(self._fd, window, self._offset)
                end, count = whole_lines(data, max_lines)
                if count == max_lines or len(data) < window or window == most:
                    break
                window = min(most, window * 2)
            if count == 0 and len(data) == MAX_BATCH_BYTES:
                self._skip_long_line()
                return None
            return self._record(ranges, data[:end]) if count else None

    def _has_recorded(self, ranges: RangeLog) -> bool:
        return ranges.at(self._offset) is not None or self._forced_end is not None

    def _read_recorded(self, ranges: RangeLog, size: int) -> Batch | None:
        """The range recorded from our offset (or the state's pending one), once it is all there."""
        assert self._fd is not None
        sent = ranges.at(self._offset)
        end = sent.end if sent is not None else self._forced_end
        if end is None or end > size:
            if sent is None:
                self._forced_end = None  # those bytes are gone; nothing can be re-sent
            return None
        body = os.pread(self._fd, end - self._offset, self._offset)
        if sent is None:
            return self._record(ranges, body)  # pending in a state saved before ranges were kept
        return self._batch(body, ranges.key(sent))

    def _read_tail(self) -> Batch | None:
        # The last line of a rotated file may never get its newline: sent as it is.
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size <= self._offset:
            return None
        ranges = self._open_ranges(final=True)
        assert ranges is not None  # the file has bytes past our offset
        with ranges.locked():
            recorded = self._read_recorded(ranges, size)
            if recorded is not None:
                return recorded
            end = min(size, ranges.limit(self._offset) or size)
            return self._record(ranges, os.pread(self._fd, end - self._offset, self._offset))

    def _skip_long_line(self) -> None:
        # The server would refuse it (413) and the shipper could never go past it.
        assert self._fd is not None
        position = self._offset + MAX_BATCH_BYTES
        while chunk := os.pread(self._fd, SCAN_BYTES, position):
            newline = chunk.find(b"\n")
            if newline >= 0:
                self._notify(
                    f"skipped a line of more than {MAX_BATCH_BYTES} bytes at byte {self._offset}"
                )
                self._offset = position + newline + 1
                return
            position += len(chunk)

    def _record(self, ranges: RangeLog, body: bytes) -> Batch:
        sent = ranges.record(self._offset, self._offset + len(body), range_digest(body))
        return self._batch(body, ranges.key(sent))

    def _batch(self, body: bytes, key: str) -> Batch:
        lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
        return Batch(body, lines, self._offset, self._offset + len(body), key)

    def _open_ranges(self, *, final: bool) -> RangeLog | None:
        """The ranges of the file we read, opened at its first whole line: the state's, or the
        ones kept by an earlier run or import for the same content, or new ones."""
        assert self._fd is not None
        if self._ranges is not None:
            return self._ranges
        if self._fingerprint is None:
            head = os.pread(self._fd, FINGERPRINT_BYTES, 0)
            self._fingerprint = fingerprint(head, final=final)
            if self._fingerprint is None:
                return None
        identity = FileIdentity(self._device, self._inode, self._fingerprint, self._generation)
        choice = ranges_of_file(self._ranges_dir, self._ranges_name, identity, self._fd)
        if choice.adopted:
            self._notify(
                f"{self._name} was sent before (ranges {choice.log.name}): "
                "its lines go in the same batches, counted once"
            )
        self._ranges, self._ranges_name = choice.log, choice.log.name
        return self._ranges


class FollowError(UsageMetricsError):
    """The followed file exists and cannot be read."""


def _siblings(path: Path) -> list[Path]:
    """The other regular files in the log's directory, where logrotate leaves rotated files."""
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    return [Path(e.path) for e in entries if e.is_file() and e.name != path.name]
