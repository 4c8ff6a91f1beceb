"""Usage.breakdown: groups by user group, domain or category, with trends, paged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import (
    PERIOD_WEEK,
    api_key,
    graphql,
    graphql_data,
    id_token,
    ingest,
    line_on,
)

pytestmark = pytest.mark.anyio

BREAKDOWN = """query($period: PeriodInput!, $by: Breakdown!, $first: Int, $after: String) {
  usage(period: $period) {
    breakdown(by: $by, first: $first, after: $after) {
      totalCount
      edges {
        cursor
        node { key apiCalls { current previous change } downloads { current previous } }
      }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}"""
PORTAL = "https://portal.example"


async def breakdown(client: httpx.AsyncClient, by: str, **paging: Any) -> Any:
    data = await graphql_data(client, BREAKDOWN, period=PERIOD_WEEK, by=by, **paging)
    return data["usage"]["breakdown"]


def group(key: str, api: tuple[int, int], downloads: tuple[int, int] = (0, 0)) -> Any:
    current, previous = api
    change = (current - previous) / previous if previous else None
    return {
        "key": key,
        "apiCalls": {"current": current, "previous": previous, "change": change},
        "downloads": {"current": downloads[0], "previous": downloads[1]},
    }


def nodes(connection: Any) -> list[Any]:
    return [edge["node"] for edge in connection["edges"]]


async def test_splits_by_user_group(client: httpx.AsyncClient) -> None:
    member = id_token({"id": "carol", "organizations": [{"id": "org1"}]})
    await ingest(
        client,
        *[line_on("2024-01-08") for _ in range(3)],  # ANONYMOUS
        line_on("2024-01-02"),
        *[line_on("2024-01-09", api_key=api_key("o:org1:r4nd")) for _ in range(2)],
        line_on("2024-01-09", id_token=member, track="readDataFiles"),  # OWNER
        line_on("2024-01-10", user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)"),  # BOT
        line_on("2024-01-03", user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)"),
        line_on("2024-01-03", user_agent="Mozilla/5.0 (compatible; Googlebot/2.1)"),
        line_on("2024-01-04", api_key=api_key("u:bob:r4nd")),  # EXTERNAL_API_KEY, before only
        line_on("2024-01-10", id_token=id_token({"id": "dave"}), track="openApplication"),
    )
    result = await breakdown(client, "USER_GROUP")
    assert result["totalCount"] == 5
    assert nodes(result) == [
        group("ANONYMOUS", (3, 1)),
        group("OWNER_API_KEY", (2, 0)),
        group("BOT", (1, 2)),
        group("OWNER", (0, 0), downloads=(1, 0)),
        group("EXTERNAL_API_KEY", (0, 1)),  # seen only in the previous period
    ]  # EXTERNAL only opened an application: not listed


async def test_splits_by_domain_and_category(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        line_on("2024-01-08", referer="https://news.example/article"),
        line_on("2024-01-08", referer="https://news.example/other", track="readDataFiles"),
        line_on("2024-01-08", referer=f"{PORTAL}/data-fair/embed/dataset/roads/table"),
        line_on("2024-01-09", referer=f"{PORTAL}/datasets/roads"),
        line_on("2024-01-09", referer=f"{PORTAL}/datasets/roads"),
        line_on("2024-01-09", referer="https://blog.example/?referer=partner.example"),
        line_on("2024-01-01", referer="https://old.example/"),
        line_on("2024-01-11"),
    )
    assert nodes(await breakdown(client, "DOMAIN")) == [
        group("portal.example", (3, 0)),
        group("news.example", (1, 0), downloads=(1, 0)),
        group("none", (1, 0)),
        group("partner.example", (1, 0)),
        group("old.example", (0, 1)),
    ]
    assert nodes(await breakdown(client, "CATEGORY")) == [
        group("EXTERNAL", (2, 1), downloads=(1, 0)),
        group("PORTAL", (2, 0)),
        group("EMBED", (1, 0)),
        group("NONE", (1, 0)),
    ]


async def test_pages_through_25_domains(client: httpx.AsyncClient) -> None:
    # d01 is the most used (25 calls) ... d25 the least (1): the order is known.
    await ingest(
        client,
        *[
            line_on("2024-01-08", referer=f"https://d{n:02}.example/")
            for n in range(1, 26)
            for _ in range(26 - n)
        ],
    )
    seen: list[str] = []
    after = None
    pages = []
    for _ in range(3):
        page = await breakdown(client, "DOMAIN", first=10, after=after)
        pages.append(page)
        seen += [node["key"] for node in nodes(page)]
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"d{n:02}.example" for n in range(1, 26)]
    assert [len(page["edges"]) for page in pages] == [10, 10, 5]
    assert [page["totalCount"] for page in pages] == [25, 25, 25]
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True, True, False]
    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [False, True, True]
    assert nodes(pages[0])[0] == group("d01.example", (25, 0))
    for page in pages:
        edges = page["edges"]
        assert page["pageInfo"]["startCursor"] == edges[0]["cursor"]
        assert page["pageInfo"]["endCursor"] == edges[-1]["cursor"]
    last = await breakdown(client, "DOMAIN", first=10, after=after)
    assert last["edges"] == []
    assert last["pageInfo"]["hasNextPage"] is False
    assert last["pageInfo"]["endCursor"] is None


async def test_orders_equal_groups_by_key(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        line_on("2024-01-08", referer="https://c.example/"),
        line_on("2024-01-08", referer="https://a.example/", track="readDataFiles"),
        line_on("2024-01-08", referer="https://b.example/"),
        line_on("2024-01-03", referer="https://b.example/"),
    )
    keys = [node["key"] for node in nodes(await breakdown(client, "DOMAIN"))]
    assert keys == ["a.example", "b.example", "c.example"]


async def test_breaks_a_datasets_usage_down_with_a_filter(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        line_on("2024-01-08", referer="https://a.example/"),
        line_on("2024-01-08", referer="https://a.example/", api_key=api_key("u:bob:r4nd")),
        line_on("2024-01-08", referer="https://b.example/"),
    )
    query = """query($period: PeriodInput!) {
      dataset(id: "roads") {
        usage(period: $period, userGroups: [ANONYMOUS]) {
          breakdown(by: DOMAIN) { totalCount edges { node { key apiCalls { current } } } }
        }
      }
    }"""
    answer = await graphql(client, query, {"period": PERIOD_WEEK})
    result = answer["data"]["dataset"]["usage"]["breakdown"]
    assert result["totalCount"] == 2
    assert nodes(result) == [
        {"key": "a.example", "apiCalls": {"current": 1}},
        {"key": "b.example", "apiCalls": {"current": 1}},
    ]


TYPED = """query($period: PeriodInput!) {
  usage(period: $period) {
    groups: breakdown(by: USER_GROUP) { nodes { key userGroup category } }
    categories: breakdown(by: CATEGORY) { nodes { key userGroup category } }
  }
}"""


async def test_keys_of_every_enum_breakdown_are_its_enum_names(client: httpx.AsyncClient) -> None:
    # Issue 23, point 10: USER_GROUP keys were upper case, CATEGORY keys lower case.
    member = id_token({"id": "carol", "organizations": [{"id": "org1"}]})
    robot = "Mozilla/5.0 (compatible; Googlebot/2.1)"
    lines = [
        {"referer": f"{PORTAL}/datasets/roads"},
        {"referer": f"{PORTAL}/data-fair/dataset/roads", "id_token": member},
        {"referer": f"{PORTAL}/data-fair/app/map", "id_token": id_token({"id": "dave"})},
        {"referer": f"{PORTAL}/data-fair/embed/dataset/roads/table", "user_agent": robot},
        {"referer": f"{PORTAL}/mcp", "api_key": api_key("o:org1:r4nd")},
        {"referer": "https://news.example/", "api_key": api_key("u:bob:r4nd")},
        {"referer": "not a url"},
        {},
    ]
    await ingest(client, *(line_on("2024-01-08", **fields) for fields in lines))
    usage = (await graphql_data(client, TYPED, period=PERIOD_WEEK))["usage"]
    groups = [(n["key"], n["userGroup"], n["category"]) for n in usage["groups"]["nodes"]]
    categories = [(n["key"], n["userGroup"], n["category"]) for n in usage["categories"]["nodes"]]
    assert sorted(groups) == [
        (name, name, None)
        for name in (
            "ANONYMOUS",
            "BOT",
            "EXTERNAL",
            "EXTERNAL_API_KEY",
            "OWNER",
            "OWNER_API_KEY",
        )
    ]
    assert sorted(categories) == [
        (name, None, name)
        for name in (
            "APP",
            "BACKOFFICE",
            "EMBED",
            "EXTERNAL",
            "INVALID",
            "MCP",
            "NONE",
            "PORTAL",
        )
    ]
