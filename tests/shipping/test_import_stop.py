"""Ctrl-C during `usage-metrics import`, with one job and with two: the first stops it once the
batches in flight are answered, the second at once; either way it exits 130 and prints the
command that sends the rest, which counts each line once.

A proxy between the import and a real server holds the batches from the nth on until the test
has sent its signals (tests/shipping/proxy.py): with J jobs, J batches are then in flight, the
same ones whichever sender's request arrives first, and the signal arrives mid-import whatever
the machine's speed.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import INGEST_TOKEN
from tests.server_processes import ROOT, api_calls, clean_env, wait_until
from tests.shipping.commands import assert_private, log_lines, run_here
from tests.shipping.proxy import holding_proxy

RESUME = "to send the rest, run: "


def start_import(
    url: str, log: Path, ranges: Path, errors: Path, jobs: int
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "app.cli", "import", str(log), "--url", url]
    command += ["--token-env", "SHIP_TOKEN", "--batch-lines", "100", "--ranges", str(ranges)]
    command += ["--jobs", str(jobs)]
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


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_first_ctrl_c_stops_after_the_batches_in_flight_and_the_rest_is_sent_once(
    server: str, tmp_path: Path, jobs: int
) -> None:
    name = f"ctrl-c-{jobs}"
    log, ranges, errors = tmp_path / "access.log", tmp_path / "ranges", tmp_path / "import.err"
    log.write_bytes(log_lines(name, 1000))
    with holding_proxy(server, hold=4) as proxy:
        process = start_import(f"http://127.0.0.1:{proxy.port}", log, ranges, errors, jobs)
        # Three batches answered, then one held per job: the batches 4 to 3 + jobs, as the
        # senders take them in order (and the proxy holds them by number).
        wait_until(lambda: proxy.held == jobs, f"{jobs} batches to be held", timeout=60)
        process.send_signal(signal.SIGINT)
        wait_until(lambda: "stopping once the batches in flight" in errors.read_text(), "notice")
        proxy.release.set()
        assert process.wait(timeout=60) == 130
    output = errors.read_text()
    sent = (3 + jobs) * 100
    assert api_calls(server, name) == sent  # the batches in flight were answered, then it stopped
    stopped_at = len(log_lines(name, sent))
    assert f"stopped in {log} at byte {stopped_at}, after {sent} lines" in output
    assert f"{RESUME}usage-metrics import {log} --from-byte {stopped_at} --url " in output
    assert f"--jobs {jobs}\n" in output

    rest = run_here(resume_command(output, server))
    assert rest.returncode == 0, rest.stderr
    assert api_calls(server, name) == 1000
    assert "1000/1000 lines" in rest.stderr  # the bar counts the lines sent before, too
    left = 1000 - sent
    assert (
        f"{log}: {left} lines in {left // 100} batches: {left} accepted, 0 ignored, 0 rejected\n"
        in (rest.stderr)
    )
    assert_private(output + rest.stderr)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_second_ctrl_c_stops_at_once_and_the_rest_is_still_sent_once(
    server: str, tmp_path: Path, jobs: int
) -> None:
    name = f"ctrl-c-twice-{jobs}"
    log, ranges, errors = tmp_path / "access.log", tmp_path / "ranges", tmp_path / "import.err"
    log.write_bytes(log_lines(name, 500))
    with holding_proxy(server, hold=2) as proxy:
        process = start_import(f"http://127.0.0.1:{proxy.port}", log, ranges, errors, jobs)
        # The first batch answered, the next `jobs` held: with two jobs the second batch is
        # posted beside the first, and often arrives before it.
        wait_until(lambda: proxy.held == jobs, f"{jobs} batches to be held", timeout=60)
        process.send_signal(signal.SIGINT)
        wait_until(lambda: "stopping once the batches in flight" in errors.read_text(), "notice")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130  # the held batches not answered...
        proxy.release.set()  # ... and counted now, as requests the server had already read
        counted = (1 + jobs) * 100
        wait_until(lambda: api_calls(server, name) == counted, "the held batches counted")
    output = errors.read_text()
    # Only the first batch was answered: the rest is sent from its end.
    assert f"stopped at once in {log} at byte {len(log_lines(name, 100))}" in output

    rest = run_here(resume_command(output, server))
    assert rest.returncode == 0, rest.stderr
    assert api_calls(server, name) == 500
    assert (
        f"400 lines in 4 batches: {400 - jobs * 100} accepted, 0 ignored, 0 rejected; "
        f"{jobs * 100} lines in {jobs} duplicate"
    ) in rest.stderr
