"""The ranges files on real files: what one sender records another reads, a torn line is
skipped, keys per style; which kept ranges describe a content; old ranges pruned."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.shipping.matching import RangeCheck, choose
from app.shipping.ranges import (
    KeyStyle,
    RangeLog,
    RangeLogError,
    find_logs,
    log_name,
    open_log,
    open_path,
    prune,
    range_digest,
)

FIRST = "f" * 64
CONTENT = b"".join(f"line {i}\n".encode() for i in range(10))  # 7 bytes a line


def record(log: RangeLog, start: int, end: int, content: bytes = CONTENT) -> str:
    with log.locked():
        return log.key(log.record(start, end, range_digest(content[start:end])))


def test_a_range_recorded_by_one_sender_is_read_by_another(tmp_path: Path) -> None:
    ship = open_log(tmp_path, FIRST, "um-ship-1.2.ff.0.", KeyStyle.OFFSETS)
    other = open_path(tmp_path / ship.name)  # another process's descriptor, as import has
    assert record(ship, 0, 14) == "um-ship-1.2.ff.0.0-14"
    with other.locked():
        assert other.at(0) is not None and other.limit(0) is None
        assert other.key(other.record(14, 21, range_digest(CONTENT[14:21]))) == (
            "um-ship-1.2.ff.0.14-21"
        )
    with ship.locked():
        assert [(r.start, r.end, r.number) for r in ship.ranges] == [(0, 14, 1), (14, 21, 2)]
        assert ship.limit(0) == 14


def test_import_keys_number_the_ranges_as_before_ranges_were_kept(tmp_path: Path) -> None:
    log = open_log(tmp_path, FIRST, "um-import-abc.", KeyStyle.NUMBERS)
    assert [record(log, 0, 7), record(log, 7, 21), record(log, 35, 42)] == [
        "um-import-abc.1",
        "um-import-abc.2",
        "um-import-abc.3",
    ]
    again = open_path(tmp_path / log.name)
    assert [again.key(r) for r in again.ranges] == [
        "um-import-abc.1",
        "um-import-abc.2",
        "um-import-abc.3",
    ]
    assert again.limit(21) == 35  # a new batch from byte 21 must end where the kept one begins


def test_a_line_left_unfinished_by_a_killed_sender_is_skipped(tmp_path: Path) -> None:
    log = open_log(tmp_path, FIRST, "um-ship-x.", KeyStyle.OFFSETS)
    record(log, 0, 7)
    with (tmp_path / log.name).open("ab") as file:
        file.write(b"7 14 0123")  # killed mid-write
    reader = open_path(tmp_path / log.name)
    assert [(r.start, r.end) for r in reader.ranges] == [(0, 7)]
    assert record(reader, 7, 14) == "um-ship-x.7-14"
    assert [(r.start, r.end) for r in open_path(tmp_path / log.name).ranges] == [(0, 7), (7, 14)]


def test_a_range_over_a_kept_one_is_not_recorded_and_keyed_by_its_bytes(tmp_path: Path) -> None:
    # Only an offset saved before ranges were kept can fall inside one.
    log = open_log(tmp_path, FIRST, "um-import-abc.", KeyStyle.NUMBERS)
    record(log, 0, 14)
    assert record(log, 7, 21) == "um-import-abc.7-21"
    assert [(r.start, r.end) for r in open_path(tmp_path / log.name).ranges] == [(0, 14)]


def test_something_else_than_a_ranges_file_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / f"{FIRST[:32]}.0000000000000000.ranges").write_bytes(b"hello\n")
    assert find_logs(tmp_path, FIRST) == []
    with pytest.raises(RangeLogError, match="is not a usage-metrics ranges file"):
        open_path(tmp_path / f"{FIRST[:32]}.0000000000000000.ranges")


def kept(tmp_path: Path, prefix: str, *cuts: tuple[int, int], content: bytes = CONTENT) -> None:
    log = open_log(tmp_path, FIRST, prefix, KeyStyle.OFFSETS)
    for start, end in cuts:
        record(log, start, end, content)
    log.close()


def checked(tmp_path: Path, content: bytes, chunk: int = 5) -> RangeCheck:
    check = RangeCheck(find_logs(tmp_path, FIRST))
    for start in range(0, len(content), chunk):  # chunks that cut ranges anywhere
        check.feed(content[start : start + chunk])
    return check


def test_the_kept_ranges_that_describe_a_content_are_found(tmp_path: Path) -> None:
    kept(tmp_path, "um-ship-a.", (0, 7), (7, 28))
    kept(tmp_path, "um-ship-b.", (0, 7))
    best = checked(tmp_path, CONTENT).best(len(CONTENT))
    assert best is not None and best.prefix == "um-ship-a."  # the one covering most bytes


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (CONTENT[:7] + b"LINE 1\n" + CONTENT[14:], "another byte in a kept range"),
        (CONTENT[:21], "shorter than the ranges kept: another file's start"),
    ],
)
def test_a_content_that_differs_from_the_kept_ranges_is_not_taken_for_them(
    tmp_path: Path, content: bytes, why: str
) -> None:
    kept(tmp_path, "um-ship-a.", (0, 7), (7, 28))
    assert checked(tmp_path, content).best(len(content)) is None, why


def test_a_new_file_with_the_first_line_of_another_gets_keys_of_its_own(tmp_path: Path) -> None:
    kept(tmp_path, "um-ship-1.2.ff.0.", (0, 7), (7, 28))  # the same inode, reused
    other = CONTENT[:7] + b"other 1\n" * 4
    check = checked(tmp_path, other)
    choice = choose(tmp_path, FIRST, check, len(other), "um-ship-1.2.ff.0.", KeyStyle.OFFSETS)
    assert not choice.adopted
    assert record(choice.log, 0, 7, other) == "um-ship-1.2.ff.0~2.0-7"
    same = checked(tmp_path, CONTENT)
    again = choose(tmp_path, FIRST, same, len(CONTENT), "um-import-c.", KeyStyle.NUMBERS)
    assert again.adopted and again.log.prefix == "um-ship-1.2.ff.0."


def test_ranges_files_not_written_to_for_90_days_are_removed(tmp_path: Path) -> None:
    kept(tmp_path, "um-ship-old.", (0, 7))
    kept(tmp_path, "um-ship-recent.", (0, 7))
    now = time.time()
    for prefix, days in (("um-ship-old.", 91), ("um-ship-recent.", 89)):
        then = now - days * 86_400
        os.utime(tmp_path / log_name(FIRST, prefix), (then, then))
    (tmp_path / "not-ours.txt").write_text("kept")
    os.utime(tmp_path / "not-ours.txt", (0, 0))
    assert prune(tmp_path, now=now) == 1
    assert [log.prefix for log in find_logs(tmp_path, FIRST)] == ["um-ship-recent."]
    assert (tmp_path / "not-ours.txt").exists()
    assert prune(tmp_path / "no such folder", now=now) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="only root gives files away")
def test_what_root_makes_in_ships_folder_belongs_to_the_folders_owner(tmp_path: Path) -> None:
    # An import run as root: the shipper, another user, must still write there.
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)
    log = open_log(state / "usage-metrics" / "ship" / "ranges", FIRST, "um-x.", KeyStyle.NUMBERS)
    assert log.path is not None
    for made in (log.path, *log.path.parents[:3]):
        assert (os.stat(made).st_uid, os.stat(made).st_gid) == (65534, 65534), made
