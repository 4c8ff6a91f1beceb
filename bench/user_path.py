"""(e) The user's path: `usage-metrics import` of a generated file into a fresh server pinned to
one core, timed until the last answer and until the folder has added everything to the tables;
GoAccess on the same nginx combined lines, when it is installed, on that same core."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import httpx

from bench import server

SERVER_CPU, SENDER_CPU = "0", "1"  # the server on one core, the import command on the other
FOLDED_WITHIN_S = 600
_WAITING = "{ freshness { waitingBatches } }"


class ImportRun(NamedTuple):
    lines: int
    answered_s: float  # from the command's start to its exit: every batch answered
    folded_s: float  # from the command's start until no ledger row waits


def import_file(database_url: str, lines: list[str], batch_lines: int | None) -> ImportRun:
    """`usage-metrics import FILE --url BASE` into a fresh server; the times it took."""
    with tempfile.TemporaryDirectory(prefix="usage-metrics-import-") as directory:
        log = Path(directory) / "access.log"
        log.write_text("\n".join(lines) + "\n")
        with server.running_server(database_url, cpu=SERVER_CPU) as base_url:
            command = [*_pinned(SENDER_CPU), sys.executable, "-m", "app.cli", "import", str(log)]
            command += ["--url", base_url, "--token-env", "BENCH_TOKEN"]
            # One batch at a time, as before --jobs, so that (e) compares across releases; (f)
            # measures --jobs (bench/import_jobs.py).
            command += ["--jobs", "1"]
            # Ranges of its own: those of an earlier run of the same file would cut its batches.
            command += ["--ranges", str(Path(directory) / "ranges")]
            if batch_lines is not None:
                command += ["--batch-lines", str(batch_lines)]
            env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
            env["BENCH_TOKEN"] = server.TOKEN
            start = time.perf_counter()
            done = subprocess.run(
                command, env=env, cwd=server.PROJECT_ROOT, capture_output=True, text=True
            )
            answered = time.perf_counter() - start
            if done.returncode != 0:
                raise RuntimeError(f"usage-metrics import failed: {done.stderr}")
            _wait_until_folded(base_url)
            folded = time.perf_counter() - start
    return ImportRun(len(lines), answered, folded)


def _wait_until_folded(base_url: str) -> None:
    headers = {"Authorization": f"Bearer {server.TOKEN}"}
    deadline = time.monotonic() + FOLDED_WITHIN_S
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        while time.monotonic() < deadline:
            answer = http.post("/graphql", json={"query": _WAITING}).json()
            if answer["data"]["freshness"]["waitingBatches"] == 0:
                return
            time.sleep(0.01)
    raise RuntimeError(f"the ledger was not folded within {FOLDED_WITHIN_S} s")


def goaccess_seconds(combined_lines: list[str]) -> float | None:
    """GoAccess's time for the same combined lines on the server's core; None if not installed."""
    binary = shutil.which("goaccess")
    if binary is None:
        return None
    with tempfile.TemporaryDirectory(prefix="usage-metrics-goaccess-") as directory:
        log = Path(directory) / "access.log"
        log.write_text("\n".join(combined_lines) + "\n")
        command = [*_pinned(SERVER_CPU), binary, str(log), "--log-format=COMBINED"]
        command += ["-o", str(Path(directory) / "report.json")]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        return time.perf_counter() - start


def _pinned(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
