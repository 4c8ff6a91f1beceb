"""`usage-metrics import-data-fair FILE...`: Data Fair's metrics history, counted once
(docs/coming-from-data-fair.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from app.config import Settings
from app.datafair.history import FileReport, import_file
from app.shipping.progress import Progress
from app.storage.database import database


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "import-data-fair",
        help="import a mongoexport of Data Fair's daily-api-metrics (counted once per file)",
        description=(
            "Reads mongoexport files of the daily-api-metrics collection (JSON lines or "
            "--jsonArray, Extended JSON) into usage_daily and the summaries. A file imported "
            "again counts nothing twice."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.set_defaults(run=_run)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        print(f"usage-metrics: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    reports = asyncio.run(_import(settings, args.files))
    for report in reports:
        _print(report)
    return 1 if any(report.skipped for report in reports) else 0


async def _import(settings: Settings, files: list[Path]) -> list[FileReport]:
    reports = []
    async with database(settings.database_url):
        for path in files:
            progress = Progress(sys.stderr, path.name, path.stat().st_size, unit="bytes")
            reports.append(await import_file(path, progress.advance))
            progress.finish()
    return reports


def _print(report: FileReport) -> None:
    skipped = sum(report.skipped.values())
    print(
        f"{report.path}: {report.imported} documents imported, {report.duplicate} already "
        f"imported before, {skipped} skipped"
    )
    for reason, count in sorted(report.skipped.items()):
        print(f"  skipped {count}: {reason.value} ({reason.message})")
    for number, reason in report.first_skips:
        print(f"  document {number}: {reason.value}")
