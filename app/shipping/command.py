"""The ship and import commands, and the arguments every sender shares (syslog's too)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from app.config import Settings
from app.errors import UsageMetricsError
from app.shipping.archive import import_archives
from app.shipping.deliver import Deliverer
from app.shipping.shipper import ShipOptions, ship
from app.shipping.signals import StopSignal
from app.shipping.state import default_state_path

DEFAULT_BATCH_LINES = 10_000


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ship_parser = commands.add_parser(
        "ship",
        help="follow a log file (like tail -F, across rotations) and post its lines to /ingest",
    )
    ship_parser.add_argument("file", type=Path, metavar="FILE", help="the access log to follow")
    sending_arguments(ship_parser, "")
    ship_parser.add_argument(
        "--state",
        type=Path,
        metavar="PATH",
        help="where the offset already sent is kept (default: "
        "$XDG_STATE_HOME/usage-metrics/ship/<file name>-<path hash>.json, "
        "~/.local/state if XDG_STATE_HOME is unset)",
    )
    ship_parser.add_argument(
        "--once", action="store_true", help="send the whole lines there are, then exit"
    )
    ship_parser.add_argument(
        "--interval",
        type=positive_float,
        default=1.0,
        metavar="T",
        help="seconds between looks at the file; lines short of a full batch are sent every "
        "T seconds (default: 1.0)",
    )
    ship_parser.set_defaults(run=_ship)
    archives = commands.add_parser(
        "import",
        help="post archived logs (plain, .gz, .bz2, .xz); a file imported again counts once",
    )
    archives.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help="plain or compressed log files"
    )
    sending_arguments(archives, "; import a file again with the same N, or it is refused")
    archives.set_defaults(run=_import)


def sending_arguments(
    parser: argparse.ArgumentParser, batch_note: str, batch_lines: int = DEFAULT_BATCH_LINES
) -> None:
    parser.add_argument(
        "--url",
        required=True,
        help="the server's base URL, e.g. http://127.0.0.1:8000 (/ingest is added), or its "
        "ingest endpoint",
    )
    parser.add_argument(
        "--token-env",
        required=True,
        metavar="VAR",
        help="the environment variable holding the ingest token (never on the command line)",
    )
    parser.add_argument(
        "--batch-lines",
        type=positive_int,
        # 10 000: per-batch costs (a request, a commit) stay small beside the lines' parsing;
        # import of Data Fair lines into SQLite ran 2.2x faster than with 1 000
        # (docs/benchmarks.md). A batch of them stays far below the 16 MiB limit.
        default=batch_lines,
        metavar="N",
        help=f"lines per batch at most (default: {batch_lines}){batch_note}",
    )


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1")
    return int(value)


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds above 0")
    return number


def _ship(settings: Settings, args: argparse.Namespace) -> int:
    def notify(message: str) -> None:
        print(f"usage-metrics ship: {message}", file=sys.stderr, flush=True)

    options = ShipOptions(
        path=args.file,
        state_path=args.state or default_state_path(args.file, os.environ),
        once=args.once,
        batch_lines=args.batch_lines,
        interval_s=args.interval,
    )
    token = token_from(os.environ, args.token_env)
    stop = StopSignal()
    with stop.installed(), Deliverer(ingest_url(args.url), token, stop, notify) as deliverer:
        return ship(options, deliverer, stop, notify)


def _import(settings: Settings, args: argparse.Namespace) -> int:
    def notify(message: str) -> None:
        print(f"usage-metrics import: {message}", file=sys.stderr, flush=True)

    token = token_from(os.environ, args.token_env)
    stop = StopSignal()
    with stop.installed(), Deliverer(ingest_url(args.url), token, stop, notify) as deliverer:
        return import_archives(args.files, deliverer, args.batch_lines, sys.stderr, notify)


def token_from(environ: Mapping[str, str], name: str) -> str:
    # From the environment only: a flag's value shows in `ps` and in shell histories.
    token = environ.get(name, "").strip()
    if not token:
        raise UsageMetricsError(
            f"the environment variable {name} (--token-env) is empty or not set: "
            "put an ingest token in it"
        )
    if not token.isascii() or not token.isprintable():
        raise UsageMetricsError(f"the environment variable {name} does not hold a token")
    return token


def ingest_url(url: str) -> str:
    """The ingest endpoint of `url`: the endpoint itself, or the server's base URL (which may
    have a path prefix, behind a proxy), to which /ingest is added."""
    if not url.startswith(("http://", "https://")):
        raise UsageMetricsError(
            f"--url {url!r} is not an http:// or https:// URL, like http://127.0.0.1:8000"
        )
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/ingest"):
        path += "/ingest"
    return urlunsplit(parts._replace(path=path))
