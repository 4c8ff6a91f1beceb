"""The datasets connection: pages, search, order by usage; one dataset by id."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import PERIOD_WEEK, dataset, graphql_data, ingest, line_on, owner_input

pytestmark = pytest.mark.anyio

DATASETS = """query($first: Int, $after: String, $search: String, $orderBy: DatasetOrder,
                    $period: PeriodInput, $owner: OwnerInput) {
  datasets(first: $first, after: $after, search: $search, orderBy: $orderBy, period: $period,
           owner: $owner) {
    totalCount
    edges { cursor node { id title owner { type id } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def datasets(client: httpx.AsyncClient, **arguments: Any) -> Any:
    return (await graphql_data(client, DATASETS, **arguments))["datasets"]


def ids(connection: Any) -> list[str]:
    return [edge["node"]["id"] for edge in connection["edges"]]


async def test_pages_through_datasets_without_repeats_or_gaps(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        *[line_on("2024-01-08", resource=dataset(f"d{n:02}", f"Data {n:02}")) for n in range(25)],
    )
    seen: list[str] = []
    pages = []
    after = None
    for _ in range(3):
        page = await datasets(client, first=10, after=after)
        pages.append(page)
        seen += ids(page)
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"d{n:02}" for n in range(25)]
    assert [page["totalCount"] for page in pages] == [25, 25, 25]
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True, True, False]
    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [False, True, True]
    assert pages[0]["edges"][0]["node"] == {
        "id": "d00",
        "title": "Data 00",
        "owner": {"type": "ORGANIZATION", "id": "org1"},
    }


async def test_reads_null_paging_arguments_as_their_defaults(client: httpx.AsyncClient) -> None:
    await ingest(client, *[line_on("2024-01-08", resource=dataset(f"d{n:02}")) for n in range(25)])
    found = await datasets(client, first=None, after=None, orderBy=None, period=None)
    assert ids(found) == [f"d{n:02}" for n in range(20)]


async def test_orders_by_title_ignoring_case_then_by_id(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("z", "apples")),
        line_on("2024-01-08", resource=dataset("b", "Bananas")),
        line_on("2024-01-08", resource=dataset("a", "Bananas")),
        line_on("2024-01-08", resource=dataset("cherries")),  # no title: its id stands in
        line_on("2024-01-08", resource={"type": "applications", "id": "app1", "title": "A"}),
    )
    assert ids(await datasets(client)) == ["z", "a", "b", "cherries"]


async def test_finds_datasets_by_a_piece_of_their_title(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("roads", "Road network")),
        line_on("2024-01-08", resource=dataset("rail", "Railways")),
        line_on("2024-01-08", resource=dataset("crossroads", "Level crossings")),
        line_on("2024-01-08", resource=dataset("pct", "100% renewable")),
        line_on("2024-01-08", resource=dataset("under_score")),
    )
    searches = {
        "ROAD": ["roads"],
        "ra": ["rail"],
        "roads": [],  # titles are searched, not ids...
        "score": ["under_score"],  # ...unless there is no title
        "%": ["pct"],  # LIKE wildcards are matched literally
        "_": ["under_score"],
        "nothing": [],
    }
    for search, expected in searches.items():
        found = await datasets(client, search=search)
        assert (ids(found), found["totalCount"]) == (expected, len(expected)), search


async def test_orders_by_api_calls_or_downloads_in_a_period(client: httpx.AsyncClient) -> None:
    lines = [
        *[line_on("2024-01-08", resource=dataset("two", "B")) for _ in range(2)],
        *[line_on("2024-01-09", resource=dataset("three", "C")) for _ in range(3)],
        line_on("2024-01-09", resource=dataset("one", "D")),
        line_on("2024-01-09", resource=dataset("zero", "A"), track="readDataFiles"),
        *[line_on("2024-01-01", resource=dataset("zero", "A")) for _ in range(9)],  # earlier
        *[line_on("2024-01-09", resource=dataset("one", "D"), status=500) for _ in range(9)],
    ]
    await ingest(client, *lines)
    by_calls = await datasets(client, orderBy="API_CALLS", period=PERIOD_WEEK)
    assert ids(by_calls) == ["three", "two", "one", "zero"]
    by_downloads = await datasets(client, orderBy="DOWNLOADS", period=PERIOD_WEEK)
    assert ids(by_downloads) == ["zero", "two", "three", "one"]  # ties by title
    first = await datasets(client, orderBy="API_CALLS", period=PERIOD_WEEK, first=2)
    rest = await datasets(
        client,
        orderBy="API_CALLS",
        period=PERIOD_WEEK,
        after=first["pageInfo"]["endCursor"],
    )
    assert ids(first) + ids(rest) == ["three", "two", "one", "zero"]


async def test_lists_one_owners_datasets(client: httpx.AsyncClient) -> None:
    other = {"type": "user", "id": "alice"}
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("roads")),
        line_on("2024-01-08", resource=dataset("notes"), owner=other),
    )
    assert ids(await datasets(client, owner=owner_input(other))) == ["notes"]
    assert ids(await datasets(client)) == ["notes", "roads"]


async def test_gives_one_dataset_by_id_or_null(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("roads", "Roads")),
        line_on("2024-01-08", resource={"type": "applications", "id": "app1"}),
    )
    query = """{
      roads: dataset(id: "roads") { id title }
      unknown: dataset(id: "unknown") { id }
      application: dataset(id: "app1") { id }
    }"""
    assert await graphql_data(client, query) == {
        "roads": {"id": "roads", "title": "Roads"},
        "unknown": None,
        "application": None,
    }


async def test_gives_each_dataset_of_a_page_its_own_usage(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        *[line_on("2024-01-08", resource=dataset("a")) for _ in range(3)],
        line_on("2024-01-02", resource=dataset("a")),
        line_on("2024-01-09", resource=dataset("b"), referer="https://x.example/"),
        line_on("2024-01-09", resource=dataset("c"), track="readDataFiles"),
    )
    query = """query($period: PeriodInput!) {
      datasets { edges { node { id usage(period: $period) {
        apiCalls { current previous } downloads { current }
        breakdown(by: DOMAIN) { edges { node { key } } }
      } } } }
    }"""
    data = await graphql_data(client, query, period=PERIOD_WEEK)
    usage = {
        edge["node"]["id"]: (
            edge["node"]["usage"]["apiCalls"],
            edge["node"]["usage"]["downloads"]["current"],
            [group["node"]["key"] for group in edge["node"]["usage"]["breakdown"]["edges"]],
        )
        for edge in data["datasets"]["edges"]
    }
    assert usage == {
        "a": ({"current": 3, "previous": 1}, 0, ["none"]),
        "b": ({"current": 1, "previous": 0}, 0, ["x.example"]),
        "c": ({"current": 0, "previous": 0}, 1, ["none"]),
    }
