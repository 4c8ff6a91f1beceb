"""Scale benchmark: a data.gouv.fr-shaped portal at 10⁶–10⁸ usage_daily rows, its reads timed.

    python -m bench.scale [--rows N] [--datasets N] [--owners N] [--domains N] [--days N]
                          [--requests N] [--seed S] [--sqlite] [--keep]

A year of aggregates (bench/portal.py: Zipf owners and datasets, heavy-tailed calling domains)
is written day by day through the fold's own writer (app/ingest/counting.add_counters), the
resources through the ingest's store. Then a real uvicorn server answers the query set of the
scale issue, each as the largest owner, a median owner and the admin, over a year with the
previous period: GraphQL (one dataset's usage; the top 100 datasets by API calls; breakdowns by
domain and user group), the /dashboard page, and Data Fair's `_agg?split=day`. Every answer is
checked against the generator's own sums before it is timed; each query is sent once (its time
apart: "first", which reads the tables, the kept answers deleted before the run), then
`--requests` times (p50, p95, the answer's size). Then the tables' sizes, and the fold's
rate on this database against an empty one, in the same minute.

With --keep the filled database is kept (named after the arguments and the schema's migrations)
and used again by the next run with the same arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from tortoise.transactions import in_transaction

from app.core.records import Owner
from app.ingest import ledger
from app.ingest.aggregate import BatchTotals, ResourceSeen
from app.ingest.counting import add_counters
from app.ingest.fold import fold_waiting
from app.ingest.store import BatchWrite, write_batch
from app.storage.database import connection, database, is_postgres
from app.storage.facts import FACTS
from app.storage.partitions import pack, place
from bench import server
from bench.portal import EVERY, Portal, build_portal, follow, generate, most_used, top
from bench.query import sign_in
from bench.tables import count, table

# The tables of counters (usage_daily apart), each with its column `day`.
SUMMARIES = ("usage_by_dataset", "usage_by_owner", "usage_by_caller", "usage_by_status")
MIGRATIONS = Path(__file__).resolve().parent.parent / "app" / "storage" / "migrations"
TOP = 100

ONE_DATASET = """query($id: ID!, $period: PeriodInput!) {
  dataset(id: $id) { usage(period: $period) {
    apiCalls { current previous change } downloads { current previous change }
  } }
}"""
RANKING = """query($period: PeriodInput!, $owner: OwnerInput) {
  datasets(first: 100, orderBy: API_CALLS, period: $period, owner: $owner) {
    totalCount
    edges { node { id title usage(period: $period) {
      apiCalls { current previous change } downloads { current previous change }
    } } }
  }
}"""
BREAKDOWNS = """query($period: PeriodInput!, $owner: OwnerInput) {
usage(period: $period, owner: $owner) {
  apiCalls { current previous change }
  domains: breakdown(by: DOMAIN, first: 20) {
    totalCount edges { node { key apiCalls { current previous change } } }
  }
  groups: breakdown(by: USER_GROUP) {
    totalCount edges { node { key apiCalls { current previous change } } }
  }
} }"""

Check = Callable[[httpx.Response], None]


@dataclass(frozen=True)
class Request:
    name: str
    who: str
    method: str
    path: str
    body: dict[str, Any] | None
    check: Check


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    began = time.perf_counter()
    portal = build_portal(args.seed, args.rows, args.datasets, args.owners, args.domains, args.days)
    follow(portal, [portal.largest, portal.median])
    print("## Scale benchmark\n")
    with kept_database(args) as url:
        stored = asyncio.run(stored_rows(url))
        written = time.perf_counter()
        if stored == 0:
            asyncio.run(_fill(url, portal, args.seed))
            how = f"written in {time.perf_counter() - written:.0f} s"
        else:
            for _ in generate(portal, args.seed):  # the generator's sums, not the writes
                pass
            how = "kept from an earlier run"
        rows = asyncio.run(stored_rows(url))
        print(f"{count(rows)} usage_daily rows, {how}.\n")
        asyncio.run(forget_kept_answers(url))  # each run's first requests read the tables
        today = portal.days[-1] + timedelta(days=1)
        with server.running_server(url, USAGE_METRICS_TODAY=today.isoformat()) as base_url:
            timings = [_measure(base_url, request, args.requests) for request in _requests(portal)]
        header = ["query, a year with the previous period", "as", "first ms", "p50 ms", "p95 ms",
                  "bytes"]  # fmt: skip
        print(table(header, timings, right=frozenset({2, 3, 4, 5})) + "\n")
        print(table(["table", "rows", "table", "indexes", "total"], asyncio.run(_sizes(url)),
                    right=frozenset({1, 2, 3, 4})) + "\n")  # fmt: skip
        with server.postgres_database() if not args.sqlite else server.sqlite_database() as empty:
            print(_write_rates(url, empty, portal, args.seed) + "\n")
    took = time.perf_counter() - began
    print(f"_Seed {args.seed}; {_describe(portal)}; total time {took:.0f} s._")
    return 0


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="usage_daily rows (10⁶)")
    parser.add_argument("--datasets", type=int, default=50_000, help="datasets (50 000)")
    parser.add_argument("--owners", type=int, default=3_000, help="owners (3 000)")
    parser.add_argument("--domains", type=int, default=200_000, help="calling domains (200 000)")
    parser.add_argument("--days", type=int, default=365, help="days (365)")
    parser.add_argument("--requests", type=int, default=25, help="timed requests per query (25)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the database for the next run")
    args = parser.parse_args(argv)
    if min(args.rows, args.datasets, args.owners, args.domains, args.requests) < 1:
        parser.error("counts must be positive")
    if args.days < 30:
        parser.error("--days must be at least 30")
    return args


@contextmanager
def kept_database(args: argparse.Namespace) -> Iterator[str]:
    if not args.keep:
        with server.sqlite_database() if args.sqlite else server.postgres_database() as url:
            yield url
        return
    schema = hashlib.sha256(
        "".join(sorted(p.name for p in MIGRATIONS.glob("0*.py"))).encode()
    ).hexdigest()[:8]
    name = "_".join(
        str(v) for v in ("bench_scale", args.rows, args.datasets, args.owners, args.domains,
                         args.days, args.seed, schema)
    )  # fmt: skip
    if args.sqlite:
        yield f"sqlite:///var/tmp/usage-metrics-{name}.sqlite3"
    else:
        yield server.kept_postgres_database(name)


async def stored_rows(url: str) -> int:
    async with database(url) as client:
        rows = await client.execute_query_dict("SELECT COUNT(*) AS n FROM usage_daily")
    return int(rows[0]["n"])


async def _fill(url: str, portal: Portal, seed: int) -> None:
    """The resources, then each day in its own transaction through the fold's writer."""
    async with database(url) as client:
        first = portal.days[0]
        totals = BatchTotals()
        totals.resources = {
            ("datasets", item.id): ResourceSeen(item.owner, item.title, first, first)
            for item in portal.datasets
        }
        received = datetime.combine(first, datetime.min.time(), UTC)
        await place(client, portal.days)  # as the purge round does for the months it sees coming
        await write_batch(BatchWrite(totals, None, "bench", "{}", received))
        for day, counters in generate(portal, seed):
            async with in_transaction() as tx:
                await add_counters(tx, counters, None)
            if day.day == 1:
                print(f"  {day}: written", file=sys.stderr, flush=True)
        if is_postgres(client):
            # What the purge rounds of that year did: each closed month packed.
            await pack(client, datetime.now(UTC).date())
            # What autovacuum does after a bulk load: statistics and the visibility map.
            await client.execute_script("VACUUM ANALYZE")


