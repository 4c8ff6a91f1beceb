"""The usage-metrics command: `serve` is here; every other command lives in the package it runs
(`<package>/command.py`, with `add_parsers(commands)`), listed below. Here too, for every
command: the settings file (`--env-file`), the line naming the database, `--create`, and the
exit status of errors (docs/configuration.md#commands)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.auth.command import add_parsers as add_auth_parsers
from app.auth.tokens import create_token
from app.config import ENV_FILE_VARIABLE, Settings, load_settings, read_env_file, with_env_file
from app.datafair.command import add_parsers as add_datafair_parsers
from app.errors import ConfigError, DatabaseUnavailableError, UsageMetricsError
from app.ingest.command import add_parsers as add_ingest_parsers
from app.notify.command import add_parsers as add_notify_parsers
from app.observability.logs import JsonFormatter, configure_logging
from app.shipping.command import add_parsers as add_shipping_parsers
from app.storage.command import add_parsers as add_storage_parsers
from app.storage.database import database, database_file
from app.storage.models import TokenRow
from app.storage.opening import require_file, shown_url
from app.syslog.command import add_parsers as add_syslog_parsers
from app.webanalytics.command import add_parsers as add_webanalytics_parsers

COMMANDS = (
    add_auth_parsers,  # tokens
    add_datafair_parsers,  # import-data-fair, owner-names
    add_ingest_parsers,  # resources, fold
    add_notify_parsers,  # subscriptions, reports, alerts
    add_webanalytics_parsers,  # analytics
    add_shipping_parsers,  # ship, import
    add_storage_parsers,  # migrate, purge
    add_syslog_parsers,  # syslog
)
DATABASE_VARIABLE = "USAGE_METRICS_DATABASE_URL"
# The settings file of deploy/systemd/usage-metrics.service, named in hints.
UNIT_ENV_FILE = "/etc/usage-metrics/env"
# Exit status of a command that could not start: its settings, or its database (docs/
# configuration.md#commands); 1 is left to each command's own failures (`migrate --check`: some
# migrations are pending).
CANNOT_START = 2
WITHOUT_DATABASE = (
    f"name the server's settings (--env-file {UNIT_ENV_FILE}, or {ENV_FILE_VARIABLE}), or add "
    "--create to make a new database there"
)


class DatabaseUse(StrEnum):
    """What a command does with the database: whether it names it, and may make a new one."""

    NONE = "none"  # posts to a server instead (ship, import, syslog)
    OPENS = "opens"  # the server's database: a SQLite file that is not there is refused
    CREATES = "creates"  # serve and migrate: making a new database is part of their work


USES = {"ship": DatabaseUse.NONE, "import": DatabaseUse.NONE, "syslog": DatabaseUse.NONE}
USES |= {"serve": DatabaseUse.CREATES, "migrate": DatabaseUse.CREATES}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        source = _read_env_file(getattr(args, "env_file", None))
        settings = load_settings(os.environ)
        configure_logging(settings.log_format, settings.log_level)
        if args.database_use is not DatabaseUse.NONE:
            _notice(settings, f"database {shown_url(settings.database_url)} ({source})")
        if args.database_use is DatabaseUse.OPENS and not args.create:
            require_file(database_file(settings.database_url), WITHOUT_DATABASE)
        return int(args.run(settings, args))
    except (ConfigError, DatabaseUnavailableError) as exc:
        print(f"usage-metrics: {exc.message}", file=sys.stderr)
        return CANNOT_START
    except UsageMetricsError as exc:
        print(f"usage-metrics: {exc.message}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="usage-metrics",
        description="Usage metrics of an open-data portal from its reverse proxy's logs.",
    )
    _add_env_file_option(parser)
    commands = parser.add_subparsers(title="commands")
    serve = commands.add_parser("serve", help="start the HTTP server (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="server processes sharing the port, each with its own database connections and "
        "folder (default 1; docs/deploy.md#past-one-machine)",
    )
    serve.set_defaults(run=_serve)
    for add_parsers in COMMANDS:
        add_parsers(commands)
    for name, command in list(commands.choices.items()):
        for _, leaf in leaf_commands(command, name):
            _add_common_options(leaf, USES.get(name, DatabaseUse.OPENS))
    return parser


def leaf_commands(
    parser: argparse.ArgumentParser, name: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Each command that runs under `parser` (`tokens create`, ...), with its parser."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield name, parser
    for action in actions:
        for sub_name, sub_parser in action.choices.items():
            yield from leaf_commands(sub_parser, f"{name} {sub_name}")


def _add_common_options(parser: argparse.ArgumentParser, use: DatabaseUse) -> None:
    _add_env_file_option(parser)
    parser.set_defaults(database_use=use, create=False)
    if use is DatabaseUse.OPENS:
        parser.add_argument(
            "--create",
            action="store_true",
            help="make a new SQLite database if there is none at its path (without it, a "
            "missing file stops the command: a mistyped setting must not start an empty "
            "database)",
        )


def _add_env_file_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        default=argparse.SUPPRESS,  # the subcommand's must not hide the one given before it
        help="read settings from this file, NAME=VALUE lines as systemd's EnvironmentFile= "
        f"(the units': {UNIT_ENV_FILE}); the environment's own values win "
        f"(default: ${ENV_FILE_VARIABLE})",
    )


def _read_env_file(flag: Path | None) -> str:
    """Add the settings file's variables to the environment (the command's children get them
    too); where the database URL comes from, for the line that names the database."""
    named = flag or os.environ.get(ENV_FILE_VARIABLE) or None
    values = read_env_file(Path(named)) if named else {}
    before = dict(os.environ)
    os.environ.update(with_env_file(before, values))
    return _database_source(before, values, named)


def _database_source(
    environ: Mapping[str, str], values: Mapping[str, str], env_file: Path | str | None
) -> str:
    ours, theirs = environ.get(DATABASE_VARIABLE), values.get(DATABASE_VARIABLE)
    if ours:
        if theirs and theirs != ours:
            return f"{DATABASE_VARIABLE} from the environment, which wins over {env_file}"
        return f"{DATABASE_VARIABLE} from the environment"
    if theirs:
        return f"{DATABASE_VARIABLE} from {env_file}"
    nor_in = f" (neither in the environment nor in {env_file})" if env_file else ""
    return f"the default: {DATABASE_VARIABLE} is not set{nor_in}"


def _notice(settings: Settings, message: str) -> None:
    """A line on stderr whatever the log level, in the log's format (a JSON log stays JSON)."""
    if settings.log_format == "json":
        record = logging.makeLogRecord({"name": __name__, "levelname": "INFO", "msg": message})
        message = JsonFormatter().format(record)
    else:
        message = f"usage-metrics: {message}"
    print(message, file=sys.stderr, flush=True)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from app.main import create_app, create_worker_app
    from app.web.slow_clients import deadline_protocol

    asyncio.run(_first_admin_token(settings))
    # No access log: uvicorn's prints client addresses and query strings.
    # log_config=None: uvicorn keeps the logging configured above (text or JSON lines).
    # proxy_headers=False: X-Forwarded-For is read by the sign-in back-off, and only from
    # USAGE_METRICS_TRUSTED_PROXIES; uvicorn's own reading trusted 127.0.0.1 by default.
    # Slow clients (docs/security.md): h11 with deadlines for request heads and bodies, which
    # uvicorn lacks; past limit_concurrency open connections a request gets 503 at once; no
    # WebSocket upgrade (no route takes one, and it would leave the deadlines' protocol).
    # (uvicorn types `http` as a class or a name; it calls it as a factory: app/web/slow_clients.py)
    protocol: Any = deadline_protocol(settings.header_timeout_s, settings.body_timeout_s)
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "access_log": False,
        "log_config": None,
        "proxy_headers": False,
        "http": protocol,
        "ws": "none",
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": 5,
    }
    if args.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return 0
    # uvicorn.run takes workers only with an import string, which would make each worker read
    # its settings again (a random secret key each). Its own supervisor instead, given a
    # factory of our app and these settings: it binds the socket once, spawns the workers (each
    # pickles the config: the app factory and the protocol are picklable partials), restarts one
    # that dies, and stops them all on SIGTERM or SIGINT.
    config = uvicorn.Config(
        functools.partial(create_worker_app, settings),
        factory=True,
        workers=args.workers,
        **options,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()
    return 0


def _worker_count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of processes from 1")
    return int(text)


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
