"""A maximum-size batch (16 MiB) never stalls the server: /healthz is answered while it is parsed.

A real server process, and a condition on the server's CPU time instead of a stopwatch: /healthz,
asked once the server has begun on the batch, must be answered before the server has spent half
of the batch's CPU time. A server that parsed the batch in one go, holding the event loop, would
answer it only once the parse (nine tenths of the batch's time) is over.
"""

from __future__ import annotations

import asyncio
import gzip
import os
from pathlib import Path

import httpx
import pytest

from tests.helpers import NDJSON, data_fair_line, ndjson
from tests.server_processes import free_port, server_log, start_server, wait_until_ready

pytestmark = pytest.mark.anyio

MAX_BATCH_BYTES = 16 * 1024 * 1024
# The server's CPU time on the batch before /healthz is asked (the batch takes several times it).
PARSING_CPU_S = 0.2


def big_body() -> tuple[bytes, int]:
    """Just under 16 MiB of Data Fair lines, each from another site: each is classified anew."""
    before, after = (
        ndjson(data_fair_line(referer="https://site-MARK.example/")).decode().split("MARK")
    )
    line_bytes = len(before) + len(after) + 7
    count = MAX_BATCH_BYTES // line_bytes - 10
    text = "\n".join(f"{before}{n:06d}{after}" for n in range(count))
    assert len(text) <= MAX_BATCH_BYTES
    return gzip.compress(text.encode(), compresslevel=1), count


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_healthz_is_answered_while_a_16_mib_batch_is_parsed(tmp_path: Path) -> None:
    body, lines = big_body()
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    # The ledger (the default): after the parse, the batch's write is one short transaction.
    server = start_server(
        f"sqlite://{tmp_path / 'metrics.sqlite3'}", port, log, USAGE_METRICS_FOLD_INTERVAL="3600"
    )
    try:
        async with httpx.AsyncClient(timeout=600) as http:
            await wait_until_ready(http, base, server, log)
            idle = cpu_seconds(server.pid)
            headers = {**NDJSON, "Content-Encoding": "gzip"}
            sending = asyncio.ensure_future(
                http.post(f"{base}/ingest", content=body, headers=headers)
            )
            while cpu_seconds(server.pid) - idle < PARSING_CPU_S and not sending.done():  # noqa: ASYNC110 (no event to wait on: another process's CPU time)
                await asyncio.sleep(0.01)
            assert not sending.done(), "the batch was answered before it could be watched"
            health = await http.get(f"{base}/healthz")
            health_cpu = cpu_seconds(server.pid) - idle
            assert health.status_code == 200
            answer = await sending
            batch_cpu = cpu_seconds(server.pid) - idle
            assert health_cpu < batch_cpu / 2, (health_cpu, batch_cpu)
            assert answer.status_code == 200, server_log(log)
            assert (answer.json()["accepted"], answer.json()["rejected_count"]) == (lines, 0)
    finally:
        server.terminate()
        server.wait()
