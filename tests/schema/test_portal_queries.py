"""The portal's five usual queries, as docs/graphql.md shows them, run as they are written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import ADMIN, dataset, ingest, line_on

pytestmark = pytest.mark.anyio

DOCS = Path(__file__).resolve().parents[2] / "docs" / "graphql.md"
PERIOD = {"start": "2024-01-08", "end": "2024-01-21"}


def documented() -> str:
    page = DOCS.read_text(encoding="utf-8")
    section = page.split("## The portal's five usual queries", 1)[1]
    found = re.search(r"```graphql\n(.*?)```", section, re.S)
    assert found is not None, "the section has no graphql block"
    return found[1]


async def run(client: httpx.AsyncClient, name: str, **variables: Any) -> Any:
    body = {"query": documented(), "operationName": name, "variables": variables}
    answer = await client.post("/graphql", json=body, headers=ADMIN)
    found = answer.json()
    assert (answer.status_code, found.get("errors")) == (200, None), found
    return found["data"]


async def test_the_documented_queries_answer_a_portals_pages(client: httpx.AsyncClient) -> None:
    roads = dataset("roads", "Écoles et routes")
    await ingest(
        client,
        line_on("2024-01-09", resource=roads, referer="https://b.example/"),
        line_on("2024-01-16", resource=roads, track="readDataFiles", bytes_sent=300),
        line_on("2024-01-02", resource=roads),  # the previous period
        line_on("2024-01-10", resource=dataset("rivers", "Rivières"), track="readDataFiles"),
    )
    assert await run(client, "Viewer") == {
        "viewer": {"everyOwner": True, "owners": [{"type": "ORGANIZATION", "id": "org1"}]}
    }
    page = (await run(client, "Datasets", period=PERIOD, search="ecoles"))["datasets"]
    assert [node["id"] for node in page["nodes"]] == ["roads"]
    usage = (await run(client, "DatasetPage", id="roads", period=PERIOD))["dataset"]["usage"]
    assert usage["apiCalls"] == {"current": 1, "previous": 1, "change": 0.0}
    assert [
        (week["period"]["start"], week["partial"], week["downloads"]["current"])
        for week in usage["series"]
    ] == [("2024-01-08", False, 0), ("2024-01-15", False, 1)]
    callers = (await run(client, "DatasetCallers", id="roads", period=PERIOD))["dataset"]["usage"]
    assert [g["userGroup"] for g in callers["groups"]["nodes"]] == ["ANONYMOUS"]
    assert [d["key"] for d in callers["domains"]["nodes"]] == ["b.example", "none"]  # a tie
    assert (await run(client, "Analytics"))["analytics"]["provider"] == "NONE"
