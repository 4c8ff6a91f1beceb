"""GET /metrics after known requests: exact counts of lines, batches, errors and timings."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.core.records import Rejected
from app.storage.database import connection
from tests.helpers import NDJSON, TEXT, failing_writes, graphql, named_line
from tests.ingest.test_formats_rejections import ENTRY_REJECTIONS, LINE_REJECTIONS
from tests.observability.scrape import scrape, value

pytestmark = pytest.mark.anyio

LINES = "usage_metrics_lines_total"
BATCHES = "usage_metrics_batches_total"
DATABASE_ERRORS = "usage_metrics_database_errors_total"
REQUESTS = "usage_metrics_http_requests_total"


def batch_body() -> bytes:
    """3 counted lines, 2 not tracked, 1 that is not JSON, 1 with a status in words."""
    lines: list[Any] = [
        named_line(),
        named_line(status=404),
        named_line(resource={"type": "datasets", "id": "bridges"}, track="readDataFiles"),
        named_line(track=None),
        named_line(track=None, resource={"type": "datasets", "id": "bridges"}),
    ]
    encoded = [json.dumps(line).encode() for line in lines]
    encoded.insert(3, b'{"time": "2024-01-08T10:00:00+00:00", "status": 2')
    encoded.append(json.dumps({**named_line(), "status": "OK"}).encode())
    return b"\n".join(encoded)


async def test_counts_lines_by_outcome_and_a_replay_as_duplicate(
    client: httpx.AsyncClient,
) -> None:
    headers = {**NDJSON, "Idempotency-Key": "metrics-1"}
    first = await client.post("/ingest", content=batch_body(), headers=headers)
    again = await client.post("/ingest", content=batch_body(), headers=headers)
    assert (first.json()["accepted"], first.json()["ignored"]) == (3, 2)
    assert [r["line"] for r in first.json()["rejected"]] == [4, 7]
    assert again.json()["duplicate"] is True

    samples = await scrape(client)
    assert value(samples, LINES, outcome="accepted", reason="") == 3
    assert value(samples, LINES, outcome="ignored", reason="not_tracked") == 2
    assert value(samples, LINES, outcome="ignored", reason="unknown_owner") == 0
    assert value(samples, LINES, outcome="rejected", reason="bad_json") == 1
    assert value(samples, LINES, outcome="rejected", reason="bad_status") == 1
    rejected = {
        reason: value(samples, LINES, outcome="rejected", reason=reason) for reason in Rejected
    }
    assert sum(v or 0 for v in rejected.values()) == 2
    assert value(samples, BATCHES, result="counted") == 1
    assert value(samples, BATCHES, result="duplicate") == 1
    assert value(samples, BATCHES, result="database_unavailable") == 0
    assert value(samples, "usage_metrics_ingest_seconds_count") == 2
    assert value(samples, "usage_metrics_ingest_seconds_bucket", le="+Inf") == 2
    assert 0 < (value(samples, "usage_metrics_ingest_seconds_sum") or 0) < 10
    assert value(samples, DATABASE_ERRORS) == 0
    assert value(samples, REQUESTS, route="/ingest", status="200") == 2


async def test_counts_refused_batches_by_error_code(client: httpx.AsyncClient) -> None:
    await client.post("/ingest", content=b"x", headers={"Content-Type": "text/plain"})
    await client.post("/ingest", content=b"x", headers={**TEXT, "Authorization": "Bearer nope"})
    await client.post("/ingest", content=b"x", headers={**TEXT, "Content-Type": "text/csv"})
    await client.post("/ingest", content=b"x", headers={**TEXT, "Idempotency-Key": ""})

    samples = await scrape(client)
    assert value(samples, BATCHES, result="unauthenticated") == 2
    assert value(samples, BATCHES, result="unsupported_media_type") == 1
    assert value(samples, BATCHES, result="bad_request") == 1
    assert value(samples, BATCHES, result="counted") == 0
    assert value(samples, "usage_metrics_ingest_seconds_count") == 0
    assert value(samples, REQUESTS, route="/ingest", status="401") == 2
    assert value(samples, REQUESTS, route="/ingest", status="415") == 1
    assert value(samples, REQUESTS, route="/ingest", status="400") == 1


async def test_counts_a_batch_the_database_refused(client: httpx.AsyncClient) -> None:
    body = json.dumps(named_line(resource={"type": "datasets", "id": "boom"})).encode()
    async with failing_writes():
        failed = await client.post("/ingest", content=body, headers=NDJSON)
    assert (failed.status_code, failed.json()["error"]) == (503, "DATABASE_UNAVAILABLE")

    samples = await scrape(client)
    assert value(samples, BATCHES, result="database_unavailable") == 1
    assert value(samples, DATABASE_ERRORS) == 1
    assert value(samples, LINES, outcome="accepted", reason="") == 0  # nothing was counted
    assert value(samples, "usage_metrics_ingest_seconds_count") == 0
    assert value(samples, REQUESTS, route="/ingest", status="503") == 1


ANALYTICS = "{ analytics { provider } }"


async def test_times_each_graphql_request_by_operation_type(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        answer = await graphql(client, ANALYTICS)
        assert answer["data"]["analytics"]["provider"] == "NONE"
    assert "errors" in await graphql(client, "{ analytics { provider ")  # does not parse
    page = await client.get("/graphql", headers={"Accept": "text/html"})  # GraphiQL: no operation
    assert page.status_code == 200

    samples = await scrape(client)
    count = "usage_metrics_graphql_seconds_count"
    assert value(samples, count, operation_type="query") == 3
    assert value(samples, count, operation_type="invalid") == 1
    assert value(samples, count, operation_type="mutation") == 0
    assert (
        value(samples, "usage_metrics_graphql_seconds_bucket", operation_type="query", le="+Inf")
        == 3
    )
    assert value(samples, DATABASE_ERRORS) == 0
    assert value(samples, REQUESTS, route="/graphql", status="200") == 5


async def test_counts_a_graphql_request_the_database_failed(client: httpx.AsyncClient) -> None:
    db = connection()
    # A missing table: the query reaches the database, which refuses it.
    await db.execute_script("ALTER TABLE settings RENAME TO settings_away")
    try:
        answer = await graphql(client, ANALYTICS)
    finally:
        await db.execute_script("ALTER TABLE settings_away RENAME TO settings")
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["DATABASE_UNAVAILABLE"]

    samples = await scrape(client)
    assert value(samples, DATABASE_ERRORS) == 1
    assert value(samples, "usage_metrics_graphql_seconds_count", operation_type="query") == 1


async def test_labels_requests_with_route_templates_never_paths(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/dashboard/datasets/roads-2024")
    await client.get("/no/such/page/alice@example.org")
    await client.delete("/healthz")
    await client.get("/healthz")

    samples = await scrape(client)
    routes = {dict(labels)["route"] for (name, labels), _ in samples.items() if name == REQUESTS}
    assert routes == {"/dashboard/datasets/{id:path}", "unmatched", "/healthz"}
    assert value(samples, REQUESTS, route="/dashboard/datasets/{id:path}", status="303") == 1
    assert value(samples, REQUESTS, route="unmatched", status="404") == 1
    assert value(samples, REQUESTS, route="/healthz", status="405") == 1
    assert value(samples, REQUESTS, route="/healthz", status="200") == 1


# The formats' table of rejections: every code is reached by some line, so none is dead.
TABLE_CODES = {p.values[1] for p in (*ENTRY_REJECTIONS, *LINE_REJECTIONS)}


def test_the_rejection_table_reaches_every_code() -> None:
    assert set(Rejected) == TABLE_CODES


async def test_exposes_every_rejection_code_as_a_label(client: httpx.AsyncClient) -> None:
    samples = await scrape(client)
    labels = {
        dict(labels)["reason"]
        for (name, labels), _ in samples.items()
        if name == LINES and dict(labels)["outcome"] == "rejected"
    }
    assert labels == {code.value for code in Rejected}
