"""`usage-metrics ship` and `import` run by the tests (as processes, or here), and the lines they
send."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr
from pathlib import Path

from app.cli import main
from tests.helpers import INGEST_TOKEN, dataset, line_on
from tests.server_processes import ROOT, api_calls, clean_env, wait_until

DAY = "2024-01-09"


def log_lines(dataset_id: str, count: int, *, first: int = 0, same: bool = False) -> bytes:
    """Named JSON lines, one API call each; all different unless `same`."""
    return b"".join(
        json.dumps(
            line_on(DAY, resource=dataset(dataset_id), bytes_sent=1 if same else first + i)
        ).encode()
        + b"\n"
        for i in range(count)
    )


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as file:
        file.write(data)


def ship_command(base: str, log: Path, state: Path, *options: str) -> list[str]:
    return [
        *(sys.executable, "-m", "app.cli", "ship", str(log), "--url", f"{base}/ingest"),
        *("--token-env", "SHIP_TOKEN", "--state", str(state), "--interval", "0.1", *options),
    ]


def import_command(base: str, ranges: Path, *files_and_options: str) -> list[str]:
    return [
        *(sys.executable, "-m", "app.cli", "import", *files_and_options),
        *("--url", f"{base}/ingest", "--token-env", "SHIP_TOKEN", "--ranges", str(ranges)),
    ]


def run(command: list[str], token: str = INGEST_TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env=clean_env(SHIP_TOKEN=token),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_here(command: list[str]) -> subprocess.CompletedProcess[str]:
    """`command` run in this process: as real a sender (it posts to the server over HTTP), a
    second less to start a process. Only for commands that end by themselves."""
    assert command[:3] == [sys.executable, "-m", "app.cli"]
    errors = io.StringIO()
    os.environ["SHIP_TOKEN"] = INGEST_TOKEN
    try:
        with redirect_stderr(errors):
            code = main(command[3:])
    finally:
        del os.environ["SHIP_TOKEN"]
    return subprocess.CompletedProcess(command, code, "", errors.getvalue())


def start(command: list[str], errors: Path) -> subprocess.Popen[bytes]:
    """A long-running command; its stderr goes to `errors` (a pipe could fill up)."""
    with errors.open("ab") as stderr:
        return subprocess.Popen(
            command, env=clean_env(SHIP_TOKEN=INGEST_TOKEN), cwd=ROOT, stderr=stderr
        )


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=10)


def wait_for_count(base: str, dataset_id: str, expected: int) -> None:
    wait_until(lambda: api_calls(base, dataset_id) >= expected, f"{expected} API calls")
    time.sleep(0.5)  # more than a few intervals: a line counted twice would show by now
    assert api_calls(base, dataset_id) == expected


def saved_offset(state: Path) -> int:
    try:
        offset: int = json.loads(state.read_bytes())["offset"]
    except FileNotFoundError:
        return -1
    return offset


def assert_private(output: str) -> None:
    """Progress and summaries show counts and offsets, never a log line or the token."""
    assert INGEST_TOKEN not in output
    for fragment in ("portal.example", "/data-fair/api", "readDataAPI", '"uri"'):
        assert fragment not in output
