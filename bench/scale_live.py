"""Periods that end today, on the scale benchmark's database while today's keys come in.

    python -m bench.scale_live [the arguments of bench.scale]

Uses the database that `python -m bench.scale --keep` filled with the same arguments (it fills
one if there is none). The days from the generated year's end to yesterday (UTC) are written
first, through the fold's writer (app/ingest/counting.add_counters), as the generator makes
any day, and dated a day back (on a live portal they were written long ago); then today's keys
a part at a time: before each request one part more, so that every read finds its live days
just written, as on a live portal. Timed, as the admin and the largest owner: the dashboard
over the last 7 days, 30 days and 12 months that end today, and over the 12 months the GraphQL
top 100 datasets and breakdowns. Each is asked once ("first": it keeps the sums of the closed
days, the kept answers deleted before the run), then --requests times (p50, p95, the answer's
size). Answers are checked for their status only: tests/test_kept_sums.py proves them exact.
At the end every day after the generated year is deleted again, so that bench.scale's figures
stay the generator's.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from tortoise.transactions import in_transaction

from app.core.records import Owner, UsageKey
from app.ingest.counting import add_counters
from app.storage.database import database
from bench import server
from bench.portal import Portal, build_portal, generate
from bench.query import sign_in
from bench.scale import (
    BREAKDOWNS,
    RANKING,
    arguments,
    forget_from,
    forget_kept_answers,
    kept_database,
    stored_rows,
)
from bench.scale import main as fill
from bench.tables import count, table

PARTS = 50  # today's keys are written in this many parts, one before each request


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    if args.sqlite:
        print("bench.scale_live: PostgreSQL only (SQLite keeps no sums)", file=sys.stderr)
        return 2
    args.keep = True
    portal = build_portal(args.seed, args.rows, args.datasets, args.owners, args.domains, args.days)
    today = datetime.now(UTC).date()
    after = portal.days[-1] + timedelta(days=1)
    with kept_database(args) as url:
        if asyncio.run(stored_rows(url)) == 0:
            fill([*(argv or sys.argv[1:]), "--keep"])
        asyncio.run(_delete_from(url, after))  # a run that stopped left its days
        try:
            _write(url, _days(portal, args.seed, after, today - timedelta(days=1)))
            # On a live portal the days before yesterday were written long ago: they are
            # closed, not live (kept_answers.QUIET_S).
            asyncio.run(_written_long_ago(url, today - timedelta(days=1)))
            parts = _parts(portal, args.seed, today)
            asyncio.run(forget_kept_answers(url))
            with server.running_server(url) as base_url:
                rows = [
                    _measure(base_url, url, request, parts, args.requests)
                    for request in _requests(portal, today)
                ]
        finally:
            asyncio.run(_delete_from(url, after))
            asyncio.run(forget_kept_answers(url))
    print("## Periods that end today\n")
    header = ["query, ending today", "as", "first ms", "p50 ms", "p95 ms", "bytes"]
    print(table(header, rows, right=frozenset({2, 3, 4, 5})) + "\n")
    print(
        f"_Seed {args.seed}; {count(args.rows)} usage_daily rows a year ending {portal.days[-1]}, "
        f"its next days to {today} written as the generator makes them, today's in {PARTS} parts._"
    )
    return 0


def _days(
    portal: Portal, seed: int, first: date, last: date
) -> Iterator[dict[UsageKey, list[int]]]:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    later = Portal(portal.datasets, portal.owners, portal.sizes, days, portal.rows_per_day,
                   portal.domain_count)  # fmt: skip
    for _, counters in generate(later, seed + 11):
        yield counters


def _parts(portal: Portal, seed: int, today: date) -> Iterator[dict[UsageKey, list[int]]]:
    (counters,) = _days(portal, seed, today, today)
    keys = list(counters.items())
    size = -(-len(keys) // PARTS)
    while True:  # once every part is written, the same again: requests go on adding up
        for start in range(0, len(keys), size):
            yield dict(keys[start : start + size])


def _write(url: str, days: Iterator[dict[UsageKey, list[int]]]) -> None:
    async def write() -> None:
        async with database(url):
            for counters in days:
                async with in_transaction() as tx:
                    await add_counters(tx, counters, None)

    asyncio.run(write())


def _requests(portal: Portal, today: date) -> list[tuple[str, str, str, dict[str, Any] | None]]:
    found: list[tuple[str, str, str, dict[str, Any] | None]] = []
    year = {"start": (today - timedelta(days=364)).isoformat(), "end": today.isoformat()}
    for who, owner in (("admin", None), ("largest", portal.largest)):
        variables = {"period": year, "owner": _owner(owner)}
        found.append(("GraphQL: top 100 datasets, 12 months", who, "/graphql",
                      {"query": RANKING, "variables": variables}))  # fmt: skip
        found.append(("GraphQL: breakdowns, 12 months", who, "/graphql",
                      {"query": BREAKDOWNS, "variables": variables}))  # fmt: skip
        for days in (7, 30, 365):
            start = today - timedelta(days=days - 1)
            query = f"start={start}&end={today}"
            if owner is not None:
                query += f"&owner={owner.type}:{owner.id}"
            found.append((f"dashboard, {days} days", who, f"/dashboard?{query}", None))
    return found


def _owner(owner: Owner | None) -> dict[str, str] | None:
    return {"type": owner.type.upper(), "id": owner.id} if owner else None


def _measure(
    base_url: str,
    url: str,
    request: tuple[str, str, str, dict[str, Any] | None],
    parts: Iterator[dict[UsageKey, list[int]]],
    times: int,
) -> list[str]:
    name, who, path, body = request
    timings: list[float] = []
    first = 0.0
    size = 0
    with httpx.Client(base_url=base_url, timeout=300) as client:
        if body is None:
            sign_in(client)
        client.headers["Authorization"] = f"Bearer {server.TOKEN}"
        for n in range(times + 1):
            _write(url, iter([next(parts)]))
            started = time.perf_counter()
            response = client.post(path, json=body) if body else client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200 or (body and "errors" in response.json()):
                raise RuntimeError(f"{name}: {response.status_code} {response.text[:500]}")
            size = len(response.content)
            if n:
                timings.append(elapsed)
            else:
                first = elapsed
    p95 = statistics.quantiles(timings, n=20, method="inclusive")[-1]
    return [name, who, f"{first:.0f}", f"{statistics.median(timings):.0f}", f"{p95:.0f}",
            count(size)]  # fmt: skip


async def _written_long_ago(url: str, before: date) -> None:
    async with database(url) as client:
        await client.execute_query(
            "UPDATE kept_days SET written_at = written_at - interval '1 day' WHERE day < $1",
            [before],
        )


async def _delete_from(url: str, day: date) -> None:
    async with database(url) as client:
        await forget_from(client, day)


if __name__ == "__main__":
    sys.exit(main())
