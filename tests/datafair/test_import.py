"""import-data-fair: both mongoexport forms, Extended JSON, the legacy shapes, each skip with
its reason, and every document counted exactly once, recognised by its `_id` whatever the
export's form, file name or split, in whatever order they are imported, two imports at once
included; a document the database refuses named in one line."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.datafair.history import import_file
from app.errors import BadUserInputError
from app.storage.database import connection, is_postgres, placeholders
from tests.datafair.conftest import object_id, write_export
from tests.helpers import (
    failing_writes,
    stored_summaries,
    summaries_of_usage_daily,
    table_rows,
    usage_rows,
)
from tests.server_processes import clean_env

pytestmark = pytest.mark.anyio

ROADS = {"type": "datasets", "id": "roads", "title": "Roads"}
ORG = {"type": "organization", "id": "org1"}
BOUND = 2**48  # the largest figure of a document


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


def lines(path: Path, *documents: Any) -> Path:
    path.write_text("\n".join(d if isinstance(d, str) else json.dumps(d) for d in documents))
    return path


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
    report = await import_file(lines(tmp_path / "legacy.json", *documents))
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
        doc(owner={**lyon, "name": "Métropole\u0000 de\u202e Lyon"}, day="2024-01-10"),
        doc(owner=lyon, day="2024-01-12"),
        doc(owner={**ORG, "name": ["not", "a", "name"]}),
        doc(owner={"type": "user", "id": "alice", "name": "Alice " + "x" * 1000}),
    ]
    # Documents 1 and 4 open chunks: two units of 3 documents.
    ids = [object_id(0), object_id(1), object_id(2), object_id(40), object_id(41), object_id(42)]
    path = lines(
        tmp_path / "names.json", *({**d, "_id": i} for d, i in zip(documents, ids, strict=True))
    )
    assert (await import_file(path, unit_documents=3)).answer()["imported"] == 6
    owners = sorted(
        (r["owner_type"], r["owner_id"], r["name"], str(r["last_day"]))
        for r in await table_rows("owners")
    )
    # The second unit's document of lyon (no name) keeps the first one's name; NUL and bidi
    # controls dropped.
    assert owners == [
        ("organization", "lyon", "Métropole de Lyon", "2024-01-10"),
        ("user", "alice", ("Alice " + "x" * 1000)[:1000], "2024-01-08"),
    ]


async def test_skips_each_unreadable_document_with_its_reason(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = lines(
        tmp_path / "mixed.ndjson",
        doc(),
        "{not json",
        json.dumps(doc())[:-1] + ', "x": ' + "[" * 1000 + "]" * 1000 + "}",
        json.dumps(doc(title="x" * (1 << 20))),
        json.dumps([1, 2]),
        doc(owner={"type": "group", "id": "g"}),
        doc(day={"$date": "0001-01-01T00:00:00+01:00"}),
        doc(day={"$date": 10**20}),
        doc(resource={"type": "datasets"}),
        doc(operationTrack="readDescription"),
        doc(statusClass="teapot"),
        doc(userClass="superadmin"),
        doc(refererCategory="portal"),
        doc(refererApp=42),
        doc(bytes=-1),
        doc(duration=2**50),  # seconds: past 2^48 ms
        doc(bytes={"$numberLong": "many"}),
        "",
        doc(day="2024-01-09"),
        # At the bound, three of them still add up within a 64-bit column, exactly.
        *(
            {
                **doc(day="2024-01-10", bytes=BOUND, nbRequests=BOUND, duration=BOUND // 1000),
                "_id": i,
            }
            for i in ("b1", "b2", "b3")
        ),
        # The same document again (the same content: the same id) counts once.
        doc(),
    )
    report = await import_file(path)
    assert report.answer() == {
        "imported": 5,
        "duplicate": 1,
        "skipped": {
            "bad_counter": 2,
            "bad_day": 2,
            "bad_json": 1,
            "bad_owner": 1,
            "bad_referer_app": 1,
            "bad_resource": 1,
            "bad_value": 1,
            "not_a_document": 1,
            "too_deep": 1,
            "too_long": 1,
            "unknown_category": 1,
            "unknown_status": 1,
            "unknown_track": 1,
            "unknown_user_class": 1,
        },
    }
    assert report.first_skips[:4] == [
        (2, "bad_json"),
        (3, "too_deep"),
        (4, "too_long"),
        (5, "not_a_document"),
    ]
    assert await usage_rows() == [
        row(),
        row(day="2024-01-09"),
        row(
            day="2024-01-10",
            requests=3 * BOUND,
            bytes=3 * BOUND,
            duration_ms=3 * (BOUND // 1000 * 1000),
        ),
    ]


def pieces(whole: Path, cuts: list[int]) -> list[Path]:
    """The export cut into files at these document positions, as `split -l` cuts it."""
    documents = whole.read_text().splitlines(keepends=True)
    bounds = [0, *cuts, len(documents)]
    found = []
    for number, (start, end) in enumerate(itertools.pairwise(bounds)):
        piece = whole.with_name(f"piece-{number}.json")
        piece.write_text("".join(documents[start:end]))
        found.append(piece)
    return found


# Cuts inside chunks (boundaries every 40 documents), one piece past the last boundary.
CUTS = [137, 350, 561]


@pytest.mark.parametrize("pieces_first", [False, True], ids=["whole first", "pieces first"])
async def test_counts_a_history_once_whatever_its_form_file_name_or_split(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]], pieces_first: bool
) -> None:
    whole = write_export(tmp_path / "metrics.json", documents)
    split = pieces(whole, CUTS)
    forms = [
        write_export(tmp_path / "metrics-array.json", documents, array=True),
        write_export(tmp_path / "pretty.json", documents, array=True, pretty=True),
        whole,
    ]
    first = split if pieces_first else [whole]
    counted = [(await import_file(path)).answer() for path in first]
    rows = await usage_rows()
    again = [(await import_file(path)).answer() for path in [*split, *forms]]

    assert [a["imported"] for a in counted] == ([137, 213, 211, 39] if pieces_first else [600])
    assert again == [
        {"imported": 0, "duplicate": n, "skipped": {}} for n in (137, 213, 211, 39, 600, 600, 600)
    ]
    assert await usage_rows() == rows
    assert sum(r["requests"] for r in rows) == sum(d["nbRequests"] for d in documents)
    assert sum(r["bytes"] for r in rows) == sum(round(d["bytes"]) for d in documents)
    assert await stored_summaries() == await summaries_of_usage_daily()
    keys = [r["idempotency_key"] for r in await table_rows("ingest_batches")]
    # What is kept: each whole chunk under its two ends, each document outside whole chunks.
    whole_chunks = 14
    assert sum(k.startswith(("data-fair:o:", "data-fair:c:")) for k in keys) == 2 * whole_chunks
    outside = (17 + 23 + 30 + 10 + 1 + 39) if pieces_first else 40
    assert sum(k.startswith("data-fair:d:") for k in keys) == outside
    assert len(keys) == 2 * whole_chunks + outside


async def test_an_export_of_another_order_counts_nothing_again(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]]
) -> None:
    whole = write_export(tmp_path / "metrics.json", documents)
    assert (await import_file(whole)).answer()["imported"] == 600
    rows = await usage_rows()
    reordered = tmp_path / "sorted.json"
    reordered.write_text("".join(reversed(whole.read_text().splitlines(keepends=True))))
    report = await import_file(reordered)
    # Its chunks hold other documents than those recorded under their boundaries: not counted
    # again, and said; its two ends are known one by one (the start) or as a piece (the end).
    assert report.answer() == {"imported": 0, "duplicate": 40, "skipped": {"other_export": 560}}
    assert report.first_skips[0] == (40, "other_export")
    assert await usage_rows() == rows


async def test_two_imports_at_once_count_each_document_once(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]], database_url: str
) -> None:
    whole = write_export(tmp_path / "metrics.json", documents)
    array = write_export(tmp_path / "metrics-array.json", documents, array=True)
    env = clean_env(USAGE_METRICS_DATABASE_URL=database_url)
    commands = [
        [sys.executable, "-m", "app.cli", "import-data-fair", *map(str, files)]
        for files in ([whole], pieces(whole, CUTS), [array])
    ]
    running = [
        await asyncio.create_subprocess_exec(
            *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for command in commands
    ]
    outputs = await asyncio.wait_for(
        asyncio.gather(*(process.communicate() for process in running)), 300
    )
    assert [process.returncode for process in running] == [0, 0, 0], outputs
    said = [out.decode() for out, _ in outputs]
    imported = sum(int(part.split(": ")[1].split()[0]) for out in said for part in out.splitlines())
    assert imported == 600
    assert sum(r["requests"] for r in await usage_rows()) == sum(d["nbRequests"] for d in documents)
    assert await stored_summaries() == await summaries_of_usage_daily()


async def test_a_file_imported_by_the_release_before_counts_nothing_again(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]]
) -> None:
    whole = write_export(tmp_path / "metrics.json", documents[:100])
    # That release keyed a file's chunks by its content: `data-fair:<sha256>:5000:<n>`.
    old_key = f"data-fair:{hashlib.sha256(whole.read_bytes()).hexdigest()}:5000:0"
    db = connection()
    now = datetime.now(UTC)
    columns = "idempotency_key, body_sha256, answer, received_at"
    await db.execute_query(
        f"INSERT INTO ingest_batches ({columns}) VALUES ({placeholders(db, 4)})",  # noqa: S608
        [old_key, "x" * 64, '{"imported": 100}', now if is_postgres(db) else now.isoformat()],
    )
    assert (await import_file(whole)).answer() == {"imported": 0, "duplicate": 100, "skipped": {}}
    # Its documents are known by their ids from now on, in any form.
    array = write_export(tmp_path / "metrics-array.json", documents[:100], array=True)
    assert (await import_file(array)).answer() == {"imported": 0, "duplicate": 100, "skipped": {}}
    assert await usage_rows() == []


async def test_a_document_the_database_refuses_is_named_and_the_import_resumes(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]]
) -> None:
    # The 250th document is refused by the database: units of whole chunks of 100 documents at
    # least, 120 each here (chunks of 40); the two before it are counted.
    boom = {**documents[249], "resource": {"type": "datasets", "id": "boom"}}
    path = write_export(tmp_path / "export.json", [*documents[:249], boom, *documents[250:]])
    async with failing_writes():
        with pytest.raises(BadUserInputError) as refused:
            await import_file(path, unit_documents=100)
    assert refused.value.message == (
        f"{path}: the database refuses document 250 (_id {object_id(249)}): boom; nothing of "
        "documents 241-360 was counted, the 240 counted before them were. Remove that document "
        "(or fix what the database says) and run the import again: nothing is counted twice"
    )
    assert sum(r["requests"] for r in await usage_rows()) == sum(
        d["nbRequests"] for d in documents[:240]
    )
    # The stopped import's months wait for their rebuild: the summaries lack its documents.
    noted = await table_rows("summary_rebuilds")
    assert {(r["resource_type"], str(r["month"])) for r in noted} == {
        (r["resource_type"], r["day"][:8] + "01") for r in await usage_rows()
    }
    assert await stored_summaries() != await summaries_of_usage_daily()
    resumed = await import_file(path, unit_documents=100)
    assert resumed.answer() == {"imported": 360, "duplicate": 240, "skipped": {}}
    total = sum(d["nbRequests"] for d in documents)
    assert sum(r["requests"] for r in await usage_rows()) == total
    assert await stored_summaries() == await summaries_of_usage_daily()
    assert await table_rows("summary_rebuilds") == []


def run_command(database_url: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "import-data-fair", "--create", *map(str, files)],
        env=clean_env(USAGE_METRICS_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_the_command_says_which_document_the_database_refuses_in_one_line(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]], database_url: str
) -> None:
    good = write_export(tmp_path / "good.json", documents[:50])
    boom = {**documents[60], "resource": {"type": "datasets", "id": "boom"}}
    bad = lines(tmp_path / "bad.json", doc(), doc(day="2024-01-09", _id="x1"), {**boom, "_id": "b"})
    async with failing_writes():
        done = run_command(database_url, good, bad)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"{good}: 50 documents imported, 0 already imported before, 0 skipped"
    ]
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"usage-metrics: {bad}: the database refuses document 3 (_id b): boom; nothing of "
        "documents 1-3 was counted, the 0 counted before them were. Remove that document (or "
        "fix what the database says) and run the import again: nothing is counted twice"
    )


def test_the_command_reports_each_file_and_its_skips(
    tmp_path: Path, documents: list[dict[str, Any]]
) -> None:
    database = f"sqlite://{tmp_path / 'metrics.sqlite3'}"
    good = write_export(tmp_path / "good.json", documents[:50])
    bad = lines(tmp_path / "bad.json", doc(), doc(statusClass="teapot"))
    first, again = run_command(database, good, bad), run_command(database, good, bad)
    assert (first.returncode, again.returncode) == (1, 1)  # a document was skipped
    assert first.stdout.splitlines() == [
        f"{good}: 50 documents imported, 0 already imported before, 0 skipped",
        f"{bad}: 1 documents imported, 0 already imported before, 1 skipped",
        "  skipped 1: unknown_status (statusClass is not info, ok, redirect, clientError or "
        "serverError)",
        "  document 2: unknown_status",
    ]
    assert again.stdout.splitlines()[:2] == [
        f"{good}: 0 documents imported, 50 already imported before, 0 skipped",
        f"{bad}: 0 documents imported, 1 already imported before, 1 skipped",
    ]
    # One rebuild at the command's end gave both files' months their summaries.
    with contextlib.closing(sqlite3.connect(tmp_path / "metrics.sqlite3")) as db:
        assert db.execute("SELECT count(*) FROM summary_rebuilds").fetchone() == (0,)
        ok = db.execute("SELECT SUM(requests) FROM usage_daily WHERE status_class = 'ok'")
        every_owner = db.execute(
            "SELECT SUM(api_calls + downloads + app_opens) FROM usage_by_owner "
            "WHERE span = 0 AND owner_type = ''"
        )
        assert every_owner.fetchone() == ok.fetchone() != (None,)
    size = good.stat().st_size
    assert f"good.json [{'#' * 30}] 100% {size}/{size} bytes" in first.stderr
