"""No ledger row stops the folder: sums saturate at the columns' ceiling, a row that cannot be
folded is set aside in the quarantine with its reason, the others are counted, and
`usage-metrics fold --retry-quarantined` counts a fixed row exactly once (docs/ingest.md).

Each attack as it was made, on SQLite and PostgreSQL: a ledger row whose counters are near 2^63
followed by ordinary batches of the same key; ledger rows that are not JSON or of an unknown
version between ordinary batches; a row the database refuses (a real trigger).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections import Counter
from datetime import date
from typing import Any

import anyio
import httpx
import pytest

from app.config import Settings
from app.core.records import UsageKey
from app.ingest import ledger, quarantine
from app.ingest.domain_cap import DomainCap
from app.ingest.fold import Folded, fold_pass, fold_waiting
from app.storage.database import connection, is_postgres
from app.storage.models.summaries import FIGURE_COLUMNS
from app.storage.models.usage import COUNTER_COLUMNS, KEY_COLUMNS
from app.storage.sql import BIGINT_MAX
from tests.helpers import (
    NDJSON,
    dataset,
    failing_writes,
    graphql_data,
    line_on,
    ndjson,
    stored_summaries,
    summaries_of_usage_daily,
    table_rows,
    usage_rows,
)
from tests.ingest.ledger_rows import COUNTERS, insert_ledger_row, rows_at_ceiling
from tests.server_processes import ROOT, clean_env

pytestmark = pytest.mark.anyio

DAY = "2024-01-08"
FRESHNESS = "{ freshness { waitingBatches quarantinedBatches quarantinedLines } }"


async def post(client: httpx.AsyncClient, *lines: Any) -> None:
    response = await client.post("/ingest", content=ndjson(*lines), headers=NDJSON)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(lines)


async def key_of(resource_id: str) -> UsageKey:
    """The usage_daily key a stored row of this dataset has."""
    row = next(r for r in await usage_rows() if r["resource_id"] == resource_id)
    return UsageKey(**{**{c: row[c] for c in KEY_COLUMNS}, "day": date.fromisoformat(row["day"])})


async def counters_of(resource_id: str) -> list[tuple[int, int, int]]:
    return [
        (r["requests"], r["bytes"], r["duration_ms"])
        for r in await usage_rows()
        if r["resource_id"] == resource_id
    ]


async def clamped_summaries_of_usage_daily() -> dict[str, list[tuple[Any, ...]]]:
    """What the summaries hold when their sums saturate: usage_daily's added up, each figure
    brought down to the ceiling."""
    found = {}
    for table, rows in (await summaries_of_usage_daily()).items():
        # usage_by_status keeps usage_daily's three counters; the others, four figures.
        n = len(COUNTER_COLUMNS) if table == "usage_by_status" else len(FIGURE_COLUMNS)
        found[table] = [(*row[:-n], *(min(v, BIGINT_MAX) for v in row[-n:])) for row in rows]
    return found


async def sqlite_types() -> set[str]:
    """SQLite's storage class of every counter of every table (PostgreSQL: {'integer'})."""
    db = connection()
    if is_postgres(db):
        return {"integer"}
    found: set[str] = set()
    for table, columns in COUNTERS.items():
        for column in columns:
            rows = await db.execute_query_dict(
                f"SELECT DISTINCT typeof({column}) AS kind FROM {table}"  # noqa: S608
            )
            found |= {row["kind"] for row in rows}
    return found


async def test_sums_past_the_ceiling_saturate_and_every_other_count_is_kept(
    ledger_client: httpx.AsyncClient,
) -> None:
    await post(ledger_client, line_on(DAY))  # roads: 1 request, 1 000 bytes, 10 ms
    await fold_waiting(DomainCap(200))
    key = await key_of("roads")
    # As import-data-fair once stored it: each value under the per-document bound, the sums near
    # 2^63. Folded alone it fits: requests reach the ceiling exactly.
    poison = {key: [BIGINT_MAX - 1, BIGINT_MAX - 2000, BIGINT_MAX - 20]}
    await insert_ledger_row(ledger.encode(poison), 1)
    assert (await fold_pass(DomainCap(200))).saturated == Counter()
    assert await counters_of("roads") == [(BIGINT_MAX, BIGINT_MAX - 1000, BIGINT_MAX - 10)]

    # Ordinary batches of the same key, and of another dataset: the database adds past the
    # ceiling, which saturates there; the other dataset counts exactly.
    for _ in range(2):
        await post(ledger_client, line_on(DAY), line_on(DAY, resource=dataset("rivers")))
    folded = await fold_waiting(DomainCap(200))
    assert (folded.batches, folded.set_aside) == (2, ())
    assert await counters_of("roads") == [(BIGINT_MAX, BIGINT_MAX, BIGINT_MAX)]
    assert await counters_of("rivers") == [(2, 2000, 20)]
    assert folded.saturated == {t: n for t, n in (await rows_at_ceiling()).items() if n}
    assert folded.saturated["usage_daily"] == 1
    assert await stored_summaries() == await clamped_summaries_of_usage_daily()

    # Two batches past the ceiling in one pass: their sum saturates before it is sent.
    await insert_ledger_row(ledger.encode({key: [BIGINT_MAX, BIGINT_MAX, BIGINT_MAX]}), 1)
    await post(ledger_client, line_on(DAY), line_on(DAY, resource=dataset("rivers")))
    folded = await fold_waiting(DomainCap(200))
    assert (folded.batches, folded.set_aside) == (2, ())
    assert await counters_of("roads") == [(BIGINT_MAX, BIGINT_MAX, BIGINT_MAX)]
    assert await counters_of("rivers") == [(3, 3000, 30)]
    assert await stored_summaries() == await clamped_summaries_of_usage_daily()
    assert await sqlite_types() == {"integer"}  # never a REAL
    assert await table_rows("ingest_ledger") == []
    assert await table_rows("ingest_quarantine") == []


