"""The stand-in categories: an IP address in a referer is counted under `ip` and stored nowhere
(ingest, migration 0008, every table scanned), and Data Fair's imported `other` is a listed
category; both through GraphQL and the French dashboard (docs/classification.md)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.core.hosts import is_ip_literal
from app.datafair.history import import_file
from app.storage.database import connection, is_postgres, migrate_database
from tests.dashboard.pages import element, open_dashboard, words
from tests.helpers import (
    ADMIN_TOKEN,
    CALLER_DIMENSIONS,
    DAILY_DIMENSIONS,
    FEWER_BLOCKS,
    KEPT_ANSWERS,
    KEPT_SUMS,
    MONTHLY_PARTITIONS,
    NDJSON,
    OWNER_INDEX,
    PERIOD_WEEK,
    STATUS_SUMMARY,
    SUMMARY_REBUILDS,
    TABLES,
    TEXT,
    combined_line,
    data_fair_line,
    graphql_data,
    line_on,
    named_line,
    ndjson,
    stored_summaries,
    summaries_of_usage_daily,
    table_rows,
    undo_caller_dimensions,
    usage_rows,
)

pytestmark = pytest.mark.anyio

DAY = "2024-01-08"
EMBED = "https://portal.example/data-fair/embed/dataset/roads/table"
# Every spelling of an address a referer may carry, and what must never be found stored.
ADDRESS_REFERERS = (
    "http://198.51.100.23/",
    "http://[2001:db8::1]:8080/page",
    "http://0xc6336417/",  # 198.51.100.23 as a browser reads it
    "http://3325256727/",  # the same
    f"{EMBED}?referer=203.0.113.9",
    f"{EMBED}?referer=http://[2001:db8::2]/x",
)
ADDRESS_TEXTS = (
    "198.51.100",
    "203.0.113",
    "2001:db8",
    "c6336417",
    "3325256727",
)
IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
BREAKDOWNS = """query($period: PeriodInput!) { usage(period: $period) {
  domains: breakdown(by: DOMAIN) { edges { node { key apiCalls { current } } } }
  categories: breakdown(by: CATEGORY) { edges { node { key category apiCalls { current } } } }
} }"""
MIGRATION = "0008_ip_referers"
LATER_MIGRATIONS = (
    "0009_subscriptions",
    "0010_consumer_sketches",
    "0011_consumer_rollups",
    CALLER_DIMENSIONS,
    OWNER_INDEX[0],
    SUMMARY_REBUILDS[0],
    STATUS_SUMMARY[0],
    KEPT_ANSWERS[0],
    KEPT_SUMS[0],
    FEWER_BLOCKS[0],
    MONTHLY_PARTITIONS[0],
    DAILY_DIMENSIONS[0],
)
# Created by LATER_MIGRATIONS.
LATER_TABLES = (
    "subscriptions",
    "deliveries",
    "leases",
    "usage_consumers",
    "consumer_epochs",
    "usage_consumers_by_owner",
)


async def stored_texts() -> list[str]:
    """Every text value of every table."""
    return [
        value
        for table in TABLES
        for row in await table_rows(table)
        for value in row.values()
        if isinstance(value, str)
    ]


async def addresses_stored() -> list[str]:
    found = []
    for text in await stored_texts():
        if is_ip_literal(text) or IPV4.search(text) or any(a in text for a in ADDRESS_TEXTS):
            found.append(text)
    return found


async def breakdowns(client: httpx.AsyncClient) -> dict[str, Any]:
    usage = (await graphql_data(client, BREAKDOWNS, period=PERIOD_WEEK))["usage"]
    return {
        name: [edge["node"] for edge in usage[name]["edges"]] for name in ("domains", "categories")
    }


async def french_breakdowns(client: httpx.AsyncClient) -> tuple[str, str]:
    await open_dashboard(client, ADMIN_TOKEN)
    params = {"start": PERIOD_WEEK["start"], "end": PERIOD_WEEK["end"], "lang": "fr"}
    page = (await client.get("/dashboard", params=params)).text
    domains = element(page, 'data-breakdown="referer_domain"', "</figure>")
    categories = element(page, 'data-breakdown="referer_category"', "</figure>")
    return words(domains), words(categories)


async def test_address_referers_are_counted_as_ip_and_stored_nowhere(
    client: httpx.AsyncClient,
) -> None:
    lines = [
        *(json.dumps(data_fair_line(referer=referer)) for referer in ADDRESS_REFERERS),
        json.dumps({**named_line(), "origin": "http://[2001:db8::3]:3000"}),
        combined_line("/data-fair/api/v1/datasets/roads/lines", referer="http://198.51.100.24/"),
    ]
    answer = await client.post("/ingest", content="\n".join(lines).encode(), headers=TEXT)

    assert (answer.json()["accepted"], answer.json()["rejected_count"]) == (8, 0), answer.text
    assert await addresses_stored() == []
    figures = await breakdowns(client)
    # The Data Fair lines carry no time: they count on the day the batch is received, outside
    # the week; the named line and the combined one (its owner taught by the others) are the
    # week's.
    assert figures == {
        "domains": [{"key": "ip", "apiCalls": {"current": 2}}],
        "categories": [{"key": "IP", "category": "IP", "apiCalls": {"current": 2}}],
    }
    keys = sorted((row["referer_domain"], row["referer_category"]) for row in await usage_rows())
    assert keys == [("ip", "embed"), ("ip", "ip"), ("ip", "ip")]
    daily = {(r["day"], r["referer_category"]): r["requests"] for r in await usage_rows()}
    assert sum(daily.values()) == 8
    assert daily[(DAY, "ip")] == 2
    domains, categories = await french_breakdowns(client)
    assert "(adresse IP)" in domains
    assert "Sites appelés par adresse IP" in categories


def ledger_text(*rows: tuple[str, str, int]) -> str:
    """A ledger row (version 1) of API calls on roads, one per (domain, category, requests)."""
    key = ["organization", "org1", DAY, "datasets", "roads", "api", "ok", "ANONYMOUS"]
    counters = [[*key, domain, category, "", n, n * 1000, n * 10] for domain, category, n in rows]
    return orjson.dumps({"v": 1, "rows": counters}).decode()


async def test_migration_0008_folds_stored_addresses_into_ip(client: httpx.AsyncClient) -> None:
    portal_page = "https://portal.example/datasets/roads"
    await ingest_lines(
        client,
        *[line_on(DAY, referer="http://a.example/") for _ in range(2)],
        *[line_on(DAY, referer="http://b.example:8080/") for _ in range(3)],
        line_on(DAY, referer="http://198.51.100.7/"),  # counted as ip already
        line_on(DAY, referer=portal_page),
        line_on(DAY, referer="http://c.example/"),
        line_on(DAY, referer="http://kept.example/"),
    )
    # What an older release stored for the same lines: the addresses themselves, and a host
    # named `ip` (now our own value), in the tables it had.
    await undo_caller_dimensions()
    for table in ("usage_daily", "usage_by_caller"):
        await rename_domain(table, "a.example", "198.51.100.23")
        await rename_domain(table, "b.example", "2001:db8::1")
        await rename_domain(table, "portal.example", "198.51.100.9")
        await rename_domain(table, "c.example", "ip")
    await add_ledger_row(ledger_text(("203.0.113.5", "external", 4), ("ip", "ip", 1)))
    await add_ledger_row(ledger_text(("ip", "external", 2), ("kept.example", "external", 1)))
    mark = "$1" if is_postgres(connection()) else "?"
    # The migrations after it go too (tortoise plans nothing under an applied later one), with
    # the tables they made.
    for name in (MIGRATION, *LATER_MIGRATIONS):
        await connection().execute_query(
            f"DELETE FROM tortoise_migrations WHERE name = {mark}",  # noqa: S608
            [name],
        )
    for table in LATER_TABLES:
        await connection().execute_script(f"DROP TABLE {table}")

    assert await migrate_database() == [MIGRATION, *LATER_MIGRATIONS]

    by_key = {
        (r["referer_domain"], r["referer_category"]): r["requests"] for r in await usage_rows()
    }
    assert by_key == {
        ("ip", "ip"): 6,  # two addresses and the line counted as ip, merged into one row
        ("ip", "portal"): 1,  # the portal reached by its address keeps its category
        ("invalid", "invalid"): 1,  # the host named `ip`
        ("kept.example", "external"): 1,
    }
    assert await stored_summaries() == await summaries_of_usage_daily()
    ledger = [orjson.loads(row["counters"]) for row in await table_rows("ingest_ledger")]
    assert sorted(row[8:] for counters in ledger for row in counters["rows"]) == [
        ["invalid", "invalid", "", 2, 2000, 20],
        ["ip", "ip", "", 5, 5000, 50],
        ["kept.example", "external", "", 1, 1000, 10],
    ]
    assert await addresses_stored() == []
    assert await migrate_database() == []


async def ingest_lines(client: httpx.AsyncClient, *lines: Any) -> None:
    answer = await client.post("/ingest", content=ndjson(*lines), headers=NDJSON)
    assert answer.json()["accepted"] == len(lines), answer.text


async def rename_domain(table: str, old: str, new: str) -> None:
    db = connection()
    marks = ("$1", "$2") if is_postgres(db) else ("?", "?")
    await db.execute_query(
        f"UPDATE {table} SET referer_domain = {marks[0]} WHERE referer_domain = {marks[1]}",  # noqa: S608
        [new, old],
    )


async def add_ledger_row(counters: str) -> None:
    db = connection()
    marks = ", ".join(("$1", "$2", "$3") if is_postgres(db) else ("?", "?", "?"))
    received = datetime(2024, 1, 8, 12, tzinfo=UTC)
    await db.execute_query(
        f"INSERT INTO ingest_ledger (received_at, lines, counters) VALUES ({marks})",  # noqa: S608
        [received if is_postgres(db) else received.isoformat(), 5, counters],
    )


async def test_data_fairs_other_category_is_listed_and_named(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    document = {
        "owner": {"type": "organization", "id": "org1"},
        "day": DAY,
        "resource": {"type": "datasets", "id": "roads", "title": "Roads"},
        "operationTrack": "readDataAPI",
        "statusClass": "ok",
        "userClass": "anonymous",
        "refererDomain": "news.example",
        "refererCategory": "other",
        "nbRequests": 3,
        "bytes": 3000,
        "duration": 0.75,
    }
    path = tmp_path / "history.json"
    path.write_text(json.dumps(document))
    assert (await import_file(path)).answer()["imported"] == 1

    figures = await breakdowns(client)

    assert figures["categories"] == [
        {"key": "OTHER", "category": "OTHER", "apiCalls": {"current": 3}}
    ]
    assert figures["domains"] == [{"key": "news.example", "apiCalls": {"current": 3}}]
    _, categories = await french_breakdowns(client)
    assert "Autres pages (historique Data Fair)" in categories
    assert "other" not in categories.split()
