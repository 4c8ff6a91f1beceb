"""Several server processes ingesting overlapping batches into one database count each batch once.

Four uvicorn processes on one PostgreSQL database, then on one SQLite file: every batch is posted
to two of them at once with the same Idempotency-Key, and the sums must come out exact.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.helpers import (
    ADMIN,
    TRACKS,
    app_client,
    data_fair_line,
    ndjson,
    stored_summaries,
    summaries_of_usage_daily,
    table_rows,
    usage_rows,
)
from tests.server_processes import servers, wait_until_folded

pytestmark = pytest.mark.anyio

SERVERS = 4
BATCHES = 20


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


# "0": each batch counted in its request; "0.05": in the ledger, folded by every server.
@pytest.mark.parametrize("fold_interval", ["0", "0.05"])
async def test_counts_overlapping_batches_once_across_server_processes(
    settings: Settings, tmp_path: Path, fold_interval: str
) -> None:
    folding = {"USAGE_METRICS_FOLD_INTERVAL": fold_interval}
    async with (
        httpx.AsyncClient(timeout=60) as http,
        servers(settings.database_url, tmp_path, http, SERVERS, **folding) as urls,
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
        await wait_until_folded(http, urls[0])

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
