"""`usage-metrics import`: archived logs, plain or compressed, each line counted once however often
a file is imported, and once if ship sent it too; a stop (Ctrl-C) is taken after the batch in
flight is answered, and the command to send the rest is printed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from app.shipping.answers import Tally
from app.shipping.archive import ArchiveError, Survey, archive_batches, survey_archive
from app.shipping.batches import import_prefix
from app.shipping.deliver import Deliverer
from app.shipping.matching import RangeCheck, candidates_for, choose
from app.shipping.progress import Progress
from app.shipping.ranges import KeyStyle, RangeLog, RangeLogError, prune
from app.shipping.signals import StopSignal

Notify = Callable[[str], None]
# The command that sends the rest: the files left, and the first one's byte to start at.
Resume = Callable[[list[Path], int], str]


@dataclass(frozen=True)
class ImportOptions:
    max_lines: int
    ranges_dir: Path  # the ranges ship keeps (docs/deploy.md), shared with it
    from_byte: int = 0  # of the first file: where an interrupted import stopped


@dataclass
class _Position:
    """The first byte of the file not answered yet, and the lines before it."""

    byte: int
    lines: int = 0


def import_archives(
    paths: list[Path],
    deliverer: Deliverer,
    options: ImportOptions,
    stop: StopSignal,
    stream: TextIO,
    notify: Notify,
    resume: Resume,
) -> int:
    """Send each file; 0 once all were answered, 128 + the signal's number after a stop."""
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise ArchiveError(f"no such file: {', '.join(missing)}")
    prune(options.ranges_dir)
    total = Tally()
    for index, path in enumerate(paths):
        position = _Position(options.from_byte if index == 0 else 0)
        try:
            sent = _import_one(path, deliverer, options, stop, stream, notify, position)
        except SystemExit:  # a second signal: at once, maybe with a batch in flight
            notify(
                f"stopped at once in {path} at byte {position.byte}: the batch in flight may "
                "have counted or not (sent again, it counts once); to send the rest, run: "
                f"{resume(paths[index:], position.byte)}"
            )
            raise
        total.merge(sent)
        notify(f"{path}: {sent.describe()}")
        if sent.stopped:
            notify(
                f"stopped in {path} at byte {position.byte}, after {position.lines} lines: "
                f"every batch sent was answered; to send the rest, run: "
                f"{resume(paths[index:], position.byte)}"
            )
            return 128 + stop.number
    notify(f"imported {len(paths)} file(s): {total.describe()}")
    return 0


def _import_one(
    path: Path,
    deliverer: Deliverer,
    options: ImportOptions,
    stop: StopSignal,
    stream: TextIO,
    notify: Notify,
    position: _Position,
) -> Tally:
    sent = Tally(stopped=stop.requested)
    found: list[RangeCheck] = []
    survey = None if sent.stopped else _survey(path, options.ranges_dir, stop, found)
    if survey is None or not found:
        sent.stopped = stop.requested
        return sent  # stopped while reading, or an empty file
    ranges = _ranges_for(path, survey, found[0], options.ranges_dir, notify)
    progress = Progress(stream, path.name, survey.lines)
    end = 0
    try:
        for batch in archive_batches(path, survey, ranges, options.max_lines):
            end = batch.end
            if batch.end <= position.byte:  # answered in the run this one resumes
                progress.advance(batch.lines)
                position.lines += batch.lines
                continue
            if stop.requested or (answer := deliverer.post(batch)) is None:
                sent.stopped = True  # recorded, not answered: the next run sends it
                break
            sent.add(batch.lines, answer)
            progress.advance(batch.lines)
            position.byte, position.lines = batch.end, position.lines + batch.lines
    finally:
        ranges.close()
        progress.finish()
    if not sent.stopped and end < survey.size:
        notify(f"{path}: its last line has no newline yet (still being written?): not sent")
    return sent


def _survey(
    path: Path, ranges_dir: Path, stop: StopSignal, found: list[RangeCheck]
) -> Survey | None:
    def check_for(fingerprint: str) -> RangeCheck:
        found.append(RangeCheck(candidates_for(ranges_dir, fingerprint)))
        return found[0]

    return survey_archive(path, check_for, lambda: stop.requested)


def _ranges_for(
    path: Path, survey: Survey, check: RangeCheck, directory: Path, notify: Notify
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
        notify(
            f"{path} was sent before (ranges {choice.log.name}): its lines go in the same "
            "batches, counted once"
        )
    return choice.log
