"""Dashboard pages of two checkouts, interleaved: p50 / p95 and their ratio, as Markdown.

    python -m bench.pages_ab --database URL --before PATH [--requests N]

Two uvicorn servers on the same database, one running the code of the checkout at PATH (an
earlier release: `git worktree add /tmp/before <commit>`), the other this checkout's. One client
signs in to both and sends each page to one then the other, in turn, so that the noise of a busy
machine falls on both alike: the ratio is what to read, not the milliseconds. The database is one
`python -m bench.query --reuse` kept (its SQLite file or PostgreSQL database); both releases must
open it (the later one may have migrated it first).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench import server
from bench.query import WARM_UP_REQUESTS, sign_in
from bench.tables import table

PAGES = (
    ("7 days", "/dashboard?start=2024-12-25&end=2024-12-31"),
    ("a year", "/dashboard?start=2024-01-01&end=2024-12-31"),
    ("ten years by month", "/dashboard?start=2015-01-01&end=2024-12-31"),
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    rows = []
    with ExitStack() as stack:
        clients = []
        for root in (args.before, server.PROJECT_ROOT):
            base_url = stack.enter_context(server.running_server(args.database, root=root))
            client = stack.enter_context(httpx.Client(base_url=base_url, timeout=120))
            sign_in(client)
            clients.append(client)
        for name, path in PAGES:
            timings: list[list[float]] = [[], []]
            for n in range(-WARM_UP_REQUESTS, args.requests):
                for side, client in enumerate(clients):
                    start = time.perf_counter()
                    answer = client.get(path)
                    elapsed = (time.perf_counter() - start) * 1000
                    if answer.status_code != 200:
                        raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
                    if n >= 0:
                        timings[side].append(elapsed)
            before, now = (p50_p95(side) for side in timings)
            rows.append(
                [
                    name,
                    f"{before[0]:.1f} / {before[1]:.1f}",
                    f"{now[0]:.1f} / {now[1]:.1f}",
                    f"{now[0] / before[0]:.2f} · {now[1] / before[1]:.2f}",
                ]
            )
    header = ["all owners' page", "before p50 / p95 ms", "now p50 / p95 ms", "now / before"]
    print(table(header, rows, right=frozenset({1, 2, 3})))
    return 0


def p50_p95(timings: list[float]) -> tuple[float, float]:
    return statistics.median(timings), statistics.quantiles(timings, n=20, method="inclusive")[-1]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    return checkout_arguments(
        argv, "python -m bench.pages_ab", __doc__, "a database bench.query kept", requests=25
    )


def checkout_arguments(
    argv: Sequence[str] | None, prog: str, doc: str | None, database: str, *, requests: int
) -> argparse.Namespace:
    """--database, --before (an earlier checkout) and --requests, checked: an A/B's arguments."""
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True, help=database)
    parser.add_argument("--before", required=True, type=Path, help="the earlier checkout")
    parser.add_argument("--requests", type=int, default=requests, help="timed requests each")
    args = parser.parse_args(argv)
    if not (args.before / "app" / "main.py").is_file():
        parser.error(f"{args.before} is no checkout of usage-metrics")
    if args.requests < 2:
        parser.error("--requests must be at least 2")
    return args


if __name__ == "__main__":
    raise SystemExit(main())
