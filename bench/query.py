"""Query benchmark: p50/p95 latency of GraphQL usage queries over HTTP, as Markdown.

    python -m bench.query [--datasets N] [--owners N] [--days N] [--requests N] [--seed S]
                          [--skip-postgres] [--reuse] [--postgres URL] [--replica URL]

A year of aggregates for 10 000 datasets is written through the ingest's store into a fresh
database (SQLite, then PostgreSQL), a real uvicorn server is started on it, and each query is
sent one after the other over one keep-alive connection: (a) one dataset's usage with a
USER_GROUP breakdown for 30 days, (b) a page of 100 datasets ordered by API calls in 30 days,
with their usage, (c) an owner's usage over 365 days with a DOMAIN breakdown, then (d) the
/dashboard page (signed in at /login with the admin token) for 7 days, a year and ten years (by
month), every owner and the largest one. Every answer is checked against the figures the
generator kept. With --reuse the filled databases are kept (a SQLite file in the temporary
directory, a PostgreSQL database) and used again by the next run with the same arguments and
storage layout, instead of being written again (most of the run). With --replica (a streaming
standby of the --postgres server), the PostgreSQL queries run a second time with the server's
reads on the standby (USAGE_METRICS_READ_DATABASE_URL), once it has replayed the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode

import asyncpg
import httpx

from app.storage.summaries import SUMMARIES
from bench import server
from bench.aggregates import World, build_world, calls, fill, generate, stored_rows
from bench.tables import count, table

TARGET_P95_MS = 50.0
DASHBOARD_TARGET_P95_MS = 150.0  # a whole page: figures, charts, the first page of the table
DECADE_TARGET_P95_MS = 300.0  # ten years of a whole page, by month
CHECKED_DATASETS = 20
WARM_UP_REQUESTS = 5

DATASET = """query($id: ID!, $period: PeriodInput!) { dataset(id: $id) { usage(period: $period) {
  apiCalls { current previous change } downloads { current previous change }
  daily { day apiCalls downloads }
  breakdown(by: USER_GROUP) { totalCount edges { node { key apiCalls { current previous } } } }
} } }"""
PAGE = """query($period: PeriodInput!, $owner: OwnerInput) {
  datasets(first: 100, orderBy: API_CALLS, period: $period, owner: $owner) {
    totalCount
    edges { node { id title usage(period: $period) {
      apiCalls { current previous change } downloads { current previous change }
    } } }
  }
}"""
OWNER = """query($period: PeriodInput!, $owner: OwnerInput) {
usage(period: $period, owner: $owner) {
  apiCalls { current previous change } downloads { current previous change }
  downloadedBytes { current } daily { day apiCalls downloads }
  breakdown(by: DOMAIN, first: 20) { totalCount edges { node { key apiCalls { current } } } }
} }"""


class Scenario(NamedTuple):
    name: str
    # request number -> (query, variables, check of the `data` answered)
    request: Callable[[int], tuple[str, dict[str, Any], Callable[[Any], None]]]


class PageScenario(NamedTuple):
    name: str
    path: str  # a dashboard URL: the view is in its query
    check: Callable[[str], None]  # of the page's HTML
    target_ms: float = DASHBOARD_TARGET_P95_MS


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    began = time.perf_counter()
    world = build_world(args.seed, args.datasets, args.owners, args.days)
    checked = [item.id for item in world.datasets[:: max(1, len(world.datasets) // 20)]]
    checked = checked[:CHECKED_DATASETS]
    databases: list[tuple[str, Callable[[], AbstractContextManager[str]]]]
    databases = [("SQLite", server.sqlite_database)]
    unreachable = None if args.skip_postgres else server.postgres_unreachable(args.postgres)
    if not args.skip_postgres and unreachable is None:
        databases.append(("PostgreSQL", lambda: server.postgres_database(args.postgres)))
    if args.reuse:
        databases = [(name, _kept(name, _layout_key(args), args.postgres)) for name, _ in databases]
    print("## Query benchmark\n")
    rows = []
    for name, make_database in databases:
        with make_database() as url:
            filled = time.perf_counter()
            reused = args.reuse and asyncio.run(_is_filled(url, world, args.seed, checked))
            if not reused:
                asyncio.run(fill(url, world, args.seed, checked))
            filled = time.perf_counter() - filled
            how = "reused" if reused else f"written in {filled:.0f} s"
            print(f"{name}: {count(world.rows)} usage_daily rows {how}.\n")
            with server.running_server(url) as base_url:
                rows += _measured(name, base_url, world, checked, args.requests)
            if name == "PostgreSQL" and args.replica:
                replica = f"{args.replica.rsplit('/', 1)[0]}/{url.rsplit('/', 1)[1]}"
                waited = asyncio.run(_replayed(url, replica))
                print(f"The replica replayed the rows {waited:.0f} s after they were written.\n")
                with server.running_server(
                    url, USAGE_METRICS_READ_DATABASE_URL=replica
                ) as base_url:
                    rows += _measured(
                        f"{name}, read replica", base_url, world, checked, args.requests
                    )
                    _expect(_replica_skips(base_url), 0, "requests that skipped the replica")
    if unreachable:
        print(f"PostgreSQL at {args.postgres} is unreachable ({unreachable}).\n")
    header = ["database", "query", "p50 ms", "p95 ms", "max ms", "p95 ≤ target"]
    print(table(header, rows, right=frozenset({2, 3, 4})) + "\n")
    print(_explanation(world, args))
    print(f"_Total benchmark time: {time.perf_counter() - began:.0f} s._")
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.query",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--datasets", type=int, default=10_000, help="datasets (10 000)")
    parser.add_argument("--owners", type=int, default=200, help="owners (200)")
    parser.add_argument("--days", type=int, default=365, help="days of aggregates (365)")
    parser.add_argument("--requests", type=int, default=100, help="timed requests per query")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the databases and reuse them when they match"
    )
    parser.add_argument(
        "--postgres",
        default=server.POSTGRES_ADMIN_URL,
        metavar="URL",
        help="the PostgreSQL server the benchmark makes its database on (a database there to "
        f"connect to; {server.POSTGRES_ADMIN_URL})",
    )
    parser.add_argument(
        "--replica",
        metavar="URL",
        help="a streaming standby of --postgres (any database there): the PostgreSQL queries "
        "again, read from it",
    )
    args = parser.parse_args(argv)
    if min(args.datasets, args.owners, args.requests) < 1 or args.days < 30:
        parser.error("counts must be positive and --days at least 30")
    return args


def _layout_key(args: argparse.Namespace) -> str:
    """Names the kept databases: the generator's arguments and the summary tables' layout."""
    layout = hashlib.sha256(repr(SUMMARIES).encode()).hexdigest()[:8]
    return f"{args.datasets}_{args.owners}_{args.days}_{args.seed}_{layout}"


def _kept(name: str, key: str, postgres: str) -> Callable[[], AbstractContextManager[str]]:
    """A database that outlives the run: a file in the temporary directory, or a PG database."""
    if name == "SQLite":
        path = Path(tempfile.gettempdir()) / f"usage-metrics-bench-query-{key}.sqlite3"
        return lambda: nullcontext(f"sqlite://{path}")
    return lambda: nullcontext(server.kept_postgres_database(f"bench_query_{key}", postgres))


def _measured(
    name: str, base_url: str, world: World, checked: list[str], requests: int
) -> list[list[str]]:
    rows = [
        [name, *_measure(base_url, scenario, requests)] for scenario in _scenarios(world, checked)
    ]
    rows += [[name, *_measure_page(base_url, page, requests)] for page in _page_scenarios(world)]
    return rows


async def _replayed(primary: str, replica: str) -> float:
    """Seconds until the replica has replayed everything the primary has written."""
    began = time.perf_counter()
    source = await asyncpg.connect(primary)
    try:
        position = await source.fetchval("SELECT pg_current_wal_flush_lsn()::text")
    finally:
        await source.close()
    standby = await asyncpg.connect(replica)
    try:
        replayed = "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn"
        while True:
            if await standby.fetchval(replayed, position):
                break
            await asyncio.sleep(0.1)
    finally:
        await standby.close()
    return time.perf_counter() - began


def _replica_skips(base_url: str) -> int:
    """Requests of the server that did not read from its replica (its /metrics)."""
    metrics = httpx.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {server.TOKEN}"}
    ).text
    found = re.findall(r"^usage_metrics_replica_skips_total\{[^}]*\} (\S+)$", metrics, re.M)
    return int(sum(float(value) for value in found))


async def _is_filled(url: str, world: World, seed: int, checked: list[str]) -> bool:
    """Whether the kept database holds what the generator writes; the world learns its figures."""
    for _ in generate(world, seed, checked):
        pass
    stored = await stored_rows(url)
    if stored in (0, world.rows):
        return stored == world.rows
    raise RuntimeError(
        f"{url} holds {stored} usage_daily rows, not {world.rows}: drop it and run again"
    )


def _period(days: int) -> dict[str, str]:
    end = date(2024, 12, 31)
    return {"start": str(end - timedelta(days=days - 1)), "end": str(end)}


def _scenarios(world: World, checked: list[str]) -> list[Scenario]:
    month, year = _period(30), _period(365)
    top = world.owners_by_size()[0]
    top_size = sum(1 for item in world.datasets if item.owner == top)
    owner = {"type": top.type.upper(), "id": top.id}  # OwnerType is an enum (issue 16)

    def one_dataset(n: int) -> tuple[str, dict[str, Any], Callable[[Any], None]]:
        dataset_id = checked[n % len(checked)]
        expected = _calls(world.dataset_calls[dataset_id], month)

        def check(data: Any) -> None:
            _expect(data["dataset"]["usage"]["apiCalls"]["current"], expected, dataset_id)

        return DATASET, {"id": dataset_id, "period": month}, check

    def page(scoped: bool) -> Callable[[int], tuple[str, dict[str, Any], Callable[[Any], None]]]:
        def request(n: int) -> tuple[str, dict[str, Any], Callable[[Any], None]]:
            def check(data: Any) -> None:
                edges = data["datasets"]["edges"]
                _expect(len(edges), min(100, top_size if scoped else len(world.datasets)), "page")
                ranked = [edge["node"]["usage"]["apiCalls"]["current"] for edge in edges]
                _expect(ranked, sorted(ranked, reverse=True), "order")

            variables = {"period": month, "owner": owner if scoped else None}
            return PAGE, variables, check

        return request

    def owner_wide(n: int) -> tuple[str, dict[str, Any], Callable[[Any], None]]:
        expected = _calls(world.owner_calls[top], year)

        def check(data: Any) -> None:
            _expect(data["usage"]["apiCalls"]["current"], expected, "owner")
            _expect(len(data["usage"]["daily"]), 365, "days")

        return OWNER, {"period": year, "owner": owner}, check

    return [
        Scenario("(a) one dataset, 30 days, USER_GROUP breakdown", one_dataset),
        Scenario("(b) 100 datasets by API calls, 30 days, all owners", page(scoped=False)),
        Scenario(f"(b') the same, largest owner ({count(top_size)} datasets)", page(True)),
        Scenario("(c) the largest owner, 365 days, DOMAIN breakdown", owner_wide),
    ]


def _calls(days: dict[date, int], period: dict[str, str]) -> int:
    return calls(days, date.fromisoformat(period["start"]), date.fromisoformat(period["end"]))


def _expect(found: object, expected: object, what: str) -> None:
    if found != expected:
        raise RuntimeError(f"{what}: the API answered {found!r}, the generator says {expected!r}")


def _measure(base_url: str, scenario: Scenario, requests: int) -> list[str]:
    headers = {"Authorization": f"Bearer {server.TOKEN}"}
    timings = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        for n in range(-WARM_UP_REQUESTS, requests):
            query, variables, check = scenario.request(n)
            start = time.perf_counter()
            response = client.post("/graphql", json={"query": query, "variables": variables})
            elapsed = time.perf_counter() - start
            answer = response.json()
            if response.status_code != 200 or "errors" in answer:
                raise RuntimeError(f"{scenario.name}: {response.status_code} {answer}")
            check(answer["data"])
            if n >= 0:
                timings.append(elapsed * 1000)
    return _figures(f"{scenario.name} (GraphQL)", timings, TARGET_P95_MS)


def _figures(name: str, timings: list[float], target_ms: float) -> list[str]:
    p50 = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=20, method="inclusive")[-1]
    verdict = f"yes (≤ {target_ms:.0f})" if p95 <= target_ms else f"**no** (> {target_ms:.0f})"
    return [name, f"{p50:.1f}", f"{p95:.1f}", f"{max(timings):.1f}", verdict]


def _page_scenarios(world: World) -> list[PageScenario]:
    """/dashboard as an admin opens it: every owner, then the largest, for a week and a year."""
    week = {"start": "2024-12-25", "end": "2024-12-31"}
    year = {"start": "2024-01-01", "end": "2024-12-31"}
    # Ten years by month (the interval the page picks past two years); the aggregates fill the
    # last of them, the query reads them all.
    decade = {"start": "2015-01-01", "end": "2024-12-31"}
    top = world.owners_by_size()[0]
    scenarios = []
    for label, period in (("7 days", week), ("a year", year), ("ten years", decade)):
        for owner in (None, top):
            calls = world.owner_calls[owner] if owner is not None else world.all_calls
            expected = _calls(calls, period)
            query = urlencode({**period, **({"owner": f"{top.type}:{top.id}"} if owner else {})})
            who = "largest owner" if owner else "all owners"
            scenarios.append(
                PageScenario(
                    f"(d) /dashboard, {label}, {who}",
                    f"/dashboard?{query}",
                    _has(expected),
                    DECADE_TARGET_P95_MS if period is decade else DASHBOARD_TARGET_P95_MS,
                )
            )
    return scenarios


def _has(api_calls: int) -> Callable[[str], None]:
    def check(page: str) -> None:
        card = page[page.index('data-figure="api_calls"') :]
        value = card[card.index('<p class="value">') + 17 : card.index("</p>")]
        _expect(value, f"{api_calls:,}", "the dashboard's API calls")
        _expect(page.count("<tr data-dataset="), 20, "the datasets table's rows")

    return check


def _measure_page(base_url: str, scenario: PageScenario, requests: int) -> list[str]:
    timings = []
    with httpx.Client(base_url=base_url, timeout=120) as client:
        sign_in(client)
        for n in range(-WARM_UP_REQUESTS, requests):
            start = time.perf_counter()
            response = client.get(scenario.path)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                raise RuntimeError(f"{scenario.name}: {response.status_code} {response.text}")
            scenario.check(response.text)
            if n >= 0:
                timings.append(elapsed * 1000)
    return _figures(scenario.name, timings, scenario.target_ms)


def sign_in(client: httpx.Client) -> None:
    form = client.get("/login").text
    csrf = form[form.index('name="csrf_token" value="') + 25 :].split('"', 1)[0]
    answer = client.post("/login", data={"token": server.TOKEN, "csrf_token": csrf})
    if answer.status_code != 303:
        raise RuntimeError(f"signing in at /login: {answer.status_code} {answer.text}")


def _explanation(world: World, args: argparse.Namespace) -> str:
    return (
        f"Seed {args.seed}: {count(args.datasets)} datasets of {count(args.owners)} owners "
        f"(Zipf sizes), {args.days} days ending 2024-12-31, {count(world.rows)} usage_daily "
        "rows. Each query: "
        f"{WARM_UP_REQUESTS} untimed requests, then {args.requests} timed ones, one at a time "
        "over one keep-alive connection to one uvicorn process (admin token); the time is the "
        "client's, from sending the request to reading the whole answer. (a) cycles through "
        f"{CHECKED_DATASETS} datasets of every popularity; (c) is 2024-01-02..12-31 (a leap "
        "year), its previous period the year before, where there is no data. The rows are "
        "written one day per ingest transaction; PostgreSQL is then ANALYZEd (autovacuum's job "
        "in production), SQLite is not (nothing runs ANALYZE on it in production). The whole "
        "run takes ~25 minutes, most of it writing the rows (--reuse keeps the databases for "
        "the next run).\n"
    )


if __name__ == "__main__":
    sys.exit(main())
