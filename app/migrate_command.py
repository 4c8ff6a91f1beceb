"""`usage-metrics migrate [--check]`: bring the database's schema up to date, or tell if it is."""

from __future__ import annotations

import argparse
import asyncio

from app.config import Settings
from app.db import (
    close_database,
    connect_database,
    migrate_database,
    pending_database_migrations,
)


def add_migrate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="apply the pending schema migrations and list them (serve does it too at start)",
    )
    migrate.add_argument(
        "--check",
        action="store_true",
        help="apply nothing: list the pending migrations and exit 1 if there are any",
    )
    migrate.set_defaults(run=_migrate)


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> int:
        await connect_database(settings.database_url)
        try:
            if args.check:
                return _report_pending(await pending_database_migrations())
            _report_applied(await migrate_database())
            return 0
        finally:
            await close_database()

    return asyncio.run(run())


def _report_applied(applied: list[str]) -> None:
    for name in applied:
        print(f"applied {name}")
    if not applied:
        print("already up to date")


def _report_pending(pending: list[str]) -> int:
    for name in pending:
        print(f"pending {name}")
    if not pending:
        print("up to date")
    return 1 if pending else 0
