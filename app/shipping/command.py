"""The ship and import commands, and the arguments every sender shares (syslog's too)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from app.config import Settings
from app.errors import UsageMetricsError
from app.shipping.deliver import Deliverer
from app.shipping.importing import ImportOptions, import_archives
from app.shipping.shipper import ShipOptions, ship
from app.shipping.signals import StopSignal
from app.shipping.state import RANGES_DIR, default_ranges_dir, default_state_path

DEFAULT_BATCH_LINES = 10_000
STOPPING = "stopping once the batch in flight is answered (a second Ctrl-C stops at once)"
IMPORT_STOPPING = "stopping once the batches in flight are answered (a second Ctrl-C stops at once)"


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
    ranges_argument(ship_parser, "ranges/ beside the state file")
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
        help="post archived logs (plain, .gz, .bz2, .xz); a file imported again, or lines ship "
        "sent with the same token, count once",
    )
    archives.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help="plain or compressed log files"
    )
    sending_arguments(archives, "; ranges kept for a file (by ship, or an earlier import) win")
    ranges_argument(archives, "$XDG_STATE_HOME/usage-metrics/ship/ranges, ship's default")
    archives.add_argument(
        "--from-byte",
        type=whole_number,
        default=0,
        metavar="B",
        help="start the first FILE at byte B of its (decompressed) content, as an import "
        "stopped by Ctrl-C prints; the batches before it are not sent again (default: 0)",
    )
    archives.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="batches posted at once, each on its own connection, from one file or several; "
        f"the keys are the same whatever N is (default: the number of cores, {cores()} here)",
    )
    archives.set_defaults(run=_import)


def cores() -> int:
    """The cores this process may run on (taskset and cgroup cpusets count, unlike cpu_count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def ranges_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--ranges",
        type=Path,
        metavar="DIR",
        help="the folder where the byte ranges of the batches sent are kept, shared by ship "
        f"and import so that a line sent by both counts once (default: {default})",
    )


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


def whole_number(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 0")
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

    state_path = args.state or default_state_path(args.file, os.environ)
    options = ShipOptions(
        path=args.file,
        state_path=state_path,
        once=args.once,
        batch_lines=args.batch_lines,
        interval_s=args.interval,
        ranges_dir=args.ranges or state_path.parent / RANGES_DIR,
    )
    token = token_from(os.environ, args.token_env)
    stop = StopSignal(f"usage-metrics ship: {STOPPING}")
    with stop.installed(), Deliverer(ingest_url(args.url), token, stop, notify) as deliverer:
        return ship(options, deliverer, stop, notify)


def _import(settings: Settings, args: argparse.Namespace) -> int:
    def notify(message: str) -> None:
        # One write per line: the senders' threads report retries too.
        sys.stderr.write(f"usage-metrics import: {message}\n")
        sys.stderr.flush()

    token = token_from(os.environ, args.token_env)
    url = ingest_url(args.url)
    ranges = args.ranges or default_ranges_dir(os.environ)
    options = ImportOptions(args.batch_lines, ranges, args.from_byte, args.jobs or cores())
    stop = StopSignal(f"usage-metrics import: {IMPORT_STOPPING}")

    def deliverer() -> Deliverer:
        return Deliverer(url, token, stop, notify)

    def resume(files: list[Path], from_byte: int) -> str:
        return resume_command(args, files, from_byte)

    with stop.installed():
        return import_archives(args.files, deliverer, options, stop, sys.stderr, notify, resume)


def resume_command(args: argparse.Namespace, files: list[Path], from_byte: int) -> str:
    """The import command that sends what an interrupted one left, for a shell."""
    words = ["usage-metrics", "import", *(str(path) for path in files)]
    if from_byte:
        words += ["--from-byte", str(from_byte)]
    words += ["--url", shown_url(args.url), "--token-env", args.token_env]
    if args.batch_lines != DEFAULT_BATCH_LINES:
        words += ["--batch-lines", str(args.batch_lines)]
    if args.ranges is not None:
        words += ["--ranges", str(args.ranges)]
    if args.jobs is not None:
        words += ["--jobs", str(args.jobs)]
    return shlex.join(words)


def shown_url(url: str) -> str:
    """`url` without a password it may hold (printed, it would end up in logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


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
