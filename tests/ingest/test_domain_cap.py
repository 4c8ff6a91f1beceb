"""The domain cap: per day and dataset, the first N calling domains keep their names, the rest
count under `other`, exactly, across batches, processes (two apps, two caches) and concurrency."""

from __future__ import annotations

import asyncio
import gzip
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from app.storage.upserts import STAGED_ROWS
from tests.helpers import (
    NDJSON,
    app_client,
    dataset,
    graphql_data,
    ingest,
    line_on,
    ndjson,
    stored_summaries,
    summaries_of_usage_daily,
    usage_rows,
)

pytestmark = pytest.mark.anyio

DAY = "2024-01-08"
NEXT_DAY = "2024-01-09"
EMBED = "https://portal.example/data-fair/embed/dataset/roads?referer="
BREAKDOWN = """query($period: PeriodInput!, $datasets: [ID!]) {
  usage(period: $period, datasets: $datasets) {
    breakdown(by: DOMAIN, first: 1) {
      totalCount
      edges { node { key apiCalls { current } } }
    }
  }
}"""


@asynccontextmanager
async def second_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another app with its own cache, as another process has, on the database the first app
    opened (one database per process: its lifespan is not entered)."""
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def domain_rows() -> list[tuple[str, str, str, str, int]]:
    """(day, dataset, domain, category, requests) of every usage_daily row, sorted."""
    return sorted(
        (r["day"], r["resource_id"], r["referer_domain"], r["referer_category"], r["requests"])
        for r in await usage_rows()
    )


async def test_a_cap_of_three_keeps_the_first_three_domains_across_batches_and_apps(
    settings: Settings,
) -> None:
    capped = replace(settings, max_domains_per_day=3)
    async with app_client(capped) as client, second_app(capped) as other_process:
        await ingest(
            client,
            line_on(DAY, referer="https://a.example/page"),
            line_on(DAY, referer="https://b.example/"),
            line_on(DAY, referer="https://a.example/other-page"),
        )
        await ingest(
            client,
            line_on(DAY, referer="https://c.example/"),
            line_on(DAY, referer="https://d.example/"),  # the 4th domain: other
            line_on(DAY, referer=f"{EMBED}e.example"),  # the 5th: other, its category kept
            line_on(DAY, referer="https://a.example/"),  # known: keeps its name
            line_on(DAY),  # none, invalid: our own values, never capped
            line_on(DAY, referer="not a url"),
            line_on(DAY, referer="https://d.example/", resource=dataset("bridges")),  # own cap
            line_on(NEXT_DAY, referer="https://e.example/"),  # a new day: its own cap
        )
        # A cold cache (another process) asks the database: a is named, f is past the cap.
        await ingest(
            other_process,
            line_on(DAY, referer="https://a.example/"),
            line_on(DAY, referer="https://f.example/"),
        )
        await ingest(client, line_on(DAY, referer="https://f.example/"))  # warm cache: full
        assert await domain_rows() == [
            (DAY, "bridges", "d.example", "external", 1),
            (DAY, "roads", "a.example", "external", 4),
            (DAY, "roads", "b.example", "external", 1),
            (DAY, "roads", "c.example", "external", 1),
            (DAY, "roads", "invalid", "invalid", 1),
            (DAY, "roads", "none", "none", 1),
            (DAY, "roads", "other", "embed", 1),
            (DAY, "roads", "other", "external", 3),
            (NEXT_DAY, "roads", "e.example", "external", 1),
        ]
        assert await stored_summaries() == await summaries_of_usage_daily()


async def test_a_host_spelled_like_our_own_values_counts_as_invalid(
    client: httpx.AsyncClient,
) -> None:
    await ingest(
        client,
        line_on(DAY, referer="http://other/page"),
        line_on(DAY, referer="https://NONE:8080/"),
        line_on(DAY, referer=f"{EMBED}other"),
        line_on(DAY, referer="https://other.example/"),  # a real domain
    )
    assert await domain_rows() == [
        (DAY, "roads", "invalid", "invalid", 3),
        (DAY, "roads", "other.example", "external", 1),
    ]


async def test_concurrent_batches_on_one_dataset_never_pass_the_cap(settings: Settings) -> None:
    capped = replace(settings, max_domains_per_day=5)
    async with app_client(capped) as one, second_app(capped) as two:
        batches = [
            [line_on(DAY, referer=f"https://d{n}-{i}.example/") for i in range(3)]
            for n in range(12)
        ]
        await asyncio.gather(
            *(ingest(one if n % 2 else two, *lines) for n, lines in enumerate(batches))
        )
        rows = await domain_rows()
        named = [row for row in rows if row[2] != "other"]
        assert len(named) == 5
        assert sum(row[4] for row in rows) == 36
        assert [row[2:] for row in rows if row[2] == "other"] == [("other", "external", 31)]
        assert await stored_summaries() == await summaries_of_usage_daily()


def flood(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(day, domain) of `count` lines with random referers, over two days."""
    return [
        (DAY if rng.random() < 0.5 else NEXT_DAY, f"{rng.getrandbits(48):012x}.example")
        for _ in range(count)
    ]


