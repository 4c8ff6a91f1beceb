"""`usage-metrics syslog` as a process, posting to `usage-metrics serve` on SQLite.

Each test counts its own dataset, so the tests share one server; figures are read back through
GraphQL. Datagrams are named JSON lines dated 2024-01-09 (one API call each).
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.syslog.spool import Spool
from tests.helpers import INGEST_TOKEN, dataset, line_on
from tests.server_processes import api_calls, free_port, serving, wait_until
from tests.syslog.serving import send_datagrams, spooled, start, stop, syslog_command

DAY = "2024-01-09"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("syslog") / "metrics.sqlite3"
    with serving(f"sqlite://{database}", free_port()) as base:
        yield base


def datagrams(dataset_id: str, count: int, *, first: int = 0) -> list[bytes]:
    """One named JSON line per datagram, as nginx sends them (no newline), all different."""
    return [
        json.dumps(line_on(DAY, resource=dataset(dataset_id), bytes_sent=first + n)).encode()
        for n in range(count)
    ]


def assert_private(output: str) -> None:
    """The receiver's messages give counts, never a line or the token."""
    assert INGEST_TOKEN not in output
    for fragment in ("portal.example", "/data-fair/api", "readDataAPI", '"uri"'):
        assert fragment not in output


def running(process: subprocess.Popen[bytes], socket_path: Path) -> None:
    wait_until(lambda: socket_path.exists() or process.poll() is not None, "the socket")
    assert process.poll() is None, "usage-metrics syslog did not start"


def test_sigterm_sends_the_partial_batch_and_every_datagram_counts_once(
    server: str, tmp_path: Path
) -> None:
    sock, spool = tmp_path / "sock", tmp_path / "spool"
    command = syslog_command(
        f"{server}/ingest", spool, "--socket", str(sock), "--flush-seconds", "60"
    )
    process = start(command, tmp_path / "syslog.err")
    try:
        running(process, sock)
        send_datagrams(sock, datagrams("syslog-term", 2500))
        wait_until(lambda: api_calls(server, "syslog-term") == 2000, "two full batches")
        time.sleep(0.3)
        assert api_calls(server, "syslog-term") == 2000  # the last 500 wait for a minute...
    finally:
        assert stop(process) == 0  # ... or for SIGTERM
    assert api_calls(server, "syslog-term") == 2500
    errors = (tmp_path / "syslog.err").read_text()
    assert (
        "stopped: 2500 lines in 3 batches: 2500 accepted, 0 ignored, 0 rejected; "
        "0 batch(es), 0 lines in the spool"
    ) in errors
    assert spooled(spool) == [] and not sock.exists()
    assert_private(errors)


def test_a_batch_goes_when_its_first_line_is_flush_seconds_old(server: str, tmp_path: Path) -> None:
    sock = tmp_path / "sock"
    command = syslog_command(
        f"{server}/ingest", tmp_path / "spool", "--socket", str(sock), "--flush-seconds", "0.3"
    )
    process = start(command, tmp_path / "syslog.err")
    try:
        running(process, sock)
        send_datagrams(sock, datagrams("syslog-age", 7))
        wait_until(lambda: api_calls(server, "syslog-age") == 7, "the batch due by age")
        assert process.poll() is None  # sent while running, not at the stop
    finally:
        assert stop(process) == 0
    assert api_calls(server, "syslog-age") == 7


