"""The usage-metrics command: `serve` is here; every other command lives in the package it runs
(`<package>/command.py`, with `add_parsers(commands)`), listed below."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from app.auth.command import add_parsers as add_auth_parsers
from app.auth.tokens import create_token
from app.config import Settings, load_settings
from app.datafair.command import add_parsers as add_datafair_parsers
from app.errors import UsageMetricsError
from app.ingest.command import add_parsers as add_ingest_parsers
from app.observability.logs import configure_logging
from app.shipping.command import add_parsers as add_shipping_parsers
from app.storage.command import add_parsers as add_storage_parsers
from app.storage.database import database
from app.storage.models import TokenRow
from app.syslog.command import add_parsers as add_syslog_parsers
from app.webanalytics.command import add_parsers as add_webanalytics_parsers

COMMANDS = (
    add_auth_parsers,  # tokens
    add_datafair_parsers,  # import-data-fair, owner-names
    add_ingest_parsers,  # resources, fold
    add_webanalytics_parsers,  # analytics
    add_shipping_parsers,  # ship, import
    add_storage_parsers,  # migrate, purge
    add_syslog_parsers,  # syslog
)


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
    for add_parsers in COMMANDS:
        add_parsers(commands)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.web.slow_clients import deadline_protocol

    asyncio.run(_first_admin_token(settings))
    # No access log: uvicorn's prints client addresses and query strings.
    # log_config=None: uvicorn keeps the logging configured above (text or JSON lines).
    # proxy_headers=False: X-Forwarded-For is read by the sign-in back-off, and only from
    # USAGE_METRICS_TRUSTED_PROXIES; uvicorn's own reading trusted 127.0.0.1 by default.
    # Slow clients (docs/security.md): h11 with deadlines for request heads and bodies, which
    # uvicorn lacks; past limit_concurrency open connections a request gets 503 at once; no
    # WebSocket upgrade (no route takes one, and it would leave the deadlines' protocol).
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        access_log=False,
        log_config=None,
        proxy_headers=False,
        http=deadline_protocol(settings.header_timeout_s, settings.body_timeout_s),
        ws="none",
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=5,
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


if __name__ == "__main__":
    sys.exit(main())
