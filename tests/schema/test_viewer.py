"""What a front end needs besides figures: `viewer`, the `nodes` shortcut, the order's
direction, and breakdown groups typed by breakdown with every figure."""

from __future__ import annotations

import httpx
import pytest

from app.auth.tokens import create_token
from tests.helpers import (
    PERIOD_WEEK,
    dataset,
    error_codes,
    graphql,
    graphql_data,
    id_token,
    ingest,
    line_on,
)

pytestmark = pytest.mark.anyio

VIEWER = "{ viewer { everyOwner owners { type id } } }"
ALICE = {"type": "user", "id": "alice"}


async def test_viewer_says_which_owners_the_credentials_read(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("roads")),
        line_on("2024-01-08", resource=dataset("notes"), owner=ALICE),
    )
    assert await graphql_data(client, VIEWER) == {
        "viewer": {
            "everyOwner": True,
            "owners": [
                {"type": "ORGANIZATION", "id": "org1"},
                {"type": "USER", "id": "alice"},
            ],
        }
    }
    org1 = await create_token("owner:organization:org1", "org1 portal")
    assert (await graphql(client, VIEWER, token=org1))["data"] == {
        "viewer": {"everyOwner": False, "owners": [{"type": "ORGANIZATION", "id": "org1"}]}
    }
    answer = await graphql(client, VIEWER, token=None)
    assert (answer["data"], error_codes(answer)) == (None, ["UNAUTHENTICATED"])


async def test_owners_carry_the_name_the_portals_logs_gave_them(
    client: httpx.AsyncClient,
) -> None:
    lyon = {"type": "organization", "id": "org1", "name": "Métropole de Lyon"}
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("roads"), owner=lyon),
        line_on("2024-01-08", resource=dataset("notes"), owner=ALICE),
    )
    query = """{ viewer { owners { type id name } }
      datasets { nodes { id owner { id name } } }
      dataset(id: "roads") { owner { name } } }"""
    assert await graphql_data(client, query) == {
        "viewer": {
            "owners": [
                {"type": "ORGANIZATION", "id": "org1", "name": "Métropole de Lyon"},
                {"type": "USER", "id": "alice", "name": None},
            ]
        },
        "datasets": {
            "nodes": [
                {"id": "notes", "owner": {"id": "alice", "name": None}},
                {"id": "roads", "owner": {"id": "org1", "name": "Métropole de Lyon"}},
            ]
        },
        "dataset": {"owner": {"name": "Métropole de Lyon"}},
    }
    org1 = await create_token("owner:organization:org1", "org1 portal")
    answer = await graphql(client, "{ viewer { owners { id name } } }", token=org1)
    assert answer["data"] == {"viewer": {"owners": [{"id": "org1", "name": "Métropole de Lyon"}]}}


async def test_orders_datasets_either_way(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        *[line_on("2024-01-08", resource=dataset("a", "Alpha")) for _ in range(3)],
        line_on("2024-01-08", resource=dataset("b", "Beta")),
        *[line_on("2024-01-08", resource=dataset("c", "Gamma")) for _ in range(2)],
    )
    query = """query($orderBy: DatasetOrder, $direction: OrderDirection, $period: PeriodInput) {
      datasets(orderBy: $orderBy, direction: $direction, period: $period) { nodes { id } }
    }"""

    async def order(**arguments: object) -> list[str]:
        data = await graphql_data(client, query, **arguments)
        return [node["id"] for node in data["datasets"]["nodes"]]

    assert await order() == ["a", "b", "c"]
    assert await order(direction="DESC") == ["c", "b", "a"]
    assert await order(orderBy="API_CALLS", period=PERIOD_WEEK) == ["a", "c", "b"]
    assert await order(orderBy="API_CALLS", period=PERIOD_WEEK, direction="ASC") == [
        "b",
        "c",
        "a",
    ]


async def test_nodes_are_the_edges_nodes(client: httpx.AsyncClient) -> None:
    await ingest(client, *[line_on("2024-01-08", resource=dataset(i)) for i in ("x", "y", "z")])
    query = """query($period: PeriodInput!) {
      datasets(first: 2) { edges { node { id } } nodes { id } }
      usage(period: $period) { breakdown(by: USER_GROUP) { edges { node { key } } nodes { key } } }
    }"""
    data = await graphql_data(client, query, period=PERIOD_WEEK)
    assert data["datasets"]["nodes"] == [{"id": "x"}, {"id": "y"}]
    assert data["datasets"]["nodes"] == [edge["node"] for edge in data["datasets"]["edges"]]
    groups = data["usage"]["breakdown"]
    assert groups["nodes"] == [{"key": "ANONYMOUS"}]
    assert groups["nodes"] == [edge["node"] for edge in groups["edges"]]


async def test_groups_carry_their_typed_key_and_every_figure(client: httpx.AsyncClient) -> None:
    member = id_token({"id": "carol", "organizations": [{"id": "org1"}]})
    await ingest(
        client,
        line_on("2024-01-08", id_token=member, referer="https://portal.example/datasets"),
        line_on("2024-01-09", track="readDataFiles", bytes_sent=700, referer="https://b.example/"),
        line_on("2024-01-02", track="openApplication", referer="https://b.example/"),
    )
    query = """query($period: PeriodInput!, $by: Breakdown!) {
      usage(period: $period) { breakdown(by: $by) { nodes {
        key userGroup category apiCalls { current } downloads { current }
        downloadedBytes { current } appOpens { current previous }
      } } }
    }"""

    async def groups(by: str) -> list[object]:
        data = await graphql_data(client, query, period=PERIOD_WEEK, by=by)
        return [
            (g["key"], g["userGroup"], g["category"], g["apiCalls"]["current"],
             g["downloads"]["current"], g["downloadedBytes"]["current"],
             (g["appOpens"]["current"], g["appOpens"]["previous"]))
            for g in data["usage"]["breakdown"]["nodes"]
        ]  # fmt: skip

    assert await groups("USER_GROUP") == [
        ("ANONYMOUS", "ANONYMOUS", None, 0, 1, 700, (0, 1)),
        ("OWNER", "OWNER", None, 1, 0, 0, (0, 0)),
    ]
    assert await groups("CATEGORY") == [
        ("EXTERNAL", None, "EXTERNAL", 0, 1, 700, (0, 1)),
        ("PORTAL", None, "PORTAL", 1, 0, 0, (0, 0)),
    ]
    assert await groups("DOMAIN") == [
        ("b.example", None, None, 0, 1, 700, (0, 1)),
        ("portal.example", None, None, 1, 0, 0, (0, 0)),
    ]
