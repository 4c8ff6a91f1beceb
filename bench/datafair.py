"""Data Fair benchmark: `import-data-fair` of a generated mongoexport, then `_agg` and `_export`.

    python -m bench.datafair [--documents N] [--runs R] [--seed S] [--skip-postgres]

N documents of one month (4 owners, 200 datasets, every Data Fair dimension) are written as
mongoexport JSON lines and as a JSON array; the command imports the lines into a fresh database
(SQLite, then PostgreSQL), again, then the array (every document already counted); then, in
process, each `_agg` query and the export are asked R times for the largest owner. Prints
Markdown; checks the stored requests against the file's.
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
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.main import create_app
from app.storage.database import connection
from bench.server import PROJECT_ROOT, TOKEN, postgres_database, sqlite_database
from bench.tables import table

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


def documents(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        owner = {"type": "organization", "id": f"org{min(int(rng.expovariate(1.0)), 3)}"}
        found.append(
            {
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
        )
    return found


def run_import(path: Path, database_url: str) -> tuple[float, str]:
    env = {**os.environ, "USAGE_METRICS_DATABASE_URL": database_url}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "import-data-fair", "--create", str(path)],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, done.stdout.strip()


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
    parser.add_argument("--documents", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    generated = documents(args.documents, args.seed)
    expected = sum(int(d["nbRequests"]["$numberLong"]) for d in generated)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="usage-metrics-bench-") as directory:
        path = Path(directory) / "daily-api-metrics.json"
        path.write_text("\n".join(json.dumps(d) for d in generated) + "\n")
        array = Path(directory) / "daily-api-metrics-array.json"
        array.write_text(json.dumps(generated))
        databases = [("SQLite", sqlite_database)]
        if not args.skip_postgres:
            databases.append(("PostgreSQL", postgres_database))
        for name, make in databases:
            with make() as url:
                first, _ = run_import(path, url)
                again, said = run_import(path, url)
                assert f"0 documents imported, {args.documents} already" in said, said
                other_form, said = run_import(array, url)
                assert f"0 documents imported, {args.documents} already" in said, said
                stored, asked = asyncio.run(timings(url, args.runs))
                assert stored == expected, (stored, expected)
            rows.append([name, f"import {args.documents} documents", f"{first:.1f} s", ""])
            rows.append([name, "import the same file again", f"{again:.1f} s", ""])
            rows.append([name, "import its --jsonArray form", f"{other_form:.1f} s", ""])
            for query, times in asked:
                p50 = statistics.median(times)
                rows.append([name, query, f"{p50:.0f} ms", f"{max(times):.0f} ms"])
    print(table(["database", "what", "p50 / time", "max"], rows, frozenset({2, 3})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
