"""The `usage-metrics syslog` command: its options, and the receiver, spool and sender wired up."""

from __future__ import annotations

import argparse
import gzip
import logging
import os
import queue
import socket
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, closing
from pathlib import Path

from app.config import Settings
from app.shipping.command import (
    ingest_url,
    positive_float,
    positive_int,
    sending_arguments,
    token_from,
)
from app.shipping.deliver import DeliveryRefusedError
from app.shipping.signals import StopSignal
from app.syslog.activation import ActivationError, describe_address, inherited_socket
from app.syslog.batching import Batcher, BatchKeys
from app.syslog.receive import (
    POLL_S,
    ReceiverError,
    parse_udp_address,
    receive,
    udp_socket,
    unix_socket,
)
from app.syslog.send import Sender
from app.syslog.spool import Spool, SpoolError, default_spool_path

MIB = 1024 * 1024
DEFAULT_SPOOL_MIB = 256
SYSLOG_BATCH_LINES = 1000


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "syslog",
        help="receive nginx's syslog datagrams (unix socket or UDP) and post them to /ingest",
    )
    # Neither option: the socket systemd passes (deploy/systemd/usage-metrics-syslog.socket),
    # which keeps what nginx sends while the receiver restarts (docs/deploy.md).
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--socket",
        type=Path,
        metavar="PATH",
        help="the unix datagram socket to create, as in nginx's "
        "access_log syslog:server=unix:PATH (a stale one is replaced); without --socket or "
        "--udp, the socket systemd passes (socket activation: LISTEN_FDS)",
    )
    where.add_argument(
        "--udp", type=_udp_address, metavar="HOST:PORT", help="listen on UDP, e.g. 127.0.0.1:5140"
    )
    # Live datagrams: a batch goes every --flush-seconds anyway, and a smaller one is less to
    # keep in the spool while the server is away.
    sending_arguments(parser, "", batch_lines=SYSLOG_BATCH_LINES)
    parser.add_argument(
        "--flush-seconds",
        type=positive_float,
        default=1.0,
        metavar="T",
        help="a batch is sent at most T seconds after its first line (default: 1.0)",
    )
    parser.add_argument(
        "--spool",
        type=Path,
        metavar="DIR",
        help="where batches wait until the server answers (default: "
        "$XDG_STATE_HOME/usage-metrics/syslog/<socket name>-<hash>, "
        "~/.local/state if XDG_STATE_HOME is unset)",
    )
    parser.add_argument(
        "--spool-max-mb",
        type=positive_int,
        default=DEFAULT_SPOOL_MIB,
        metavar="N",
        help="spool size bound in MiB; when full, the oldest batches are dropped "
        f"(default: {DEFAULT_SPOOL_MIB})",
    )
    parser.set_defaults(run=run_syslog)


def _udp_address(text: str) -> tuple[str, int]:
    try:
        return parse_udp_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def run_syslog(settings: Settings, args: argparse.Namespace) -> int:
    """Receive until SIGTERM or SIGINT, then exit 0; exit 1 when the server refuses every batch
    (a wrong token or URL). Either way what was not delivered stays in the spool."""

    def notify(message: str) -> None:
        print(f"usage-metrics syslog: {message}", file=sys.stderr, flush=True)

    token = token_from(os.environ, args.token_env)
    url = ingest_url(args.url)
    # httpx logs every request at INFO: a line a second here, and nothing the summaries miss.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    opened, listening, origin = _socket(args)
    spool_dir = args.spool or default_spool_path(listening, os.environ)
    stop = StopSignal()
    with (
        stop.installed(),
        Spool(spool_dir, args.spool_max_mb * MIB, notify) as spool,
        opened as sock,
        Sender(url, token, spool, stop, notify) as sender,
    ):
        if spool.batches:
            notify(f"{spool.describe()} from before: sent first")
        notify(
            f"receiving on {listening}{origin}; spool {spool_dir} (at most {args.spool_max_mb} MiB)"
        )
        batcher = Batcher(args.batch_lines, args.flush_seconds)
        _spool_until_stopped(sock, batcher, spool, sender, stop, notify)
    # Sender.__exit__ made one last try of every batch left.
    if sender.fatal is not None:
        notify(f"stopped: {sender.tally.describe()}")
        raise DeliveryRefusedError(sender.fatal)
    notify(f"stopped: {sender.tally.describe()}; {spool.describe()}")
    return 0


def _spool_until_stopped(
    sock: socket.socket,
    batcher: Batcher,
    spool: Spool,
    sender: Sender,
    stop: StopSignal,
    notify: Callable[[str], None],
) -> None:
    """A reader thread gathers batches; this (main) thread, the one signals reach, writes them
    to the spool, and after a stop asks the reader for its last batch and spools it too."""
    keys = BatchKeys()
    ready: queue.SimpleQueue[tuple[bytes, int] | None] = queue.SimpleQueue()
    stopping = threading.Event()
    failures: list[OSError] = []

    def read() -> None:
        try:
            receive(sock, batcher, lambda body, lines: ready.put((body, lines)), stopping)
        except OSError as exc:
            failures.append(exc)
        finally:
            ready.put(None)  # the reader is done, whatever ended it

    reader = threading.Thread(target=read, name="syslog-reader", daemon=True)
    reader.start()
    while (batch := _next(ready, stop)) is not None:
        _write(batch, keys, spool, sender, notify)
    stopping.set()
    reader.join()
    while not ready.empty():
        if (batch := ready.get()) is not None:
            _write(batch, keys, spool, sender, notify)
    if failures:
        raise ReceiverError(f"cannot read the socket any more: {failures[0]}")


def _next(
    ready: queue.SimpleQueue[tuple[bytes, int] | None], stop: StopSignal
) -> tuple[bytes, int] | None:
    """The next batch gathered, or None once a stop was asked for or the reader ended."""
    while not stop.requested:
        try:
            return ready.get(timeout=POLL_S)
        except queue.Empty:
            continue
    return None


def _write(
    batch: tuple[bytes, int],
    keys: BatchKeys,
    spool: Spool,
    sender: Sender,
    notify: Callable[[str], None],
) -> None:
    body, lines = batch
    try:
        spool.add(keys.next_key(), lines, gzip.compress(body, 5, mtime=0))
    except SpoolError as exc:
        notify(f"error: {exc.message}")
        return
    sender.wake()


def _socket(
    args: argparse.Namespace,
) -> tuple[AbstractContextManager[socket.socket], str, str]:
    """The socket to read (opened on entering the context), what it listens on (which names the
    default spool: --socket PATH and a socket unit on PATH share one) and where it comes from."""
    inherited = inherited_socket(os.environ, os.getpid())
    if inherited is not None:
        if args.socket or args.udp:
            inherited.close()
            raise ActivationError(
                "systemd passed a socket (LISTEN_FDS) and --socket or --udp names another: "
                "remove the option from the unit's ExecStart="
            )
        # Closing it closes this process's descriptor only: the socket is systemd's.
        return closing(inherited), describe_address(inherited), " (passed by systemd)"
    if args.socket:
        return unix_socket(args.socket), str(args.socket.absolute()), ""
    if args.udp:
        host, port = args.udp
        return udp_socket(host, port), f"udp-{host}:{port}", ""
    raise ActivationError(
        "give --socket PATH or --udp HOST:PORT, or start the receiver from a systemd socket "
        "unit (deploy/systemd/usage-metrics-syslog.socket)"
    )