def test_spooled_batches_go_first_in_order_and_one_the_server_has_counts_once(
    server: str, tmp_path: Path
) -> None:
    # As if an earlier receiver stopped with two batches in its spool, the server having
    # counted the first one although its answer was lost.
    spool = tmp_path / "spool"
    first = b"\n".join(datagrams("syslog-replay", 5)) + b"\n"
    second = b"\n".join(datagrams("syslog-replay", 3, first=5)) + b"\n"
    with Spool(spool, 10_000_000, print) as earlier:
        earlier.add("um-syslog-earlier.1", 5, gzip.compress(first))
        earlier.add("um-syslog-earlier.2", 3, gzip.compress(second))
    counted = httpx.post(
        f"{server}/ingest",
        content=first,
        headers={
            "Authorization": f"Bearer {INGEST_TOKEN}",
            "Content-Type": "text/plain",
            "Idempotency-Key": "um-syslog-earlier.1",
        },
    )
    assert counted.json()["accepted"] == 5

    sock = tmp_path / "sock"
    process = start(
        syslog_command(f"{server}/ingest", spool, "--socket", str(sock)), tmp_path / "syslog.err"
    )
    try:
        running(process, sock)
        wait_until(lambda: spooled(spool) == [], "the spool to be sent")
        send_datagrams(sock, datagrams("syslog-replay", 2, first=8))
        wait_until(lambda: api_calls(server, "syslog-replay") == 10, "the new lines")
    finally:
        assert stop(process) == 0
    assert api_calls(server, "syslog-replay") == 10
    errors = (tmp_path / "syslog.err").read_text()
    assert "2 batch(es), 8 lines in the spool from before: sent first" in errors
    assert (
        "stopped: 10 lines in 3 batches: 5 accepted, 0 ignored, 0 rejected; 5 lines in 1 "
        "duplicate batches were counted before, not again"
    ) in errors


def test_a_server_away_for_a_while_gets_every_line_once_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    sock, spool = tmp_path / "sock", tmp_path / "spool"
    command = syslog_command(
        f"http://127.0.0.1:{port}/ingest", spool, "--socket", str(sock), "--flush-seconds", "0.2"
    )
    process = start(command, tmp_path / "syslog.err")
    try:
        running(process, sock)
        send_datagrams(sock, datagrams("syslog-away", 1200))
        wait_until(lambda: sum(n for _, n in spooled(spool)) == 1200, "the spool")
        assert [lines for _, lines in spooled(spool)] == [1000, 200]
        failed = "cannot deliver (ConnectError: "
        wait_until(lambda: failed in (tmp_path / "syslog.err").read_text(), "a failed try")
        with serving(f"sqlite://{tmp_path / 'late.sqlite3'}", port) as base:
            wait_until(lambda: spooled(spool) == [], "the spool to be sent", timeout=60)
            assert api_calls(base, "syslog-away") == 1200
            send_datagrams(sock, datagrams("syslog-away", 10, first=1200))
            assert stop(process) == 0
            assert api_calls(base, "syslog-away") == 1210
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    errors = (tmp_path / "syslog.err").read_text()
    assert "cannot deliver (ConnectError: " in errors and "retrying in" in errors
    assert "delivering again after" in errors
    assert "stopped: 1210 lines in 3 batches: 1210 accepted" in errors
    assert_private(errors)


def test_a_stop_while_the_server_is_away_keeps_the_lines_for_the_next_start(
    tmp_path: Path,
) -> None:
    sock, spool = tmp_path / "sock", tmp_path / "spool"
    url = f"http://127.0.0.1:{free_port()}/ingest"  # nothing listens there
    command = syslog_command(url, spool, "--socket", str(sock), "--flush-seconds", "60")
    process = start(command, tmp_path / "syslog.err")
    try:
        running(process, sock)
        send_datagrams(sock, datagrams("syslog-kept", 5))
        time.sleep(0.3)
    finally:
        assert stop(process) == 0
    assert [lines for _, lines in spooled(spool)] == [5]
    errors = (tmp_path / "syslog.err").read_text()
    assert "cannot deliver (ConnectError: " in errors
    assert "1 batch(es), 5 lines in the spool: sent at the next start" in errors
    assert "stopped: 0 lines in 0 batches" in errors


