"""Usage.series: every figure by day, ISO week or month, the previous period aligned by
position, partial buckets marked (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import parse

from app.schema import schema
from app.schema.cost import query_cost
from tests.helpers import dataset, error_codes, graphql, graphql_data, ingest, line_on
from tests.schema.test_loaders import counted_statements

pytestmark = pytest.mark.anyio

API, DOWNLOAD, APP = "readDataAPI", "readDataFiles", "openApplication"
SERIES = """query($period: PeriodInput!, $interval: Interval!) {
  usage(period: $period) {
    apiCalls { current previous }
    series(interval: $interval) {
      period { start end days } previousPeriod { start end days } partial
      apiCalls { current previous } downloads { current previous }
      downloadedBytes { current previous } appOpens { current previous }
    }
  }
}"""
YEAR_OF_SERIES = """{ datasets(first: 100) { nodes {
  usage(period: {start: "2024-01-01", end: "2024-12-31"}) {
    series(interval: $interval) { partial apiCalls { current } } } } } }"""


def bucket(
    period: tuple[str, str, int],
    previous: tuple[str, str],
    partial: bool,
    api: tuple[int, int] = (0, 0),
    downloads: tuple[int, int] = (0, 0),
    size: tuple[int, int] = (0, 0),
    opens: tuple[int, int] = (0, 0),
) -> dict[str, Any]:
    def trend(pair: tuple[int, int]) -> dict[str, int]:
        return {"current": pair[0], "previous": pair[1]}

    start, end, days = period
    return {
        "period": {"start": start, "end": end, "days": days},
        "previousPeriod": {"start": previous[0], "end": previous[1], "days": days},
        "partial": partial,
        "apiCalls": trend(api),
        "downloads": trend(downloads),
        "downloadedBytes": trend(size),
        "appOpens": trend(opens),
    }


async def series(client: httpx.AsyncClient, start: str, end: str, interval: str) -> Any:
    period = {"start": start, "end": end}
    return (await graphql_data(client, SERIES, period=period, interval=interval))["usage"]


async def test_gives_iso_weeks_beside_the_previous_period(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        *[line_on("2024-01-03", track=API) for _ in range(2)],
        line_on("2024-01-07", track=DOWNLOAD, bytes_sent=500),
        line_on("2024-01-10", track=API),
        line_on("2024-01-10", track=APP),
        line_on("2024-01-16", track=DOWNLOAD, bytes_sent=300),
        line_on("2024-01-17", track=API),  # after the period
        line_on("2023-12-20", track=API),  # the previous period: 2023-12-20..2024-01-02
        line_on("2023-12-26", track=DOWNLOAD, bytes_sent=100),
        *[line_on("2024-01-02", track=API) for _ in range(4)],
        line_on("2023-12-19", track=API),  # before it
        line_on("2024-01-08", track=API, status=404),  # not status-ok
    )
    usage = await series(client, "2024-01-03", "2024-01-16", "WEEK")  # Wednesday to Tuesday
    assert usage["series"] == [
        bucket(("2024-01-03", "2024-01-07", 5), ("2023-12-20", "2023-12-24"), True,
               api=(2, 1), downloads=(1, 0), size=(500, 0)),
        bucket(("2024-01-08", "2024-01-14", 7), ("2023-12-25", "2023-12-31"), False,
               api=(1, 0), downloads=(0, 1), size=(0, 100), opens=(1, 0)),
        bucket(("2024-01-15", "2024-01-16", 2), ("2024-01-01", "2024-01-02"), True,
               api=(0, 4), downloads=(1, 0), size=(300, 0)),
    ]  # fmt: skip
    assert usage["apiCalls"] == {"current": 3, "previous": 5}  # the buckets add up to it


async def test_gives_calendar_months_beside_the_previous_period(
    client: httpx.AsyncClient,
) -> None:
    await ingest(
        client,
        line_on("2024-01-15", track=API),
        *[line_on("2024-02-29", track=API) for _ in range(2)],
        line_on("2024-03-10", track=DOWNLOAD, bytes_sent=10),
        line_on("2024-03-11", track=API),  # after the period
        *[line_on("2023-11-20", track=API) for _ in range(3)],  # previous: 2023-11-20..2024-01-14
        line_on("2024-01-04", track=API),
        *[line_on("2024-01-14", track=DOWNLOAD, bytes_sent=20) for _ in range(2)],
    )
    usage = await series(client, "2024-01-15", "2024-03-10", "MONTH")
    assert usage["series"] == [
        bucket(("2024-01-15", "2024-01-31", 17), ("2023-11-20", "2023-12-06"), True,
               api=(1, 3)),
        bucket(("2024-02-01", "2024-02-29", 29), ("2023-12-07", "2024-01-04"), False,
               api=(2, 1)),
        bucket(("2024-03-01", "2024-03-10", 10), ("2024-01-05", "2024-01-14"), True,
               downloads=(1, 2), size=(10, 40)),
    ]  # fmt: skip


async def test_gives_days_and_zeros_without_usage(client: httpx.AsyncClient) -> None:
    await ingest(client, line_on("2024-01-09", track=API))
    usage = await series(client, "2024-01-08", "2024-01-09", "DAY")
    assert usage["series"] == [
        bucket(("2024-01-08", "2024-01-08", 1), ("2024-01-06", "2024-01-06"), False),
        bucket(("2024-01-09", "2024-01-09", 1), ("2024-01-07", "2024-01-07"), False, api=(1, 0)),
    ]
    empty = await series(client, "2030-01-01", "2030-01-31", "MONTH")
    assert empty["series"] == [
        bucket(("2030-01-01", "2030-01-31", 31), ("2029-12-01", "2029-12-31"), False)
    ]


async def test_a_page_of_datasets_series_costs_one_statement(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        *[line_on("2024-01-08", resource=dataset("a"), track=API) for _ in range(2)],
        line_on("2024-01-15", resource=dataset("b"), track=API),
        line_on("2024-01-01", resource=dataset("c"), track=API),
    )
    query = """{ datasets { nodes { id usage(period: {start: "2024-01-08", end: "2024-01-21"}) {
      series(interval: WEEK) { apiCalls { current previous } } } } } }"""
    with counted_statements() as statements:
        data = await graphql_data(client, query)
    weeks = {
        d["id"]: [w["apiCalls"] for w in d["usage"]["series"]] for d in data["datasets"]["nodes"]
    }
    assert weeks == {
        "a": [{"current": 2, "previous": 0}, {"current": 0, "previous": 0}],
        "b": [{"current": 0, "previous": 0}, {"current": 1, "previous": 0}],
        "c": [{"current": 0, "previous": 0}, {"current": 0, "previous": 1}],
    }
    # The datasets' count, their page, and one statement for the three series.
    assert len([s for s in statements if "SELECT" in s]) == 3, statements


@pytest.mark.parametrize(
    ("interval", "cost"),
    [("DAY", 1 + 100 * (3 + 366 * 3)), ("WEEK", 1 + 100 * (3 + 54 * 3)),
     ("MONTH", 1 + 100 * (3 + 15 * 3))],
)  # fmt: skip
def test_the_query_cost_counts_a_series_buckets(interval: str, cost: int) -> None:
    # Per dataset: nodes, usage, series and its buckets' 3 values (partial, apiCalls, current);
    # 2024 has 366 days, at most 54 weeks and 15 months counted.
    query = YEAR_OF_SERIES.replace("$interval", interval)
    assert query_cost(schema._schema, parse(query), None, {}) == cost


async def test_a_year_of_days_for_100_datasets_is_refused_weeks_pass(
    client: httpx.AsyncClient,
) -> None:
    days = await graphql(client, YEAR_OF_SERIES.replace("$interval", "DAY"))
    assert error_codes(days) == ["QUERY_TOO_COSTLY"]
    weeks = await graphql(client, YEAR_OF_SERIES.replace("$interval", "WEEK"))
    assert weeks == {"data": {"datasets": {"nodes": []}}}
