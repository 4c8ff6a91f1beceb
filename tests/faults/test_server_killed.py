"""A server killed (SIGKILL) in the middle of a large batch has counted it fully or not at all.

200 000 lines (about 21 000 usage_daily rows) go to a real server process on the private
PostgreSQL cluster, which is killed at a moment watched from a second connection, then
restarted: the batch's key is there with the exact sums, or neither is; the retry with the same
key then counts it exactly once.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.faults.cluster import Cluster
from tests.faults.counted import Counted, Sums, ledger_rows, read_counted, sums_of
from tests.faults.watch import (
    batch_blocked,
    batch_committed,
    batch_writing,
    lock_summaries,
    no_batch_open,
    release,
    wait_for,
    watching,
)
from tests.helpers import NDJSON, TRACKS, data_fair_line, ndjson
from tests.server_processes import free_port, server_log, start_server, wait_until_ready

pytestmark = pytest.mark.anyio

LINES = 200_000
KEY = "killed-batch"
HEADERS = {**NDJSON, "Content-Encoding": "gzip", "Idempotency-Key": KEY}
OPERATIONS = ("api", "download", "app")
# The server's CPU time spent on the batch before it is killed while parsing it (of ~1.5 s).
PARSING_CPU_S = 0.3
SIZE_MARK = 987_654_321


def specs() -> list[tuple[str, str, int, str]]:
    """(dataset, operation, bytes, referer) per line: 997 datasets x 3 operations x 7 sites."""
    return [
        (f"kill-{i % 997}", OPERATIONS[i % 3], i % 1000 + 1, f"https://site{i % 7}.example/")
        for i in range(LINES)
    ]


@pytest.fixture(scope="module")
def large_batch() -> tuple[bytes, Sums]:
    lines = specs()
    # One builder call per distinct line but for its size, which is put in its place: building
    # 200 000 lines one by one would take seconds.
    templates: dict[tuple[str, str, str], tuple[str, str]] = {}
    for dataset_id, operation, _, referer in lines:
        if (dataset_id, operation, referer) not in templates:
            line = data_fair_line(
                resource={"type": "datasets", "id": dataset_id, "title": "Killed"},
                track=TRACKS[operation],
                bytes_sent=SIZE_MARK,
                referer=referer,
            )
            before, after = ndjson(line).decode().split(str(SIZE_MARK))
            templates[dataset_id, operation, referer] = before, after
    text = "\n".join(
        f"{templates[dataset_id, operation, referer][0]}{size}"
        f"{templates[dataset_id, operation, referer][1]}"
        for dataset_id, operation, size, referer in lines
    )
    sums = sums_of((dataset_id, operation, size) for dataset_id, operation, size, _ in lines)
    return gzip.compress(text.encode(), compresslevel=1), sums


def cpu_seconds(pid: int) -> float:
    # utime + stime of /proc/<pid>/stat, in clock ticks (fields 14 and 15, after the name).
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def parsing(pid: int) -> Callable[[asyncpg.Connection], Awaitable[bool]]:
    start = cpu_seconds(pid)

    async def parsing_for_a_while(conn: asyncpg.Connection) -> bool:
        return cpu_seconds(pid) - start >= PARSING_CPU_S

    return parsing_for_a_while


def answer(*, duplicate: bool) -> dict[str, Any]:
    return {
        "accepted": LINES,
        "ignored": 0,
        "ignored_by_reason": {
            "not_tracked": 0, "no_owner": 0, "no_resource": 0, "unknown_owner": 0,
        },
        "rejected": [],
        "rejected_count": 0,
        "duplicate": duplicate,
    }  # fmt: skip


# Where the kill lands, and what must be stored after it.
NOTHING, EVERYTHING, EITHER = "nothing", "everything", "either"
MOMENTS = {
    "parsing": NOTHING,  # before any write
    "blocked-mid-transaction": NOTHING,  # key row, resources, counters written; not committed
    "writing": EITHER,  # as soon as its transaction is seen: begun, maybe committing already
    "committed": EVERYTHING,  # the key row is visible; the answer may not have been sent
}


@pytest.mark.parametrize("moment", list(MOMENTS))
async def test_a_server_killed_mid_batch_has_counted_it_fully_or_not_at_all(
    moment: str, large_batch: tuple[bytes, Sums], cluster_url: str, tmp_path: Path
) -> None:
    body, sums = large_batch
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    room = {"USAGE_METRICS_MAX_BATCH_BYTES": str(256 * 1024 * 1024)}  # 55 MB decompressed
    async with httpx.AsyncClient(timeout=120) as http:
        server = start_server(cluster_url, port, log, **room)
        try:
            await wait_until_ready(http, base, server, log)
            async with watching(cluster_url) as watcher:
                if moment == "blocked-mid-transaction":
                    await lock_summaries(watcher)
                condition = {
                    "parsing": parsing(server.pid),
                    "blocked-mid-transaction": batch_blocked,
                    "writing": batch_writing,
                    "committed": batch_committed(KEY),
                }[moment]
                sending = asyncio.ensure_future(
                    http.post(f"{base}/ingest", content=body, headers=HEADERS)
                )
                await wait_for(condition, watcher, sending.done)
                server.kill()
                server.wait()
                if moment == "blocked-mid-transaction":
                    await release(watcher)
                await wait_for(no_batch_open, watcher, lambda: False)
            cut_off = await asyncio.gather(sending, return_exceptions=True)
            if moment != "committed":
                assert isinstance(cut_off[0], httpx.TransportError), cut_off
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()

        after_kill = await read_counted(cluster_url)
        expected = {NOTHING: [Counted({}, [], True)], EVERYTHING: [Counted(sums, [KEY], True)]}
        either = expected[NOTHING] + expected[EVERYTHING]
        assert after_kill in expected.get(MOMENTS[moment], either)

        server = start_server(cluster_url, port, log, **room)
        try:
            await wait_until_ready(http, base, server, log)
            retried = await http.post(f"{base}/ingest", content=body, headers=HEADERS)
            assert retried.status_code == 200, server_log(log)
            assert retried.json() == answer(duplicate=after_kill.keys == [KEY])
        finally:
            server.terminate()
            server.wait()
    assert await read_counted(cluster_url) == Counted(sums, [KEY], True)


@pytest.fixture(params=["sqlite", "postgres"])
async def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'metrics.sqlite3'}"
    cluster: Cluster = request.getfixturevalue("cluster")
    return await cluster.create_database(f"killed_{uuid.uuid4().hex[:12]}")


async def test_a_server_killed_after_answering_and_before_folding_counts_the_batch_once(
    any_database: str, tmp_path: Path
) -> None:
    lines = specs()[:3000]
    body = ndjson(
        *(
            data_fair_line(
                resource={"type": "datasets", "id": dataset_id, "title": "Killed"},
                track=TRACKS[operation],
                bytes_sent=size,
            )
            for dataset_id, operation, size, _ in lines
        )
    )
    sums = sums_of((dataset_id, operation, size) for dataset_id, operation, size, _ in lines)
    headers = {**NDJSON, "Idempotency-Key": "answered-not-folded"}
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    # The folder runs once at start, then not for an hour: the batch stays in the ledger.
    held_back = {"USAGE_METRICS_FOLD_INTERVAL": "3600"}
    async with httpx.AsyncClient(timeout=120) as http:
        server = start_server(any_database, port, log, **held_back)
        try:
            await wait_until_ready(http, base, server, log)
            answered = await http.post(f"{base}/ingest", content=body, headers=headers)
            assert (answered.status_code, answered.json()["accepted"]) == (200, 3000)
        finally:
            server.kill()  # SIGKILL: no shutdown of any kind
            server.wait()
        assert await read_counted(any_database) == Counted({}, ["answered-not-folded"], True)
        assert await ledger_rows(any_database) == 1

        server = start_server(any_database, port, log, **held_back)
        try:
            await wait_until_ready(http, base, server, log)
            for _ in range(300):  # its fold at start takes the row
                if await ledger_rows(any_database) == 0:
                    break
                await asyncio.sleep(0.1)
            retried = await http.post(f"{base}/ingest", content=body, headers=headers)
            assert retried.json() == {**answered.json(), "duplicate": True}, server_log(log)
        finally:
            server.terminate()
            server.wait()
    assert await read_counted(any_database) == Counted(sums, ["answered-not-folded"], True)
    assert await ledger_rows(any_database) == 0
