"""`usage-metrics ship` and `import` as processes, posting to `usage-metrics serve` on SQLite.

The figures are read back through GraphQL with the admin token. Each test counts its own
dataset, so the tests share one server (conftest.py).
"""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.shipping.batches import FileIdentity, fingerprint, ship_key
from app.shipping.command import ingest_url
from app.shipping.state import ShipState, save_state
from tests.helpers import INGEST_TOKEN
from tests.server_processes import api_calls, free_port, serving, wait_until
from tests.shipping.commands import (
    append,
    assert_private,
    import_command,
    log_lines,
    run,
    saved_offset,
    ship_command,
    start,
    stop,
    wait_for_count,
)


def test_once_sends_every_whole_line_of_the_file_exactly(server: str, tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    log.write_bytes(log_lines("ship-once", 2500) + b'{"time": "2024-01-09T12:00')  # unfinished

    first = run(ship_command(server, log, state, "--once", "--batch-lines", "1000"))
    assert first.returncode == 0, first.stderr
    assert api_calls(server, "ship-once") == 2500
    assert saved_offset(state) == len(log_lines("ship-once", 2500))
    assert "bytes 0-" in first.stderr and ", 1000 lines: 1000 accepted, 0 ignored" in first.stderr
    assert "done: 2500 lines in 3 batches: 2500 accepted" in first.stderr

    whole = log_lines("ship-once", 10, first=2500)
    append(log, whole[len(b'{"time": "2024-01-09T12:00') :])
    second = run(ship_command(server, log, state, "--once"))
    assert second.returncode == 0, second.stderr
    assert api_calls(server, "ship-once") == 2510
    assert saved_offset(state) == log.stat().st_size
    assert_private(first.stderr + second.stderr)


def test_follows_lines_appended_while_it_runs(server: str, tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    log.write_bytes(log_lines("ship-follow", 100))
    process = start(ship_command(server, log, state), tmp_path / "ship.err")
    try:
        wait_for_count(server, "ship-follow", 100)
        more = log_lines("ship-follow", 50, first=100)
        append(log, more[:70])  # half a line: it waits for the newline
        time.sleep(0.3)
        assert api_calls(server, "ship-follow") == 100
        append(log, more[70:])
        wait_for_count(server, "ship-follow", 150)
    finally:
        assert stop(process) == 0
    assert saved_offset(state) == log.stat().st_size
    errors = (tmp_path / "ship.err").read_text()
    assert "stopped: 150 lines in" in errors
    assert_private(errors)


def test_rotation_by_rename_loses_and_doubles_nothing(server: str, tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    log.write_bytes(log_lines("ship-rename", 200))
    process = start(ship_command(server, log, state), tmp_path / "ship.err")
    try:
        wait_for_count(server, "ship-rename", 200)
        with log.open("ab") as writer:  # as nginx: its descriptor outlives the rename
            writer.write(log_lines("ship-rename", 30, first=200))
            writer.flush()
            os.rename(log, tmp_path / "access.log.1")
            writer.write(log_lines("ship-rename", 20, first=230))  # before it reopens
            writer.flush()
            log.write_bytes(log_lines("ship-rename", 100, first=250))
        wait_for_count(server, "ship-rename", 350)
        append(log, log_lines("ship-rename", 5, first=350))
        wait_for_count(server, "ship-rename", 355)
    finally:
        assert stop(process) == 0
    assert saved_offset(state) == log.stat().st_size
    assert "access.log was rotated" in (tmp_path / "ship.err").read_text()


def test_rotation_by_copytruncate_loses_and_doubles_nothing(server: str, tmp_path: Path) -> None:
    # Every line is the same: after the truncation the same bytes come back at the same offsets,
    # and only the generation in the key tells them apart.
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    log.write_bytes(log_lines("ship-copytruncate", 200, same=True))
    process = start(ship_command(server, log, state), tmp_path / "ship.err")
    try:
        wait_for_count(server, "ship-copytruncate", 200)
        append(log, log_lines("ship-copytruncate", 50, same=True))  # maybe only in the copy
        shutil.copyfile(log, tmp_path / "access.log.1")
        os.truncate(log, 0)
        append(log, log_lines("ship-copytruncate", 80, same=True))
        wait_for_count(server, "ship-copytruncate", 330)
    finally:
        assert stop(process) == 0
    assert saved_offset(state) == log.stat().st_size
    assert "access.log was truncated" in (tmp_path / "ship.err").read_text()


def test_a_shipper_killed_mid_way_and_restarted_counts_every_line_once(
    server: str, tmp_path: Path
) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    log.write_bytes(log_lines("ship-kill", 20_000))
    command = ship_command(server, log, state, "--batch-lines", "300")
    for _ in range(2):
        before = saved_offset(state)
        process = start(command, tmp_path / "ship.err")
        wait_until(lambda: saved_offset(state) > before, "a batch to be acknowledged")  # noqa: B023
        process.kill()  # SIGKILL: no clean-up at all, maybe with a batch in flight
        process.wait(timeout=10)
    assert 0 < saved_offset(state) < log.stat().st_size
    assert api_calls(server, "ship-kill") < 20_000

    last = run([*command, "--once"])
    assert last.returncode == 0, last.stderr
    assert api_calls(server, "ship-kill") == 20_000
    assert saved_offset(state) == log.stat().st_size


def test_a_batch_in_flight_at_a_crash_is_resent_alone_and_counted_once(
    server: str, tmp_path: Path
) -> None:
    # As if the shipper died after the server counted its batch but before it saved the offset:
    # the state file says the batch is pending. Lines appended since must not join it.
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    first = log_lines("ship-inflight", 30)
    log.write_bytes(first)
    status = log.stat()
    identity = FileIdentity(status.st_dev, status.st_ino, fingerprint(first) or "", 0)
    counted = httpx.post(
        f"{server}/ingest",
        content=first,
        headers={
            "Authorization": f"Bearer {INGEST_TOKEN}",
            "Content-Type": "text/plain",
            "Idempotency-Key": ship_key(identity, 0, len(first)),
        },
    )
    assert counted.json()["accepted"] == 30
    pending = ShipState(status.st_dev, status.st_ino, identity.fingerprint, 0, 0, len(first))
    save_state(state, pending, log)
    append(log, log_lines("ship-inflight", 20, first=30))

    result = run(ship_command(server, log, state, "--once"))
    assert result.returncode == 0, result.stderr
    assert f"bytes 0-{len(first)}, 30 lines: 30 accepted" in result.stderr
    assert "a duplicate: counted before, not again" in result.stderr
    assert api_calls(server, "ship-inflight") == 50


def test_a_wrong_token_stops_with_exit_code_1_and_the_servers_error(
    server: str, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(log_lines("ship-401", 10))
    result = run(ship_command(server, log, tmp_path / "state.json", "--once"), token="um_wrong42")
    assert result.returncode == 1
    assert 'HTTP 401 {"error": "UNAUTHENTICATED", "detail": ' in result.stderr
    assert "um_wrong42" not in result.stderr
    assert api_calls(server, "ship-401") == 0


def test_a_token_variable_that_is_not_set_is_refused_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHIP_TOKEN_NOT_SET", raising=False)
    log = tmp_path / "access.log"
    log.write_bytes(log_lines("ship-no-token", 1))
    url = "--url=http://127.0.0.1:9/ingest"
    assert main(["ship", str(log), url, "--token-env", "SHIP_TOKEN_NOT_SET"]) == 1
    assert "SHIP_TOKEN_NOT_SET (--token-env) is empty or not set" in capsys.readouterr().err
    assert main(["import", str(log), url, "--token-env", "SHIP_TOKEN_NOT_SET"]) == 1


def test_retries_until_a_server_that_was_down_delivers_everything(tmp_path: Path) -> None:
    port = free_port()
    log, state = tmp_path / "access.log", tmp_path / "state.json"
    log.write_bytes(log_lines("ship-late", 300))
    base = f"http://127.0.0.1:{port}"
    process = start(ship_command(base, log, state, "--once"), tmp_path / "ship.err")
    try:
        time.sleep(2)
        assert process.poll() is None  # still trying
        with serving(f"sqlite://{tmp_path / 'late.sqlite3'}", port):
            assert process.wait(timeout=30) == 0
            assert api_calls(base, "ship-late") == 300
    finally:
        if process.poll() is None:
            process.kill()
    errors = (tmp_path / "ship.err").read_text()
    assert "ConnectError" in errors and "retrying in" in errors
    assert saved_offset(state) == log.stat().st_size


def test_importing_a_gz_file_twice_counts_it_once(server: str, tmp_path: Path) -> None:
    archive = tmp_path / "access.log.2.gz"
    archive.write_bytes(gzip.compress(log_lines("ship-import", 1200)))
    plain = tmp_path / "access.log.1"
    plain.write_bytes(log_lines("ship-import", 300, first=1200))
    ranges = tmp_path / "ranges"

    first = run(import_command(server, ranges, str(archive), str(plain), "--batch-lines", "500"))
    assert first.returncode == 0, first.stderr
    assert api_calls(server, "ship-import") == 1500
    assert "access.log.2.gz [##############################] 100% 1200/1200 lines" in first.stderr
    assert "imported 2 file(s): 1500 lines in 4 batches: 1500 accepted" in first.stderr

    renamed = tmp_path / "old-archive"  # no .gz: its content tells, and names its batches
    shutil.copyfile(archive, renamed)
    again = run(import_command(server, ranges, str(renamed), "--batch-lines", "400"))
    assert again.returncode == 0, again.stderr
    assert api_calls(server, "ship-import") == 1500
    # Cut where the ranges kept say, whatever --batch-lines is now.
    assert "1200 lines in 3 duplicate batches were counted before, not again" in again.stderr
    assert f"{renamed} was sent before (ranges " in again.stderr

    # Without the ranges kept, other batches would be other lines under the same keys: refused,
    # not counted twice.
    elsewhere = tmp_path / "no-ranges-here"
    resized = run(import_command(server, elsewhere, str(archive), "--batch-lines", "400"))
    assert resized.returncode == 1
    assert 'HTTP 422 {"error": "IDEMPOTENCY_KEY_REUSED"' in resized.stderr
    assert api_calls(server, "ship-import") == 1500
    assert_private(first.stderr + again.stderr + resized.stderr)


def test_import_sends_nothing_when_it_cannot_keep_the_ranges(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Cut without them, lines ship sent would count again.
    monkeypatch.setenv("SHIP_TOKEN", INGEST_TOKEN)
    log, not_a_folder = tmp_path / "access.log", tmp_path / "a-file"
    log.write_bytes(log_lines("no-ranges", 3))
    not_a_folder.write_bytes(b"")
    command = ["import", str(log), "--url", server, "--token-env", "SHIP_TOKEN"]
    assert main([*command, "--ranges", str(not_a_folder / "ranges")]) == 1
    error = capsys.readouterr().err
    assert f"usage-metrics: cannot keep the sent ranges in {not_a_folder / 'ranges'}/" in error
    assert "run import as the user ship runs as, or give --ranges a folder of yours" in error
    assert api_calls(server, "no-ranges") == 0


def test_import_takes_the_servers_base_url(server: str, tmp_path: Path) -> None:
    plain = tmp_path / "access.log"
    plain.write_bytes(log_lines("base-url", 40))
    command = [
        *(sys.executable, "-m", "app.cli", "import", str(plain)),
        *("--url", f"{server}/", "--token-env", "SHIP_TOKEN", "--ranges", str(tmp_path)),
    ]
    done = run(command)
    assert done.returncode == 0, done.stderr
    assert api_calls(server, "base-url") == 40


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/ingest"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/ingest"),
        ("http://127.0.0.1:8000/ingest", "http://127.0.0.1:8000/ingest"),
        ("https://portal.example/usage-metrics/", "https://portal.example/usage-metrics/ingest"),
        (
            "https://portal.example/usage-metrics/ingest/",
            "https://portal.example/usage-metrics/ingest",
        ),
    ],
)
def test_url_is_the_endpoint_or_the_servers_base_url(url: str, endpoint: str) -> None:
    assert ingest_url(url) == endpoint
