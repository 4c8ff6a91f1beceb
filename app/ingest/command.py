"""Ingest's commands: `usage-metrics resources add` registers a resource's owner, for lines that
carry none (nginx combined); `usage-metrics fold` adds the waiting ledger rows to the tables
(and rebuilds the summaries a stopped import left), and with --retry-quarantined first puts
back the rows set aside."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from datetime import UTC, date, datetime

from app.config import Settings
from app.core.records import OWNER_TYPES
from app.core.titles import fold
from app.ingest import quarantine
from app.ingest.domain_cap import DomainCap
from app.ingest.failures import classify
from app.ingest.fold import Folded, FoldError, fold_waiting
from app.ingest.rebuilds import rebuild
from app.storage.database import database
from app.storage.models import ResourceRow


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _add_resources_parser(commands)
    fold = commands.add_parser(
        "fold",
        help="add the batches waiting in the ingest ledger to the tables, then exit (every "
        "server does it each USAGE_METRICS_FOLD_INTERVAL seconds)",
    )
    fold.add_argument(
        "--retry-quarantined",
        action="store_true",
        help="first put the batches set aside in the quarantine back in the ledger (after the "
        "cause was fixed): each is counted once, or set aside again",
    )
    fold.set_defaults(run=_fold)


def _fold(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> tuple[int, Folded, list[tuple[str, date]]]:
        async with database(settings.database_url):
            try:
                put_back = await quarantine.put_back() if args.retry_quarantined else 0
            except Exception as exc:
                raise FoldError(classify(exc)) from exc
            cap = DomainCap(settings.max_domains_per_day, settings.max_apps_per_day)
            folded = await fold_waiting(cap)
            try:
                months = await rebuild()
            except Exception as exc:
                raise FoldError(classify(exc)) from exc
            return put_back, folded, months

    try:
        put_back, folded, months = asyncio.run(run())
    except FoldError as exc:
        print(
            f"folding failed ({exc.failure.value}: {exc.failure.message}); nothing of the "
            "pass that failed was counted: run it again",
            file=sys.stderr,
        )
        return 1
    if args.retry_quarantined:
        print(f"put back {put_back} batches from the quarantine")
    print(f"folded {folded.batches} batches ({folded.keys} merged daily rows)")
    if months:
        count = len({month for _, month in months})
        print(
            f"rebuilt the summaries of {count} month{'s' if count > 1 else ''} a stopped import "
            "left"
        )
    if folded.set_aside:
        reasons = ", ".join(
            f"{n} {reason}" for reason, n in sorted(Counter(folded.set_aside).items())
        )
        print(f"set aside {len(folded.set_aside)} batches in the quarantine ({reasons})")
        return 1
    return 0


def _add_resources_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    resources = commands.add_parser("resources", help="register datasets and their owners")
    resource_actions = resources.add_subparsers(title="actions", required=True)
    add = resource_actions.add_parser(
        "add",
        help="register a resource's owner (needed for nginx combined lines, which carry none)",
    )
    add.add_argument("resource", help="<type>/<id>, e.g. datasets/roads")
    add.add_argument("--owner", required=True, help="<type>:<id>, e.g. organization:acme")
    add.add_argument("--title", default=None)
    add.set_defaults(run=_add)


def _add(settings: Settings, args: argparse.Namespace) -> int:
    resource_type, _, resource_id = args.resource.partition("/")
    owner_type, _, owner_id = args.owner.partition(":")
    if not resource_id or owner_type not in OWNER_TYPES or not owner_id:
        print("usage: resources add <type>/<id> --owner user|organization:<id>", file=sys.stderr)
        return 2

    async def run() -> None:
        today = datetime.now(UTC).date()
        async with database(settings.database_url):
            await ResourceRow.update_or_create(
                resource_type=resource_type,
                resource_id=resource_id,
                defaults=_resource_defaults(owner_type, owner_id, args.title, today),
            )

    asyncio.run(run())
    print(f"{args.resource} is owned by {args.owner}", file=sys.stderr)
    return 0


def _resource_defaults(
    owner_type: str, owner_id: str, title: str | None, today: date
) -> dict[str, object]:
    defaults: dict[str, object] = {
        "owner_type": owner_type,
        "owner_id": owner_id,
        "first_day": today,
        "last_day": today,
    }
    if title is not None:
        defaults["title"] = title
        defaults["title_folded"] = fold(title)
    return defaults