async def forget_kept_answers(url: str) -> None:
    async with database(url) as client:
        if is_postgres(client):
            for name in ("kept_caller_sums", "kept_dataset_sums", "kept_answers"):
                await client.execute_script(f"DELETE FROM {name}")  # noqa: S608


def _requests(portal: Portal) -> list[Request]:
    start, end = portal.days[0], portal.days[-1]
    period = {"start": start.isoformat(), "end": end.isoformat()}
    kept = portal.followed
    found: list[Request] = []
    popular = next(item for item in portal.datasets if item.owner == portal.largest)
    expected = kept.datasets[popular.id]
    found.append(
        Request(
            "GraphQL: one dataset's usage", "a dataset of the largest", "POST", "/graphql",
            {"query": ONE_DATASET, "variables": {"id": popular.id, "period": period}},
            _graphql(lambda data: _expect(
                [data["dataset"]["usage"]["apiCalls"]["current"],
                 data["dataset"]["usage"]["downloads"]["current"]], expected, "one dataset")),
        )
    )  # fmt: skip
    for who, owner in (("largest", portal.largest), ("median", portal.median), ("admin", None)):
        found += _owner_requests(portal, who, owner, period)
    return found


def _owner_requests(
    portal: Portal, who: str, owner: Owner | None, period: dict[str, str]
) -> list[Request]:
    kept = portal.followed
    followed = owner or EVERY
    graphql_owner = {"type": owner.type.upper(), "id": owner.id} if owner else None
    datasets = portal.owned(followed)
    calls = {item.id: kept.datasets[item.id][0] for item in datasets}
    label = f"{who} ({count(len(datasets))} datasets)"
    api_calls = sum(n for n, _ in kept.days[followed].values())

    def ranking(data: Any) -> None:
        edges = data["datasets"]["edges"]
        answered = [edge["node"]["usage"]["apiCalls"]["current"] for edge in edges]
        _expect(answered, top(calls, TOP), f"{who}'s top {TOP}")
        for edge in edges:
            _expect(edge["node"]["usage"]["apiCalls"]["current"], calls[edge["node"]["id"]], "id")

    def breakdowns(data: Any) -> None:
        usage = data["usage"]
        _expect(usage["apiCalls"]["current"], api_calls, f"{who}'s API calls")
        edges = usage["groups"]["edges"]
        groups = {e["node"]["key"]: e["node"]["apiCalls"]["current"] for e in edges}
        _expect(groups, {k: v for k, v in kept.groups[followed].items() if v}, "groups")
        domains = [(e["node"]["key"], e["node"]["apiCalls"]["current"])
                   for e in usage["domains"]["edges"]]  # fmt: skip
        _expect(domains, most_used(kept.domains[followed], 20), "domains")

    query = f"start={period['start']}&end={period['end']}"
    owner_query = f"&owner={owner.type}:{owner.id}" if owner else ""
    requests = [
        Request("GraphQL: top 100 datasets by API calls", label, "POST", "/graphql",
                {"query": RANKING, "variables": {"period": period, "owner": graphql_owner}},
                _graphql(ranking)),
        Request("GraphQL: breakdowns by domain and user group", label, "POST", "/graphql",
                {"query": BREAKDOWNS, "variables": {"period": period, "owner": graphql_owner}},
                _graphql(breakdowns)),
        Request("dashboard, a year", label, "GET", f"/dashboard?{query}{owner_query}", None,
                _page(api_calls)),
    ]  # fmt: skip
    if owner is not None:
        requests.append(
            Request("`_agg?split=day`, a year", label, "GET",
                    f"/api/daily-api-metrics/_agg?split=day&{query}{owner_query}", None,
                    _agg(kept.requests[owner])),
        )  # fmt: skip
    return requests


