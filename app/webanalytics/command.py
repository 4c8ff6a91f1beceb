"""`usage-metrics analytics set|show`: the web-analytics provider, checked as the form does."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from app.config import Settings
from app.storage.database import database
from app.webanalytics.store import read_analytics, save_analytics
from app.webanalytics.tracking import AnalyticsForm, AnalyticsProvider, validate_form

# The command line's name of each form field, for error messages.
_FLAGS = {
    "provider": "--provider",
    "tracker_url": "--tracker-url",
    "site_id": "--site-id",
    "cookieless": "--cookieless",
    "measurement_id": "--measurement-id",
}
_PROVIDER_FIELDS = {
    "none": (),
    "matomo": ("tracker_url", "site_id", "cookieless"),
    "google-analytics": ("measurement_id",),
}


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    analytics = commands.add_parser("analytics", help="show or set the web-analytics provider")
    actions = analytics.add_subparsers(title="actions", required=True)
    store = actions.add_parser(
        "set", help="check and store a provider; portals get it at once (caches: a minute)"
    )
    store.add_argument("--provider", required=True, choices=[p.value for p in AnalyticsProvider])
    store.add_argument("--tracker-url", help="Matomo: the server's http(s) URL")
    store.add_argument("--site-id", help="Matomo: the site id, a whole number from 1")
    store.add_argument(
        "--cookieless",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Matomo: keep no cookie, so no consent is needed (on unless --no-cookieless)",
    )
    store.add_argument("--measurement-id", help="Google Analytics: G- then letters and digits")
    store.set_defaults(run=_set)
    show = actions.add_parser("show", help="print the stored configuration as JSON")
    show.set_defaults(run=_show)


def _set(settings: Settings, args: argparse.Namespace) -> int:
    """The form's validation; an error names the flag, and nothing is stored."""
    stray = [
        _FLAGS[name]
        for name in _PROVIDER_FIELDS["matomo"] + _PROVIDER_FIELDS["google-analytics"]
        if getattr(args, name) is not None and name not in _PROVIDER_FIELDS[args.provider]
    ]
    if stray:
        print(
            f"usage-metrics: {', '.join(stray)}: not for --provider {args.provider}",
            file=sys.stderr,
        )
        return 1
    form = AnalyticsForm(
        provider=args.provider,
        tracker_url=args.tracker_url or "",
        site_id=args.site_id or "",
        cookieless=args.cookieless is not False,
        measurement_id=args.measurement_id or "",
    )
    stored, errors = validate_form(form)
    if stored is None:
        for name, message in errors.items():
            print(f"usage-metrics: {_FLAGS[name]}: {message}", file=sys.stderr)
        return 1

    async def run() -> None:
        async with database(settings.database_url):
            await save_analytics(stored)

    asyncio.run(run())
    print(json.dumps(stored, indent=2, sort_keys=True))
    print("saved: portals get it at once (their caches within a minute)", file=sys.stderr)
    return 0


def _show(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> dict[str, object] | None:
        async with database(settings.database_url):
            return await read_analytics()

    stored = asyncio.run(run()) or {"provider": AnalyticsProvider.NONE.value}
    print(json.dumps(stored, indent=2, sort_keys=True))
    return 0
