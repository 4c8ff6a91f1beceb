"""`usage-metrics subscriptions add|list|remove`, `reports send` and `alerts check`: reports
and alerts from the command line or cron (docs/reports-and-alerts.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, timedelta

from app.config import Settings
from app.core.records import Owner
from app.errors import BadUserInputError
from app.notify.deliveries import SendError
from app.notify.reports import report_period
from app.notify.scheduler import Done, Due, Notifier
from app.notify.subscriptions import (
    LANGS,
    Channel,
    Kind,
    Thresholds,
    Wanted,
    check_target,
    read_owner,
    subscribe,
    subscriptions,
    unsubscribe,
)
from app.notify.webhooks import check_address
from app.storage.database import database

PERIODS = {"last-week": Kind.WEEKLY, "last-month": Kind.MONTHLY}


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _add_subscriptions_parser(commands)
    report = commands.add_parser("reports", help="send the reports that are due")
    report_actions = report.add_subparsers(title="actions", required=True)
    send = report_actions.add_parser(
        "send",
        help="send the report of the week or month before to every subscription not sent it "
        "yet (waits for a server that is sending; each report goes once)",
    )
    send.add_argument("--period", required=True, choices=sorted(PERIODS))
    send.set_defaults(run=_send_reports)
    alert = commands.add_parser("alerts", help="send the alerts of a day")
    alert_actions = alert.add_subparsers(title="actions", required=True)
    check = alert_actions.add_parser(
        "check", help="look for drops, spikes and server errors of a day and send them once"
    )
    check.add_argument("--day", type=_day, default=None, help="YYYY-MM-DD (default: yesterday)")
    check.set_defaults(run=_check_alerts)


def _add_subscriptions_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    subs = commands.add_parser("subscriptions", help="who gets reports and alerts")
    actions = subs.add_subparsers(title="actions", required=True)
    add = actions.add_parser(
        "add", help="subscribe an address or a webhook URL (a webhook's secret is shown once)"
    )
    whose = add.add_mutually_exclusive_group(required=True)
    whose.add_argument(
        "--owner", type=_owner, metavar="TYPE:ID", help="user:<id> or organization:<id>"
    )
    whose.add_argument("--all", action="store_true", help="every owner's figures together")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--email", metavar="ADDR")
    where.add_argument("--webhook", metavar="URL")
    add.add_argument("--report", action="append", choices=("weekly", "monthly"), default=[])
    add.add_argument("--alerts", action="store_true", help="drops, spikes and server errors")
    add.add_argument("--lang", choices=LANGS, default="en")
    defaults = Thresholds()
    for flag, kind, default, meaning in (
        ("--drop", float, defaults.drop_share, "share of the baseline lost"),
        ("--spike", float, defaults.spike_factor, "times the baseline"),
        ("--errors", float, defaults.error_share, "share of server errors"),
        ("--floor", int, defaults.floor, "least baseline a day"),
    ):
        add.add_argument(flag, type=kind, default=default, help=f"{meaning} (default {default:g})")
    add.set_defaults(run=_add)
    listing = actions.add_parser("list", help="list the subscriptions")
    listing.set_defaults(run=_list)
    remove = actions.add_parser("remove", help="end a subscription by its id (see list)")
    remove.add_argument("id", type=int)
    remove.set_defaults(run=_remove)


def _add(settings: Settings, args: argparse.Namespace) -> int:
    channel = Channel.EMAIL if args.email is not None else Channel.WEBHOOK
    target = args.email if args.email is not None else args.webhook
    owner: Owner | None = None if args.all else args.owner
    wanted = Wanted("weekly" in args.report, "monthly" in args.report, args.alerts, args.lang)
    limits = Thresholds(args.drop, args.spike, args.errors, args.floor)

    async def run() -> tuple[int, str, bool]:
        check_target(channel, target)  # before the host is resolved
        if channel is Channel.WEBHOOK:
            await check_address(target, settings.webhook_allow_private)
        async with database(settings.database_url):
            found, made = await subscribe(
                owner, channel, target, wanted, Notifier(settings).today(), limits
            )
            return found.id, found.secret, made

    try:
        number, secret, made = asyncio.run(run())
    except SendError as exc:
        raise BadUserInputError(exc.message) from None
    print(f"subscription {number} {'made' if made else 'updated'}", file=sys.stderr)
    if made and channel is Channel.WEBHOOK:
        print(secret)  # alone on stdout, shown this once: the receiver checks signatures with it
        print("the webhook's signing secret above is not shown again", file=sys.stderr)
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> list[str]:
        async with database(settings.database_url):
            found = await subscriptions()
        return [
            f"{s.id:>4}  {s.owner_text:<32} {s.channel.value:<8} "
            f"{','.join(k.value for k in s.wanted.kinds()):<22} {s.wanted.lang}  {s.target}"
            for s in found
        ]

    lines = asyncio.run(run())
    print(f"{'id':>4}  {'owner':<32} {'channel':<8} {'receives':<22} lang  to")
    for line in lines:
        print(line)
    return 0


def _remove(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> bool:
        async with database(settings.database_url):
            return await unsubscribe(args.id)

    if not asyncio.run(run()):
        print(f"no subscription has the id {args.id}", file=sys.stderr)
        return 1
    print(f"subscription {args.id} removed", file=sys.stderr)
    return 0


def _send_reports(settings: Settings, args: argparse.Namespace) -> int:
    kind = PERIODS[args.period]
    today = Notifier(settings).today()
    period = report_period(kind, today)
    due = Due(
        period if kind is Kind.WEEKLY else None,
        period if kind is Kind.MONTHLY else None,
        (),
        asked=True,
    )
    return _run(settings, due)


def _check_alerts(settings: Settings, args: argparse.Namespace) -> int:
    day = args.day or Notifier(settings).today() - timedelta(days=1)
    return _run(settings, Due(None, None, (day,), asked=True))


def _run(settings: Settings, due: Due) -> int:
    async def run() -> Done:
        async with database(settings.database_url):
            return await Notifier(settings).send_due(due, wait_s=settings.notify_lease_wait_s)

    done = asyncio.run(run())
    if not done.held:
        print("another process held the sending lease all along: try again", file=sys.stderr)
        return 1
    print(f"sent {done.sent}, failed {done.failed}")
    if done.sent and settings.secret_key_is_random:
        print(
            "USAGE_METRICS_SECRET_KEY is not set: the unsubscribe links sent do not work; set "
            "the server's key (--env-file)",
            file=sys.stderr,
        )
    return 1 if done.failed else 0


def _owner(text: str) -> Owner:
    try:
        return read_owner(text)
    except BadUserInputError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None