def _graphql(check: Callable[[Any], None]) -> Check:
    def checked(response: httpx.Response) -> None:
        answer = response.json()
        if "errors" in answer:
            raise RuntimeError(f"GraphQL answered {answer['errors']}")
        check(answer["data"])

    return checked


def _page(api_calls: int) -> Check:
    def check(response: httpx.Response) -> None:
        page = response.text
        card = page[page.index('data-figure="api_calls"') :]
        value = card[card.index('<p class="value">') + 17 : card.index("</p>")]
        _expect(value, f"{api_calls:,}", "the dashboard's API calls")

    return check


def _agg(requests: int) -> Check:
    def check(response: httpx.Response) -> None:
        _expect(response.json()["nbRequests"], requests, "_agg's requests")

    return check


def _expect(found: object, expected: object, what: str) -> None:
    if found != expected:
        raise RuntimeError(f"{what}: answered {found!r}, the generator says {expected!r}")


def _measure(base_url: str, request: Request, times: int) -> list[str]:
    headers = {"Authorization": f"Bearer {server.TOKEN}"} if request.body is not None else {}
    timings: list[float] = []
    first = 0.0
    size = 0
    with httpx.Client(base_url=base_url, headers=headers, timeout=300) as client:
        if request.body is None:
            sign_in(client)
            client.headers["Authorization"] = f"Bearer {server.TOKEN}"
        for n in range(times + 1):  # the first untimed
            started = time.perf_counter()
            if request.body is None:
                response = client.get(request.path)
            else:
                response = client.post(request.path, json=request.body)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{request.name}: {response.status_code} {response.text[:500]}")
            request.check(response)
            size = len(response.content)
            if n:
                timings.append(elapsed * 1000)
            else:
                first = elapsed * 1000
    p95 = statistics.quantiles(timings, n=20, method="inclusive")[-1]
    return [request.name, request.who, f"{first:.0f}", f"{statistics.median(timings):.0f}",
            f"{p95:.0f}", count(size)]  # fmt: skip


