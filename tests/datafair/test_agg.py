"""GET /api/daily-api-metrics/_agg and the raw list on an imported Data Fair history: every
figure as Data Fair's aggregation gives it on the same documents (tests/datafair/reference.py),
in the shape of Data Fair's answer schema (tests/datafair/data/), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.datafair.history import import_file
from tests.datafair.conftest import write_export
from tests.datafair.reference import agg, row_key
from tests.datafair.shape import schema, violations
from tests.helpers import ADMIN, dataset, ingest, line_on

pytestmark = pytest.mark.anyio

ORG1 = {"type": "organization", "id": "org1"}
ALICE = {"type": "user", "id": "alice"}
JANUARY = {"start": "2024-01-01", "end": "2024-01-31"}
QUERIES: list[dict[str, Any]] = [
    {**JANUARY},
    # These five read usage_by_status (days and operations, every status or one).
    {**JANUARY, "split": ["day"]},
    {**JANUARY, "resourceType": "datasets", "split": ["day"]},
    {**JANUARY, "statusClass": "clientError", "split": ["day"]},
    {**JANUARY, "operationTrack": "readDataFiles", "resourceType": "applications"},
    {**JANUARY, "split": ["resource"]},
    {**JANUARY, "split": ["userClass"]},
    {**JANUARY, "split": ["refererApp"]},
    {**JANUARY, "split": ["refererDomain"]},
    {**JANUARY, "split": ["refererCategory"]},
    {**JANUARY, "split": ["day", "resource"]},
    {**JANUARY, "split": ["day", "userClass", "refererCategory"]},
    {**JANUARY, "split": ["resource", "day"]},
    {"start": "2024-01-08", "end": "2024-01-14", "split": ["day", "refererDomain"]},
    {"start": "2023-12-25", "end": "2024-01-03", "statusClass": "ok"},
    {**JANUARY, "operationTrack": "readDataFiles", "split": ["resource"]},
    {**JANUARY, "statusClass": "clientError", "operationTrack": "readDataAPI"},
    {**JANUARY, "userClass": "anonymous", "split": ["day"]},
    {**JANUARY, "userClass": ["owner", "ownerAPIKey"], "split": ["userClass"]},
    {**JANUARY, "userClass": ["external", "externalAPIKey", "anonymous"], "split": ["resource"]},
    {**JANUARY, "resourceType": "datasets", "resourceId": "roads"},
    {**JANUARY, "resourceId": ["roads", "trees"], "split": ["resource", "refererDomain"]},
    {**JANUARY, "refererDomain": "none", "split": ["refererCategory"]},
    {**JANUARY, "refererDomain": ["café.example", "news.example"], "split": ["userClass"]},
    {**JANUARY, "refererCategory": "other", "split": ["refererDomain"]},
    {**JANUARY, "refererCategory": ["embed", "app"], "split": ["day", "refererApp"]},
    {"start": "2024-02-01", "end": "2024-02-29"},  # no documents: no days either
    {"start": "2024-02-01", "end": "2024-02-29", "split": ["resource"]},
]
AGG_RESULT = schema("agg-result.schema.json")
DOCUMENT = schema("daily-api-metric.schema.json")


@pytest.fixture
async def imported(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]]
) -> httpx.AsyncClient:
    report = await import_file(write_export(tmp_path / "metrics.ndjson", documents))
    assert (report.imported, report.duplicate, dict(report.skipped)) == (len(documents), 0, {})
    return client


def query_string(query: dict[str, Any]) -> list[tuple[str, str]]:
    """Data Fair's UI form: repeated parameters for lists, the split as one comma list."""
    params: list[tuple[str, str]] = []
    for name, value in query.items():
        if name == "split":
            params.append(("split", ",".join(value)))
        elif isinstance(value, list):
            params.extend((name, item) for item in value)
        else:
            params.append((name, value))
    return params


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """Series by key (Data Fair leaves the order of equal counts open), mean durations to the
    nanosecond (float sums in another order)."""
    series = {}
    for serie in answer["series"]:
        found = dict(serie)
        if "days" in serie:
            found["days"] = {
                day: {**figures, "meanDuration": round(figures["meanDuration"], 9)}
                for day, figures in serie["days"].items()
            }
        series[json.dumps(serie["key"], sort_keys=True)] = found
    return {**answer, "series": series}


