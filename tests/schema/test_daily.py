"""Usage.daily: every day of the period, in order, zeros included."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import PERIOD_WEEK, dataset, graphql_data, ingest, line_on

pytestmark = pytest.mark.anyio

DAILY = """query($period: PeriodInput!) {
  usage(period: $period) { daily { day apiCalls downloads } }
  dataset(id: "bridges") { usage(period: $period) { daily { day apiCalls downloads } } }
}"""


def day(date: str, api_calls: int = 0, downloads: int = 0) -> dict[str, object]:
    return {"day": date, "apiCalls": api_calls, "downloads": downloads}


async def test_lists_every_day_with_zeros_where_nothing_happened(
    client: httpx.AsyncClient,
) -> None:
    await ingest(
        client,
        line_on("2024-01-09"),
        line_on("2024-01-09"),
        line_on("2024-01-09", track="readDataFiles"),
        line_on("2024-01-12", resource=dataset("bridges")),
        line_on("2024-01-12", track="openApplication"),  # app opens are not in `daily`
        line_on("2024-01-12", status=500),  # nor other statuses
        line_on("2024-01-07"),  # the previous period is not either
    )
    data = await graphql_data(client, DAILY, period=PERIOD_WEEK)
    assert data["usage"]["daily"] == [
        day("2024-01-08"),
        day("2024-01-09", api_calls=2, downloads=1),
        day("2024-01-10"),
        day("2024-01-11"),
        day("2024-01-12", api_calls=1),
        day("2024-01-13"),
        day("2024-01-14"),
    ]
    bridges = data["dataset"]["usage"]["daily"]
    assert [d["apiCalls"] for d in bridges] == [0, 0, 0, 0, 1, 0, 0]
    assert [d["day"] for d in bridges] == [d["day"] for d in data["usage"]["daily"]]


async def test_lists_zeros_for_a_dataset_without_usage(client: httpx.AsyncClient) -> None:
    await ingest(client, line_on("2023-06-01", resource=dataset("bridges")))
    data = await graphql_data(client, DAILY, period={"start": "2024-02-28", "end": "2024-03-01"})
    expected = [day("2024-02-28"), day("2024-02-29"), day("2024-03-01")]
    assert data["usage"]["daily"] == expected
    assert data["dataset"]["usage"]["daily"] == expected
