"""Usage.consumers: distinct consumers beside the previous period, hidden under the minimum,
per dataset, owner or everyone, and per user group in breakdowns (docs/graphql.md#consumers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.helpers import api_key, fix_epoch_keys, graphql_data, ingest, named_line
from tests.schema.test_loaders import counted_statements

pytestmark = pytest.mark.anyio

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
USAGE = """query($period: PeriodInput!, $owner: OwnerInput, $domains: [String!]) {
  usage(period: $period, owner: $owner, domains: $domains) {
    consumers { current previous change epochs }
  }
  dataset(id: "roads") { usage(period: $period) { consumers { current previous } } }
}"""
BREAKDOWN = """query($period: PeriodInput!, $by: Breakdown!) {
  usage(period: $period) {
    breakdown(by: $by) { nodes { key apiCalls { current } consumers { current previous } } }
  }
}"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, consumers_min=3)


@pytest.fixture(autouse=True)
async def fixed_keys(client: httpx.AsyncClient) -> None:
    await fix_epoch_keys()


def today() -> date:
    return datetime.now(UTC).date()


def line(address: str, day: date, **fields: Any) -> dict[str, Any]:
    on = f"{day.isoformat()}T12:00:00+00:00"
    return {**named_line(time=on, user_agent=FIREFOX, **fields), "remote_addr": address}


def period() -> dict[str, str]:
    return {"start": today().isoformat(), "end": today().isoformat()}


async def test_counts_consumers_beside_the_previous_period(client: httpx.AsyncClient) -> None:
    yesterday = today() - timedelta(days=1)
    await ingest(
        client,
        *(line(f"2001:db8:{i:x}::1", today()) for i in range(1, 6)),
        *(line(f"2001:db8:{i:x}::1", yesterday) for i in range(1, 5)),
        line("192.0.2.1", today(), resource={"type": "datasets", "id": "rivers"}),
        line("192.0.2.1", today(), api_key=api_key("o:org7:k3y")),
    )
    data = await graphql_data(client, USAGE, period=period())
    assert data["usage"]["consumers"] == {
        "current": 7,
        "previous": 4,
        "change": 0.75,
        "epochs": 1,
    }
    assert data["dataset"]["usage"]["consumers"] == {"current": 6, "previous": 4}


async def test_counts_under_the_minimum_and_domain_filters_are_null(
    client: httpx.AsyncClient,
) -> None:
    await ingest(client, line("192.0.2.1", today()), line("198.51.100.1", today()))
    data = await graphql_data(client, USAGE, period=period())
    assert data["usage"]["consumers"] == {
        "current": None,
        "previous": None,
        "change": None,
        "epochs": 1,
    }
    domains = await graphql_data(client, USAGE, period=period(), domains=["a.example"])
    assert domains["usage"]["consumers"] is None
    other = await graphql_data(
        client, USAGE, period=period(), owner={"type": "USER", "id": "nobody"}
    )
    assert other["usage"]["consumers"]["current"] is None


async def test_a_period_across_epochs_says_how_many(client: httpx.AsyncClient) -> None:
    data = await graphql_data(client, USAGE, period={"start": "2024-01-20", "end": "2024-03-05"})
    assert data["usage"]["consumers"]["epochs"] == 3  # January, February, March


async def test_breakdown_by_user_group_counts_each_groups_consumers(
    client: httpx.AsyncClient,
) -> None:
    await ingest(
        client,
        *(line(f"2001:db8:{i:x}::1", today()) for i in range(1, 5)),
        *(line("192.0.2.1", today(), api_key=api_key(f"o:org{i}:k")) for i in range(2, 5)),
    )
    groups = await graphql_data(client, BREAKDOWN, period=period(), by="USER_GROUP")
    assert groups["usage"]["breakdown"]["nodes"] == [
        {
            "key": "ANONYMOUS",
            "apiCalls": {"current": 4},
            "consumers": {"current": 4, "previous": None},
        },
        {
            "key": "EXTERNAL_API_KEY",
            "apiCalls": {"current": 3},
            "consumers": {"current": 3, "previous": None},
        },
    ]
    domains = await graphql_data(client, BREAKDOWN, period=period(), by="DOMAIN")
    assert [node["consumers"] for node in domains["usage"]["breakdown"]["nodes"]] == [None]


SERIES = """query($period: PeriodInput!, $interval: Interval!) {
  usage(period: $period) {
    consumers { current }
    series(interval: $interval) { period { start } consumers { current previous epochs } }
  }
}"""


async def test_series_count_each_buckets_consumers(client: httpx.AsyncClient) -> None:
    yesterday = today() - timedelta(days=1)
    addresses = [f"2001:db8:{i:x}::1" for i in range(1, 6)]
    await ingest(
        client,
        *(line(a, yesterday) for a in addresses[:3]),
        *(line(a, today()) for a in addresses[1:]),
    )
    two_days = {"start": yesterday.isoformat(), "end": today().isoformat()}
    data = await graphql_data(client, SERIES, period=two_days, interval="DAY")
    assert data["usage"]["consumers"] == {"current": 5}
    assert data["usage"]["series"] == [
        {
            "period": {"start": yesterday.isoformat()},
            "consumers": {"current": 3, "previous": None, "epochs": 1},
        },
        {
            "period": {"start": today().isoformat()},
            "consumers": {"current": 4, "previous": None, "epochs": 1},
        },
    ]


PAGE = """query($period: PeriodInput!, $first: Int) {
  datasets(first: $first) {
    nodes { id usage(period: $period) { consumers { current } } }
  }
}"""


async def test_a_page_of_datasets_reads_their_consumers_in_one_statement(
    client: httpx.AsyncClient,
) -> None:
    await ingest(
        client,
        *(
            line(f"2001:db8:{i:x}::1", today(), resource={"type": "datasets", "id": f"d{n:02}"})
            for n in range(12)
            for i in range(1, 4 + n % 2)
        ),
    )
    with counted_statements() as statements:
        data = await graphql_data(client, PAGE, period=period(), first=12)
    nodes = data["datasets"]["nodes"]
    assert [node["usage"]["consumers"]["current"] for node in nodes] == [3, 4] * 6
    assert len([s for s in statements if "usage_consumers" in s]) == 1
