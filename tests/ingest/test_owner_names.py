"""Owners' names from X-Owner into the owners table: cleaned as titles are, the latest batch's
name winning, written with the batch's key and counters or not at all (docs/storage.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.helpers import (
    NDJSON,
    TEXT,
    combined_line,
    data_fair_line,
    failing_writes,
    named_line,
    ndjson,
    table_rows,
)

pytestmark = pytest.mark.anyio

LYON = {"type": "organization", "id": "metropole-lyon"}
NAMED_LYON = {**LYON, "name": "Métropole de Lyon"}
ROADS = {"type": "datasets", "id": "roads", "title": "Roads"}


async def owners() -> list[tuple[str, str, str, str]]:
    rows = await table_rows("owners")
    return sorted(
        (row["owner_type"], row["owner_id"], row["name"], str(row["last_day"])) for row in rows
    )


async def post(client: httpx.AsyncClient, *lines: Any, **headers: str) -> dict[str, Any]:
    response = await client.post("/ingest", content=ndjson(*lines), headers={**NDJSON, **headers})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def on(day: str, owner: dict[str, str], **fields: Any) -> dict[str, Any]:
    return named_line(time=f"{day}T10:00:00+00:00", owner=owner, **fields)


def with_owner_header(line: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    # A header as logged, whatever its values' types (named_line takes strings only).
    return {**line, "owner": json.dumps(header)}


async def test_stores_the_name_a_data_fair_line_gives_its_owner(
    client: httpx.AsyncClient,
) -> None:
    before = datetime.now(UTC).date().isoformat()
    answer = await post(client, data_fair_line(owner=NAMED_LYON))
    after = datetime.now(UTC).date().isoformat()
    assert answer["accepted"] == 1
    # A line without a syslog header counts on the day it is received.
    assert await owners() in (
        [("organization", "metropole-lyon", "Métropole de Lyon", day)] for day in (before, after)
    )


async def test_a_later_batch_renames_the_owner_and_a_line_without_a_name_keeps_it(
    client: httpx.AsyncClient,
) -> None:
    await post(client, on("2024-01-08", NAMED_LYON))
    await post(client, on("2024-01-10", {**LYON, "name": "Grand Lyon"}))
    await post(client, on("2024-01-12", LYON))
    assert await owners() == [("organization", "metropole-lyon", "Grand Lyon", "2024-01-10")]


async def test_the_latest_line_of_a_batch_names_the_owner(client: httpx.AsyncClient) -> None:
    # As for titles: the batch's later line wins, whatever its day; the last day named widens.
    await post(
        client,
        on("2024-01-09", NAMED_LYON),
        on("2024-01-08", {**LYON, "name": "Grand Lyon"}, resource=ROADS),
        on("2024-01-07", LYON),
    )
    assert await owners() == [("organization", "metropole-lyon", "Grand Lyon", "2024-01-09")]


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("M%C3%A9tropole%20de%20Lyon", "Métropole de Lyon"),  # URI-encoded, as titles are
        ("Lyon\x00 M\x00étropole", "Lyon Métropole"),
        ("x" * 1500, "x" * 1000),
        ("", None),
        ("  ", None),
        ("%00", None),
        (42, None),
        (None, None),
    ],
    ids=["uri-encoded", "nul", "too-long", "empty", "blank", "only-nul", "number", "null"],
)
async def test_cleans_a_name_as_a_title_and_never_refuses_the_line_for_it(
    client: httpx.AsyncClient, name: Any, stored: str | None
) -> None:
    line = with_owner_header(on("2024-01-08", LYON), {**LYON, "name": name})
    assert (await post(client, line))["accepted"] == 1
    expected = [] if stored is None else [("organization", "metropole-lyon", stored, "2024-01-08")]
    assert await owners() == expected


async def test_lines_whose_owner_is_looked_up_teach_no_name(client: httpx.AsyncClient) -> None:
    await post(client, on("2024-01-08", NAMED_LYON, resource=ROADS))
    # A named line without operation goes through the route rules: its X-Owner is not read.
    ruled = with_owner_header(on("2024-01-10", LYON, track=None), {**LYON, "name": "Not this one"})
    ruled["operation"] = ""
    combined = combined_line(
        "/data-fair/api/v1/datasets/roads/lines", time_local="11/Jan/2024:10:00:00 +0000"
    )
    assert (await post(client, ruled))["accepted"] == 1
    answer = await client.post("/ingest", content=combined.encode(), headers=TEXT)
    assert answer.json()["accepted"] == 1
    assert await owners() == [("organization", "metropole-lyon", "Métropole de Lyon", "2024-01-08")]


async def test_a_rejected_line_names_no_one(client: httpx.AsyncClient) -> None:
    too_long = {"type": "organization", "id": "o" * 201, "name": "Too long"}
    answer = await post(
        client, data_fair_line(owner=too_long), data_fair_line(owner=NAMED_LYON, status=1)
    )
    assert [(r["line"], r["code"]) for r in answer["rejected"]] == [
        (1, "too_long"),
        (2, "bad_status"),
    ]
    assert await owners() == []


async def test_a_replayed_or_refused_batch_stores_no_second_name(
    client: httpx.AsyncClient,
) -> None:
    first = on("2024-01-08", NAMED_LYON)
    await post(client, first, **{"Idempotency-Key": "names-1"})
    again = await post(client, first, **{"Idempotency-Key": "names-1"})
    assert (again["accepted"], again["duplicate"]) == (1, True)
    renamed = ndjson(on("2024-01-09", {**LYON, "name": "Grand Lyon"}))
    reused = await client.post(
        "/ingest", content=renamed, headers={**NDJSON, "Idempotency-Key": "names-1"}
    )
    assert (reused.status_code, reused.json()["error"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert await owners() == [("organization", "metropole-lyon", "Métropole de Lyon", "2024-01-08")]


async def test_a_batch_the_database_refuses_stores_no_name(client: httpx.AsyncClient) -> None:
    await post(client, on("2024-01-08", NAMED_LYON))
    renamed = {**LYON, "name": "Grand Lyon"}
    boom = {"type": "datasets", "id": "boom", "title": "Boom"}
    lines = ndjson(on("2024-01-09", renamed), on("2024-01-09", renamed, resource=boom))
    headers = {**NDJSON, "Idempotency-Key": "names-boom"}
    async with failing_writes():
        failed = await client.post("/ingest", content=lines, headers=headers)
        assert (failed.status_code, failed.json()["error"]) == (503, "DATABASE_UNAVAILABLE")
        assert await owners() == [
            ("organization", "metropole-lyon", "Métropole de Lyon", "2024-01-08")
        ]
    retried = await client.post("/ingest", content=lines, headers=headers)
    assert (retried.status_code, retried.json()["accepted"]) == (200, 2)
    assert await owners() == [("organization", "metropole-lyon", "Grand Lyon", "2024-01-09")]
