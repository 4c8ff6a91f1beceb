"""`ship` and `import` of the same lines count each line once, whichever runs first, both at once,
or after a rotation and compression: both post a range kept for a file exactly as it was cut.

Processes posting to a real server (conftest.py); counts read back through GraphQL.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.server_processes import api_calls
from tests.shipping.commands import (
    append,
    assert_private,
    import_command,
    log_lines,
    run_here,
    ship_command,
    start,
    stop,
    wait_for_count,
)


def test_shipping_half_a_file_then_importing_all_of_it_counts_each_line_once(
    server: str, tmp_path: Path
) -> None:
    log, state, ranges = tmp_path / "access.log", tmp_path / "state.json", tmp_path / "ranges"
    log.write_bytes(log_lines("half-shipped", 1000))
    shipped = run_here(ship_command(server, log, state, "--once", "--batch-lines", "300"))
    assert shipped.returncode == 0, shipped.stderr
    append(log, log_lines("half-shipped", 1000, first=1000) + b'{"time": "2024-01-09T1')

    # Another batch size: the ranges ship kept win where they are, 700 lines after them.
    imported = run_here(import_command(server, ranges, str(log), "--batch-lines", "700"))
    assert imported.returncode == 0, imported.stderr
    assert api_calls(server, "half-shipped") == 2000
    assert (
        "2000 lines in 6 batches: 1000 accepted, 0 ignored, 0 rejected; "
        "1000 lines in 4 duplicate batches were counted before, not again" in imported.stderr
    )
    assert "its last line has no newline yet (still being written?): not sent" in imported.stderr

    again = run_here(import_command(server, ranges, str(log)))
    assert again.returncode == 0, again.stderr
    assert api_calls(server, "half-shipped") == 2000
    assert "2000 lines in 6 duplicate batches were counted before" in again.stderr
    assert_private(shipped.stderr + imported.stderr + again.stderr)


def test_importing_the_rotated_gz_of_a_file_shipped_live_counts_each_line_once(
    server: str, tmp_path: Path
) -> None:
    log, state, ranges = tmp_path / "access.log", tmp_path / "state.json", tmp_path / "ranges"
    log.write_bytes(log_lines("shipped-live", 120))
    process = start(ship_command(server, log, state), tmp_path / "ship.err")
    try:
        wait_for_count(server, "shipped-live", 120)
        for written, count in ((120, 37), (157, 250), (407, 3)):  # batches cut by time
            append(log, log_lines("shipped-live", count, first=written))
            wait_for_count(server, "shipped-live", written + count)
        os.rename(log, tmp_path / "access.log.1")  # logrotate, then the writer reopens its log
        log.write_bytes(log_lines("shipped-live", 40, first=410))
        wait_for_count(server, "shipped-live", 450)
    finally:
        assert stop(process) == 0
    subprocess.run(["gzip", str(tmp_path / "access.log.1")], check=True)  # as logrotate's compress

    imported = run_here(import_command(server, ranges, str(tmp_path / "access.log.1.gz"), str(log)))
    assert imported.returncode == 0, imported.stderr
    assert api_calls(server, "shipped-live") == 450
    # The batches ship cut (by time: how many depends on when it looked), each posted again.
    batches = (tmp_path / "ship.err").read_text().count(" lines: ")
    assert (
        f"imported 2 file(s): 450 lines in {batches} batches: 0 accepted, 0 ignored, 0 rejected; "
        f"450 lines in {batches} duplicate batches were counted before, not again"
    ) in imported.stderr


def test_shipping_a_log_after_importing_it_counts_each_line_once(
    server: str, tmp_path: Path
) -> None:
    log, state, ranges = tmp_path / "access.log", tmp_path / "state.json", tmp_path / "ranges"
    log.write_bytes(log_lines("imported-first", 800))
    imported = run_here(import_command(server, ranges, str(log), "--batch-lines", "300"))
    assert imported.returncode == 0, imported.stderr
    append(log, log_lines("imported-first", 200, first=800))

    # A shipper with no state starts at the first line: the import's batches are duplicates.
    shipped = run_here(ship_command(server, log, state, "--once", "--ranges", str(ranges)))
    assert shipped.returncode == 0, shipped.stderr
    assert api_calls(server, "imported-first") == 1000
    assert f"{log} was sent before (ranges " in shipped.stderr
    assert "done: 1000 lines in 4 batches: 200 accepted" in shipped.stderr


def test_importing_a_log_while_ship_follows_it_counts_each_line_once(
    server: str, tmp_path: Path
) -> None:
    # Whichever cuts a range first, the other posts it as it was (the ranges file is locked).
    log, state, ranges = tmp_path / "access.log", tmp_path / "state.json", tmp_path / "ranges"
    log.write_bytes(log_lines("both-at-once", 3000))
    process = start(ship_command(server, log, state, "--batch-lines", "200"), tmp_path / "ship.err")
    try:
        imported = run_here(import_command(server, ranges, str(log), "--batch-lines", "250"))
        assert imported.returncode == 0, imported.stderr
        append(log, log_lines("both-at-once", 500, first=3000))
        wait_for_count(server, "both-at-once", 3500)
        again = run_here(import_command(server, ranges, str(log)))
        assert again.returncode == 0, again.stderr
    finally:
        assert stop(process) == 0
    assert api_calls(server, "both-at-once") == 3500
    assert "0 accepted" in again.stderr


def test_a_file_with_the_first_line_of_another_is_not_taken_for_it(
    server: str, tmp_path: Path
) -> None:
    # Lines without time (Data Fair's file format) repeat: the bytes after the first line tell.
    ranges = tmp_path / "ranges"
    first, other = tmp_path / "access.log.2", tmp_path / "access.log.1"
    first.write_bytes(log_lines("same-first-line", 1) + log_lines("same-first-line", 9, first=1))
    other.write_bytes(log_lines("same-first-line", 1) + log_lines("same-first-line", 5, first=7))
    for path in (first, other):
        done = run_here(import_command(server, ranges, str(path), "--batch-lines", "1"))
        assert done.returncode == 0, done.stderr
        assert "was sent before" not in done.stderr
    assert api_calls(server, "same-first-line") == 16
