"""Kept answers (app/storage/kept_answers.py): a breakdown's ranking, and the most used datasets
a listing by usage is read from, are kept until a write reaches one of the days they read; an
answer read while a write was in flight on its days is never kept; listings read from a kept
top equal every dataset's ranking. PostgreSQL keeps them; SQLite answers the same without
keeping any."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from tortoise.transactions import in_transaction

from app.config import Settings
from app.core.records import UsageKey
from app.ingest.counting import add_counters
from app.storage.database import connection, is_postgres
from app.storage.kept_answers import keep, prepare, seen, versions_statement
from app.storage.retention import purge
from tests.helpers import app_client, dataset, graphql_data, ingest, line_on, table_rows

pytestmark = pytest.mark.anyio

ROADS = dataset("roads", "Roads")
BREAKDOWN = """query($period: PeriodInput!) { usage(period: $period) {
  breakdown(by: DOMAIN, first: 3) { totalCount nodes { key apiCalls { current previous } } }
} }"""
JANUARY = {"start": "2024-01-01", "end": "2024-01-31"}  # previous: 2023-12-01..31


async def quiet() -> None:
    """As if the days written so far were written an hour ago: no longer live."""
    if is_postgres(connection()):
        await connection().execute_script(
            "UPDATE kept_days SET written_at = written_at - interval '1 hour'"
        )


def domains(data: dict[str, Any]) -> list[tuple[str, int, int]]:
    nodes = data["usage"]["breakdown"]["nodes"]
    return [(n["key"], n["apiCalls"]["current"], n["apiCalls"]["previous"]) for n in nodes]


async def test_a_breakdown_is_kept_until_a_write_reaches_its_days(
    client: httpx.AsyncClient,
) -> None:
    postgres = is_postgres(connection())
    await ingest(
        client,
        *(line_on("2024-01-10", resource=ROADS, referer="https://a.example/") for _ in range(3)),
        line_on("2024-01-20", resource=ROADS, referer="https://b.example/"),
        line_on("2023-12-05", resource=ROADS, referer="https://a.example/"),
    )
    live = await graphql_data(client, BREAKDOWN, period=JANUARY)
    assert await table_rows("kept_answers") == []  # its days were written just now
    await quiet()
    first = await graphql_data(client, BREAKDOWN, period=JANUARY)
    assert first == live
    assert domains(first) == [("a.example", 3, 1), ("b.example", 1, 0)]
    assert len(await table_rows("kept_answers")) == (1 if postgres else 0)

    # Rows changed behind the service's back (no writer said so): the kept answer stays.
    await connection().execute_script("UPDATE usage_by_caller SET api_calls = api_calls + 100")
    kept = await graphql_data(client, BREAKDOWN, period=JANUARY)
    tampered = [("a.example", 103, 101), ("b.example", 101, 0)]
    assert domains(kept) == (domains(first) if postgres else tampered)

    # A write of days outside both periods keeps it; one of a day inside deletes it.
    await ingest(client, line_on("2024-02-03", resource=ROADS, referer="https://c.example/"))
    await quiet()
    assert domains(await graphql_data(client, BREAKDOWN, period=JANUARY)) == domains(kept)
    await ingest(client, line_on("2023-12-31", resource=ROADS, referer="https://b.example/"))
    assert await table_rows("kept_answers") == []
    await quiet()
    fresh = await graphql_data(client, BREAKDOWN, period=JANUARY)
    # The tampered rows come through now (the month rows of January and December, +100 each),
    # with b.example's new call of December 31.
    assert domains(fresh) == [("a.example", 103, 101), ("b.example", 101, 1)]
    assert len(await table_rows("kept_answers")) == (1 if postgres else 0)


async def test_only_periods_from_2000_to_tomorrow_are_kept(client: httpx.AsyncClient) -> None:
    await ingest(client, line_on("2024-01-10", resource=ROADS, referer="https://a.example/"))
    await quiet()
    days = len(await table_rows("kept_days"))
    for period, expected in (
        ({"start": "1999-12-01", "end": "2000-02-01"}, []),
        ({"start": "2024-01-01", "end": "2030-12-31"}, [("a.example", 1, 0)]),
    ):
        assert domains(await graphql_data(client, BREAKDOWN, period=period)) == expected
    assert len(await table_rows("kept_days")) == days
    assert await table_rows("kept_answers") == []


async def test_the_purge_forgets_the_answers_that_read_a_purged_day(settings: Settings) -> None:
    kept_days = replace(settings, keep_days=40)
    async with app_client(kept_days) as client:
        await ingest(
            client,
            line_on("2024-01-10", resource=ROADS, referer="https://a.example/"),
            line_on("2024-03-10", resource=ROADS, referer="https://a.example/"),
        )
        await quiet()
        march = {"start": "2024-03-01", "end": "2024-03-10"}  # previous: 02-20..29, kept
        for period in (JANUARY, march):
            await graphql_data(client, BREAKDOWN, period=period)
        postgres = is_postgres(connection())
        assert len(await table_rows("kept_answers")) == (2 if postgres else 0)
        await purge(kept_days, datetime(2024, 3, 20, 12, tzinfo=UTC))  # cut: 2024-02-01
        found = await table_rows("kept_answers")
        assert [(str(r["first_day"]), str(r["last_day"])) for r in found] == (
            [("2024-02-20", "2024-03-10")] if postgres else []
        )
        assert domains(await graphql_data(client, BREAKDOWN, period=JANUARY)) == []


def call_on(day: date) -> UsageKey:
    """One API call's key on `day`, as the fold writes it."""
    return UsageKey(
        *("organization", "org1", day, "datasets", "roads", "api"),
        *("ok", "ANONYMOUS", "a.example", "external", ""),
    )


