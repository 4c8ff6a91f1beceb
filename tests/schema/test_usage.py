"""Usage totals: current and previous period, change, statuses, filters (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import (
    PERIOD_WEEK,
    api_key,
    dataset,
    graphql_data,
    ingest,
    line_on,
    owner_input,
)

pytestmark = pytest.mark.anyio

TOTALS = """
query($period: PeriodInput!, $owner: OwnerInput, $datasets: [ID!], $userGroups: [UserGroup!],
      $domains: [String!]) {
  usage(period: $period, owner: $owner, datasets: $datasets, userGroups: $userGroups,
        domains: $domains) {
    period { start end days }
    previousPeriod { start end days }
    apiCalls { current previous change }
    downloads { current previous change }
    downloadedBytes { current previous change }
    appOpens { current previous change }
  }
}
"""
API, DOWNLOAD, APP = "readDataAPI", "readDataFiles", "openApplication"


def trend(current: int, previous: int, change: float | None) -> dict[str, Any]:
    return {"current": current, "previous": previous, "change": change}


async def totals(client: httpx.AsyncClient, period: dict[str, str], **filters: Any) -> Any:
    return (await graphql_data(client, TOTALS, period=period, **filters))["usage"]


async def test_gives_a_week_beside_the_week_before(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        *[line_on("2024-01-0" + str(d), track=API) for d in (1, 3, 5, 7)],  # previous: 4
        *[line_on(day, track=API) for day in ("2024-01-08",) * 3 + ("2024-01-14",) * 2],  # 5
        line_on("2024-01-15", track=API),  # after the period
        line_on("2023-12-31", track=API),  # before the previous period
        line_on("2024-01-09", track=DOWNLOAD, bytes_sent=700),
        line_on("2024-01-10", track=DOWNLOAD, bytes_sent=300),
        *[line_on("2024-01-02", track=APP) for _ in range(5)],
    )
    assert await totals(client, PERIOD_WEEK) == {
        "period": {"start": "2024-01-08", "end": "2024-01-14", "days": 7},
        "previousPeriod": {"start": "2024-01-01", "end": "2024-01-07", "days": 7},
        "apiCalls": trend(5, 4, 0.25),
        "downloads": trend(2, 0, None),
        "downloadedBytes": trend(1000, 0, None),
        "appOpens": trend(0, 5, -1.0),
    }


async def test_gives_a_month_beside_the_31_days_before_across_a_leap_february(
    client: httpx.AsyncClient,
) -> None:
    await ingest(
        client,
        line_on("2024-01-29", track=DOWNLOAD, bytes_sent=1),  # one day too early
        line_on("2024-01-30", track=DOWNLOAD, bytes_sent=10),
        line_on("2024-02-29", track=DOWNLOAD, bytes_sent=100),
        line_on("2024-03-01", track=DOWNLOAD, bytes_sent=1000),
        line_on("2024-03-31", track=DOWNLOAD, bytes_sent=10000),
        line_on("2024-03-31", track=DOWNLOAD, bytes_sent=20000),
        line_on("2024-04-01", track=DOWNLOAD, bytes_sent=100000),  # one day too late
    )
    usage = await totals(client, {"start": "2024-03-01", "end": "2024-03-31"})
    assert usage["previousPeriod"] == {"start": "2024-01-30", "end": "2024-02-29", "days": 31}
    assert usage["downloads"] == trend(3, 2, 0.5)
    assert usage["downloadedBytes"] == trend(31000, 110, (31000 - 110) / 110)
    assert usage["apiCalls"] == trend(0, 0, None)


async def test_counts_status_ok_only(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        *[line_on("2024-01-08", status=status) for status in (200, 204, 206)],
        *[line_on("2024-01-08", status=status) for status in (101, 304, 404, 429, 500, 503)],
        line_on("2024-01-02", status=200),
        line_on("2024-01-02", status=404),
    )
    assert (await totals(client, PERIOD_WEEK))["apiCalls"] == trend(3, 1, 2.0)


async def test_counts_nothing_without_usage(client: httpx.AsyncClient) -> None:
    usage = await totals(client, PERIOD_WEEK)
    for figure in ("apiCalls", "downloads", "downloadedBytes", "appOpens"):
        assert usage[figure] == trend(0, 0, None)


async def test_filters_by_user_group_and_domain(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        line_on("2024-01-08", referer="https://a.example/map"),  # ANONYMOUS, a.example
        line_on("2024-01-08", referer="https://b.example/"),  # ANONYMOUS, b.example
        line_on("2024-01-09", api_key=api_key("o:org1:r4nd")),  # OWNER_API_KEY, none
        line_on("2024-01-09", api_key=api_key("u:bob:r4nd"), referer="https://A.example/x"),
        line_on("2024-01-02", referer="https://a.example/"),  # previous, ANONYMOUS, a.example
    )
    calls: list[tuple[dict[str, Any], Any]] = [
        ({}, trend(4, 1, 3.0)),
        ({"userGroups": ["ANONYMOUS"]}, trend(2, 1, 1.0)),
        ({"userGroups": ["OWNER_API_KEY", "EXTERNAL_API_KEY"]}, trend(2, 0, None)),
        ({"userGroups": []}, trend(0, 0, None)),
        ({"domains": ["a.example"]}, trend(2, 1, 1.0)),
        ({"domains": ["A.EXAMPLE", "none"]}, trend(3, 1, 2.0)),  # domains compare lower case
        ({"domains": ["a.example"], "userGroups": ["ANONYMOUS"]}, trend(1, 1, 0.0)),
    ]
    for filters, expected in calls:
        assert (await totals(client, PERIOD_WEEK, **filters))["apiCalls"] == expected, filters


async def test_filters_by_datasets_and_owner(client: httpx.AsyncClient) -> None:
    rivers = {"type": "organization", "id": "org2"}
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("roads")),
        line_on("2024-01-08", resource=dataset("roads")),
        line_on("2024-01-08", resource=dataset("bridges")),
        line_on("2024-01-08", resource=dataset("rivers"), owner=rivers),
        line_on("2024-01-08", resource={"type": "applications", "id": "app1"}),  # not a dataset
    )
    calls: list[tuple[dict[str, Any], int]] = [
        ({}, 4),
        ({"datasets": ["roads"]}, 2),
        ({"datasets": ["roads", "rivers", "unknown"]}, 3),
        ({"datasets": []}, 0),
        ({"owner": {"type": "ORGANIZATION", "id": "org1"}}, 3),
        ({"owner": owner_input(rivers), "datasets": ["roads", "rivers"]}, 1),
    ]
    for filters, expected in calls:
        usage = await totals(client, PERIOD_WEEK, **filters)
        assert usage["apiCalls"]["current"] == expected, filters


async def test_gives_one_datasets_usage(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("roads", "Roads")),
        line_on("2024-01-03", resource=dataset("roads", "Roads")),
        line_on("2024-01-08", resource=dataset("bridges", "Bridges"), track=DOWNLOAD),
    )
    query = """query($period: PeriodInput!) {
      dataset(id: "roads") { id title owner { type id }
        usage(period: $period) { apiCalls { current previous change } downloads { current } } }
    }"""
    assert await graphql_data(client, query, period=PERIOD_WEEK) == {
        "dataset": {
            "id": "roads",
            "title": "Roads",
            "owner": {"type": "ORGANIZATION", "id": "org1"},
            "usage": {"apiCalls": trend(1, 1, 0.0), "downloads": {"current": 0}},
        }
    }


async def test_app_opens_of_an_owner_count_its_applications_too(
    client: httpx.AsyncClient,
) -> None:
    # Data Fair logs an application's opening on the application, not on a dataset.
    application = {"type": "applications", "id": "map", "title": "Map"}
    await ingest(
        client,
        *[line_on("2024-01-09", resource=application, track=APP) for _ in range(3)],
        line_on("2024-01-02", resource=application, track=APP),
        line_on("2024-01-10", resource=dataset("roads"), track=APP),
        line_on("2024-01-10", resource=application, track=API),  # not a dataset's API call
        line_on("2024-01-10", resource=dataset("roads"), track=API),
    )
    usage = await totals(client, PERIOD_WEEK)
    assert usage["appOpens"] == trend(4, 1, 3.0)
    assert usage["apiCalls"] == trend(1, 0, None)
    # Broken down or filtered by caller (another summary table): the same rule.
    groups = await totals(client, PERIOD_WEEK, userGroups=["ANONYMOUS"])
    assert (groups["appOpens"], groups["apiCalls"]) == (trend(4, 1, 3.0), trend(1, 0, None))
    # A dataset's usage counts the opens logged on that dataset only.
    roads = await totals(client, PERIOD_WEEK, datasets=["roads"])
    assert roads["appOpens"] == trend(1, 0, None)


async def test_an_international_domain_is_one_domain_however_written(
    client: httpx.AsyncClient,
) -> None:
    await ingest(
        client,
        line_on("2024-01-09", referer="https://café.example/carte"),
        line_on("2024-01-10", referer="https://xn--caf-dma.example/carte"),
    )
    for written in ("café.example", "XN--CAF-DMA.example"):
        usage = await totals(client, PERIOD_WEEK, domains=[written])
        assert usage["apiCalls"] == trend(2, 0, None)
