"""Archives: compression told by magic bytes, the survey, batches cut at kept ranges or by lines
(numbered as before ranges were kept), the progress."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Callable
from pathlib import Path

import pytest

from app.shipping.archive import Survey, archive_batches, open_archive, survey_archive
from app.shipping.batches import Batch, import_key, import_prefix
from app.shipping.matching import RangeCheck
from app.shipping.progress import Progress, render_bar
from app.shipping.ranges import KeyStyle, RangeLog, range_digest

LINES = b"".join(f"line {i}\n".encode() for i in range(25))
CONTENT = LINES + b"last, no newline"


def survey(path: Path) -> Survey:
    found = survey_archive(path, lambda _: RangeCheck([]), lambda: False)
    assert found is not None
    return found


def batches(path: Path, max_lines: int, ranges: RangeLog | None = None) -> list[Batch]:
    found = survey(path)
    kept = ranges or RangeLog(
        found.fingerprint or "", import_prefix(found.sha256), KeyStyle.NUMBERS
    )
    return list(archive_batches(path, found, kept, max_lines))


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("access.log", lambda data: data),
        ("access.log.1.gz", gzip.compress),
        ("access.log.2", gzip.compress),  # no suffix: the magic bytes tell
        ("access.log.gz", lambda data: data),  # a misleading suffix
        ("two-members.gz", lambda data: gzip.compress(data[:50]) + gzip.compress(data[50:])),
        ("access.log.bz2", bz2.compress),
        ("access.log.xz", lzma.compress),
    ],
)
def test_reads_plain_and_compressed_files_by_their_content(
    tmp_path: Path, name: str, compress: Callable[[bytes], bytes]
) -> None:
    path = tmp_path / name
    path.write_bytes(compress(CONTENT))
    with open_archive(path) as stream:
        assert stream.read() == CONTENT
    plain = tmp_path / "plain.log"
    plain.write_bytes(LINES)
    assert survey(path).fingerprint == survey(plain).fingerprint


def test_a_compressed_files_last_line_without_newline_is_sent_as_before(tmp_path: Path) -> None:
    path = tmp_path / "access.log.gz"
    path.write_bytes(gzip.compress(CONTENT))
    found = survey(path)
    assert (found.size, found.end, found.lines) == (len(CONTENT), len(CONTENT), 26)
    sent = batches(path, 10)
    # Cut as before ranges were kept: a file imported then names the same batches now.
    assert [(b.start, b.end, b.lines) for b in sent] == [(0, 70, 10), (70, 150, 10), (150, 206, 6)]
    assert [b.key for b in sent] == [import_key(found.sha256, n) for n in (1, 2, 3)]
    assert b"".join(b.body for b in sent) == CONTENT


def test_a_plain_files_unfinished_last_line_is_left_for_later(tmp_path: Path) -> None:
    # A live log: its last line may be half written.
    path = tmp_path / "access.log"
    path.write_bytes(CONTENT)
    found = survey(path)
    assert (found.size, found.end, found.lines) == (len(CONTENT), len(LINES), 25)
    assert b"".join(b.body for b in batches(path, 10)) == LINES


def test_kept_ranges_are_sent_as_they_were_and_new_batches_end_where_one_begins(
    tmp_path: Path,
) -> None:
    path = tmp_path / "access.log.1.gz"
    path.write_bytes(gzip.compress(LINES))
    kept = RangeLog(survey(path).fingerprint or "", "um-ship-x.", KeyStyle.OFFSETS)
    kept.record(0, 7, range_digest(LINES[:7]))  # as ship cut them, one line...
    kept.record(21, 42, range_digest(LINES[21:42]))  # ... and three more, later
    sent = batches(path, 10, kept)
    assert [(b.start, b.end, b.lines) for b in sent] == [
        (0, 7, 1),
        (7, 21, 2),  # up to the next kept range, fewer than 10 lines
        (21, 42, 3),
        (42, 118, 10),
        (118, 190, 9),
    ]
    assert [b.key for b in sent] == [
        "um-ship-x.0-7",
        "um-ship-x.7-21",
        "um-ship-x.21-42",
        "um-ship-x.42-118",
        "um-ship-x.118-190",
    ]
    assert [(r.start, r.end) for r in kept.ranges] == [(b.start, b.end) for b in sent]


def test_an_empty_file_has_no_line(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    found = survey(path)
    assert (found.fingerprint, found.size, found.lines) == (None, 0, 0)


def test_the_bar_shows_the_lines_sent() -> None:
    assert render_bar("a.gz", 0, 200) == "a.gz [..............................]   0% 0/200 lines"
    assert (
        render_bar("a.gz", 100, 200) == "a.gz [###############...............]  50% 100/200 lines"
    )
    assert render_bar("empty", 0, 0) == "empty [##############################] 100% 0/0 lines"


def test_without_a_terminal_progress_is_a_line_now_and_then() -> None:
    stream = io.StringIO()
    now = [0.0]
    progress = Progress(stream, "a.gz", 300, clock=lambda: now[0])
    progress.advance(100)  # too soon after the start
    now[0] = 6.0
    progress.advance(100)
    now[0] = 7.0
    progress.advance(100)  # too soon after the last line
    progress.finish()
    assert stream.getvalue().splitlines() == [
        render_bar("a.gz", 200, 300),
        render_bar("a.gz", 300, 300),
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place() -> None:
    stream = Terminal()
    now = [0.0]
    progress = Progress(stream, "a.gz", 200, clock=lambda: now[0])
    now[0] = 0.5
    progress.advance(100)
    progress.finish()
    assert stream.getvalue() == (
        f"\r{render_bar('a.gz', 100, 200)}\r{render_bar('a.gz', 100, 200)}\n"
    )
