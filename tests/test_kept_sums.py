"""Kept sums (app/storage/kept_answers.py): a ranking of a period that ends today keeps the sums
of every group of its closed days and adds today's rows to them in one statement, so that its
answer is exact and live at once; a write of a closed day deletes the sums, a write of a live
day does not; sums found deleted meanwhile, or read while a write was in flight, are never
used; old and superseded sums are forgotten. PostgreSQL keeps them; SQLite answers the same
without keeping any."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from tortoise.transactions import in_transaction

from app.core.periods import Period
from app.ingest.counting import add_counters
from app.reports.figures import callers
from app.reports.rankings import rank, ranked_callers
from app.reports.rows import UsageFilter
from app.reports.statement import Statement
from app.storage.database import connection, is_postgres
from app.storage.kept_answers import ANALYSED_SUMS, forget_old, keep_sums
from tests.helpers import dataset, graphql_data, ingest, line_on, table_rows
from tests.test_kept_answers import BREAKDOWN, call_on, domains, quiet, versions_of

pytestmark = pytest.mark.anyio

ROADS = dataset("roads", "Roads")
RIVERS = dataset("rivers", "Rivers")
TODAY = datetime.now(UTC).date()  # a test that runs across midnight (UTC) fails: run it again
TEN_DAYS = {"start": (TODAY - timedelta(days=9)).isoformat(), "end": TODAY.isoformat()}
RANKING = """query($period: PeriodInput) {
  datasets(first: 2, orderBy: API_CALLS, period: $period) { edges { node { id } } }
}"""


def ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


def calls(day: str, domain: str, count: int = 1, resource: Any = ROADS) -> list[dict[str, Any]]:
    return [line_on(day, resource=resource, referer=f"https://{domain}/") for _ in range(count)]


async def kept() -> list[tuple[str, str, int, int]]:
    """Each kept answer of sums: its days, and its rows in each sums table."""
    found = []
    for answer in await table_rows("kept_answers"):
        assert answer["rows"] == ""
        rows = {
            table: await connection().execute_query_dict(
                f"SELECT * FROM {table} WHERE answer_id = {int(answer['id'])}"  # noqa: S608
            )
            for table in ("kept_caller_sums", "kept_dataset_sums")
        }
        days = (str(answer["first_day"]), str(answer["last_day"]))
        found.append((*days, len(rows["kept_caller_sums"]), len(rows["kept_dataset_sums"])))
    return found


async def test_a_breakdown_ending_today_adds_its_live_days_to_its_kept_sums(
    client: httpx.AsyncClient,
) -> None:
    postgres = is_postgres(connection())
    # The period: the last ten days (today and yesterday live); the previous: the ten before.
    await ingest(
        client,
        *calls(ago(5), "a.example", 3),
        *calls(ago(3), "b.example"),
        *calls(ago(12), "a.example"),
        *calls(ago(0), "c.example"),
    )
    expected = [("a.example", 3, 1), ("b.example", 1, 0), ("c.example", 1, 0)]
    assert domains(await graphql_data(client, BREAKDOWN, period=TEN_DAYS)) == expected
    assert await kept() == []  # its closed days were written just now
    await quiet()
    assert domains(await graphql_data(client, BREAKDOWN, period=TEN_DAYS)) == expected
    # a.example and b.example of the closed days, and the total.
    sums = [(ago(19), ago(2), 3, 0)] if postgres else []
    assert await kept() == sums

    # The closed days are read from the sums, the live ones from the tables.
    tamper = "UPDATE usage_by_caller SET api_calls = api_calls {} 100"
    await connection().execute_script(tamper.format("+"))
    tampered = domains(await graphql_data(client, BREAKDOWN, period=TEN_DAYS))
    if postgres:
        assert tampered == [("c.example", 101, 0), ("a.example", 3, 1), ("b.example", 1, 0)]
    else:
        assert tampered[0] == ("a.example", 103, 101)
    await connection().execute_script(tamper.format("-"))

    # Writes of the live days keep the sums; a write of a closed day deletes them.
    await ingest(client, *calls(ago(0), "c.example", 2), *calls(ago(1), "d.example", 4))
    await quiet()
    live = [("d.example", 4, 0), ("a.example", 3, 1), ("c.example", 3, 0)]
    assert domains(await graphql_data(client, BREAKDOWN, period=TEN_DAYS)) == live
    assert await kept() == sums
    await ingest(client, *calls(ago(4), "b.example", 5))
    assert await kept() == []
    await quiet()
    again = [("b.example", 6, 0), ("d.example", 4, 0), ("a.example", 3, 1)]
    assert domains(await graphql_data(client, BREAKDOWN, period=TEN_DAYS)) == again
    assert await kept() == sums


async def test_a_ranking_of_datasets_ending_today_adds_its_live_days(
    client: httpx.AsyncClient,
) -> None:
    postgres = is_postgres(connection())
    await ingest(
        client,
        *calls(ago(5), "a.example", 3, ROADS),
        *calls(ago(4), "a.example", 2, RIVERS),
        *calls(ago(0), "a.example", 2, RIVERS),
    )
    await quiet()

    async def ranked() -> list[str]:
        data = await graphql_data(client, RANKING, period=TEN_DAYS)
        return [edge["node"]["id"] for edge in data["datasets"]["edges"]]

    assert await ranked() == ["rivers", "roads"]  # 4 calls against 3
    assert await kept() == ([(ago(9), ago(2), 0, 2)] if postgres else [])
    # Read from the kept sums: roads' closed days changed behind their back do not show.
    async with changed_before_live("usage_by_dataset", "resource_id = 'roads'"):
        assert await ranked() == ["rivers", "roads"]
    await ingest(
        client, *calls(ago(1), "a.example", 1, ROADS), *calls(ago(0), "a.example", 1, ROADS)
    )
    assert await ranked() == ["roads", "rivers"]  # 5 against 4
    assert len(await kept()) == (1 if postgres else 0)
    # Another period keeps its own sums; those of an earlier day's periods are deleted then.
    if postgres:
        await connection().execute_script("UPDATE kept_answers SET last_day = last_day - 1")
    await graphql_data(client, BREAKDOWN, period=TEN_DAYS)
    assert await kept() == ([(ago(19), ago(2), 2, 0)] if postgres else [])
    # The purge forgets sums made more than two days ago.
    await forget_old(connection())
    assert len(await kept()) == (1 if postgres else 0)
    if postgres:
        await connection().execute_script(
            "UPDATE kept_answers SET made_at = made_at - interval '49 hours'"
        )
    await forget_old(connection())
    assert await kept() == []
    assert await table_rows("kept_caller_sums") == []


async def test_sums_deleted_meanwhile_are_not_used(client: httpx.AsyncClient) -> None:
    sql = Statement()
    statement = f"SELECT 1 AS one, {sql.still_kept(12345)}"
    assert await sql.rows_if_kept(statement) is None


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite keeps none
async def test_sums_read_before_a_write_committed_are_not_kept(
    client: httpx.AsyncClient,
) -> None:
    first, last = date(2024, 1, 1), date(2024, 1, 31)
    into = ("kept_dataset_sums", ("resource_id", "n"))
    statement = ("SELECT $1::varchar, 5::numeric", ["roads"])

    before = await versions_of(first, last)
    async with in_transaction() as tx:
        await add_counters(tx, {call_on(date(2024, 1, 15)): [1, 10, 1]}, None)
    assert await keep_sums("a", first, last, into, statement, before) is None
    assert await table_rows("kept_answers") == []
    assert await table_rows("kept_dataset_sums") == []

    # In flight while the sums are kept: they wait for its commit, then are not kept.
    before = await versions_of(first, last)
    written = asyncio.Event()

    async def keep_once_written() -> int | None:
        await written.wait()
        return await keep_sums("b", first, last, into, statement, before)

    keeping = asyncio.create_task(keep_once_written())
    async with in_transaction() as tx:
        await add_counters(tx, {call_on(date(2024, 1, 16)): [1, 10, 1]}, None)
        written.set()
        await asyncio.sleep(0.2)
        assert not keeping.done()
    assert await keeping is None
    assert await table_rows("kept_dataset_sums") == []

    before = await versions_of(first, last)
    answer = await keep_sums("c", first, last, into, statement, before)
    assert answer is not None
    rows = await table_rows("kept_dataset_sums")
    assert [(r["answer_id"], r["resource_id"], int(r["n"])) for r in rows] == [(answer, "roads", 5)]
    # The same key again (another reader's): the answer kept, nothing added.
    assert await keep_sums("c", first, last, into, statement, before) == answer
    assert len(await table_rows("kept_dataset_sums")) == 1
    assert await estimated_rows("kept_dataset_sums") < 0  # never analysed: one row needs none

    # As many groups as a large breakdown: the planner gets the table's statistics at once
    # (without them it sorted ~10^5 kept rows where the index gives the first ones in order).
    many = ("SELECT 'd' || n, n::numeric FROM generate_series(1, $1::int) AS n", [ANALYSED_SUMS])
    assert await keep_sums("d", first, last, into, many, before) is not None
    assert await estimated_rows("kept_dataset_sums") == ANALYSED_SUMS + 1


async def estimated_rows(table: str) -> float:
    """PostgreSQL's estimate of `table`'s rows, as its last ANALYZE left it (-1: never)."""
    found = await connection().execute_query_dict(
        "SELECT reltuples FROM pg_class WHERE relname = $1", [table]
    )
    return float(found[0]["reltuples"])


async def test_a_live_ranking_is_the_ranking_of_every_group(client: httpx.AsyncClient) -> None:
    """Against every group read and ranked here: ties at the last place, reserved domains,
    user groups, counts and totals, before and after live days change the order."""
    rng = random.Random(7)
    lines = []
    for _ in range(120):
        domain = rng.choice(["a.example", "b.example", "c.example", "d.example", "e.example"])
        referer = rng.choice([f"https://{domain}/", f"https://{domain}/", "", "not a url"])
        day = ago(rng.choice([3, 4, 6, 8, 11, 15]))  # closed days, and the previous period's
        lines.append(line_on(day, resource=ROADS, referer=referer, api_key=rng.choice(["", "k"])))
    await ingest(client, *lines)
    await quiet()
    period = Period(TODAY - timedelta(days=9), TODAY)
    await expect_every_group(period)
    assert len(await kept()) == (1 if is_postgres(connection()) else 0)
    # Live days: one domain passes the others, a new one comes, ties change.
    await ingest(
        client,
        *calls(ago(0), "c.example", 30),
        *calls(ago(1), "f.example", 2),
        *calls(ago(0), "b.example", 1),
        line_on(ago(0), resource=ROADS, referer=""),
    )
    await expect_every_group(period)
    assert len(await kept()) == (1 if is_postgres(connection()) else 0)


async def expect_every_group(period: Period) -> None:
    columns = ("referer_domain", "user_group")
    against = period.previous()
    every = await callers(UsageFilter(), period, columns, against=against)
    await ranked_callers(UsageFilter(), period, columns, 1, against=against)  # keeps the sums
    # The closed days' rows changed behind the sums' back: only the kept sums answer as the
    # tables did (a ranking read whole would see the change).
    async with changed_before_live("usage_by_caller"):
        for upto in (1, 2, 3, 4, 7, 50):
            found = await ranked_callers(UsageFilter(), period, columns, upto, against=against)
            for column in columns:
                groups = {key: f for (of, key), f in every.items() if of == column}
                assert found[column] == rank(groups, column, upto), (upto, column)


@asynccontextmanager
async def changed_before_live(table: str, where: str = "TRUE") -> AsyncIterator[None]:
    """On PostgreSQL, 100 API calls more on `table`'s rows (`where`) of the blocks that start
    before the live days, which only a period read whole reads; SQLite keeps no sums and
    reads the tables: unchanged there."""
    if not is_postgres(connection()):
        yield
        return
    change = f"UPDATE {table} SET api_calls = api_calls {{}} 100 WHERE day < '{ago(1)}' AND {where}"  # noqa: S608
    await connection().execute_script(change.format("+"))
    try:
        yield
    finally:
        await connection().execute_script(change.format("-"))
