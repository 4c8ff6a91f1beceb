"""Fold benchmark: how big a pass may be, and how many lock buckets several folders need.

    python -m bench.fold [--rows R] [--keys-per-row K] [--skip-postgres] [--skip-passes]
                         [--skip-buckets] [--repeat N]

(a) A backlog of R ledger rows of K distinct keys each (distinct datasets, as `import` sends
after downtime) drained in this process by `fold_waiting` for each bound of merged keys per pass,
while a probe asks the database a one-row query every 20 ms and another wakes every 5 ms: the
longest wait of a request (on SQLite it waits for the pass's write transaction, wall time) and
the longest hold of the loop (CPU time of the loop's thread between two wakes). Each bound runs
in its own process, for its peak RSS.
(b) PostgreSQL only: 1, 2 and 4 folder processes draining one backlog together, for several
numbers of lock buckets (app/ingest/counting.py LOCK_BUCKETS), on two shapes: a live log (rows
of 200 keys over 500 datasets) and an import (rows of 5 000 keys over 20 000 datasets); the best
of N runs.
Prints Markdown; checks that every request of the backlog is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.core.records import UsageKey
from app.ingest import counting, ledger
from app.ingest.domain_cap import DomainCap
from app.ingest.fold import fold_waiting
from app.main import freeze_start_up_objects
from app.storage.database import close_database, connection, is_postgres, open_database
from bench.server import PROJECT_ROOT, postgres_database, postgres_unreachable, sqlite_database
from bench.tables import count, table

KEY_BOUNDS = (1_000, 2_000, 5_000, 20_000, 10_000_000)
BUCKETS = (1, 16, 64, 256)
FOLDERS = (1, 2, 4)
SHAPES = {"live log": (400, 200, 500), "import": (40, 5_000, 20_000)}  # rows, keys, datasets


def keys_of(n: int, datasets: int, rng: random.Random, distinct: bool) -> dict[UsageKey, list[int]]:
    """n keys; distinct ones name a dataset each (as many as `datasets`), else random ones."""
    day = date(2024, 1, 1)
    found: dict[UsageKey, list[int]] = {}
    while len(found) < n:
        i = len(found) if distinct else rng.randrange(datasets * 4)
        dataset = i % datasets if not distinct else rng.randrange(1 << 30)
        key = UsageKey(
            "organization",
            f"org{dataset % 200}",
            day + timedelta(days=i % 3),
            "datasets",
            f"d{dataset}",
            "api",
            "ok",
            "ANONYMOUS",
            f"site{i % 150}.example",
            "external",
            "",
        )
        found[key] = [1, 1000, 10]
    return found


async def fill(database_url: str, rows: int, keys: int, datasets: int, distinct: bool) -> int:
    """A fresh database with `rows` ledger rows; the requests they hold."""
    await open_database(database_url)
    rng = random.Random(7)
    client = connection()
    mark = "$1, $2, $3" if is_postgres(client) else "?, ?, ?"
    now: Any = datetime.now(UTC) if is_postgres(client) else datetime.now(UTC).isoformat()
    requests = 0
    for _ in range(rows):
        counters = keys_of(keys, datasets, rng, distinct)
        requests += sum(c[0] for c in counters.values())
        await client.execute_query(
            f"INSERT INTO ingest_ledger (received_at, lines, counters) VALUES ({mark})",  # noqa: S608
            [now, keys, ledger.encode(counters)],
        )
    await close_database()
    return requests


async def drain(database_url: str, bound: int) -> dict[str, float]:
    """fold_waiting with `bound` keys per pass, probed for request waits and loop holds; the
    garbage collector as the server sets it (its young collections and frozen start-up)."""
    await open_database(database_url)
    freeze_start_up_objects()
    waits: list[float] = []
    holds: list[float] = []
    done = asyncio.Event()

    async def ask() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await connection().execute_query("SELECT COUNT(*) AS n FROM ingest_quarantine")
            waits.append(time.perf_counter() - start)
            await asyncio.sleep(0.02)

    async def wake() -> None:
        # CPU time of the loop's thread between two wakes: what held the loop, not the machine's
        # other processes (the shared machine is busy).
        while not done.is_set():
            start = time.thread_time()
            await asyncio.sleep(0.005)
            holds.append(time.thread_time() - start)

    probes = [asyncio.create_task(ask()), asyncio.create_task(wake())]
    start, cpu = time.perf_counter(), time.process_time()
    folded = await fold_waiting(DomainCap(200), keys=bound)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    done.set()
    await asyncio.gather(*probes)
    _, rows = await connection().execute_query(
        "SELECT COALESCE(SUM(requests), 0) AS n FROM usage_daily"
    )
    await close_database()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "keys": folded.keys,
        "requests": int(rows[0]["n"]),
        "wait": max(waits, default=0.0),
        "hold": max(holds, default=0.0),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child(*arguments: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.fold", *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def passes_table(
    databases: Sequence[tuple[str, Callable[[], AbstractContextManager[str]]]], rows: int, keys: int
) -> str:
    lines = []
    for name, make in databases:
        for bound in KEY_BOUNDS:
            with make() as url:
                wanted = asyncio.run(fill(url, rows, keys, 0, distinct=True))
                found = child("--drain", url, "--bound", str(bound))
            assert found["requests"] == wanted, (found, wanted)
            lines.append(
                [
                    name,
                    count(bound) if bound < 10_000_000 else "none",
                    f"{found['seconds']:.1f}",
                    count(found["keys"] / found["seconds"]),
                    f"{found['wait'] * 1000:.0f}",
                    f"{found['hold'] * 1000:.0f}",
                    f"{found['rss_mb']:.0f}",
                ]
            )
    header = [
        "database",
        "keys per pass",
        "drain s",
        "keys/s",
        "longest request wait ms",
        "longest loop hold, CPU ms",
        "peak RSS MB",
    ]
    return table(header, lines, frozenset(range(1, 7)))


def folders_table(repeat: int) -> str:
    lines = []
    for shape, (rows, keys, datasets) in SHAPES.items():
        for buckets in BUCKETS:
            cells = [shape, str(buckets)]
            for folders in FOLDERS:
                runs = []
                for _ in range(repeat):  # the best run: the machine is shared
                    with postgres_database() as url:
                        wanted = asyncio.run(fill(url, rows, keys, datasets, distinct=False))
                        runs.append(_concurrent(url, folders, buckets))
                        counted = asyncio.run(_requests(url))
                    assert counted == wanted, (counted, wanted)
                cells.append(f"{min(runs):.1f}")
            lines.append(cells)
    header = ["backlog", "lock buckets", *(f"{n} folder{'s' * (n > 1)} s" for n in FOLDERS)]
    return table(header, lines, frozenset(range(1, 2 + len(FOLDERS))))


def _concurrent(url: str, folders: int, buckets: int) -> float:
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.fold", "--drain", url, "--buckets", str(buckets)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(folders)
    ]
    for process in processes:
        assert process.wait() == 0
    return time.perf_counter() - start


async def _requests(url: str) -> int:
    await open_database(url)
    _, rows = await connection().execute_query(
        "SELECT COALESCE(SUM(requests), 0) AS n FROM usage_daily"
    )
    await close_database()
    return int(rows[0]["n"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fold")
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--keys-per-row", type=int, default=10_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-buckets", action="store_true")
    parser.add_argument("--skip-passes", action="store_true")
    parser.add_argument("--repeat", type=int, default=2, help="runs of (b), the best is shown")
    parser.add_argument("--drain", help=argparse.SUPPRESS)
    parser.add_argument("--bound", type=int, default=20_000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--buckets", type=int, default=counting.LOCK_BUCKETS, help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.drain:
        counting.LOCK_BUCKETS = args.buckets  # the bench's variable, not a setting
        print(json.dumps(asyncio.run(drain(args.drain, args.bound))))
        return 0
    databases: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = [
        ("SQLite", sqlite_database)
    ]
    unreachable = postgres_unreachable()
    if not args.skip_postgres and unreachable is None:
        databases.append(("PostgreSQL", postgres_database))
    if not args.skip_passes:
        print(f"(a) {count(args.rows)} ledger rows of {count(args.keys_per_row)} distinct keys\n")
        print(passes_table(databases, args.rows, args.keys_per_row))
    if not args.skip_buckets and len(databases) > 1:
        print("\n(b) folders draining one PostgreSQL backlog together\n")
        print(folders_table(args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