async def test_unreadable_ledger_rows_are_set_aside_and_the_batches_around_them_counted(
    ledger_client: httpx.AsyncClient, held_back: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await post(ledger_client, line_on(DAY))
    await fold_waiting(DomainCap(200))
    key = await key_of("roads")
    good = ledger.encode({key: [5, 5000, 50]})
    await post(ledger_client, line_on(DAY), line_on(DAY))
    not_json = await insert_ledger_row('{"v": 1, "rows": [["organization", "org1"', 3)
    await post(ledger_client, line_on(DAY))
    # A batch of a later release (version 2) meets this one: the same counters, another shape.
    unknown_version = await insert_ledger_row(good.replace('"v":1', '"v":2'), 5)
    negative = await insert_ledger_row(ledger.encode({key: [-7, 0, 0]}), 7)
    await post(ledger_client, line_on(DAY, resource=dataset("rivers")))

    with caplog.at_level(logging.INFO, logger="app.ingest"):
        folded = await fold_waiting(DomainCap(200))
    assert (folded.batches, folded.set_aside) == (3, ("bad_ledger_row",) * 3)
    assert await requests_by_dataset() == {"rivers": 1, "roads": 4}
    quarantined = {row["id"]: row for row in await table_rows("ingest_quarantine")}
    assert sorted(quarantined) == [not_json, unknown_version, negative]
    assert {row["reason"] for row in quarantined.values()} == {"bad_ledger_row"}
    assert quarantined[unknown_version]["counters"] == good.replace('"v":1', '"v":2')
    assert await table_rows("ingest_ledger") == []
    # Once per row, with its reason; never the counters' content.
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [getattr(r, "reason", None) for r in errors] == ["bad_ledger_row"] * 3
    assert not any("org1" in r.getMessage() or "roads" in r.getMessage() for r in caplog.records)
    assert (await graphql_data(ledger_client, FRESHNESS))["freshness"] == {
        "waitingBatches": 0,
        "quarantinedBatches": 3,
        "quarantinedLines": 3 + 5 + 7,
    }
    ready = await ledger_client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "quarantined_batches": 3})

    # The fix: the version-2 row rewritten in this release's encoding. The retry counts it once
    # and sets the other two aside again.
    fix = f"UPDATE ingest_quarantine SET counters = {mark(1)} WHERE id = {mark(2)}"  # noqa: S608
    await execute(fix, good, unknown_version)
    first = await fold_command(held_back, "--retry-quarantined")
    assert first == (
        1,
        "put back 3 batches from the quarantine\n"
        "folded 1 batches (1 merged daily rows)\n"
        "set aside 2 batches in the quarantine (2 bad_ledger_row)\n",
    )
    assert await requests_by_dataset() == {"rivers": 1, "roads": 9}
    again = await fold_command(held_back, "--retry-quarantined")
    assert again[0] == 1
    assert await requests_by_dataset() == {"rivers": 1, "roads": 9}  # never twice
    assert sorted(r["id"] for r in await table_rows("ingest_quarantine")) == [not_json, negative]


async def test_a_row_the_database_refuses_is_set_aside_until_the_database_takes_it(
    ledger_client: httpx.AsyncClient,
) -> None:
    await post(ledger_client, line_on(DAY))
    await post(ledger_client, line_on(DAY, resource=dataset("boom")), line_on(DAY))
    await post(ledger_client, line_on(DAY, resource=dataset("rivers")))
    async with failing_writes():
        folded = await fold_waiting(DomainCap(200))
    assert (folded.batches, folded.set_aside) == (2, ("refused_by_database",))
    assert await requests_by_dataset() == {"rivers": 1, "roads": 1}
    assert [row["lines"] for row in await table_rows("ingest_quarantine")] == [2]

    assert await quarantine.put_back() == 1  # the trigger is gone: the database takes it
    assert await fold_waiting(DomainCap(200)) == Folded(batches=1, keys=2)
    assert await requests_by_dataset() == {"boom": 1, "rivers": 1, "roads": 2}
    assert await table_rows("ingest_quarantine") == []
    assert await stored_summaries() == await summaries_of_usage_daily()


async def requests_by_dataset() -> dict[str, int]:
    found: dict[str, int] = {}
    for row in await usage_rows():
        found[row["resource_id"]] = found.get(row["resource_id"], 0) + row["requests"]
    return dict(sorted(found.items()))


def mark(n: int) -> str:
    return f"${n}" if is_postgres(connection()) else "?"


async def execute(sql: str, *values: Any) -> None:
    await connection().execute_query(sql, list(values))


async def fold_command(settings: Settings, *arguments: str) -> tuple[int, str]:
    command = [sys.executable, "-m", "app.cli", "fold", *arguments]
    env = clean_env(USAGE_METRICS_DATABASE_URL=settings.database_url)
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    )
    return done.returncode, done.stdout
