"""The follower on real files: whole lines only, rename and copytruncate rotations, resuming."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from app.shipping.batches import Batch
from app.shipping.follow import Follower
from app.shipping.state import ShipState


def lines(prefix: str, count: int) -> bytes:
    return b"".join(f"{prefix} {i}\n".encode() for i in range(count))


def drain(follower: Follower, max_lines: int = 1000) -> list[Batch]:
    """Every batch there is now, each acknowledged as the server's 200 would."""
    batches = []
    while (batch := follower.next_batch(max_lines)) is not None:
        follower.acknowledge(batch)
        batches.append(batch)
    return batches


def body(batches: list[Batch]) -> bytes:
    return b"".join(batch.body for batch in batches)


def follower(path: Path, state: ShipState | None = None, *, settle: bool = False) -> Follower:
    return Follower(
        path, state, settle=settle, notify=lambda message: None, ranges_dir=path.parent / "ranges"
    )


def test_hands_out_whole_lines_only_and_at_most_the_batch_size(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines("a", 5) + b"half a li")
    reader = follower(log)
    batches = drain(reader, max_lines=2)
    assert [(b.lines, b.body.count(b"\n")) for b in batches] == [(2, 2), (2, 2), (1, 1)]
    assert body(batches) == lines("a", 5)
    with log.open("ab") as file:
        file.write(b"ne\n")
    assert body(drain(reader)) == b"half a line\n"


def test_a_key_names_the_file_and_the_byte_range(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines("a", 4))
    batches = drain(follower(log), max_lines=2)
    again = drain(follower(log), max_lines=2)
    assert [b.key for b in batches] == [b.key for b in again]  # stable across restarts
    assert [(b.start, b.end) for b in batches] == [(0, 8), (8, 16)]
    assert batches[0].key != batches[1].key
    assert batches[0].key.endswith(".0.0-8")


def test_rename_rotation_reads_the_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines("old", 3))
    reader = follower(log)
    assert body(drain(reader)) == lines("old", 3)
    with log.open("ab") as writer:  # the writer keeps its descriptor across the rename
        os.rename(log, tmp_path / "access.log.1")
        log.write_bytes(lines("new", 2))
        writer.write(b"old, written after the rename\n")
        writer.flush()
        assert body(drain(reader)) == b"old, written after the rename\n"
        writer.write(b"old, unfinished")
    assert body(drain(reader)) == b""  # the old file grew since the last look: not done yet
    assert body(drain(reader)) == b"old, unfinished" + lines("new", 2)
    log.write_bytes(lines("new", 3))
    assert body(drain(reader)) == b"new 2\n"


def test_copytruncate_sends_the_rest_of_the_copy_then_the_file_again(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    same = b"the same line\n"
    log.write_bytes(same * 3)
    reader = follower(log)
    first = drain(reader)
    with log.open("ab") as file:
        file.write(same * 2)  # not read before the rotation: only the copy has them
    shutil.copyfile(log, tmp_path / "access.log.1")
    os.truncate(log, 0)
    log.write_bytes(same)
    after = drain(reader)
    assert body(first + after) == same * 6
    keys = [b.key for b in first + after]
    assert len(set(keys)) == len(keys)  # same bytes at the same offsets, yet a new generation


def test_a_truncation_without_a_copy_starts_the_file_again(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines("a", 3))
    reader = follower(log)
    first = drain(reader)
    os.truncate(log, 0)
    log.write_bytes(lines("b", 1))
    again = drain(reader)
    assert body(again) == lines("b", 1)
    device_inode, generation = slice(0, 2), 3
    assert first[0].key.split(".")[device_inode] == again[0].key.split(".")[device_inode]
    assert (first[0].key.split(".")[generation], again[0].key.split(".")[generation]) == ("0", "1")


def test_resumes_at_the_saved_offset_and_resends_a_pending_batch_as_it_was(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines("a", 3))
    reader = follower(log)
    sent = reader.next_batch(1000)
    assert sent is not None
    pending = reader.state(pending=sent)
    assert pending is not None and pending.pending_end == sent.end
    with log.open("ab") as file:
        file.write(lines("b", 2))
    resumed = follower(log, pending)
    again = drain(resumed)
    assert again[0] == sent  # the same bytes under the same key, not merged with new lines
    assert body(again[1:]) == lines("b", 2)
    assert body(drain(follower(log, resumed.state()))) == b""


def test_resumes_in_the_renamed_file_when_it_was_rotated_while_stopped(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines("old", 2))
    reader = follower(log)
    drain(reader)
    state = reader.state()
    reader.close()
    with log.open("ab") as file:
        file.write(lines("old, while stopped", 1))
    os.rename(log, tmp_path / "access.log-20240109")
    log.write_bytes(lines("new", 1))
    assert body(drain(follower(log, state, settle=True))) == (
        lines("old, while stopped", 1) + lines("new", 1)
    )


def test_a_file_replaced_under_the_same_name_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines("a", 2))
    reader = follower(log)
    drain(reader)
    state = reader.state()
    reader.close()
    log.unlink()
    log.write_bytes(lines("other", 5))  # longer than the offset: only its first line tells
    assert body(drain(follower(log, state))) == lines("other", 5)


def test_a_truncation_while_stopped_is_noticed_on_restart(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines("a", 3))
    reader = follower(log)
    drain(reader)
    state = reader.state()
    reader.close()
    os.truncate(log, 0)
    log.write_bytes(lines("a", 1))
    assert body(drain(follower(log, state))) == lines("a", 1)


def test_waits_for_a_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    reader = follower(log)
    assert reader.next_batch(10) is None and reader.state() is None
    log.write_bytes(lines("a", 1))
    assert body(drain(reader)) == lines("a", 1)