async def ask(
    client: httpx.AsyncClient, query: dict[str, Any], owner: str | None = None
) -> dict[str, Any]:
    params = [*query_string(query), *((("owner", owner),) if owner else ())]
    response = await client.get("/api/daily-api-metrics/_agg", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_answers_as_data_fair_aggregates_the_same_documents(
    imported: httpx.AsyncClient, documents: list[dict[str, Any]]
) -> None:
    for query in QUERIES:
        for account in (ORG1, ALICE):
            answer = await ask(imported, query, f"{account['type']}:{account['id']}")
            expected = agg(documents, account, query)
            assert comparable(answer) == comparable(expected), (query, account)
            assert violations(answer, AGG_RESULT) == [], query
            counts = [serie["nbRequests"] for serie in answer["series"]]
            assert counts == sorted(counts, reverse=True), query


async def test_the_compared_figures_are_not_empty(
    imported: httpx.AsyncClient, documents: list[dict[str, Any]]
) -> None:
    # Guards the comparison above against passing on two empty answers.
    answer = await ask(imported, {**JANUARY, "split": ["userClass"]}, "organization:org1")
    expected = sum(d["nbRequests"] for d in documents if d["owner"]["id"] == "org1")
    assert answer["nbRequests"] == expected > 1000
    classes = {serie["key"]["userClass"] for serie in answer["series"]}
    assert classes == {"anonymous", "owner", "external", "ownerAPIKey", "externalAPIKey"}
    by_day = await ask(imported, {**JANUARY, "split": ["day", "resource"]}, "user:alice")
    assert len(by_day["days"]) == 31
    assert sum(len(serie["days"]) for serie in by_day["series"]) > 31


async def test_sorts_series_by_requests_then_by_key(client: httpx.AsyncClient) -> None:
    lines = [
        *(line_on("2024-01-08", resource=dataset("b-roads", "B")) for _ in range(2)),
        *(line_on("2024-01-09", resource=dataset("a-rivers", "A")) for _ in range(2)),
        *(line_on("2024-01-09", resource=dataset("c-trees")) for _ in range(3)),
    ]
    await ingest(client, *lines)
    answer = await ask(
        client,
        {"start": "2024-01-07", "end": "2024-01-09", "split": ["resource"]},
        "organization:org1",
    )
    assert answer == {
        "nbRequests": 7,
        "bytes": 7000,
        "series": [
            {
                "key": {"resource": {"type": "datasets", "id": "c-trees"}},
                "nbRequests": 3,
                "bytes": 3000,
            },
            {
                "key": {"resource": {"type": "datasets", "id": "a-rivers", "title": "A"}},
                "nbRequests": 2,
                "bytes": 2000,
            },
            {
                "key": {"resource": {"type": "datasets", "id": "b-roads", "title": "B"}},
                "nbRequests": 2,
                "bytes": 2000,
            },
        ],
    }


async def test_counts_robots_apart_as_bot(client: httpx.AsyncClient) -> None:
    robot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    await ingest(client, line_on("2024-01-08", user_agent=robot), line_on("2024-01-08"))
    week = {"start": "2024-01-08", "end": "2024-01-14"}
    answer = await ask(client, {**week, "split": ["userClass"]}, "organization:org1")
    assert [(s["key"], s["nbRequests"]) for s in answer["series"]] == [
        ({"userClass": "anonymous"}, 1),
        ({"userClass": "bot"}, 1),
    ]
    only_bots = await ask(client, {**week, "userClass": "bot"}, "organization:org1")
    assert (only_bots["nbRequests"], only_bots["days"][0]) == (1, "2024-01-08")
    assert only_bots["series"][0]["days"] == {
        "2024-01-08": {"nbRequests": 1, "bytes": 1000, "meanDuration": 0.01}
    }


async def test_lists_the_documents_of_the_account_by_day(
    imported: httpx.AsyncClient, documents: list[dict[str, Any]]
) -> None:
    response = await imported.get(
        "/api/daily-api-metrics", params={"owner": "user:alice"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    alice = [d for d in documents if d["owner"]["id"] == "alice"]
    # Documents that differ only by a legacy class and its API-key class make one row.
    rows = {json.dumps(row_key(d), sort_keys=True) for d in alice}
    assert answer["count"] == len(answer["results"]) == len(rows) > 100
    assert [violations(d, DOCUMENT) for d in answer["results"]] == [[]] * len(rows)
    days = [d["day"] for d in answer["results"]]
    assert days == sorted(days)
    assert sum(d["nbRequests"] for d in answer["results"]) == sum(d["nbRequests"] for d in alice)
    assert sum(d["bytes"] for d in answer["results"]) == sum(round(d["bytes"]) for d in alice)


async def test_answers_a_split_of_many_groups_as_data_fair(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # 1 200 calling domains on one day: past the rows shaped on the event loop (the import
    # keeps every domain, as Data Fair did).
    base = {
        "owner": ORG1,
        "day": "2024-01-08",
        "resource": {"type": "datasets", "id": "roads", "title": "Roads"},
        "operationTrack": "readDataAPI",
        "statusClass": "ok",
        "userClass": "anonymous",
        "refererCategory": "other",
        "duration": 0.5,
    }
    documents = [
        {**base, "refererDomain": f"site{i}.example", "nbRequests": 1 + i % 7, "bytes": 10 * i}
        for i in range(1200)
    ]
    await import_file(write_export(tmp_path / "domains.json", documents))
    query = {"start": "2024-01-08", "end": "2024-01-08", "split": ["day", "refererDomain"]}
    answer = await ask(client, query, "organization:org1")
    assert len(answer["series"]) == 1200
    assert comparable(answer) == comparable(agg(documents, ORG1, query))
