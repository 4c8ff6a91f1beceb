"""A backlog of batches of distinct keys (what `import` sends after downtime) drains in passes
bounded in keys, while the server keeps answering: a one-line POST /ingest and a GraphQL read
are answered while it drains, each before the server has spent a second of CPU time on it.

A real server process on SQLite and PostgreSQL, and the server's CPU time rather than a
stopwatch (as tests/ingest/test_large_batch.py does): a pass that held the event loop, or SQLite's
single write lock, for the whole backlog (40 000 keys, seconds of CPU) would make a probe wait
for all of it. The backlog is drained once GraphQL's foldedUntil passes its last batch's reception:
then only the probes' own batches wait.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.records import UsageKey
from app.ingest import ledger
from app.storage.database import close_database, connection, is_postgres, open_database
from tests.helpers import ADMIN_TOKEN, NDJSON, TABLES, dataset, line_on, ndjson
from tests.ingest.ledger_rows import insert_ledger_row
from tests.ingest.test_large_batch import cpu_seconds
from tests.server_processes import free_port, server_log, start_server, wait_until_ready

pytestmark = pytest.mark.anyio

ROWS = 20
KEYS_PER_ROW = 2_000
# Server CPU time a probe may cost, waiting included: a pass of the default bound costs a few
# tenths of a second; the whole backlog several seconds.
PROBE_CPU_S = 1.0
FRESHNESS = "{ freshness { waitingBatches foldedUntil } }"


async def fill_backlog(database_url: str) -> datetime:
    """ROWS ledger rows of KEYS_PER_ROW keys, a dataset each; when the last was received."""
    await open_database(database_url)
    try:
        if is_postgres(connection()):
            await connection().execute_script(f"TRUNCATE {', '.join(TABLES)}")
        for row in range(ROWS):
            counters = {_key(row * KEYS_PER_ROW + n): [1, 1000, 10] for n in range(KEYS_PER_ROW)}
            await insert_ledger_row(ledger.encode(counters), KEYS_PER_ROW)
    finally:
        await close_database()
    return datetime.now(UTC)


def _key(n: int) -> UsageKey:
    day = date(2024, 1, 1) + timedelta(days=n % 3)
    return UsageKey(
        "organization", f"org{n % 50}", day, "datasets", f"backlog-{n}", "api", "ok",
        "ANONYMOUS", f"site{n % 100}.example", "external", "",
    )  # fmt: skip


async def counted_requests(database_url: str) -> int:
    await open_database(database_url)
    try:
        _, rows = await connection().execute_query(
            "SELECT COALESCE(SUM(requests), 0) AS n FROM usage_daily"
        )
    finally:
        await close_database()
    return int(rows[0]["n"])


async def test_ingest_and_graphql_are_answered_while_a_backlog_drains(
    database_url: str, tmp_path: Path
) -> None:
    filled = await fill_backlog(database_url)
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    server = start_server(database_url, port, log, USAGE_METRICS_FOLD_INTERVAL="1")
    probes: list[tuple[float, float, datetime]] = []  # (ingest CPU s, read CPU s, foldedUntil)
    try:
        async with httpx.AsyncClient(timeout=600) as http:
            await wait_until_ready(http, base, server, log)
            # Until the backlog is folded: then the oldest batch waiting is a probe's, or none.
            while not probes or probes[-1][2] <= filled:
                probes.append(await _probe(http, base, server.pid, len(probes)))
                await asyncio.sleep(0.2)
            # The probes' own batches (no event to wait on: another process's state).
            while (await _freshness(http, base))["waitingBatches"]:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
    finally:
        server.terminate()
        server.wait()
    while_draining = [probe for probe in probes if probe[2] <= filled]
    assert len(while_draining) >= 3, (probes, server_log(log))
    assert max(max(ingest, read) for ingest, read, _ in while_draining) < PROBE_CPU_S, probes
    assert await counted_requests(database_url) == ROWS * KEYS_PER_ROW + len(probes)


async def _probe(
    http: httpx.AsyncClient, base: str, pid: int, n: int
) -> tuple[float, float, datetime]:
    """A one-line batch and a GraphQL read: the server's CPU time for each, and foldedUntil."""
    start = cpu_seconds(pid)
    body = ndjson(line_on("2024-01-08", resource=dataset(f"probe-{n}")))
    answer = await http.post(f"{base}/ingest", content=body, headers=NDJSON)
    ingest = cpu_seconds(pid) - start
    assert answer.status_code == 200, answer.text
    start = cpu_seconds(pid)
    found = await _freshness(http, base)
    spent = cpu_seconds(pid) - start
    return ingest, spent, datetime.fromisoformat(found["foldedUntil"])


async def _freshness(http: httpx.AsyncClient, base: str) -> dict[str, Any]:
    read = await http.post(
        f"{base}/graphql",
        json={"query": FRESHNESS},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert read.status_code == 200, read.text
    found: dict[str, Any] = read.json()["data"]["freshness"]
    return found