async def versions_of(first: date, last: date) -> Any:
    """What a reader reads before its statement: first..last's versions, each day a row."""
    await prepare(connection(), first, last)
    found = await connection().execute_query_dict(versions_statement(), [first, last])
    return replace(seen(found[0]), live=False)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite keeps none
async def test_an_answer_read_before_a_write_committed_is_not_kept(
    client: httpx.AsyncClient,
) -> None:
    first, last = date(2024, 1, 1), date(2024, 1, 31)
    rows = [{"figure": 1}]

    # Committed between the reader's versions and its keeping: not kept.
    before = await versions_of(first, last)
    async with in_transaction() as tx:
        await add_counters(tx, {call_on(date(2024, 1, 15)): [1, 10, 1]}, None)
    assert await keep("a", first, last, rows, before) is False

    # In flight when the reader keeps: the reader waits for the commit, then does not keep.
    before = await versions_of(first, last)
    written = asyncio.Event()

    async def keep_once_written() -> bool:
        await written.wait()
        return await keep("b", first, last, rows, before)

    # Started outside the writer's transaction, so that it is not part of it.
    keeping = asyncio.create_task(keep_once_written())
    async with in_transaction() as tx:
        await add_counters(tx, {call_on(date(2024, 1, 16)): [1, 10, 1]}, None)
        written.set()
        await asyncio.sleep(0.2)
        assert not keeping.done()  # waiting for this transaction's lock on the day
    assert await keeping is False

    # Nothing written since: kept. A day outside the period does not count.
    before = await versions_of(first, last)
    async with in_transaction() as tx:
        await add_counters(tx, {call_on(date(2024, 2, 1)): [1, 10, 1]}, None)
    assert await keep("c", first, last, rows, before) is True
    assert [r["key"] for r in await table_rows("kept_answers")] == ["c"]


RANKING = """query($first: Int, $after: String, $search: String, $owner: OwnerInput,
                  $period: PeriodInput) {
  datasets(first: $first, after: $after, search: $search, orderBy: API_CALLS, period: $period,
           owner: $owner) {
    edges { cursor node { id } }
  }
}"""


