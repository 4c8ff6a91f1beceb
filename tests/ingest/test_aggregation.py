"""How ingested lines become usage_daily rows and resources: merging, increments, days, owners."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.config import Settings
from tests.conftest import with_settings
from tests.helpers import (
    NDJSON,
    TEXT,
    api_key,
    app_client,
    combined_line,
    data_fair_line,
    named_line,
    ndjson,
    table_rows,
    usage_rows,
)

pytestmark = pytest.mark.anyio

ROADS = {"type": "datasets", "id": "roads", "title": "Roads"}
ROADS_ROW = {
    "owner_type": "organization",
    "owner_id": "org1",
    "day": "2024-01-08",
    "resource_type": "datasets",
    "resource_id": "roads",
    "operation": "api",
    "status_class": "ok",
    "user_group": "ANONYMOUS",
    "referer_domain": "none",
    "referer_category": "none",
    "referer_app": "",
}
PORTAL = "https://portal.example"


async def post(client: httpx.AsyncClient, *lines: Any) -> dict[str, Any]:
    response = await client.post("/ingest", content=ndjson(*lines), headers=NDJSON)
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    return answer


async def resources() -> list[dict[str, str | None]]:
    rows = await table_rows("resources")
    columns = ("resource_type", "resource_id", "title", "owner_type", "owner_id")
    return [
        {
            **{c: row[c] for c in columns},
            "first_day": str(row["first_day"]),
            "last_day": str(row["last_day"]),
        }
        for row in rows
    ]


async def test_merges_lines_of_one_key_into_one_row(client: httpx.AsyncClient) -> None:
    await post(
        client,
        named_line(bytes_sent=1000, request_time="0.250"),
        named_line(bytes_sent=234, request_time="0.031"),
    )
    assert await usage_rows() == [{**ROADS_ROW, "requests": 2, "bytes": 1234, "duration_ms": 281}]


async def test_adds_a_later_batch_to_the_same_row(client: httpx.AsyncClient) -> None:
    await post(client, named_line(bytes_sent=1000, request_time="0.250"))
    await post(
        client,
        named_line(bytes_sent=10, request_time="0.005"),
        named_line(bytes_sent=20, request_time="0.010"),
    )
    assert await usage_rows() == [{**ROADS_ROW, "requests": 3, "bytes": 1030, "duration_ms": 265}]


@pytest.mark.parametrize(
    ("column", "first", "second", "values"),
    [
        ("day", {"time": "2024-01-08T10:00:00+00:00"}, {"time": "2024-01-09T10:00:00+00:00"},
         ["2024-01-08", "2024-01-09"]),
        ("owner_id", {}, {"owner": {"type": "organization", "id": "org2"}}, ["org1", "org2"]),
        ("resource_id", {}, {"resource": {"type": "datasets", "id": "rivers"}},
         ["rivers", "roads"]),
        ("operation", {}, {"track": "readDataFiles"}, ["api", "download"]),
        ("status_class", {}, {"status": 404}, ["client_error", "ok"]),
        ("user_group", {}, {"api_key": api_key("u:bob:f4k3r4nd")},
         ["ANONYMOUS", "EXTERNAL_API_KEY"]),
        ("referer_domain", {"referer": "https://a.example/page"},
         {"referer": "https://b.example/page"}, ["a.example", "b.example"]),
        ("referer_category", {"referer": f"{PORTAL}/datasets"},
         {"referer": f"{PORTAL}/data-fair/embed/dataset/roads/table"}, ["embed", "portal"]),
        ("referer_app", {"referer": f"{PORTAL}/data-fair/app/app-one"},
         {"referer": f"{PORTAL}/data-fair/app/app-two/"}, ["app-one", "app-two"]),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)  # fmt: skip
async def test_keeps_lines_differing_in_one_dimension_apart(
    client: httpx.AsyncClient,
    column: str,
    first: dict[str, Any],
    second: dict[str, Any],
    values: list[str],
) -> None:
    await post(client, named_line(**first), named_line(**second))
    rows = await usage_rows()
    assert sorted((row[column], row["requests"]) for row in rows) == [(v, 1) for v in values]
    others = {k for k in ROADS_ROW if k != column}
    assert len({tuple(row[k] for k in sorted(others)) for row in rows}) == 1


async def test_keeps_the_latest_title_and_the_first_and_last_days(
    client: httpx.AsyncClient,
) -> None:
    await post(client, named_line(time="2024-01-08T10:00:00+00:00", resource=ROADS))
    renamed = {**ROADS, "title": "Roads%20and%20streets"}  # Data Fair URI-encodes titles
    await post(
        client,
        named_line(time="2024-01-10T10:00:00+00:00", resource=renamed),
        named_line(time="2024-01-05T10:00:00+00:00", resource=renamed),
    )
    assert await resources() == [
        {
            "resource_type": "datasets",
            "resource_id": "roads",
            "title": "Roads and streets",
            "owner_type": "organization",
            "owner_id": "org1",
            "first_day": "2024-01-05",
            "last_day": "2024-01-10",
        }
    ]


async def test_keeps_the_latest_title_of_one_batch(client: httpx.AsyncClient) -> None:
    # Same key on both lines: the title of the later line still wins (docs/classification.md).
    renamed = {**ROADS, "title": "Roads%20v2"}
    await post(client, named_line(resource=ROADS), named_line(resource=renamed))
    assert [row["title"] for row in await resources()] == ["Roads v2"]


async def test_keeps_a_title_when_a_later_line_has_none(client: httpx.AsyncClient) -> None:
    await post(client, named_line(resource=ROADS))
    await post(client, named_line(resource={"type": "datasets", "id": "roads"}))
    assert [row["title"] for row in await resources()] == ["Roads"]


@pytest.mark.parametrize(("zone", "day"), [("Europe/Paris", "2024-01-09"), ("UTC", "2024-01-08")])
async def test_counts_a_request_on_its_day_in_the_configured_time_zone(
    settings: Settings, zone: str, day: str
) -> None:
    async with app_client(with_settings(settings, timezone=ZoneInfo(zone))) as client:
        await post(client, named_line(time="2024-01-08T23:30:00+00:00"))
        assert [(row["day"], row["requests"]) for row in await usage_rows()] == [(day, 1)]


async def test_counts_a_line_without_time_on_the_day_it_was_received(
    client: httpx.AsyncClient,
) -> None:
    before = datetime.now(UTC).date().isoformat()
    await post(client, data_fair_line())
    after = datetime.now(UTC).date().isoformat()
    assert [row["day"] for row in await usage_rows()] in ([before], [after])


async def test_counts_combined_lines_for_an_owner_learned_earlier(
    client: httpx.AsyncClient,
) -> None:
    await post(client, data_fair_line(resource=ROADS))
    lines = [
        combined_line("/data-fair/api/v1/datasets/roads/lines?size=10", bytes_sent=300),
        combined_line("/data-fair/api/v1/datasets/roads/full", bytes_sent=5000),
        combined_line("/data-fair/api/v1/datasets/never-seen/lines"),
        combined_line("/data-fair/api/v1/datasets/never-seen/full"),
    ]
    response = await client.post("/ingest", content="\n".join(lines).encode(), headers=TEXT)
    answer = response.json()
    assert (answer["accepted"], answer["ignored_by_reason"]["unknown_owner"]) == (2, 2)
    rows = [row for row in await usage_rows() if row["day"] == "2024-01-08"]
    columns = ("owner_id", "resource_id", "operation", "requests", "bytes")
    assert [tuple(row[c] for c in columns) for row in rows] == [
        ("org1", "roads", "api", 1, 300),
        ("org1", "roads", "download", 1, 5000),
    ]


async def test_counts_combined_lines_for_an_owner_learned_in_the_same_batch(
    client: httpx.AsyncClient,
) -> None:
    lines = [
        combined_line("/data-fair/api/v1/datasets/roads/lines", referer="https://b.example/x"),
        ndjson(data_fair_line(resource=ROADS)).decode(),
    ]
    response = await client.post("/ingest", content="\n".join(lines).encode(), headers=TEXT)
    assert (response.json()["accepted"], response.json()["ignored"]) == (2, 0)
    rows = [row for row in await usage_rows() if row["day"] == "2024-01-08"]
    assert rows == [
        {
            **ROADS_ROW,
            "referer_domain": "b.example",
            "referer_category": "external",
            "requests": 1,
            "bytes": 512,
            "duration_ms": 0,
        }
    ]


async def test_reads_a_dash_referer_of_a_combined_line_as_none(client: httpx.AsyncClient) -> None:
    # nginx logs "-" when the request had no Referer: that is "none", not an invalid URL.
    await post(client, data_fair_line(resource=ROADS))
    line = combined_line("/data-fair/api/v1/datasets/roads/lines", referer="-")
    await client.post("/ingest", content=line.encode(), headers=TEXT)
    rows = [row for row in await usage_rows() if row["day"] == "2024-01-08"]
    assert rows == [{**ROADS_ROW, "requests": 1, "bytes": 512, "duration_ms": 0}]
