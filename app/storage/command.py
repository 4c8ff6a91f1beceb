"""Storage's commands: `usage-metrics migrate [--check]` brings the schema up to date (or tells
if it is); `usage-metrics purge [--dry-run]` applies the retention settings, saying what goes."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from app.config import Settings
from app.storage.database import (
    close_database,
    connect_database,
    database,
    database_file,
    migrate_database,
    pending_database_migrations,
)
from app.storage.opening import require_file
from app.storage.retention import KEYS_TABLE, PurgeReport, purge

CHECK_WITHOUT_DATABASE = (
    "`usage-metrics migrate` makes one, or name the server's settings (--env-file PATH, or "
    "USAGE_METRICS_ENV_FILE)"
)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _add_migrate_parser(commands)
    _add_purge_parser(commands)


def _add_migrate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="apply the pending schema migrations and list them (serve does it too at start)",
    )
    migrate.add_argument(
        "--check",
        action="store_true",
        help="apply nothing: list the pending migrations and exit 1 if there are any (2: the "
        "database cannot be opened)",
    )
    migrate.set_defaults(run=_migrate)


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    if args.check:  # a check makes nothing, not even an empty SQLite file
        require_file(database_file(settings.database_url), CHECK_WITHOUT_DATABASE)

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


def _add_purge_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "purge",
        help="forget Idempotency-Keys past USAGE_METRICS_IDEMPOTENCY_DAYS and usage rows past "
        "USAGE_METRICS_KEEP_DAYS (the server also does it daily)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be removed, remove nothing"
    )
    parser.set_defaults(run=_purge)


def _purge(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> PurgeReport:
        async with database(settings.database_url):
            return await purge(settings, datetime.now(UTC), dry_run=args.dry_run)

    for line in describe(asyncio.run(run()), settings):
        print(line)
    return 0


def describe(report: PurgeReport, settings: Settings) -> list[str]:
    """One line per table: its rows removed (or that would be) and the cut-off."""
    cut = report.cutoffs
    lines = [
        "would remove (dry run: nothing was removed):" if report.dry_run else "removed:",
        f"  {KEYS_TABLE}: {report.rows[KEYS_TABLE]} rows (Idempotency-Keys received before "
        f"{cut.keys_before:%Y-%m-%d %H:%M:%S} UTC; "
        f"USAGE_METRICS_IDEMPOTENCY_DAYS={settings.idempotency_days})",
    ]
    if cut.days_before is None:
        lines.append("  usage rows: none (USAGE_METRICS_KEEP_DAYS is not set: kept forever)")
        return lines
    for table, count in report.rows.items():
        if table != KEYS_TABLE:
            lines.append(f"  {table}: {count} rows (days before {cut.days_before.isoformat()})")
    lines.append(
        f"  USAGE_METRICS_KEEP_DAYS={settings.keep_days} keeps the days from {cut.days_before} "
        "(rounded down to a month's first day: summary months stay whole)"
    )
    return lines
