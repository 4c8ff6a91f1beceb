"""What `import` knows of each file while its batches are answered in any order (`--jobs`): its
tally, where the batches answered one after another from its start end (where a stopped import
resumes), and its progress, shown one file at a time in the order the files were given."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TextIO

from app.shipping.answers import IngestAnswer, Tally
from app.shipping.batches import Batch
from app.shipping.progress import Progress

Notify = Callable[[str], None]


@dataclass
class FileRun:
    """One file of an import. `byte`: every batch before it was answered (or skipped by
    --from-byte), the first batch from it not yet; `lines`: the lines before it. Changed only
    under FileRuns' lock."""

    index: int  # in the command's list of files
    path: Path
    from_byte: int  # the batches ending before it were sent by the run this one resumes
    byte: int = field(init=False)
    lines: int = 0
    tally: Tally = field(default_factory=Tally)
    stopped: bool = False  # some of its lines were not sent: a stop, or a refused batch
    cut: bool = False  # no more of its batches will be handed out
    progress: Progress | None = None
    handed_out: int = 0
    answered: int = 0  # batches with a result, the dropped ones too
    _prefix: int = 0  # the batches answered one after another from the first handed out
    # Past the prefix: each batch's end and lines, None for one not answered (not its body:
    # a batch slow to be answered may keep many here).
    _past_prefix: dict[int, tuple[int, int] | None] = field(default_factory=dict)
    _done_lines: int = 0  # answered or skipped, for the progress bar
    _shown_lines: int = 0
    _notes: list[str] = field(default_factory=list)  # written before its bar
    _shown_notes: int = 0
    last_note: str = ""  # written after its bar

    def __post_init__(self) -> None:
        self.byte = self.from_byte

    @property
    def complete(self) -> bool:
        return self.cut and self.answered == self.handed_out

    def add_note(self, text: str) -> None:
        self._notes.append(text)

    def skip(self, batch: Batch) -> None:
        self.lines += batch.lines
        self._done_lines += batch.lines

    def settle(self, number: int, batch: Batch, answer: IngestAnswer | None) -> None:
        """The result of its `number`th batch handed out (from 0): the answer, or None."""
        self.answered += 1
        self._past_prefix[number] = (batch.end, batch.lines) if answer is not None else None
        if answer is None:
            self.stopped = True
        else:
            self.tally.add(batch.lines, answer)
            self._done_lines += batch.lines
        while (done := self._past_prefix.get(self._prefix)) is not None:
            del self._past_prefix[self._prefix]
            self._prefix += 1
            self.byte, self.lines = done[0], self.lines + done[1]

    def show(self, notify: Notify) -> None:
        """Write what was not shown yet: its notes, its bar moved on."""
        for text in self._notes[self._shown_notes :]:
            notify(text)
        self._shown_notes = len(self._notes)
        if self.progress is not None and self._done_lines > self._shown_lines:
            self.progress.advance(self._done_lines - self._shown_lines)
            self._shown_lines = self._done_lines

    def finish(self, notify: Notify) -> None:
        if self.progress is not None:
            self.progress.finish()
        if self.last_note:
            notify(self.last_note)
        notify(f"{self.path}: {self.tally.describe()}")


class Ticket(NamedTuple):
    """A batch handed out: its file, and its place among that file's batches."""

    run: FileRun
    number: int


class FileRuns:
    """Every file's run, updated from the senders' threads. Bars (on `stream`) and lines about
    the files (`notify`) are written under one lock, so they never interleave; a file's are
    written once the files before it are complete."""

    def __init__(self, stream: TextIO, notify: Notify) -> None:
        self._stream = stream
        self._notify = notify
        self._runs: list[FileRun] = []
        self._shown = 0  # the file whose progress is on screen: the first one not complete
        self._lock = threading.Lock()

    def start(self, path: Path, from_byte: int) -> FileRun:
        with self._lock:
            run = FileRun(len(self._runs), path, from_byte)
            self._runs.append(run)
            return run

    def note(self, run: FileRun, text: str) -> None:
        """A line about `run`, written when its turn comes (before its bar)."""
        with self._lock:
            run.add_note(text)
            self._show()

    def surveyed(self, run: FileRun, lines: int) -> None:
        with self._lock:
            run.progress = Progress(self._stream, run.path.name, lines)

    def skipped(self, run: FileRun, batch: Batch) -> None:
        """A batch before --from-byte: answered in the run this one resumes."""
        with self._lock:
            run.skip(batch)
            self._show()

    def hand_out(self, run: FileRun) -> Ticket:
        with self._lock:
            run.handed_out += 1
            return Ticket(run, run.handed_out - 1)

    def answered(self, ticket: Ticket, batch: Batch, answer: IngestAnswer | None) -> None:
        """A sender's result: the answer, or None for a batch not posted (recorded in the
        ranges all the same: the next run posts it under the same key)."""
        with self._lock:
            ticket.run.settle(ticket.number, batch, answer)
            self._show()

    def cut(self, run: FileRun, *, stopped: bool, note: str = "") -> None:
        """No more batches of `run` will be handed out; `stopped` if some of it was not."""
        with self._lock:
            run.cut = True
            run.stopped = run.stopped or stopped
            run.last_note = note
            self._show()

    def first_stopped(self) -> FileRun | None:
        return next((run for run in self._runs if run.stopped), None)

    @property
    def started(self) -> int:
        """How many files were started (the next one's index)."""
        return len(self._runs)

    def first_unfinished(self) -> FileRun | None:
        """Read without the lock: for the message of a second Ctrl-C, which may have come while
        the lock was held."""
        return next((run for run in self._runs if run.stopped or not run.complete), None)

    def total(self) -> Tally:
        total = Tally()
        for run in self._runs:
            total.merge(run.tally)
        return total

    def _show(self) -> None:
        while self._shown < len(self._runs):
            run = self._runs[self._shown]
            run.show(self._notify)
            if not run.complete:
                return
            run.finish(self._notify)
            self._shown += 1