async def _sizes(url: str) -> list[list[str]]:
    async with database(url) as client:
        if not is_postgres(client):
            return await _sqlite_sizes(client)
        rows = await client.execute_query_dict(
            "SELECT c.relname AS name, "
            "COALESCE((SELECT SUM(pg_table_size(p.relid)) FROM pg_partition_tree(c.oid) p), "
            "  pg_table_size(c.oid)) AS data, "
            "COALESCE((SELECT SUM(pg_indexes_size(p.relid)) FROM pg_partition_tree(c.oid) p), "
            "  pg_indexes_size(c.oid)) AS idx, "
            "c.reltuples AS estimate "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "ORDER BY 2 DESC"
        )
    found, total = [], [0, 0]
    for row in sorted(rows, key=lambda row: -int(row["data"] or 0) - int(row["idx"] or 0)):
        data, idx = int(row["data"] or 0), int(row["idx"] or 0)
        total[0] += data
        total[1] += idx
        found.append([row["name"], count(max(0, row["estimate"] or 0)), _mb(data), _mb(idx),
                      _mb(data + idx)])  # fmt: skip
    found.append(["**all**", "", _mb(total[0]), _mb(total[1]), _mb(sum(total))])
    return found


async def _sqlite_sizes(client: Any) -> list[list[str]]:
    rows = await client.execute_query_dict(
        "SELECT name, SUM(pgsize) AS size FROM dbstat GROUP BY name ORDER BY size DESC"
    )
    total = sum(int(row["size"]) for row in rows)
    found = [[row["name"], "", _mb(int(row["size"])), "", ""] for row in rows[:12]]
    return [*found, ["**all**", "", _mb(total), "", _mb(total)]]


def _mb(size: int) -> str:
    return f"{size / 2**20:,.0f} MB".replace(",", " ")


def _write_rates(url: str, empty_url: str, portal: Portal, seed: int) -> str:
    """The fold's rate on the full database and on an empty one: a next day's keys, ledgered
    in batches of a tenth of a day and folded, alternately twice on each."""
    nxt = Portal(portal.datasets, portal.owners, portal.sizes, [portal.days[-1] + timedelta(1)],
                 portal.rows_per_day, portal.domain_count)  # fmt: skip
    _, counters = next(generate(nxt, seed + 7))
    rates: dict[str, list[float]] = {"full": [], "empty": []}
    for run in range(2):
        for name, target in (("full", url), ("empty", empty_url)):
            rates[name].append(asyncio.run(_fold_rate(target, counters, run)))
    full, empty = statistics.mean(rates["full"]), statistics.mean(rates["empty"])
    return table(
        ["fold of a new day's keys", "keys/s", "runs"],
        [["this database", count(full), ", ".join(count(r) for r in rates["full"])],
         ["an empty one", count(empty), ", ".join(count(r) for r in rates["empty"])],
         ["ratio", f"{full / empty:.2f}", ""]],
        right=frozenset({1}),
    )  # fmt: skip


async def _fold_rate(url: str, counters: dict[Any, list[int]], run: int) -> float:
    keys = list(counters.items())
    tenth = max(1, len(keys) // 10)
    async with database(url):
        client = connection()
        received = datetime.now(UTC)
        for start in range(0, len(keys), tenth):
            part = dict(keys[start : start + tenth])
            marks = "($1, $2, $3)" if is_postgres(client) else "(?, ?, ?)"
            await client.execute_query(
                f"INSERT INTO ingest_ledger (received_at, lines, counters) VALUES {marks}",  # noqa: S608
                [received, len(part), ledger.encode(part)],
            )
        started = time.perf_counter()
        folded = await fold_waiting(None)
        seconds = time.perf_counter() - started
        # Take the day out again, so that the next run writes the same new keys.
        day = next(iter(counters)).day
        await forget_from(client, day)
    if folded.keys == 0:
        raise RuntimeError(f"run {run}: nothing folded")
    return folded.keys / seconds


async def forget_from(client: Any, day: date) -> None:
    """Every row of the days from `day` on, in each table of counters."""
    postgres = is_postgres(client)
    mark = "$1" if postgres else "?"
    for summary in (*SUMMARIES, FACTS):
        await client.execute_query(
            f"DELETE FROM {summary} WHERE day >= {mark}",  # noqa: S608
            [day if postgres else day.isoformat()],
        )


def _describe(portal: Portal) -> str:
    return (
        f"{count(len(portal.datasets))} datasets of {count(len(portal.owners))} owners (the "
        f"largest {count(portal.sizes[portal.largest])}, the median one "
        f"{count(portal.sizes[portal.median])}), {count(portal.domain_count)} calling domains, "
        f"{len(portal.days)} days ending {portal.days[-1]}"
    )


if __name__ == "__main__":
    sys.exit(main())
