"""`usage-metrics import --jobs N`: batches of several files, or of one file, in flight at once
(seen by a proxy that holds them, tests/shipping/proxy.py), each under the key a single job
gives it, so a re-run with any --jobs, or after a kill -9, counts every line once.

Processes posting to a real server (conftest.py); counts read back through GraphQL.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.server_processes import api_calls, wait_until
from tests.shipping.commands import (
    assert_private,
    import_command,
    log_lines,
    run,
    run_here,
    start,
)
from tests.shipping.proxy import holding_proxy


def test_two_jobs_keep_batches_of_two_files_in_flight_under_the_keys_of_one_job(
    server: str, tmp_path: Path
) -> None:
    first, second = tmp_path / "access.log.1", tmp_path / "access.log.2.gz"
    first.write_bytes(log_lines("jobs-files", 100))
    second.write_bytes(gzip.compress(log_lines("jobs-files", 300, first=100)))
    files = [str(first), str(second), "--batch-lines", "100"]
    with holding_proxy(server, hold=1) as proxy:
        command = import_command(f"http://127.0.0.1:{proxy.port}", tmp_path / "ranges", *files)
        process = start([*command, "--jobs", "2"], tmp_path / "import.err")
        # The first file's only batch is held: one job could never post the second file's.
        wait_until(lambda: proxy.held == 2, "a batch of each file held at once", timeout=60)
        proxy.release.set()
        assert process.wait(timeout=60) == 0
    output = (tmp_path / "import.err").read_text()
    assert api_calls(server, "jobs-files") == 400
    # Each file's bar and summary in the order given, whichever was answered first.
    summaries = [line for line in output.splitlines() if " lines in " in line]
    assert summaries == [
        f"usage-metrics import: {first}: 100 lines in 1 batches: 100 accepted, 0 ignored, "
        "0 rejected",
        f"usage-metrics import: {second}: 300 lines in 3 batches: 300 accepted, 0 ignored, "
        "0 rejected",
        "usage-metrics import: imported 2 file(s): 400 lines in 4 batches: 400 accepted, "
        "0 ignored, 0 rejected",
    ]

    # One job, without the ranges kept: the same keys for the same batches, nothing counted.
    alone = run_here(import_command(server, tmp_path / "no-ranges", *files, "--jobs", "1"))
    assert alone.returncode == 0, alone.stderr
    assert "400 lines in 4 duplicate batches were counted before, not again" in alone.stderr
    assert api_calls(server, "jobs-files") == 400
    assert_private(output + alone.stderr)


def test_an_import_killed_with_batches_in_flight_and_run_again_counts_every_line_once(
    server: str, tmp_path: Path
) -> None:
    log, ranges = tmp_path / "access.log", tmp_path / "ranges"
    log.write_bytes(log_lines("jobs-kill", 1000))
    options = ["--batch-lines", "100", "--jobs", "2"]
    with holding_proxy(server, hold=4) as proxy:
        command = import_command(f"http://127.0.0.1:{proxy.port}", ranges, str(log), *options)
        process = start(command, tmp_path / "import.err")
        wait_until(lambda: proxy.held == 2, "two batches held", timeout=60)
        process.kill()  # SIGKILL: no clean-up, two batches in flight, the next ones recorded
        process.wait(timeout=60)
        proxy.release.set()  # the two in flight reach the server after all, and count
        wait_until(lambda: api_calls(server, "jobs-kill") == 500, "the batches in flight counted")

    again = run(import_command(server, ranges, str(log), *options))
    assert again.returncode == 0, again.stderr
    assert api_calls(server, "jobs-kill") == 1000
    assert (
        "imported 1 file(s): 1000 lines in 10 batches: 500 accepted, 0 ignored, 0 rejected; "
        "500 lines in 5 duplicate batches were counted before, not again"
    ) in again.stderr
    assert f"{log} was sent before (ranges " in again.stderr

    once_more = run_here(import_command(server, ranges, str(log), "--jobs", "3"))
    assert once_more.returncode == 0, once_more.stderr
    assert "1000 lines in 10 duplicate batches were counted before" in once_more.stderr
    assert api_calls(server, "jobs-kill") == 1000


def test_jobs_must_be_a_whole_number_from_1(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(log_lines("jobs-zero", 1))
    refused = run(
        import_command("http://127.0.0.1:9", tmp_path / "ranges", str(log), "--jobs", "0")
    )
    assert refused.returncode == 2
    assert "argument --jobs: '0' is not a whole number from 1" in refused.stderr
