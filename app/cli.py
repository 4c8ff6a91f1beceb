"""The usage-metrics command: serve, tokens, resources add, analytics; the other commands
(ship, import, syslog, migrate, purge) live beside what they run and register here."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime

from app.analytics import AnalyticsForm, AnalyticsProvider, validate_form
from app.analytics_store import read_analytics, save_analytics
from app.config import Settings, load_settings
from app.db import database
from app.errors import UsageMetricsError
from app.migrate_command import add_migrate_parser
from app.models import ResourceRow, TokenRow
from app.observability.logs import configure_logging
from app.retention_command import add_purge_command
from app.shipping.command import add_shipping_parsers
from app.syslog.command import add_syslog_parser
from app.tokens import check_scope, create_token, revoke_token


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        settings = load_settings(os.environ)
        configure_logging(settings.log_format, settings.log_level)
        return int(args.run(settings, args))
    except UsageMetricsError as exc:
        print(f"usage-metrics: {exc.message}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usage-metrics",
        description="Usage metrics of an open-data portal from its reverse proxy's logs.",
    )
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="start the HTTP server (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.set_defaults(run=_serve)

    tokens = commands.add_parser("tokens", help="create, list and revoke API tokens")
    actions = tokens.add_subparsers(title="actions", required=True)
    create = actions.add_parser("create", help="create a token and print it (only this once)")
    create.add_argument("--scope", required=True, help="admin | ingest | owner:<type>:<id>")
    create.add_argument("--name", default="", help="a name to recognise the token by")
    create.set_defaults(run=_tokens_create)
    listing = actions.add_parser("list", help="list tokens (names and scopes, never the tokens)")
    listing.set_defaults(run=_tokens_list)
    revoke = actions.add_parser("revoke", help="revoke tokens by id or by name")
    revoke.add_argument("token", help="the token's id or name (see tokens list)")
    revoke.set_defaults(run=_tokens_revoke)

    resources = commands.add_parser("resources", help="register datasets and their owners")
    resource_actions = resources.add_subparsers(title="actions", required=True)
    add = resource_actions.add_parser(
        "add",
        help="register a resource's owner (needed for nginx combined lines, which carry none)",
    )
    add.add_argument("resource", help="<type>/<id>, e.g. datasets/roads")
    add.add_argument("--owner", required=True, help="<type>:<id>, e.g. organization:acme")
    add.add_argument("--title", default=None)
    add.set_defaults(run=_resources_add)
    _analytics_parser(commands)
    add_shipping_parsers(commands)
    add_migrate_parser(commands)
    add_syslog_parser(commands)
    add_purge_command(commands)
    return parser


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


def _analytics_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    store.set_defaults(run=_analytics_set)
    show = actions.add_parser("show", help="print the stored configuration as JSON")
    show.set_defaults(run=_analytics_show)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app

    asyncio.run(_first_admin_token(settings))
    # No access log: uvicorn's prints client addresses and query strings.
    # log_config=None: uvicorn keeps the logging configured above (text or JSON lines).
    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, access_log=False, log_config=None
    )
    return 0


async def _first_admin_token(settings: Settings) -> None:
    """On a first start with no token at all, make an admin token so the quick start works."""
    async with database(settings.database_url):
        if settings.admin_token or await TokenRow.exists():
            return
        token = await create_token("admin", "first admin token")
    print(
        "\nNo token existed: an admin token was created. It is shown this once; keep it:\n\n"
        f"    {token}\n\n"
        "Use it as 'Authorization: Bearer <token>' (POST /ingest, GraphQL) and to sign in.\n",
        file=sys.stderr,
        flush=True,
    )


def _tokens_create(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> str:
        async with database(settings.database_url):
            return await create_token(check_scope(args.scope), args.name or args.scope)

    token = asyncio.run(run())
    print(token)  # alone on stdout, so that TOKEN=$(usage-metrics tokens create ...) works
    print(f"created a token with scope {args.scope}; it is not shown again", file=sys.stderr)
    return 0


def _tokens_list(settings: Settings, args: argparse.Namespace) -> int:
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


def _tokens_revoke(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> int:
        async with database(settings.database_url):
            return await revoke_token(args.token)

    count = asyncio.run(run())
    if count == 0:
        print(f"no token has the id or name {args.token!r}", file=sys.stderr)
        return 1
    print(f"revoked {count} token(s)", file=sys.stderr)
    return 0


def _resources_add(settings: Settings, args: argparse.Namespace) -> int:
    resource_type, _, resource_id = args.resource.partition("/")
    owner_type, _, owner_id = args.owner.partition(":")
    if not resource_id or owner_type not in ("user", "organization") or not owner_id:
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
    return defaults


def _analytics_set(settings: Settings, args: argparse.Namespace) -> int:
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


def _analytics_show(settings: Settings, args: argparse.Namespace) -> int:
    async def run() -> dict[str, object] | None:
        async with database(settings.database_url):
            return await read_analytics()

    stored = asyncio.run(run()) or {"provider": AnalyticsProvider.NONE.value}
    print(json.dumps(stored, indent=2, sort_keys=True))
    return 0


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""


if __name__ == "__main__":
    sys.exit(main())
