"""Dashboard page weights (issue 24): the bytes of the page and of its htmx fragment, as the admin,
the largest owner and a median owner, over a year and 30 days, on a kept benchmark database
(`python -m bench.scale --keep`), which it only reads.

    python -m bench.page_weight --database URL --today YYYY-MM-DD --owner TYPE:ID ...
                                [--before PATH]

A uvicorn server of this checkout serves the database with `USAGE_METRICS_TODAY` set (the
periods end the day before it); with --before, a second one runs the checkout at PATH (an
earlier release: `git archive <commit> | tar -x -C PATH`) on the same database. The admin token
signs in; an owner is viewed as the admin picks it (owner picker included). Prints a Markdown
table of uncompressed HTML: the page, and the view alone as htmx asks for it (`HX-Target: view`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import httpx

from bench import server
from bench.query import sign_in
from bench.tables import count, table

FRAGMENT = {"HX-Request": "true", "HX-Target": "view"}


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    today = date.fromisoformat(args.today)
    roots = [*([args.before] if args.before else []), server.PROJECT_ROOT]
    views = _views(today, args.owner)
    with ExitStack() as stack:
        clients = []
        for root in roots:
            base_url = stack.enter_context(
                server.running_server(args.database, root=root, USAGE_METRICS_TODAY=args.today)
            )
            client = stack.enter_context(httpx.Client(base_url=base_url, timeout=300))
            sign_in(client)
            clients.append(client)
        rows = [
            [who, period, *(_weights(client, query) for client in clients)]
            for who, period, query in views
        ]
    sides = ["before", "now"] if args.before else ["now"]
    header = ["viewer", "period", *(f"page / fragment, {side}" for side in sides)]
    print(table(header, rows, frozenset(range(2, 2 + len(sides)))))
    return 0


def _views(today: date, owners: Sequence[str]) -> list[tuple[str, str, str]]:
    end = today - timedelta(days=1)
    periods = {
        "a year": (end - timedelta(days=364), end, ""),
        "a year by day": (end - timedelta(days=364), end, "&interval=day"),
        "30 days": (end - timedelta(days=29), end, ""),
    }
    found = []
    for who in ["admin", *owners]:
        picked = "" if who == "admin" else f"&owner={who}"
        for name, (start, last, more) in periods.items():
            found.append((who, name, f"/dashboard?start={start}&end={last}{picked}{more}"))
    return found


def _weights(client: httpx.Client, query: str) -> str:
    sizes = []
    for headers in ({}, FRAGMENT):
        answer = client.get(query, headers=headers)
        if answer.status_code != 200:
            return f"{answer.status_code}"  # an earlier release may refuse a view
        sizes.append(f"{count(len(answer.content) / 1000)} KB")
    return " / ".join(sizes)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.page_weight", description=__doc__.split("\n\n", 1)[0]
    )
    parser.add_argument("--database", required=True, help="a kept benchmark database's URL")
    parser.add_argument("--today", required=True, help="the dashboard's today (YYYY-MM-DD)")
    parser.add_argument(
        "--owner", action="append", default=[], help="an owner to view as TYPE:ID (repeat)"
    )
    parser.add_argument("--before", type=Path, help="an earlier checkout to compare with")
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
