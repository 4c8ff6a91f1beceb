"""`usage-metrics tokens create|list|revoke`: API tokens, stored as their sha256 only."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from app.auth.tokens import check_scope, create_token, revoke_token
from app.config import Settings
from app.storage.database import database
from app.storage.models import TokenRow


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = commands.add_parser("tokens", help="create, list and revoke API tokens")
    actions = tokens.add_subparsers(title="actions", required=True)
    create = actions.add_parser("create", help="create a token and print it (only this once)")
    create.add_argument("--scope", required=True, help="admin | ingest | owner:<type>:<id>")
    create.add_argument("--name", default="", help="a name to recognise the token by")
    create.set_defaults(run=_create)
    listing = actions.add_parser("list", help="list tokens (names and scopes, never the tokens)")
    listing.set_defaults(run=_list)
    revoke = actions.add_parser("revoke", help="revoke tokens by id or by name")
    revoke.add_argument("token", help="the token's id or name (see tokens list)")
    revoke.set_defaults(run=_revoke)


def _create(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> str:
        async with database(settings.database_url):
            return await create_token(check_scope(args.scope), args.name or args.scope)

    token = asyncio.run(run())
    print(token)  # alone on stdout, so that TOKEN=$(usage-metrics tokens create ...) works
    print(f"created a token with scope {args.scope}; it is not shown again", file=sys.stderr)
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> list[TokenRow]:
        async with database(settings.database_url):
            return await TokenRow.all().order_by("id")

    rows = asyncio.run(run())
    print(f"{'id':>4}  {'name':<24} {'scope':<32} {'created':<20} last used")
    for row in rows:
        print(
            f"{row.id:>4}  {row.name:<24} {row.scope:<32} {_when(row.created_at):<20} "
            f"{_when(row.last_used_at) or 'never'}"
        )
    return 0


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> int:
        async with database(settings.database_url):
            return await revoke_token(args.token)

    count = asyncio.run(run())
    if count == 0:
        print(f"no token has the id or name {args.token!r}", file=sys.stderr)
        return 1
    print(f"revoked {count} token(s)", file=sys.stderr)
    return 0


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""
