"""Summaries rebuilt from usage_daily (app/ingest/rebuilds.py): `import-data-fair` writes its
units' usage_daily rows alone and rebuilds the months it wrote at its end. Every block of those
months then holds what usage_daily adds up, the live folder's rows before and after the import
included, and a block's sum past 2^63 saturates as every sum does."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from tortoise.transactions import in_transaction

from app.config import Settings
from app.datafair.history import import_file
from app.errors import BadUserInputError
from app.ingest.rebuilds import defer, rebuild
from app.storage.database import connection, is_postgres
from app.storage.facts import add_facts
from app.storage.sql import BIGINT_MAX
from tests.datafair.conftest import write_export
from tests.datafair.reference import history
from tests.helpers import (
    dataset,
    failing_writes,
    ingest,
    line_on,
    stored_summaries,
    summaries_of_usage_daily,
    table_rows,
    usage_rows,
)
from tests.server_processes import clean_env

pytestmark = pytest.mark.anyio


async def test_an_import_rebuilds_its_months_with_the_live_rows_before_and_after(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # Live lines in the import's month (before and after it) and in the next month, which the
    # import does not touch: its rows must come through the rebuild as they were.
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("roads", "Roads")),
        line_on("2024-01-20", resource=dataset("lakes"), status=404),
        line_on("2024-02-03", resource=dataset("roads", "Roads"), referer="https://a.example/"),
    )
    february = await stored_summaries()
    documents = history(300)  # January 2024: datasets, applications, embeds; every status
    report = await import_file(write_export(tmp_path / "history.json", documents))
    assert report.answer()["imported"] == 300
    assert await table_rows("summary_rebuilds") == []
    assert await stored_summaries() == await summaries_of_usage_daily()
    # The import's documents are in the summaries: every ok request of them is an API call, a
    # download or an application open of some block.
    ok_requests = sum(r["requests"] for r in await usage_rows() if r["status_class"] == "ok")
    month_rows = await connection().execute_query_dict(
        "SELECT SUM(api_calls + downloads + app_opens) AS n FROM usage_by_owner "
        "WHERE span = 0 AND owner_type = '' AND owner_id = ''"
    )
    assert int(month_rows[0]["n"]) == ok_requests
    await ingest(client, line_on("2024-01-09", resource=dataset("rivers")))
    after = await stored_summaries()
    assert after == await summaries_of_usage_daily()
    # February's rows, which no rebuild touched, are the same rows as before the import.
    assert {
        table: [row for row in rows if "2024-02" in str(row)] for table, rows in after.items()
    } == {table: [row for row in rows if "2024-02" in str(row)] for table, rows in february.items()}


async def test_a_rebuilt_block_saturates_past_the_ceiling(client: httpx.AsyncClient) -> None:
    # Three days of one dataset at 2^62 bytes each: any block holding two of them passes 2^63.
    days = [date(2024, 1, 29), date(2024, 1, 30), date(2024, 1, 31)]
    db = connection()
    postgres = is_postgres(db)
    async with in_transaction() as tx:  # as an import unit writes them: no summary
        await add_facts(
            tx,
            [
                (
                    *("organization", "org1", day, "datasets", "roads", "download", "ok"),
                    *("anonymous", "none", "none", "", 2, 2**62, 10),
                )
                for day in days
            ],
        )
    async with in_transaction() as tx:
        await defer(tx, [("datasets", date(2024, 1, 1))])
    assert await rebuild() == [("datasets", date(2024, 1, 1))]
    assert await rebuild() == []  # forgotten once rebuilt
    rows = await table_rows("usage_by_dataset")
    assert rows, "the rebuild wrote no row"
    for row in rows:
        first = _as_date(row["day"])
        last = date(2024, 1, 31) if row["span"] == 0 else first + timedelta(days=row["span"] - 1)
        held = [day for day in days if first <= day <= last]
        assert (row["downloads"], row["downloaded_bytes"]) == (
            2 * len(held),
            min(2**62 * len(held), BIGINT_MAX),
        ), row
    month = [row for row in rows if row["span"] == 0]
    assert [row["downloaded_bytes"] for row in month] == [BIGINT_MAX]
    for table in ("usage_by_owner", "usage_by_caller"):
        found = await db.execute_query_dict(
            f"SELECT downloaded_bytes FROM {table} WHERE span = 0"  # noqa: S608
        )
        assert [r["downloaded_bytes"] for r in found] == [BIGINT_MAX, BIGINT_MAX]  # and every owner
    if not postgres:  # never a REAL
        kinds = await db.execute_query_dict(
            "SELECT DISTINCT typeof(downloaded_bytes) AS kind FROM usage_by_dataset"
        )
        assert [r["kind"] for r in kinds] == ["integer"]


def _fold_command(database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "fold"],
        env=clean_env(USAGE_METRICS_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def test_fold_rebuilds_the_months_a_stopped_import_left(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    documents = history(300)
    # The database refuses the 201st document: the import stops after its first two units.
    boom = {**documents[200], "resource": {"type": "datasets", "id": "boom"}}
    path = write_export(tmp_path / "history.json", [*documents[:200], boom, *documents[201:]])
    async with failing_writes():
        with pytest.raises(BadUserInputError):
            await import_file(path, unit_documents=100)
    assert await table_rows("summary_rebuilds") != []
    assert await stored_summaries() != await summaries_of_usage_daily()
    folded = await anyio.to_thread.run_sync(_fold_command, settings.database_url)
    assert (folded.returncode, folded.stdout) == (
        0,
        "folded 0 batches (0 merged daily rows)\n"
        "rebuilt the summaries of 1 month a stopped import left\n",
    ), folded.stderr
    assert await table_rows("summary_rebuilds") == []
    assert await stored_summaries() == await summaries_of_usage_daily()