async def ranked_ids(client: httpx.AsyncClient, first: int, **variables: Any) -> list[str]:
    """Every dataset in pages of `first`, most API calls first."""
    found: list[str] = []
    after = None
    while True:
        data = await graphql_data(
            client, RANKING, first=first, after=after, period=JANUARY, **variables
        )
        edges = data["datasets"]["edges"]
        found += [edge["node"]["id"] for edge in edges]
        if len(edges) < first:
            return found
        after = edges[-1]["cursor"]


async def test_a_ranking_of_datasets_read_from_its_kept_top_is_every_datasets(
    client: httpx.AsyncClient,
) -> None:
    # d0..d11: calls 3, 3, 3, 2, 2, 1, 1, 1, 1, 0 (downloads only), and two never used; titles
    # in reverse of the ids, so that ties are ordered by title. e0 moved to org2 after its
    # calls of January: its rows say org1, its resource org2.
    calls = [3, 3, 3, 2, 2, 1, 1, 1, 1]
    lines = [
        line_on("2024-01-10", resource=dataset(f"d{n}", f"Title {11 - n:02}"))
        for n, count in enumerate(calls)
        for _ in range(count)
    ]
    lines.append(line_on("2024-01-11", resource=dataset("d9", "Title 02"), track="readDataFiles"))
    lines += [line_on("2024-01-12", resource=dataset("e0", "Moved")) for _ in range(5)]
    await ingest(client, *lines)
    org2 = {"type": "organization", "id": "org2"}
    await ingest(client, line_on("2024-02-01", resource=dataset("e0", "Moved"), owner=org2))
    for n in (10, 11):
        await ingest(client, line_on("2024-03-01", resource=dataset(f"d{n}", f"Title {11 - n:02}")))
    await quiet()
    # Most calls first, ties by title: d2 (Title 09), d1 (10), d0 (11); d4, d3; d8..d5; then
    # the unused by title: d11 (Title 00), d10 (01), d9 (02).
    expected = ["d2", "d1", "d0", "d4", "d3", "d8", "d7", "d6", "d5", "d11", "d10", "d9"]
    org1 = {"type": "ORGANIZATION", "id": "org1"}
    for first in (1, 2, 4, 5, 100):
        assert await ranked_ids(client, first, owner=org1) == expected, first
        assert await ranked_ids(client, first, owner=org1) == expected, first  # kept
    assert await ranked_ids(client, 3) == ["e0", *expected]  # every owner: e0 counts
    assert await ranked_ids(client, 3, owner=org1, search="title 1") == ["d1", "d0"]
    if is_postgres(connection()):
        # One for org1's pages, whatever their size and place; one for every owner's.
        assert len(await table_rows("kept_answers")) == 2


async def test_a_ranking_past_its_kept_top_falls_back_and_stays_exact(
    client: httpx.AsyncClient,
) -> None:
    # 150 datasets of org1, f000..f149, with 1 to 7 calls (many ties), and e0, the most used,
    # whose rows say org1 and its resource org2: org1's kept top (100 or 128 datasets, ties
    # included) holds e0, which org1's pages do not list.
    calls = {f"f{n:03}": n * 37 % 7 + 1 for n in range(150)}
    titles = {name: f"T{n * 53 % 150:03}" for n, name in enumerate(calls)}
    await ingest(
        client,
        *(
            line_on("2024-01-10", resource=dataset(name, titles[name]))
            for name, count in calls.items()
            for _ in range(count)
        ),
        *(line_on("2024-01-12", resource=dataset("e0", "Moved")) for _ in range(9)),
    )
    org2 = {"type": "organization", "id": "org2"}
    await ingest(client, line_on("2024-02-01", resource=dataset("e0", "Moved"), owner=org2))
    await quiet()
    expected = sorted(calls, key=lambda name: (-calls[name], titles[name]))
    org1 = {"type": "ORGANIZATION", "id": "org1"}
    for first in (20, 33, 99, 100):
        assert await ranked_ids(client, first, owner=org1) == expected, first
        assert await ranked_ids(client, first, owner=org1) == expected, first  # kept
