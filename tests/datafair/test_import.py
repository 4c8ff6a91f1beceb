"""import-data-fair: both mongoexport forms, Extended JSON, the legacy shapes, each skip with
its reason, and every document counted exactly once, whatever is imported again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.datafair.history import import_file
from app.errors import DatabaseUnavailableError
from tests.datafair.conftest import write_export
from tests.helpers import (
    failing_writes,
    stored_summaries,
    summaries_of_usage_daily,
    table_rows,
    usage_rows,
)

pytestmark = pytest.mark.anyio

ROADS = {"type": "datasets", "id": "roads", "title": "Roads"}
ORG = {"type": "organization", "id": "org1"}


def doc(**fields: Any) -> dict[str, Any]:
    """A current Data Fair document; `fields` replace or add to it."""
    return {
        "owner": ORG,
        "day": "2024-01-08",
        "resource": ROADS,
        "operationTrack": "readDataAPI",
        "statusClass": "ok",
        "userClass": "anonymous",
        "refererDomain": "news.example",
        "refererCategory": "other",
        "nbRequests": 3,
        "bytes": 3000,
        "duration": 0.75,
        **fields,
    }


def row(**fields: Any) -> dict[str, Any]:
    """The usage_daily row doc() becomes; `fields` replace its values."""
    return {
        "owner_type": "organization",
        "owner_id": "org1",
        "day": "2024-01-08",
        "resource_type": "datasets",
        "resource_id": "roads",
        "operation": "api",
        "status_class": "ok",
        "user_group": "ANONYMOUS",
        "referer_domain": "news.example",
        "referer_category": "other",
        "referer_app": "",
        "requests": 3,
        "bytes": 3000,
        "duration_ms": 750,
        **fields,
    }


async def test_reads_the_legacy_shapes_and_extended_json(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    documents = [
        # A department is folded into its organisation: both add up in one row.
        doc(owner={**ORG, "department": "dep-a"}),
        doc(owner={**ORG, "department": "dep-b"}, nbRequests={"$numberLong": "2"}, bytes=2000),
        # Before categories, no refererCategory: other; float bytes (the gzip ratio) rounded.
        {k: v for k, v in doc(day="2024-01-09", bytes=1234.75).items() if k != "refererCategory"},
        # The processing classes count as API keys; Extended JSON dates and numbers.
        doc(
            day={"$date": "2024-01-10T00:00:00Z"},
            userClass="ownerProcessing",
            processing={"_id": "p1", "title": "Nightly"},
            duration={"$numberDouble": "1.5"},
            _id={"$oid": "65a0f0f0f0f0f0f0f0f0f0f0"},
        ),
        doc(day="2024-01-10", userClass="externalProcessing", refererDomain="none"),
        doc(
            day="2024-01-11",
            operationTrack="openApplication",
            refererCategory="app",
            refererApp="map",
            resource={"type": "applications", "id": "map"},
        ),
    ]
    path = tmp_path / "legacy.json"
    path.write_text("\n".join(json.dumps(d) for d in documents))
    report = await import_file(path)
    assert report.answer() == {"imported": 6, "duplicate": 0, "skipped": {}}
    assert await usage_rows() == [
        row(requests=5, bytes=5000, duration_ms=1500),
        row(day="2024-01-09", bytes=1235),
        row(
            day="2024-01-10",
            user_group="EXTERNAL_API_KEY",
            referer_domain="none",
            referer_category="none",
        ),
        row(day="2024-01-10", user_group="OWNER_API_KEY", duration_ms=1500),
        row(
            day="2024-01-11",
            resource_type="applications",
            resource_id="map",
            operation="app",
            referer_category="app",
            referer_app="map",
        ),
    ]
    assert await stored_summaries() == await summaries_of_usage_daily()
    resources = sorted(
        (
            r["resource_type"],
            r["resource_id"],
            r["title"],
            r["owner_id"],
            str(r["first_day"]),
            str(r["last_day"]),
        )
        for r in await table_rows("resources")
    )
    assert resources == [
        ("applications", "map", None, "org1", "2024-01-11", "2024-01-11"),
        ("datasets", "roads", "Roads", "org1", "2024-01-08", "2024-01-10"),
    ]


async def test_keeps_each_owners_latest_name_from_its_documents(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    lyon = {"type": "organization", "id": "lyon"}
    documents = [
        # Documents come in no order: the latest day's name wins, on one day the later one's.
        doc(owner={**lyon, "name": "Grand Lyon"}, day="2024-01-10"),
        doc(owner={**lyon, "name": "Old Lyon"}, day="2024-01-08"),
        doc(owner={**lyon, "name": "Métropole\u0000 de Lyon"}, day="2024-01-10"),
        doc(owner=lyon, day="2024-01-12"),
        doc(owner={**ORG, "name": ["not", "a", "name"]}),
        doc(owner={"type": "user", "id": "alice", "name": "Alice " + "x" * 1000}),
    ]
    path = tmp_path / "names.json"
    path.write_text("\n".join(json.dumps(d) for d in documents))
    assert (await import_file(path, chunk_documents=3)).answer()["imported"] == 6
    owners = sorted(
        (r["owner_type"], r["owner_id"], r["name"], str(r["last_day"]))
        for r in await table_rows("owners")
    )
    # Chunks of 3: the second chunk's name of lyon (none) keeps the first one's.
    assert owners == [
        ("organization", "lyon", "Métropole de Lyon", "2024-01-10"),
        ("user", "alice", ("Alice " + "x" * 1000)[:1000], "2024-01-08"),
    ]


async def test_skips_each_unreadable_document_with_its_reason(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    lines = [
        json.dumps(doc()),
        "{not json",
        json.dumps([1, 2]),
        json.dumps(doc(owner={"type": "group", "id": "g"})),
        json.dumps(doc(day="2024-13-01")),
        json.dumps(doc(resource={"type": "datasets"})),
        json.dumps(doc(operationTrack="readDescription")),
        json.dumps(doc(statusClass="teapot")),
        json.dumps(doc(userClass="superadmin")),
        json.dumps(doc(refererCategory="portal")),
        json.dumps(doc(bytes=-1)),
        json.dumps(doc(nbRequests="3")),
        json.dumps(doc(bytes={"$numberLong": "many"})),
        "",
        json.dumps(doc(day="2024-01-09")),
    ]
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(lines) + "\n")
    report = await import_file(path)
    assert report.answer() == {
        "imported": 2,
        "duplicate": 0,
        "skipped": {
            "bad_counter": 2,
            "bad_day": 1,
            "bad_json": 1,
            "bad_owner": 1,
            "bad_resource": 1,
            "bad_value": 1,
            "not_a_document": 1,
            "unknown_category": 1,
            "unknown_status": 1,
            "unknown_track": 1,
            "unknown_user_class": 1,
        },
    }
    assert report.first_skips[:3] == [(2, "bad_json"), (3, "not_a_document"), (4, "bad_owner")]
    assert await usage_rows() == [row(), row(day="2024-01-09")]


@pytest.mark.parametrize("form", ["lines", "array", "pretty array"])
async def test_counts_a_file_once_however_often_it_is_imported(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]], form: str
) -> None:
    path = write_export(tmp_path / "export.json", documents, array=form != "lines")
    if form == "pretty array":
        path.write_text(json.dumps(json.loads(path.read_text()), indent=2, ensure_ascii=False))
    first = await import_file(path, chunk_documents=100)
    rows = await usage_rows()
    again = await import_file(path, chunk_documents=100)
    assert first.answer() == {"imported": 600, "duplicate": 0, "skipped": {}}
    assert again.answer() == {"imported": 0, "duplicate": 600, "skipped": {}}
    assert await usage_rows() == rows
    assert sum(r["requests"] for r in rows) == sum(d["nbRequests"] for d in documents)
    assert sum(r["bytes"] for r in rows) == sum(round(d["bytes"]) for d in documents)
    assert await stored_summaries() == await summaries_of_usage_daily()
    assert len(await table_rows("ingest_batches")) == 6


async def test_an_import_stopped_by_the_database_resumes_where_it_stopped(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]]
) -> None:
    # The 250th document is refused by the database: chunks 0 and 1 (of 100) are counted.
    boom = {**documents[249], "resource": {"type": "datasets", "id": "boom"}}
    path = write_export(tmp_path / "export.json", [*documents[:249], boom, *documents[250:]])
    async with failing_writes():
        with pytest.raises(DatabaseUnavailableError) as refused:
            await import_file(path, chunk_documents=100)
    assert refused.value.message == (
        f"the database did not take a chunk of 100 documents of {path}, after 200 were "
        "counted (nothing of that chunk was): run the import again, it goes on where it stopped"
    )
    assert sum(r["requests"] for r in await usage_rows()) == sum(
        d["nbRequests"] for d in documents[:200]
    )
    resumed = await import_file(path, chunk_documents=100)
    assert resumed.answer() == {"imported": 400, "duplicate": 200, "skipped": {}}
    total = sum(d["nbRequests"] for d in documents)
    assert sum(r["requests"] for r in await usage_rows()) == total
    assert await stored_summaries() == await summaries_of_usage_daily()


def test_the_command_reports_each_file_and_its_skips(
    tmp_path: Path, documents: list[dict[str, Any]]
) -> None:
    database = tmp_path / "metrics.sqlite3"
    good = write_export(tmp_path / "good.json", documents[:50])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc()) + "\n" + json.dumps(doc(statusClass="teapot")) + "\n")
    env = {**os.environ, "USAGE_METRICS_DATABASE_URL": f"sqlite://{database}"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", "import-data-fair", "--create", str(good), str(bad)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    first, again = run(), run()
    assert (first.returncode, again.returncode) == (1, 1)  # a document was skipped
    assert first.stdout.splitlines() == [
        f"{good}: 50 documents imported, 0 already imported before, 0 skipped",
        f"{bad}: 1 documents imported, 0 already imported before, 1 skipped",
        "  skipped 1: unknown_status (statusClass is not info, ok, redirect, clientError or "
        "serverError)",
        "  document 2: unknown_status",
    ]
    assert again.stdout.splitlines()[0] == (
        f"{good}: 0 documents imported, 50 already imported before, 0 skipped"
    )
    size = good.stat().st_size
    assert f"good.json [{'#' * 30}] 100% {size}/{size} bytes" in first.stderr
