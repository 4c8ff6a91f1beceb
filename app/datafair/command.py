"""`usage-metrics import-data-fair FILE...`: Data Fair's metrics history, counted once;
`usage-metrics owner-names`: owners' names from Data Fair's API, or one by hand
(docs/coming-from-data-fair.md)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

from app.config import Settings
from app.core.limits import MAX_ID_LENGTH
from app.core.records import OWNER_TYPES, Owner
from app.core.titles import shown_text
from app.datafair.history import FileReport, import_file, rebuild_summaries
from app.datafair.owner_names import (
    ANSWER_WITHIN_S,
    RUN_WITHIN_S,
    Deadlines,
    Lookup,
    Outcome,
    look_up_names,
    owners_to_name,
    store_names,
)
from app.shipping.progress import Progress
from app.storage.database import database

GC_EVERY_OBJECTS = 50_000


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
    _add_owner_names_parser(commands)


def _add_owner_names_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "owner-names",
        help="name the owners of datasets from Data Fair's API, or one owner by hand",
        description=(
            "Data Fair's X-Owner header carries no name. For each owner of a dataset that has "
            "no name yet (each one with --all), asks Data Fair's API for one of its datasets and "
            "stores the owner's name found there. --set names one owner by hand instead."
        ),
    )
    parser.add_argument(
        "--data-fair",
        metavar="URL",
        help="Data Fair's base URL, like https://portal.example/data-fair "
        "(default: USAGE_METRICS_DATA_FAIR_URL)",
    )
    parser.add_argument(
        "--all", action="store_true", help="ask for every owner, named already or not"
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="the environment variable holding a Data Fair API key (sent as x-apiKey; never on "
        "the command line), so that owners of private datasets are named too",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=ANSWER_WITHIN_S,
        metavar="SECONDS",
        help=f"the most an answer may take, whole (default {ANSWER_WITHIN_S:g})",
    )
    parser.add_argument(
        "--deadline",
        type=_seconds,
        default=RUN_WITHIN_S,
        metavar="SECONDS",
        help="the most the run may take; names found before it are kept "
        f"(default {RUN_WITHIN_S:g})",
    )
    parser.add_argument(
        "--set",
        nargs=2,
        metavar=("TYPE:ID", "NAME"),
        help="name one owner by hand (user:<id> or organization:<id>), asking nothing",
    )
    parser.set_defaults(run=_run_owner_names)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        print(f"usage-metrics: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    reports = asyncio.run(_import(settings, args.files))
    return 1 if any(report.skipped for report in reports) else 0


async def _import(settings: Settings, files: list[Path]) -> list[FileReport]:
    # The collector's youngest generation, every 700 new objects, scanned a unit's thousands of
    # documents again and again: 20 % of the import's CPU. Cycles are still collected.
    gc.set_threshold(GC_EVERY_OBJECTS, *gc.get_threshold()[1:])
    reports = []
    async with database(settings.database_url):
        for path in files:
            progress = Progress(sys.stderr, path.name, path.stat().st_size, unit="bytes")
            # The summaries once for every file, at the end: the files of one history split
            # in pieces each touch most of its months.
            reports.append(await import_file(path, progress.advance, summaries=False))
            progress.finish()
            _print(reports[-1])  # each file's as it ends: a later file may stop the import
        await rebuild_summaries(str(files[0]) if len(files) == 1 else f"{len(files)} files")
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


def _run_owner_names(settings: Settings, args: argparse.Namespace) -> int:
    today = datetime.now(settings.timezone).date()
    if args.set is not None:
        if args.data_fair or args.all or args.api_key_env:
            return _refuse("--set names one owner by hand: no --data-fair, --all or --api-key-env")
        return _set_name(settings, args.set, today)
    base_url = args.data_fair or settings.data_fair_url
    if base_url is None:
        return _refuse("give Data Fair's base URL: --data-fair URL or USAGE_METRICS_DATA_FAIR_URL")
    if not base_url.lower().startswith(("http://", "https://")):
        return _refuse(f"--data-fair {base_url!r} is not an http(s) URL")
    api_key = None
    if args.api_key_env is not None:
        api_key = _api_key(os.environ, args.api_key_env)
        if api_key is None:
            return _refuse(
                f"the environment variable {args.api_key_env} (--api-key-env) is empty, not set "
                "or not an API key"
            )
    deadlines = Deadlines(args.timeout, args.deadline)
    lookups = asyncio.run(_name_owners(settings, base_url, api_key, args.all, today, deadlines))
    for lookup in lookups:
        print(_lookup_line(lookup))
    return _summary(lookups, args.all)


async def _name_owners(
    settings: Settings,
    base_url: str,
    api_key: str | None,
    every: bool,
    today: date,
    deadlines: Deadlines,
) -> list[Lookup]:
    async def store(owner: Owner, name: str) -> None:
        await store_names([(owner, name)], today)

    async with database(settings.database_url):
        owners = await owners_to_name(every)
        return await look_up_names(base_url, owners, api_key, store, deadlines)


def _set_name(settings: Settings, given: Sequence[str], today: date) -> int:
    reference, raw_name = given
    kind, _, owner_id = reference.partition(":")
    if kind not in OWNER_TYPES or not owner_id or len(owner_id) > MAX_ID_LENGTH:
        return _refuse(
            f"--set {_printable(reference)}: write user:<id> or organization:<id> "
            f"(an id of 1 to {MAX_ID_LENGTH} characters)"
        )
    name = shown_text(raw_name)
    if not name.strip():
        return _refuse("--set: the name is blank")
    owner = Owner(kind, owner_id)

    async def store() -> None:
        async with database(settings.database_url):
            await store_names([(owner, name)], today)

    asyncio.run(store())
    print(_lookup_line(Lookup(owner, Outcome.NAMED, name)))
    return 0


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 86_400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0 to 86400")
    return seconds


def _api_key(environ: Mapping[str, str], name: str) -> str | None:
    # From the environment only: a flag's value shows in `ps` and in shell histories. An HTTP
    # header takes printable ASCII (httpx's error for anything else would quote the key).
    key = environ.get(name, "").strip()
    return key if key and key.isascii() and key.isprintable() else None


def _lookup_line(lookup: Lookup) -> str:
    owner = _printable(f"{lookup.owner.type}:{lookup.owner.id}")
    if lookup.outcome is Outcome.NAMED:
        # As JSON: a name's quotes, line breaks and terminal escapes stay visible as such.
        return f"{owner}: named {json.dumps(lookup.detail, ensure_ascii=False)}"
    if lookup.outcome is Outcome.NOT_FOUND:
        return f"{owner}: not found (Data Fair's API shows no dataset of this owner)"
    return f"{owner}: failed: {lookup.detail}"


def _summary(lookups: Sequence[Lookup], every: bool) -> int:
    if not lookups:
        print(
            "no owner to ask for"
            if every
            else "every owner of a dataset has a name already (--all asks again)"
        )
        return 0
    counts = Counter(lookup.outcome for lookup in lookups)
    parts = ", ".join(f"{counts[outcome]} {outcome.value}" for outcome in Outcome)
    asked = f"{len(lookups)} owner{'s' if len(lookups) > 1 else ''} asked"
    print(f"{asked}: {parts}")
    return 1 if counts[Outcome.FAILED] else 0


def _printable(text: str) -> str:
    return text if text.isprintable() else json.dumps(text)


def _refuse(message: str) -> int:
    print(f"usage-metrics owner-names: {message}", file=sys.stderr)
    return 2
