"""Several server processes ingesting overlapping batches into one database count each batch once.

Four uvicorn processes on one PostgreSQL database, then on one SQLite file: every batch is posted
to two of them at once with the same Idempotency-Key, and the sums must come out exact.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.helpers import (
    ADMIN,
    ADMIN_TOKEN,
    TRACKS,
    app_client,
    data_fair_line,
    ndjson,
    stored_summaries,
    summaries_of_usage_daily,
    table_rows,
    usage_rows,
)

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SERVERS = 4
BATCHES = 20
READY_WITHIN_S = 30


def batch_specs(number: int) -> list[tuple[str, str, int]]:
    """Batch `number`: 50 + number lines (dataset, operation, bytes) over three shared datasets."""
    return [
        (f"ds-{(number + j) % 3}", "api" if j % 2 else "download", 1000 * number + j + 1)
        for j in range(50 + number)
    ]


def batch_body(number: int) -> bytes:
    return ndjson(
        *(
            data_fair_line(
                resource={"type": "datasets", "id": dataset, "title": "Shared"},
                track=TRACKS[operation],
                bytes_sent=bytes_sent,
            )
            for dataset, operation, bytes_sent in batch_specs(number)
        )
    )


def expected_totals() -> dict[tuple[str, str], tuple[int, int]]:
    requests: Counter[tuple[str, str]] = Counter()
    sent: Counter[tuple[str, str]] = Counter()
    for number in range(BATCHES):
        for dataset, operation, bytes_sent in batch_specs(number):
            requests[dataset, operation] += 1
            sent[dataset, operation] += bytes_sent
    return {key: (requests[key], sent[key]) for key in sorted(requests)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    env |= {
        "USAGE_METRICS_DATABASE_URL": database_url,
        "USAGE_METRICS_ADMIN_TOKEN": ADMIN_TOKEN,
        "USAGE_METRICS_SECRET_KEY": "test-secret-key",
    }
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log"]
    with log.open("wb") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def server_log(log: Path) -> str:
    return log.read_text(errors="replace")


async def wait_until_ready(
    http: httpx.AsyncClient, url: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    for _ in range(READY_WITHIN_S * 10):
        if process.poll() is not None:
            pytest.fail(f"the server at {url} exited: {server_log(log)}")
        try:
            if (await http.get(f"{url}/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    pytest.fail(f"the server at {url} was not ready in {READY_WITHIN_S} s")


@asynccontextmanager
async def servers(
    database_url: str, logs: Path, http: httpx.AsyncClient
) -> AsyncIterator[list[str]]:
    """SERVERS uvicorn processes started at once on one database; killed whatever happens."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for number in range(SERVERS):
            port = free_port()
            processes.append(start_server(database_url, port, logs / f"server-{number}.log"))
            urls.append(f"http://127.0.0.1:{port}")
        for number, (url, process) in enumerate(zip(urls, processes, strict=True)):
            await wait_until_ready(http, url, process, logs / f"server-{number}.log")
        yield urls
    finally:
        for process in processes:
            stop_server(process)


async def test_counts_overlapping_batches_once_across_server_processes(
    settings: Settings, tmp_path: Path
) -> None:
    async with (
        httpx.AsyncClient(timeout=60) as http,
        servers(settings.database_url, tmp_path, http) as urls,
        app_client(settings),  # empties the tables and reads them back
    ):
        posts = [
            (number, urls[(number + offset) % SERVERS])
            for number in range(BATCHES)
            for offset in (0, 1)
        ]
        random.Random(20240108).shuffle(posts)
        responses = await asyncio.gather(
            *(
                http.post(
                    f"{url}/ingest",
                    content=batch_body(number),
                    headers={
                        **ADMIN,
                        "Content-Type": "application/x-ndjson",
                        "Idempotency-Key": f"concurrency-{number}",
                    },
                )
                for number, url in posts
            )
        )
        assert [r.status_code for r in responses] == [200] * len(posts)
        answers: dict[int, list[dict[str, Any]]] = {}
        for (number, _), response in zip(posts, responses, strict=True):
            answers.setdefault(number, []).append(response.json())
        for number, pair in answers.items():
            first, again = sorted(pair, key=lambda answer: answer["duplicate"])
            assert again == {**first, "duplicate": True}
            assert first["accepted"] == 50 + number

        totals: Counter[tuple[str, str]] = Counter()
        sent: Counter[tuple[str, str]] = Counter()
        for row in await usage_rows():  # summed over days, in case the run crosses midnight
            totals[row["resource_id"], row["operation"]] += row["requests"]
            sent[row["resource_id"], row["operation"]] += row["bytes"]
        assert {key: (totals[key], sent[key]) for key in sorted(totals)} == expected_totals()
        assert len(await table_rows("ingest_batches")) == BATCHES
        assert len(await table_rows("resources")) == 3
        # Every batch added to the same summary rows, concurrently: they add up all the same.
        assert await stored_summaries() == await summaries_of_usage_daily()
