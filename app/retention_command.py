"""`usage-metrics purge [--dry-run]`: apply the retention settings, saying what goes."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from app.config import Settings
from app.db import database
from app.retention import KEYS_TABLE, PurgeReport, purge


def add_purge_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "purge",
        help="forget Idempotency-Keys past USAGE_METRICS_IDEMPOTENCY_DAYS and usage rows past "
        "USAGE_METRICS_KEEP_DAYS (the server also does it daily)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would be removed, remove nothing"
    )
    parser.set_defaults(run=run_purge)


def run_purge(settings: Settings, args: argparse.Namespace) -> int:
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
