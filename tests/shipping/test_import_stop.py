"""Ctrl-C during `usage-metrics import`: the first stops it once the batch in flight is answered,
the second at once; either way it exits 130 and prints the command that sends the rest, which
counts each line once.

A proxy between the import and a real server holds one request until the test has sent its
signals, so that the signal arrives mid-import whatever the machine's speed.
"""

from __future__ import annotations

import shlex
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from tests.helpers import INGEST_TOKEN
from tests.server_processes import ROOT, api_calls, clean_env, wait_until
from tests.shipping.commands import assert_private, log_lines, run_here

RESUME = "to send the rest, run: "


class HoldingProxy:
    """Relays HTTP/1.1 requests one at a time (keep-alive too) to the server, and holds the
    `hold`th until `release` is set."""

    def __init__(self, target_port: int, hold: int) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        self._hold = hold
        self._seen = 0
        self._lock = threading.Lock()
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]

    def serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed: the test is over
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._listener.close()

    def _relay(self, client: socket.socket) -> None:
        with client, socket.create_connection(self._target) as upstream:
            requests, answers = client.makefile("rb"), upstream.makefile("rb")
            while request := _message(requests):
                with self._lock:
                    self._seen += 1
                    seen = self._seen
                if seen == self._hold:
                    self.held.set()
                    self.release.wait(timeout=120)
                upstream.sendall(request)
                answer = _message(answers)
                with suppress(OSError):  # the import may have gone meanwhile
                    client.sendall(answer)


def _message(stream: BinaryIO) -> bytes:
    """One HTTP/1.1 message with a Content-Length body (httpx's requests, uvicorn's answers)."""
    head = b""
    while (line := stream.readline()) not in (b"\r\n", b""):
        head += line
    if not head:
        return b""
    length = 0
    for field in head.split(b"\r\n")[1:]:
        name, _, value = field.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + b"\r\n" + stream.read(length)


@contextmanager
def holding_proxy(base: str, hold: int) -> Iterator[HoldingProxy]:
    proxy = HoldingProxy(urlsplit(base).port or 80, hold)
    thread = threading.Thread(target=proxy.serve, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.close()
        thread.join(timeout=5)


def start_import(url: str, log: Path, ranges: Path, errors: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "app.cli", "import", str(log), "--url", url]
    command += ["--token-env", "SHIP_TOKEN", "--batch-lines", "100", "--ranges", str(ranges)]
    with errors.open("ab") as stderr:
        return subprocess.Popen(
            command, env=clean_env(SHIP_TOKEN=INGEST_TOKEN), cwd=ROOT, stderr=stderr
        )


def resume_command(output: str, server: str) -> list[str]:
    """The printed command, run as this checkout's, straight to the server."""
    words = shlex.split(output.split(RESUME)[1].splitlines()[0])
    assert words[:2] == ["usage-metrics", "import"]
    words[words.index("--url") + 1] = server
    return [sys.executable, "-m", "app.cli", *words[1:]]


def test_a_first_ctrl_c_stops_after_the_batch_in_flight_and_the_rest_is_sent_once(
    server: str, tmp_path: Path
) -> None:
    log, ranges, errors = tmp_path / "access.log", tmp_path / "ranges", tmp_path / "import.err"
    log.write_bytes(log_lines("ctrl-c", 1000))
    with holding_proxy(server, hold=4) as proxy:
        process = start_import(f"http://127.0.0.1:{proxy.port}", log, ranges, errors)
        wait_until(proxy.held.is_set, "the 4th batch to be held", timeout=60)
        process.send_signal(signal.SIGINT)
        wait_until(lambda: "stopping once the batch" in errors.read_text(), "the notice")
        proxy.release.set()
        assert process.wait(timeout=60) == 130
    output = errors.read_text()
    assert api_calls(server, "ctrl-c") == 400  # the batch in flight was answered, then it stopped
    stopped_at = len(log_lines("ctrl-c", 400))
    assert f"stopped in {log} at byte {stopped_at}, after 400 lines" in output
    assert f"{RESUME}usage-metrics import {log} --from-byte {stopped_at} --url " in output

    rest = run_here(resume_command(output, server))
    assert rest.returncode == 0, rest.stderr
    assert api_calls(server, "ctrl-c") == 1000
    assert "1000/1000 lines" in rest.stderr  # the bar counts the lines sent before, too
    assert f"{log}: 600 lines in 6 batches: 600 accepted, 0 ignored, 0 rejected\n" in rest.stderr
    assert_private(output + rest.stderr)


def test_a_second_ctrl_c_stops_at_once_and_the_rest_is_still_sent_once(
    server: str, tmp_path: Path
) -> None:
    log, ranges, errors = tmp_path / "access.log", tmp_path / "ranges", tmp_path / "import.err"
    log.write_bytes(log_lines("ctrl-c-twice", 500))
    with holding_proxy(server, hold=2) as proxy:
        process = start_import(f"http://127.0.0.1:{proxy.port}", log, ranges, errors)
        wait_until(proxy.held.is_set, "the 2nd batch to be held", timeout=60)
        process.send_signal(signal.SIGINT)
        wait_until(lambda: "stopping once the batch" in errors.read_text(), "the notice")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130  # its batch still held: not answered
        proxy.release.set()  # ... and counted now, as a request the server had already read
        wait_until(lambda: api_calls(server, "ctrl-c-twice") == 200, "the held batch counted")
    output = errors.read_text()
    assert f"stopped at once in {log} at byte {len(log_lines('ctrl-c-twice', 100))}" in output

    rest = run_here(resume_command(output, server))
    assert rest.returncode == 0, rest.stderr
    assert api_calls(server, "ctrl-c-twice") == 500
    assert (
        "400 lines in 4 batches: 300 accepted, 0 ignored, 0 rejected; 100 lines in 1 duplicate"
        in (rest.stderr)
    )
