"""An import's files while their batches are answered in any order (`--jobs`): where each would
resume, and what is written, in the order the files were given."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from app.shipping.answers import IngestAnswer
from app.shipping.batches import Batch
from app.shipping.file_runs import FileRuns

LINE = b"x" * 9 + b"\n"  # 10 bytes


def batch(number: int, lines: int = 2) -> Batch:
    """The `number`th batch (from 0) of a file of `lines`-line batches."""
    size = lines * len(LINE)
    return Batch(LINE * lines, lines, number * size, (number + 1) * size, f"key-{number}")


def accepted(lines: int = 2) -> IngestAnswer:
    return IngestAnswer(lines, 0, 0, "", duplicate=False)


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        # (batch number, answered?) in the order the senders report them -> (byte, lines) after
        ([(0, True), (1, True), (2, True)], [(20, 2), (40, 4), (60, 6)]),
        ([(1, True), (2, True), (0, True)], [(0, 0), (0, 0), (60, 6)]),
        ([(0, True), (2, True), (1, True)], [(20, 2), (20, 2), (60, 6)]),
        # Not answered (a stop): the run resumes there, whatever was answered after it.
        ([(0, True), (1, False), (2, True)], [(20, 2), (20, 2), (20, 2)]),
        ([(1, True), (0, False), (2, True)], [(0, 0), (0, 0), (0, 0)]),
    ],
)
def test_a_file_resumes_after_the_batches_answered_one_after_another_from_its_start(
    results: list[tuple[int, bool]], expected: list[tuple[int, int]]
) -> None:
    runs = FileRuns(io.StringIO(), lambda text: None)
    run = runs.start(Path("access.log"), 0)
    tickets = [runs.hand_out(run) for _ in range(3)]
    runs.cut(run, stopped=False)
    positions = []
    for number, answered in results:
        runs.answered(tickets[number], batch(number), accepted() if answered else None)
        positions.append((run.byte, run.lines))
    assert positions == expected
    assert run.complete
    assert run.stopped == (not all(answered for _, answered in results))
    assert run.tally.accepted == 2 * sum(answered for _, answered in results)


def test_batches_skipped_by_from_byte_count_as_lines_before_the_resume_point() -> None:
    runs = FileRuns(io.StringIO(), lambda text: None)
    run = runs.start(Path("access.log"), 40)
    runs.skipped(run, batch(0))
    runs.skipped(run, batch(1))
    ticket = runs.hand_out(run)
    runs.cut(run, stopped=False)
    assert (run.byte, run.lines) == (40, 4)
    runs.answered(ticket, batch(2), accepted())
    assert (run.byte, run.lines) == (60, 6)
    assert run.tally.lines == 2  # only what this run sent


def test_each_files_lines_come_in_the_order_given_whichever_is_answered_first() -> None:
    written: list[str] = []
    runs = FileRuns(io.StringIO(), written.append)
    first = runs.start(Path("access.log.1"), 0)
    first_ticket = runs.hand_out(first)
    runs.cut(first, stopped=False, note="access.log.1: its last line has no newline yet")
    second = runs.start(Path("access.log.2.gz"), 0)
    runs.note(second, "access.log.2.gz was sent before")
    second_ticket = runs.hand_out(second)
    runs.cut(second, stopped=False)

    runs.answered(second_ticket, batch(0), IngestAnswer(0, 0, 0, "", duplicate=True))
    assert written == []  # the first file is still in flight: nothing of the second yet
    runs.answered(first_ticket, batch(0), accepted())
    assert written == [
        "access.log.1: its last line has no newline yet",
        "access.log.1: 2 lines in 1 batches: 2 accepted, 0 ignored, 0 rejected",
        "access.log.2.gz was sent before",
        "access.log.2.gz: 2 lines in 1 batches: 0 accepted, 0 ignored, 0 rejected; "
        "2 lines in 1 duplicate batches were counted before, not again",
    ]
    assert runs.total().describe() == (
        "4 lines in 2 batches: 2 accepted, 0 ignored, 0 rejected; "
        "2 lines in 1 duplicate batches were counted before, not again"
    )