async def test_100_000_random_referers_leave_200_domains_and_other_per_day(
    client: httpx.AsyncClient,
) -> None:
    lines = flood(random.Random(8), 100_000)
    for start in range(0, len(lines), 25_000):
        body = ndjson(
            *(
                line_on(day, referer=f"https://{domain}/embed")
                for day, domain in lines[start : start + 25_000]
            )
        )
        response = await client.post(
            "/ingest",
            content=gzip.compress(body, compresslevel=1),
            headers={**NDJSON, "Content-Encoding": "gzip"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 25_000

    first_seen: dict[str, list[str]] = {DAY: [], NEXT_DAY: []}
    for day, domain in lines:
        seen = first_seen[day]
        if len(seen) < 200 and domain not in seen:
            seen.append(domain)
    per_day = Counter(day for day, _ in lines)
    rows = await domain_rows()
    for day in (DAY, NEXT_DAY):
        named = {row[2]: row[4] for row in rows if row[0] == day and row[2] != "other"}
        other = [row[4] for row in rows if row[0] == day and row[2] == "other"]
        assert sorted(named) == sorted(first_seen[day])
        expected = Counter(domain for d, domain in lines if d == day and domain in named)
        assert named == dict(expected)
        assert other == [per_day[day] - sum(expected.values())]
    assert len(rows) == 402
    assert sum(row[4] for row in rows) == 100_000
    assert await stored_summaries() == await summaries_of_usage_daily()

    for period, total in (
        ({"start": DAY, "end": DAY}, 201),
        ({"start": DAY, "end": NEXT_DAY}, 401),
    ):
        for datasets in (None, ["roads"]):  # usage_by_caller, then usage_daily
            data = await graphql_data(client, BREAKDOWN, period=period, datasets=datasets)
            breakdown: Any = data["usage"]["breakdown"]
            assert breakdown["totalCount"] == total
            others = sum(row[4] for row in rows if row[2] == "other" and row[0] <= period["end"])
            assert breakdown["edges"][0]["node"] == {
                "key": "other",
                "apiCalls": {"current": others},
            }


async def test_a_cold_cache_asks_for_a_thousand_datasets_days_at_once(settings: Settings) -> None:
    """Another process's first batch names STAGED_ROWS days and datasets and more: PostgreSQL
    reads their stored domains through a table filled by COPY (upserts.rows_from), SQLite a
    few hundred pairs a query. Each dataset's cap holds exactly."""
    capped = replace(settings, max_domains_per_day=2)
    names = [f"set{n:04}" for n in range(STAGED_ROWS + 10)]
    async with app_client(capped) as client, second_app(capped) as other_process:
        await ingest(
            client,
            *(
                line_on(DAY, resource=dataset(name), referer=f"https://{domain}.example/")
                for name in names
                for domain in ("a", "b")
            ),
        )
        await ingest(
            other_process,
            *(
                line_on(DAY, resource=dataset(name), referer=f"https://{domain}.example/")
                for name in names
                for domain in ("c", "a")  # c: past the cap; a: stored, keeps its name
            ),
        )
        found = Counter((row[1], row[2], row[4]) for row in await domain_rows())
        assert found == Counter(
            (name, domain, requests)
            for name in names
            for domain, requests in (("a.example", 2), ("b.example", 1), ("other", 1))
        )
