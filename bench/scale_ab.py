"""The scale benchmark's heaviest reads on two checkouts, interleaved: p50 / p95, as Markdown.

    python -m bench.scale_ab --database URL --before PATH [--requests N]

On a database `python -m bench.scale --keep` filled, two uvicorn servers, one running the code of
the checkout at PATH (`git worktree add /tmp/before <commit>`), the other this checkout's: the
GraphQL breakdowns by domain and user group and the `/dashboard` page, a year, as the admin and
as the owner of the most datasets, each request sent to one server then the other, so that the
noise of a busy machine falls on both alike. The two answers must be the same (the pages' CSRF
tokens apart).
"""

from __future__ import annotations

import argparse
import asyncio
import re
from collections.abc import Callable, Sequence
from contextlib import ExitStack

import httpx

from app.storage.database import database
from bench import server
from bench.pages_ab import checkout_arguments, p50_p95
from bench.query import sign_in
from bench.scale import BREAKDOWNS
from bench.tables import table

YEAR = {"start": "2025-12-01", "end": "2026-11-30"}  # bench.scale's year, with its previous one
_CSRF = re.compile(r'("X-CSRF-Token": "|name="csrf_token" value=")[^"]*')


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    owner_type, owner_id = asyncio.run(_largest_owner(args.database))
    rows = []
    with ExitStack() as stack:
        clients = []
        for root in (args.before, server.PROJECT_ROOT):
            base_url = stack.enter_context(
                server.running_server(args.database, root=root, USAGE_METRICS_TODAY="2026-12-01")
            )
            client = stack.enter_context(httpx.Client(base_url=base_url, timeout=600))
            sign_in(client)
            clients.append(client)
        for who, owner in (("admin", None), (f"{owner_type}:{owner_id}", (owner_type, owner_id))):
            for name, send in _requests(owner):
                timings: list[list[float]] = [[], []]
                answers = [_CSRF.sub("", send(client).text) for client in clients]
                if answers[0] != answers[1]:
                    raise RuntimeError(f"{name} as {who}: the two checkouts answer differently")
                for _ in range(args.requests):
                    for side, client in enumerate(clients):
                        answer = send(client)
                        answer.raise_for_status()
                        timings[side].append(answer.elapsed.total_seconds() * 1000)
                before, now = (p50_p95(side) for side in timings)
                rows.append(
                    [
                        name,
                        who,
                        f"{before[0]:.0f} / {before[1]:.0f}",
                        f"{now[0]:.0f} / {now[1]:.0f}",
                        f"{now[0] / before[0]:.2f} · {now[1] / before[1]:.2f}",
                    ]
                )
    header = ["a year", "as", "before p50 / p95 ms", "now p50 / p95 ms", "now / before"]
    print(table(header, rows, right=frozenset({2, 3, 4})))
    return 0


def _requests(
    owner: tuple[str, str] | None,
) -> list[tuple[str, Callable[[httpx.Client], httpx.Response]]]:
    graphql_owner = {"type": owner[0].upper(), "id": owner[1]} if owner else None
    body = {"query": BREAKDOWNS, "variables": {"period": YEAR, "owner": graphql_owner}}
    page = f"/dashboard?start={YEAR['start']}&end={YEAR['end']}"
    if owner:
        page += f"&owner={owner[0]}:{owner[1]}"
    headers = {"Authorization": f"Bearer {server.TOKEN}"}
    return [
        ("GraphQL breakdowns", lambda c: c.post("/graphql", json=body, headers=headers)),
        ("dashboard", lambda c: c.get(page)),
    ]


async def _largest_owner(url: str) -> tuple[str, str]:
    async with database(url) as client:
        _, rows = await client.execute_query(
            "SELECT owner_type, owner_id FROM resources GROUP BY owner_type, owner_id "
            "ORDER BY COUNT(*) DESC, owner_type, owner_id LIMIT 1"
        )
    return str(rows[0]["owner_type"]), str(rows[0]["owner_id"])


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    return checkout_arguments(
        argv, "python -m bench.scale_ab", __doc__, "a database bench.scale kept", requests=15
    )


if __name__ == "__main__":
    raise SystemExit(main())