def test_a_wrong_token_stops_with_exit_code_1_and_keeps_the_lines(
    server: str, tmp_path: Path
) -> None:
    sock, spool = tmp_path / "sock", tmp_path / "spool"
    command = syslog_command(
        f"{server}/ingest", spool, "--socket", str(sock), "--flush-seconds", "0.2"
    )
    process = start(command, tmp_path / "syslog.err", token="um_wrong42")
    running(process, sock)
    send_datagrams(sock, datagrams("syslog-401", 3))
    assert process.wait(timeout=30) == 1
    errors = (tmp_path / "syslog.err").read_text()
    assert (
        'usage-metrics: the server refused the batch: HTTP 401 {"error": "UNAUTHENTICATED", '
    ) in errors
    assert "(check the token in the environment variable given to --token-env)" in errors
    assert "1 batch(es), 3 lines in the spool, sent at the next start" in errors
    assert "um_wrong42" not in errors
    assert api_calls(server, "syslog-401") == 0
    assert [lines for _, lines in spooled(spool)] == [3]

    process = start(command, tmp_path / "syslog.err")  # the right token: sent at start
    try:
        running(process, sock)
        wait_until(lambda: api_calls(server, "syslog-401") == 3, "the spooled lines")
    finally:
        assert stop(process) == 0


def test_receives_udp_datagrams(server: str, tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    command = syslog_command(
        f"{server}/ingest",
        tmp_path / "spool",
        "--udp",
        f"127.0.0.1:{port}",
        "--flush-seconds",
        "30",
    )
    process = start(command, tmp_path / "syslog.err")
    try:
        wait_until(lambda: "receiving on" in (tmp_path / "syslog.err").read_text(), "start")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for datagram in datagrams("syslog-udp", 50):
                sender.sendto(datagram + b"\n", ("127.0.0.1", port))
        time.sleep(0.3)
    finally:
        assert stop(process) == 0
    assert api_calls(server, "syslog-udp") == 50
    assert "receiving on udp-127.0.0.1:" in (tmp_path / "syslog.err").read_text()


def test_a_token_variable_that_is_not_set_is_refused_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SYSLOG_TOKEN_NOT_SET", raising=False)
    sock = tmp_path / "sock"
    arguments = ["syslog", "--socket", str(sock), "--url", "http://127.0.0.1:9/ingest"]
    assert main([*arguments, "--token-env", "SYSLOG_TOKEN_NOT_SET"]) == 1
    assert "SYSLOG_TOKEN_NOT_SET (--token-env) is empty or not set" in capsys.readouterr().err
    assert not sock.exists()


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        (
            socket.SOCK_STREAM,
            (),
            "systemd passed a socket that is not a unix or UDP datagram socket: nginx sends "
            "datagrams, so its socket unit needs ListenDatagram=",
        ),
        (
            socket.SOCK_DGRAM,
            ("--udp", "127.0.0.1:9"),
            "systemd passed a socket (LISTEN_FDS) and --socket or --udp names another: remove "
            "the option from the unit's ExecStart=",
        ),
    ],
    ids=["a-stream-socket", "and-an-option"],
)
def test_a_socket_passed_by_systemd_that_cannot_be_read_is_refused(
    kind: socket.SocketKind, options: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    errors = tmp_path / "syslog.err"
    command = syslog_command("http://127.0.0.1:9/ingest", tmp_path / "spool", *options)
    with socket.socket(socket.AF_UNIX, kind) as passed:
        passed.bind(str(tmp_path / "sock"))
        process = start(command, errors, inherited=passed)
        assert process.wait(timeout=30) == 1
    assert errors.read_text() == f"usage-metrics: {message}\n"
    assert not (tmp_path / "spool").exists()


def test_without_a_socket_to_read_it_says_what_to_give(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Variables meant for another process (LISTEN_PID) are not ours: nothing was passed.
    monkeypatch.setenv("LISTEN_FDS", "1")
    monkeypatch.setenv("LISTEN_PID", "1")
    monkeypatch.setenv("SYSLOG_TEST_TOKEN", INGEST_TOKEN)
    arguments = ["syslog", "--url", "http://127.0.0.1:9/ingest", "--token-env", "SYSLOG_TEST_TOKEN"]
    assert main(arguments) == 1
    assert capsys.readouterr().err == (
        "usage-metrics: give --socket PATH or --udp HOST:PORT, or start the receiver from a "
        "systemd socket unit (deploy/systemd/usage-metrics-syslog.socket)\n"
    )
    assert "LISTEN_FDS" not in os.environ and "LISTEN_PID" not in os.environ
