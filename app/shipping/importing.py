"""`usage-metrics import`: archived logs, plain or compressed, several batches posted at once, each
line counted once however often a file is imported, and once if ship sent it too; a stop (Ctrl-C)
is taken after the batches in flight are answered, and the command to send the rest is printed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from app.shipping.archive import ArchiveError, Survey, archive_batches, survey_archive
from app.shipping.batches import import_prefix
from app.shipping.deliver import Deliverer
from app.shipping.file_runs import FileRun, FileRuns, Ticket
from app.shipping.matching import RangeCheck, candidates_for, choose
from app.shipping.ranges import KeyStyle, RangeLog, RangeLogError, prune
from app.shipping.senders import SenderPool
from app.shipping.signals import StopSignal

Notify = Callable[[str], None]
# The command that sends the rest: the files left, and the first one's byte to start at.
Resume = Callable[[list[Path], int], str]


@dataclass(frozen=True)
class ImportOptions:
    max_lines: int
    ranges_dir: Path  # the ranges ship keeps (docs/deploy.md), shared with it
    from_byte: int = 0  # of the first file: where an interrupted import stopped
    jobs: int = 1  # batches posted at once


def import_archives(
    paths: list[Path],
    deliverers: Callable[[], Deliverer],
    options: ImportOptions,
    stop: StopSignal,
    stream: TextIO,
    notify: Notify,
    resume: Resume,
) -> int:
    """Send each file, `options.jobs` batches at once; 0 once all were answered, 128 + the
    signal's number after a stop.

    One reader cuts the files' batches in order and records their ranges before handing them
    to the senders: the keys are numbered in the order the ranges are recorded, so they are the
    same whatever `jobs` was, and a file imported again without its ranges gets the same keys
    (docs/deploy.md#ship-and-import)."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise ArchiveError(f"no such file: {', '.join(missing)}")
    prune(options.ranges_dir)
    runs = FileRuns(stream, notify)
    try:
        with SenderPool(options.jobs, deliverers, stop, runs.answered) as pool:
            for index, path in enumerate(paths):
                run = runs.start(path, options.from_byte if index == 0 else 0)
                _cut(run, runs, pool, options, stop)
                if run.stopped:
                    break
            pool.finish()
    except SystemExit:  # a second signal: at once, maybe with batches in flight
        if (left := runs.first_unfinished()) is not None:
            notify(
                f"stopped at once in {left.path} at byte {left.byte}: the batches in flight "
                "may have counted or not (sent again, they count once); to send the rest, run: "
                f"{resume(paths[left.index :], left.byte)}"
            )
        elif runs.started < len(paths):  # between two files: every batch sent was answered
            notify(
                f"stopped at once before {paths[runs.started]}: every batch sent was "
                f"answered; to send the rest, run: {resume(paths[runs.started :], 0)}"
            )
        raise
    stopped = runs.first_stopped()
    if stopped is not None:
        notify(
            f"stopped in {stopped.path} at byte {stopped.byte}, after {stopped.lines} lines: "
            f"every batch sent was answered; to send the rest, run: "
            f"{resume(paths[stopped.index :], stopped.byte)}"
        )
        return 128 + stop.number
    notify(f"imported {len(paths)} file(s): {runs.total().describe()}")
    return 0


def _cut(
    run: FileRun,
    runs: FileRuns,
    pool: SenderPool[Ticket],
    options: ImportOptions,
    stop: StopSignal,
) -> None:
    """Survey the file, then hand its batches out in order, each recorded before."""
    stopped, note = True, ""
    try:
        found: list[RangeCheck] = []
        survey = None if stop.requested else _survey(run.path, options.ranges_dir, stop, found)
        if survey is None or not found:
            stopped = stop.requested  # stopped while reading, or an empty file
            return
        ranges = _ranges_for(survey, found[0], options.ranges_dir, run, runs.note)
        runs.surveyed(run, survey.lines)
        end = 0
        try:
            for batch in archive_batches(run.path, survey, ranges, options.max_lines):
                end = batch.end
                if batch.end <= run.from_byte:
                    runs.skipped(run, batch)
                    continue
                if pool.halted:
                    return  # recorded, not sent: the next run sends it
                pool.send(runs.hand_out(run), batch)
        finally:
            ranges.close()
        stopped = False
        if end < survey.size:
            note = f"{run.path}: its last line has no newline yet (still being written?): not sent"
    finally:
        runs.cut(run, stopped=stopped, note=note)


def _survey(
    path: Path, ranges_dir: Path, stop: StopSignal, found: list[RangeCheck]
) -> Survey | None:
    def check_for(fingerprint: str) -> RangeCheck:
        found.append(RangeCheck(candidates_for(ranges_dir, fingerprint)))
        return found[0]

    return survey_archive(path, check_for, lambda: stop.requested)


def _ranges_for(
    survey: Survey,
    check: RangeCheck,
    directory: Path,
    run: FileRun,
    note: Callable[[FileRun, str], None],
) -> RangeLog:
    """The ranges kept for this content (ship's, or an earlier import's), or new ones."""
    first = survey.fingerprint
    assert first is not None
    prefix = import_prefix(survey.sha256)
    try:
        choice = choose(directory, first, check, survey.size, prefix, KeyStyle.NUMBERS)
    except RangeLogError as exc:
        # Cut without them, lines ship sent would count again: nothing is sent.
        raise RangeLogError(
            f"{exc}: run import as the user ship runs as, or give --ranges a folder of yours "
            "(then lines ship sent count again)"
        ) from exc
    if choice.adopted:
        note(
            run,
            f"{run.path} was sent before (ranges {choice.log.name}): its lines go in the same "
            "batches, counted once",
        )
    return choice.log
