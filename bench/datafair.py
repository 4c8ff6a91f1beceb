"""Data Fair benchmark: `import-data-fair` of a generated mongoexport, then `_agg` and `_export`.

    python -m bench.datafair [--documents N [N ...]] [--runs R] [--seed S] [--skip-postgres]

For each N, N documents of one month (4 owners, 200 datasets, every Data Fair dimension) are
written as mongoexport JSON lines, streamed (the bench holds none of them); the command imports
them into a fresh database (SQLite, then PostgreSQL; its schema created by `migrate` first and
timed apart) as a process of its own, whose documents a second and largest memory (max RSS,
os.wait4) are printed: flat memory shows as the same RSS for every N. For the first N only,
the command imports the lines again, then the --jsonArray form (every document already
counted), and, in process, each `_agg` query and the export are asked R times for the largest
owner. Prints Markdown; checks the stored requests against the file's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from app.config import Settings
from app.main import create_app
from app.storage.database import connection
from bench.server import PROJECT_ROOT, TOKEN, postgres_database, sqlite_database
from bench.tables import count, table

QUERIES: dict[str, dict[str, str]] = {
    "split=day": {},
    "split=day,resource": {"split": "day,resource"},
    "split=refererDomain,userClass, ok API calls": {
        "split": "refererDomain,userClass",
        "statusClass": "ok",
        "operationTrack": "readDataAPI",
    },
}
MONTH = {"start": "2024-01-01", "end": "2024-01-31", "owner": "organization:org0"}


def documents(count: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for _ in range(count):
        owner = {"type": "organization", "id": f"org{min(int(rng.expovariate(1.0)), 3)}"}
        yield {
            "_id": {"$oid": f"{rng.getrandbits(96):024x}"},
            "owner": owner,
            "day": (date(2024, 1, 1) + timedelta(days=rng.randrange(31))).isoformat(),
            "resource": {"type": "datasets", "id": f"d{rng.randrange(200)}"},
            "operationTrack": rng.choice(("readDataAPI", "readDataFiles", "openApplication")),
            "statusClass": rng.choice(("ok", "ok", "ok", "clientError", "serverError")),
            "userClass": rng.choice(("anonymous", "owner", "external", "ownerAPIKey")),
            "refererDomain": rng.choice(("none", *(f"site{i}.example" for i in range(50)))),
            "refererCategory": rng.choice(("other", "embed", "app", "backoffice")),
            "nbRequests": {"$numberLong": str(rng.randint(1, 50))},
            "bytes": rng.randint(0, 10**6) + 0.25,
            "duration": rng.randrange(1, 10**5) / 1000,
        }


def write_exports(count: int, seed: int, lines: Path, array: Path) -> int:
    """Both forms of the same documents, written as they are made; their requests."""
    requests = 0
    with lines.open("w") as by_line, array.open("w") as in_array:
        in_array.write("[")
        for number, document in enumerate(documents(count, seed)):
            requests += int(document["nbRequests"]["$numberLong"])
            text = json.dumps(document)
            by_line.write(text + "\n")
            in_array.write(("," if number else "") + text)
        in_array.write("]")
    return requests


class Run(NamedTuple):
    seconds: float
    max_rss_mb: float
    said: str


def run_import(path: Path, database_url: str) -> Run:
    return run_command(["import-data-fair", "--create", str(path)], database_url)


def run_command(arguments: list[str], database_url: str) -> Run:
    """A command of ours as a process of its own: its wall time, its own max RSS (os.wait4
    reports the child's alone, where RUSAGE_CHILDREN keeps the largest of every child so far)."""
    env = {**os.environ, "USAGE_METRICS_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "app.cli", *arguments]
    started = time.perf_counter()
    with subprocess.Popen(
        command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as child:
        assert child.stdout is not None
        said = child.stdout.read().decode()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    assert child.returncode == 0, said
    return Run(seconds, usage.ru_maxrss / 1024, said.strip())  # Linux: ru_maxrss in KiB


async def timings(database_url: str, runs: int) -> tuple[int, list[tuple[str, list[float]]]]:
    app = create_app(Settings(database_url=database_url, admin_token=TOKEN, secret_key="bench"))  # noqa: S106
    found = []
    async with app.router.lifespan_context(app):
        rows = await connection().execute_query_dict(
            "SELECT SUM(requests) AS requests FROM usage_daily"
        )
        stored = int(rows[0]["requests"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            asks = [(f"_agg {n}", "_agg", {**MONTH, **q}) for n, q in QUERIES.items()]
            asks.append(("_export of the month", "_export", MONTH))
            for name, route, params in asks:
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    answer = await client.get(
                        f"/api/daily-api-metrics/{route}", params=params, headers=headers
                    )
                    times.append((time.perf_counter() - started) * 1000)
                    assert answer.status_code == 200, answer.text
                found.append((name, times))
    return stored, found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.datafair")
    parser.add_argument("--documents", type=int, nargs="+", default=[50_000])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    databases = [("SQLite", sqlite_database)]
    if not args.skip_postgres:
        databases.append(("PostgreSQL", postgres_database))
    rows: list[list[str]] = []
    for number, size in enumerate(args.documents):
        with tempfile.TemporaryDirectory(prefix="usage-metrics-bench-") as directory:
            path = Path(directory) / "daily-api-metrics.json"
            array = Path(directory) / "daily-api-metrics-array.json"
            expected = write_exports(size, args.seed, path, array)
            for name, make in databases:
                rows.extend(_bench(name, make, path, array, expected, size, number == 0, args))
    print(table(["database", "what", "documents/s", "p50 / time", "max / max RSS"], rows, _RIGHT))
    return 0


_RIGHT = frozenset({2, 3, 4})


def _bench(
    name: str,
    make: Callable[[], AbstractContextManager[str]],
    path: Path,
    array: Path,
    expected: int,
    size: int,
    first: bool,
    args: argparse.Namespace,
) -> list[list[str]]:
    with make() as url:
        # The schema first: its creation (a second or more, once per database) is no
        # document's work, and timed with them it hid the import's own rate.
        schema = run_command(["migrate"], url)
        imported = run_import(path, url)
        found = [[name, f"import {count(size)} documents", *_rate(imported, size)]]
        if first:
            found.insert(0, [name, "create the schema", "", f"{schema.seconds:.1f} s", ""])
        if not first:
            return found
        again = run_import(path, url)
        assert f"0 documents imported, {size} already" in again.said, again.said
        other_form = run_import(array, url)
        assert f"0 documents imported, {size} already" in other_form.said, other_form.said
        stored, asked = asyncio.run(timings(url, args.runs))
        assert stored == expected, (stored, expected)
    found.append([name, "import the same file again", *_rate(again, size)])
    found.append([name, "import its --jsonArray form", *_rate(other_form, size)])
    for query, times in asked:
        p50 = statistics.median(times)
        found.append([name, query, "", f"{p50:.0f} ms", f"{max(times):.0f} ms"])
    return found


def _rate(run: Run, size: int) -> list[str]:
    return [count(size / run.seconds), f"{run.seconds:.1f} s", f"{run.max_rss_mb:.0f} MB"]


if __name__ == "__main__":
    sys.exit(main())
