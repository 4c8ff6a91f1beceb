"""`usage-metrics serve --workers 2`: two processes on one port, each with its own connections
and folder, counting batches posted at once exactly once; and each keeping what `serve` gives
one process: the slow-client deadlines (our protocol) and one secret key (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app.cli import main
from tests.faults.counted import Counted, ledger_rows, read_counted, sums_of
from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN, NDJSON, csrf_token
from tests.ingest.test_concurrency import batch_body, batch_specs
from tests.security.test_slow_clients import (
    CUT_WITHIN_S,
    UNFINISHED_HEAD,
    _connect,
    _refusal,
    _until_closed,
)
from tests.server_processes import (
    READY_WITHIN_S,
    ROOT,
    clean_env,
    free_port,
    postgres_database,
    server_log,
    stop_server,
    wait_until,
)

pytestmark = pytest.mark.anyio

WORKERS = 2
BATCHES = 30
COPIES = 2  # each batch posted twice at once, with its key
HEAD_TIMEOUT_2S = {
    "error": "REQUEST_TIMEOUT",
    "detail": "the request head did not arrive within 2 s (the server's "
    "USAGE_METRICS_HEADER_TIMEOUT)",
}


@contextmanager
def workers(database_url: str, log: Path, **settings: str) -> Iterator[str]:
    """`usage-metrics serve --workers 2` on a free port (the tokens of tests.helpers, no secret
    key), its output in `log`; its base URL once both workers have started."""
    port = free_port()
    env = clean_env(
        USAGE_METRICS_DATABASE_URL=database_url,
        USAGE_METRICS_ADMIN_TOKEN=ADMIN_TOKEN,
        USAGE_METRICS_INGEST_TOKEN=INGEST_TOKEN,
        **settings,
    )
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "--workers", str(WORKERS)], cwd=ROOT, env=env, stdout=output, stderr=output
        )
    try:
        wait_until(
            lambda: started_workers(log) == WORKERS or process.poll() is not None,
            "both workers to start",
            READY_WITHIN_S,
        )
        assert process.poll() is None, server_log(log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(process)


def started_workers(log: Path) -> int:
    """Worker processes whose app has started, each under its own pid (uvicorn's lines)."""
    text = server_log(log)
    pids = set(re.findall(r"Started server process \[(\d+)\]", text))
    return min(len(pids), text.count("Application startup complete."))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'metrics.sqlite3'}"
        return
    with postgres_database() as url:  # a database of its own: the servers migrate it
        yield url


async def test_two_workers_count_batches_posted_at_once_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    posts = [number for number in range(BATCHES) for _ in range(COPIES)]
    random.Random(25).shuffle(posts)
    # The ledger folded every 50 ms by both workers' folders.
    settings = {"USAGE_METRICS_FOLD_INTERVAL": "0.05", "USAGE_METRICS_HEADER_TIMEOUT": "2"}
    with workers(database_url, tmp_path / "serve.log", **settings) as base:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=100)) as http:
            responses = await asyncio.gather(
                *(
                    http.post(
                        f"{base}/ingest",
                        content=batch_body(number),
                        headers={**NDJSON, "Idempotency-Key": f"workers-{number}"},
                    )
                    for number in posts
                )
            )
            assert [r.status_code for r in responses] == [200] * len(posts)
            firsts = sorted(
                n for n, r in zip(posts, responses, strict=True) if not r.json()["duplicate"]
            )
            assert firsts == list(range(BATCHES))
            await _until_folded(http, base)
        if database_url.startswith("sqlite"):  # the database plays no part: checked once
            _check_deadlines_and_secret_key(base)
    sums = sums_of(line for number in range(BATCHES) for line in batch_specs(number))
    keys = sorted(f"workers-{number}" for number in range(BATCHES))
    assert await read_counted(database_url) == Counted(sums, keys, True)
    assert await ledger_rows(database_url) == 0


async def _until_folded(http: httpx.AsyncClient, base: str) -> None:
    query = {"query": "{ freshness { waitingBatches } }"}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for _ in range(600):
        answer = (await http.post(f"{base}/graphql", json=query, headers=headers)).json()
        if answer["data"]["freshness"]["waitingBatches"] == 0:
            return
        await asyncio.sleep(0.1)
    pytest.fail("the ledger was not folded within a minute")


def _check_deadlines_and_secret_key(base: str) -> None:
    """What `serve` gives its one process, each worker has: our protocol's head deadline, and
    the parent's random secret key (no USAGE_METRICS_SECRET_KEY is set)."""
    # Each connection reaches either worker: every one is cut by the deadline with our 408.
    for _ in range(2):
        with _connect(base) as sock:
            sock.sendall(UNFINISHED_HEAD)
            answer = _until_closed(sock, time.monotonic() + CUT_WITHIN_S)
        assert _refusal(answer) == (408, HEAD_TIMEOUT_2S)
    # A new connection per request, so that both workers serve them: the sign-in form's
    # cookie, the sign-in and the pages are signed and checked with one key.
    no_keep_alive = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=base, limits=no_keep_alive, timeout=60) as browser:
        form = browser.get("/login")
        signed_in = browser.post(
            "/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf_token(form.text)}
        )
        assert signed_in.status_code == 303, signed_in.text
        pages = [browser.get("/dashboard").status_code for _ in range(12)]
    assert pages == [200] * 12


def test_workers_are_a_whole_number_from_1(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as stopped:
            main(["serve", "--workers", value])
        assert stopped.value.code == 2
        assert f"'{value}' is not a whole number of processes from 1" in capsys.readouterr().err
