"""The database stops during a batch: 503 + Retry-After, nothing counted; the retry counts once.

A real server process on the private PostgreSQL cluster, which the tests crash (`pg_ctl stop -m
immediate`) and start again; the server is never restarted, so its connection pool must recover.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.tokens import create_token
from app.shipping.batches import FileIdentity, fingerprint, ship_key
from app.storage.database import database
from tests.faults.cluster import Cluster
from tests.faults.counted import Counted, Sums, read_counted
from tests.faults.watch import batch_blocked, lock_summaries, wait_for, watching
from tests.helpers import INGEST_TOKEN, NDJSON, TEXT, dataset, line_on, ndjson
from tests.server_processes import ROOT, servers

pytestmark = pytest.mark.anyio

DAY = "2024-01-09"
UNAVAILABLE = {
    "error": "DATABASE_UNAVAILABLE",
    "detail": "the database did not take the batch; nothing of it was counted: retry later with "
    "the same Idempotency-Key",
}
NO_REJECTIONS: dict[str, Any] = {
    "ignored": 0,
    "ignored_by_reason": {"not_tracked": 0, "no_owner": 0, "no_resource": 0, "unknown_owner": 0},
    "rejected": [],
    "rejected_count": 0,
}


def api_calls(dataset_id: str, count: int) -> tuple[bytes, Sums]:
    """`count` NDJSON lines, one API call each on `dataset_id`, and the sums they make."""
    sizes = [1000 + i for i in range(count)]
    lines = (line_on(DAY, resource=dataset(dataset_id), bytes_sent=size) for size in sizes)
    return ndjson(*lines) + b"\n", {(dataset_id, "api"): (count, sum(sizes))}


def accepted(count: int, *, duplicate: bool) -> dict[str, Any]:
    return {"accepted": count, **NO_REJECTIONS, "duplicate": duplicate}


@asynccontextmanager
async def database_down(cluster: Cluster) -> AsyncIterator[None]:
    """The cluster crashed for the block; started again after it, whatever happens."""
    await asyncio.to_thread(cluster.crash)
    try:
        yield
    finally:
        await asyncio.to_thread(cluster.start)


def start_shipper(base: str, log: Path, state: Path, errors: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    command = [sys.executable, "-m", "app.cli", "ship", str(log), "--url", f"{base}/ingest"]
    command += ["--token-env", "SHIP_TOKEN", "--state", str(state), "--once"]
    with errors.open("ab") as stderr:
        return subprocess.Popen(
            command, cwd=ROOT, env={**env, "SHIP_TOKEN": INGEST_TOKEN}, stderr=stderr
        )


async def wait_for_text(path: Path, text: str, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while text not in (found := await asyncio.to_thread(path.read_text)):
        assert time.monotonic() < deadline, f"{text!r} not in {found!r}"
        await asyncio.sleep(0.05)


async def shipper_exit(process: subprocess.Popen[bytes], within_s: float = 60.0) -> int:
    deadline = time.monotonic() + within_s
    while process.poll() is None:
        assert time.monotonic() < deadline, "the shipper did not finish"
        await asyncio.sleep(0.05)
    return process.returncode


async def test_a_batch_cut_off_mid_transaction_is_counted_once_by_the_shippers_retry(
    cluster: Cluster, cluster_url: str, tmp_path: Path
) -> None:
    body, sums = api_calls("down-shipped", 300)
    log, state, errors = tmp_path / "access.log", tmp_path / "state.json", tmp_path / "ship.err"
    log.write_bytes(body)
    status = log.stat()
    key = ship_key(
        FileIdentity(status.st_dev, status.st_ino, fingerprint(body) or ""), 0, len(body)
    )
    async with (
        httpx.AsyncClient(timeout=60) as http,
        servers(cluster_url, tmp_path, http, 1) as (base,),
    ):
        async with watching(cluster_url) as watcher:
            await lock_summaries(watcher)
            shipper = start_shipper(base, log, state, errors)
            try:
                # The batch's key row and counters are written, its transaction is open.
                await wait_for(batch_blocked, watcher, lambda: shipper.poll() is not None)
                async with database_down(cluster):
                    # Retry-After: 10 is a floor for the shipper's backoff (0.5 s at first).
                    await wait_for_text(errors, "HTTP 503 DATABASE_UNAVAILABLE; retrying in 10.0 s")
                assert await read_counted(cluster_url) == Counted({}, [], True)

                assert await shipper_exit(shipper, within_s=30) == 0  # its retry, 10 s later
            finally:
                if shipper.poll() is None:
                    shipper.kill()
                    shipper.wait()
        assert await read_counted(cluster_url) == Counted(sums, [key], True)
        output = errors.read_text()
        assert output.count("retrying in") == 1
        assert "done: 300 lines in 1 batches: 300 accepted" in output

        replay = await http.post(
            f"{base}/ingest", content=body, headers={**TEXT, "Idempotency-Key": key}
        )
        assert replay.json() == accepted(300, duplicate=True)
    assert await read_counted(cluster_url) == Counted(sums, [key], True)


async def test_a_large_batch_cut_off_while_parsed_is_refused_and_its_retry_counted_once(
    cluster: Cluster, cluster_url: str, tmp_path: Path
) -> None:
    small, small_sums = api_calls("down-small", 10)
    large, large_sums = api_calls("down-large", 100_000)
    gzipped = gzip.compress(large, compresslevel=1)
    large_headers = {**NDJSON, "Content-Encoding": "gzip", "Idempotency-Key": "down-large"}
    room = {"USAGE_METRICS_MAX_BATCH_BYTES": str(2 * len(large))}
    async with (
        httpx.AsyncClient(timeout=60) as http,
        servers(cluster_url, tmp_path, http, 1, **room) as (base,),
    ):
        first = await http.post(
            f"{base}/ingest", content=small, headers={**NDJSON, "Idempotency-Key": "down-small"}
        )
        assert first.json() == accepted(10, duplicate=False)  # the pool holds a live connection

        sending = asyncio.ensure_future(
            http.post(f"{base}/ingest", content=gzipped, headers=large_headers)
        )
        await asyncio.sleep(0.1)  # sent; its 100 000 lines take the server about a second
        async with database_down(cluster):
            refused = await sending
            assert (refused.status_code, refused.headers["retry-after"]) == (503, "10")
            assert refused.json() == UNAVAILABLE
            again = await http.post(
                f"{base}/ingest", content=small, headers={**NDJSON, "Idempotency-Key": "down-2"}
            )
            assert (again.status_code, again.headers["retry-after"]) == (503, "10")
        assert await read_counted(cluster_url) == Counted(small_sums, ["down-small"], True)

        # The same server process, its pool's connections gone with the crash.
        retried = await http.post(f"{base}/ingest", content=gzipped, headers=large_headers)
        assert retried.json() == accepted(100_000, duplicate=False)
        replayed = await http.post(f"{base}/ingest", content=gzipped, headers=large_headers)
        assert replayed.json() == accepted(100_000, duplicate=True)
    both = dict(sorted({**small_sums, **large_sums}.items()))
    assert await read_counted(cluster_url) == Counted(both, ["down-large", "down-small"], True)


async def test_a_token_from_the_tokens_table_gets_503_while_the_database_is_down(
    cluster: Cluster, cluster_url: str, tmp_path: Path
) -> None:
    # Shippers use tokens made with `usage-metrics tokens create`: checking one needs the
    # database, and an outage must still be a 503 the shipper retries (it was a 500).
    async with database(cluster_url):
        token = await create_token("ingest", "fault-test shipper")
    body, sums = api_calls("down-token", 20)
    headers = {**NDJSON, "Authorization": f"Bearer {token}", "Idempotency-Key": "down-token"}
    async with (
        httpx.AsyncClient(timeout=60) as http,
        servers(cluster_url, tmp_path, http, 1) as (base,),
    ):
        async with database_down(cluster):
            refused = await http.post(f"{base}/ingest", content=body, headers=headers)
            assert (refused.status_code, refused.headers["retry-after"]) == (503, "10")
            assert refused.json() == {
                "error": "DATABASE_UNAVAILABLE",
                "detail": "the database did not answer to check the token; nothing was counted: "
                "retry later with the same Idempotency-Key",
            }
        counted = await http.post(f"{base}/ingest", content=body, headers=headers)
        assert counted.json() == accepted(20, duplicate=False)
    assert await read_counted(cluster_url) == Counted(sums, ["down-token"], True)


async def test_graphql_says_the_database_is_unavailable_while_it_is_down(
    cluster: Cluster, cluster_url: str, tmp_path: Path
) -> None:
    # A stored owner token and the public `analytics` both read the database: an outage is
    # DATABASE_UNAVAILABLE, not "Unexpected error." nor an unknown token.
    async with database(cluster_url):
        token = await create_token("owner:organization:org1", "fault-test reader")
    query = {"query": "{ analytics { provider } datasets { totalCount } }"}
    fields = {"analytics": "{ analytics { provider } }", "datasets": "{ datasets { totalCount } }"}
    async with (
        httpx.AsyncClient(timeout=60) as http,
        servers(cluster_url, tmp_path, http, 1) as (base,),
    ):
        async with database_down(cluster):
            for field, document in fields.items():
                answer = await http.post(
                    f"{base}/graphql",
                    json={"query": document},
                    headers={"Authorization": f"Bearer {token}"},
                )
                errors = answer.json()["errors"]
                assert [(e["path"], e["extensions"]["code"]) for e in errors] == [
                    ([field], "DATABASE_UNAVAILABLE")
                ]
        answer = await http.post(
            f"{base}/graphql", json=query, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.json() == {
            "data": {"analytics": {"provider": "NONE"}, "datasets": {"totalCount": 0}}
        }
