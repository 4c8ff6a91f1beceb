"""Retention: old Idempotency-Keys forgotten, usage rows past KEEP_DAYS purged in whole months,
`usage-metrics purge [--dry-run]`, the server's own periodic purge, and the settings."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.config import Settings, load_settings
from app.errors import ConfigError
from app.storage.database import connection, database, is_postgres
from app.storage.models import DeliveryRow
from app.storage.retention import DELIVERIES_KEEP_DAYS, cutoffs, purge
from tests.helpers import (
    NDJSON,
    app_client,
    dataset,
    graphql_data,
    ingest,
    line_on,
    ndjson,
    sent_key,
    stored_key,
    stored_summaries,
    table_rows,
    usage_rows,
)
from tests.test_partitions import month_partitions, partitions

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_TABLES = ("usage_by_caller", "usage_by_dataset", "usage_by_owner")
DOWNLOAD = "readDataFiles"
FIGURES = """query($period: PeriodInput!) {
  all: usage(period: $period) {
    apiCalls { current previous } downloads { current previous }
    daily { day apiCalls downloads }
  }
  roads: usage(period: $period, datasets: ["roads"]) { apiCalls { current previous } }
  domains: usage(period: $period) {
    breakdown(by: DOMAIN, first: 20) { totalCount edges { node { key apiCalls { current } } } }
  }
  roadsFromA: usage(period: $period, datasets: ["roads"], domains: ["a.example"]) {
    apiCalls { current previous }
  }
}"""


async def figures(client: httpx.AsyncClient, start: str, end: str) -> Any:
    return await graphql_data(client, FIGURES, period={"start": start, "end": end})


async def tables() -> dict[str, list[tuple[str, tuple[Any, ...]]]]:
    """(day, row) of every usage_daily and summary row, sorted (usage_daily's rows as the purge
    names their table, usage_facts)."""
    found = {"usage_facts": sorted((row["day"], tuple(row.values())) for row in await usage_rows())}
    for table, rows in (await stored_summaries()).items():
        found[table] = sorted((row[2], row) for row in rows)  # (resource_type, span, day, ...)
    return found


# These tests' lines have no address: no consumer, no sketch.
NO_SKETCHES = {"usage_consumers": 0, "usage_consumers_by_owner": 0}


def from_day(snapshot: dict[str, list[Any]], first: str) -> dict[str, list[Any]]:
    return {table: [row for row in rows if row[0] >= first] for table, rows in snapshot.items()}


async def post_batch(client: httpx.AsyncClient, key: str, day: str = "2024-01-08") -> Any:
    headers = {**NDJSON, "Idempotency-Key": key}
    response = await client.post("/ingest", content=ndjson(line_on(day)), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def set_received_at(key: str, when: datetime) -> None:
    client = connection()
    if is_postgres(client):
        sql = "UPDATE ingest_batches SET received_at = $1 WHERE idempotency_key = $2"
        await client.execute_query(sql, [when, stored_key(key)])
    else:
        sql = "UPDATE ingest_batches SET received_at = ? WHERE idempotency_key = ?"
        await client.execute_query(sql, [when.isoformat(), stored_key(key)])


async def api_calls_stored() -> int:
    return sum(row["requests"] for row in await usage_rows())


async def test_purge_forgets_deliveries_past_the_days_a_round_may_send_again(
    settings: Settings,
) -> None:
    # Whatever USAGE_METRICS_KEEP_DAYS says: the deliveries ledger only has to outlive what a
    # round or `reports send --period last-month` may send again.
    async with app_client(settings):
        now = datetime.now(UTC)
        today = now.date()
        for n, age in enumerate((DELIVERIES_KEEP_DAYS + 1, DELIVERIES_KEEP_DAYS, 3)):
            await DeliveryRow.create(
                subscription_id=n, kind="alerts", day=today - timedelta(days=age),
                state="sent", updated_at=now,
            )  # fmt: skip
        dry = await purge(settings, now, dry_run=True)
        assert dry.rows["deliveries"] == 1
        assert await DeliveryRow.all().count() == 3
        assert (await purge(settings, now)).rows["deliveries"] == 1
        kept = sorted(row.subscription_id for row in await DeliveryRow.all())
        assert kept == [1, 2]


async def test_purge_forgets_keys_older_than_idempotency_days(settings: Settings) -> None:
    async with app_client(settings) as client:
        now = datetime.now(UTC)
        for key, age in (("old", timedelta(days=30, seconds=1)), ("recent", timedelta(days=29))):
            await post_batch(client, key)
            await set_received_at(key, now - age)
        await post_batch(client, "new")

        report = await purge(settings, now, chunk_rows=1)
        assert report.rows == {"ingest_batches": 1, "consumer_epochs": 0, "deliveries": 0}
        assert report.cutoffs.keys_before == now - timedelta(days=30)
        keys = sorted(
            sent_key(row["idempotency_key"]) for row in await table_rows("ingest_batches")
        )
        assert keys == ["new", "recent"]

        assert (await post_batch(client, "old"))["duplicate"] is False  # forgotten: counts again
        assert (await post_batch(client, "recent"))["duplicate"] is True
        assert await api_calls_stored() == 4
        assert (await purge(settings, now)).rows == {
            "ingest_batches": 0,
            "consumer_epochs": 0,
            "deliveries": 0,
        }


async def test_keep_days_purges_whole_months_and_the_figures_follow(settings: Settings) -> None:
    kept = replace(settings, keep_days=40)
    now = datetime(2024, 3, 20, 12, tzinfo=UTC)  # 40 days before: 2024-02-09, so from 2024-02-01
    async with app_client(kept) as client:
        assert await month_partitions() == []
        await ingest(
            client,
            *[line_on("2024-01-15", referer="https://a.example/") for _ in range(2)],
            line_on("2024-01-15", track=DOWNLOAD),
            line_on("2024-01-31", referer="https://b.example/"),
            line_on("2024-01-31", resource=dataset("bridges")),
            *[line_on("2024-02-01", referer="https://a.example/") for _ in range(3)],
            line_on("2024-02-15", referer="https://b.example/"),
            *[line_on("2024-02-15", track=DOWNLOAD) for _ in range(2)],
            *[line_on("2024-03-10", resource=dataset("bridges")) for _ in range(4)],
            line_on("2024-03-10", referer="https://a.example/"),
        )
        before = await tables()
        march = await figures(client, "2024-03-01", "2024-03-19")  # previous: Feb 11-29
        assert march["all"]["apiCalls"] == {"current": 5, "previous": 1}
        assert march["all"]["downloads"] == {"current": 0, "previous": 2}
        assert march["roadsFromA"]["apiCalls"] == {"current": 1, "previous": 0}
        assert (await figures(client, "2024-01-01", "2024-01-31"))["all"]["apiCalls"] == {
            "current": 4,
            "previous": 0,
        }

        expected = from_day(before, "2024-02-01")
        removed = {table: len(before[table]) - len(expected[table]) for table in before}
        assert removed["usage_facts"] == 4
        assert all(count > 0 for count in removed.values())

        dry = await purge(kept, now, dry_run=True)
        assert dry.cutoffs.days_before == date(2024, 2, 1)
        # Lines of 2024 count no consumer (their epochs are long closed): no sketch to purge.
        assert dry.rows == {
            "ingest_batches": 0,
            "consumer_epochs": 0,
            "deliveries": 0,
            **removed,
            **NO_SKETCHES,
        }
        assert await tables() == before

        report = await purge(kept, now, chunk_rows=2)  # several chunks per table
        assert report.rows == dry.rows
        assert await tables() == expected
        if is_postgres(connection()):
            # January went whole, its partitions dropped; the round placed the months around.
            months = {
                name.rsplit("_", 1)[1]
                for rows in (await partitions()).values()
                for name, _, _ in rows
            }
            assert months == {"202402", "202403", "202404", "default"}
        assert len(await table_rows("resources")) == 2  # resources stay
        assert (await purge(kept, now)).rows == dict.fromkeys(dry.rows, 0)

        assert await figures(client, "2024-03-01", "2024-03-19") == march
        january = await figures(client, "2024-01-01", "2024-01-31")
        assert january["all"]["apiCalls"] == {"current": 0, "previous": 0}
        assert january["all"]["downloads"] == {"current": 0, "previous": 0}
        assert {(d["apiCalls"], d["downloads"]) for d in january["all"]["daily"]} == {(0, 0)}
        assert january["roads"]["apiCalls"] == {"current": 0, "previous": 0}
        assert january["roadsFromA"]["apiCalls"] == {"current": 0, "previous": 0}
        assert january["domains"]["breakdown"]["totalCount"] == 0
        across = await figures(client, "2024-01-20", "2024-02-10")
        assert across["all"]["apiCalls"]["current"] == 3  # 2024-02-01 only
        assert across["roadsFromA"]["apiCalls"]["current"] == 3


@pytest.mark.parametrize(
    ("now", "zone", "keep_days", "first_kept"),
    [
        (datetime(2024, 3, 20, 12, tzinfo=UTC), "UTC", 40, date(2024, 2, 1)),
        (datetime(2024, 3, 20, 12, tzinfo=UTC), "UTC", 19, date(2024, 3, 1)),
        (datetime(2024, 3, 20, 12, tzinfo=UTC), "UTC", 20, date(2024, 2, 1)),
        (datetime(2024, 3, 1, 23, 30, tzinfo=UTC), "UTC", 1, date(2024, 2, 1)),
        (datetime(2024, 3, 1, 23, 30, tzinfo=UTC), "Europe/Paris", 1, date(2024, 3, 1)),
        (datetime(2024, 1, 10, tzinfo=UTC), "UTC", 365, date(2023, 1, 1)),
    ],
)
def test_the_cut_is_today_minus_keep_days_rounded_down_to_the_month(
    now: datetime, zone: str, keep_days: int, first_kept: date
) -> None:
    settings = Settings(timezone=ZoneInfo(zone), keep_days=keep_days, idempotency_days=7)
    cut = cutoffs(settings, now)
    assert cut.days_before == first_kept
    assert cut.keys_before == now - timedelta(days=7)
    assert cutoffs(replace(settings, keep_days=None), now).days_before is None


async def test_the_server_purges_old_keys_by_itself(settings: Settings) -> None:
    async with app_client(replace(settings, idempotency_days=1, purge_interval_s=0.05)) as client:
        await post_batch(client, "old")
        await set_received_at("old", datetime.now(UTC) - timedelta(days=2))
        await post_batch(client, "new")
        for _ in range(200):
            keys = [sent_key(row["idempotency_key"]) for row in await table_rows("ingest_batches")]
            if keys == ["new"]:
                break
            await asyncio.sleep(0.05)
        assert keys == ["new"]
        assert await api_calls_stored() == 2


def run_purge(database_url: str, *flags: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    env |= {"USAGE_METRICS_DATABASE_URL": database_url, "USAGE_METRICS_KEEP_DAYS": "100"}
    command = [sys.executable, "-m", "app.cli", "purge", *flags]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def printed_rows(output: str) -> dict[str, int]:
    return {table: int(n) for table, n in re.findall(r"^  (\w+): (\d+) rows", output, re.M)}


async def test_the_purge_command_says_what_it_removes(settings: Settings) -> None:
    today = datetime.now(UTC).date()
    old, recent = today - timedelta(days=400), today - timedelta(days=1)
    async with app_client(settings) as client:
        await ingest(client, line_on(old.isoformat()), line_on(recent.isoformat()))
        await post_batch(client, "old", recent.isoformat())
        await set_received_at("old", datetime.now(UTC) - timedelta(days=31))
        await post_batch(client, "new", recent.isoformat())
        before = await tables()
    # Both lines' days are far from the cut: what goes is what is older than 200 days.
    expected = from_day(before, (today - timedelta(days=200)).isoformat())
    removed = {table: len(before[table]) - len(expected[table]) for table in before}
    assert removed["usage_facts"] == 1
    first_kept = (today - timedelta(days=100)).replace(day=1)

    output = run_purge(settings.database_url, "--dry-run")
    assert output.startswith("would remove (dry run: nothing was removed):\n")
    assert printed_rows(output) == {
        "ingest_batches": 1,
        "consumer_epochs": 0,
        "deliveries": 0,
        **removed,
        **NO_SKETCHES,
    }
    assert f"(days before {first_kept.isoformat()})" in output
    async with database(settings.database_url):
        assert await tables() == before
        assert len(await table_rows("ingest_batches")) == 2

    output = run_purge(settings.database_url)
    assert output.startswith("removed:\n")
    assert printed_rows(output) == {
        "ingest_batches": 1,
        "consumer_epochs": 0,
        "deliveries": 0,
        **removed,
        **NO_SKETCHES,
    }
    async with database(settings.database_url):
        assert await tables() == expected
        assert [sent_key(r["idempotency_key"]) for r in await table_rows("ingest_batches")] == [
            "new"
        ]
    assert printed_rows(run_purge(settings.database_url)) == dict.fromkeys(printed_rows(output), 0)


def test_retention_settings_have_defaults() -> None:
    settings = load_settings({})
    assert (settings.idempotency_days, settings.keep_days, settings.max_domains_per_day) == (
        30,
        None,
        200,
    )
    settings = load_settings(
        {
            "USAGE_METRICS_IDEMPOTENCY_DAYS": "7",
            "USAGE_METRICS_KEEP_DAYS": "400",
            "USAGE_METRICS_MAX_DOMAINS_PER_DAY": "50",
        }
    )
    assert (settings.idempotency_days, settings.keep_days, settings.max_domains_per_day) == (
        7,
        400,
        50,
    )


@pytest.mark.parametrize(
    "name",
    [
        "USAGE_METRICS_IDEMPOTENCY_DAYS",
        "USAGE_METRICS_KEEP_DAYS",
        "USAGE_METRICS_MAX_DOMAINS_PER_DAY",
    ],
)
@pytest.mark.parametrize("value", ["0", "-3", "1.5", "ten", "٣"])
def test_retention_settings_refuse_what_is_not_a_whole_number_from_1(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}='{re.escape(value)}' is not a whole number"):
        load_settings({name: value})
