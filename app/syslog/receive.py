"""The receiver's socket (a unix datagram socket nginx writes to, or UDP) and the loop that reads
it into batches without ever waiting for the disk or the server."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from app.errors import UsageMetricsError
from app.syslog.batching import Batcher, line_of

# nginx's workers run as another user: like Data Fair's daemon, anyone may write to the socket.
# Who can reach it is decided by the permissions of its directory.
SOCKET_MODE = 0o666
# A larger kernel queue absorbs bursts while the receiver writes a batch to the spool (capped
# by net.core.rmem_max; a unix datagram socket also has net.unix.max_dgram_qlen).
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
MAX_DATAGRAM_BYTES = 256 * 1024
POLL_S = 0.2  # how soon a stop is noticed while no datagram arrives


class ReceiverError(UsageMetricsError):
    """The socket cannot be opened; the message says which and why."""


def parse_udp_address(text: str) -> tuple[str, int]:
    """HOST:PORT, or [IPv6]:PORT; raises ValueError."""
    host, colon, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT, like 127.0.0.1:5140")
    return host, int(port)


@contextmanager
def unix_socket(path: Path) -> Iterator[socket.socket]:
    """A unix datagram socket bound at `path` (a stale one is replaced), removed on exit."""
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    bound: int | None = None
    try:
        try:
            sock.bind(str(path))
            bound = path.stat().st_ino
            os.chmod(path, SOCKET_MODE)
        except OSError as exc:
            raise ReceiverError(f"cannot bind the socket {path}: {exc}") from exc
        _enlarge_buffer(sock)
        yield sock
    finally:
        sock.close()
        if bound is not None:
            _unlink_if_same(path, bound)


@contextmanager
def udp_socket(host: str, port: int) -> Iterator[socket.socket]:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ReceiverError(f"cannot listen on {host}:{port}: {exc}") from exc
    try:
        try:
            sock.bind(address)
        except OSError as exc:
            raise ReceiverError(f"cannot listen on UDP {host}:{port}: {exc}") from exc
        _enlarge_buffer(sock)
        yield sock
    finally:
        sock.close()


def _remove_stale(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ReceiverError(f"{path} exists and is not a socket: give another --socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(str(path))
    except ConnectionRefusedError:
        path.unlink()  # left by a receiver that stopped: nothing reads it
        return
    finally:
        probe.close()
    raise ReceiverError(f"another process reads the socket {path}: stop it or give another one")


def _unlink_if_same(path: Path, inode: int) -> None:
    # Only our own socket: another receiver may have replaced it since.
    with contextlib.suppress(FileNotFoundError):
        if path.lstat().st_ino == inode:
            path.unlink()


def _enlarge_buffer(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the default queue works, with less room for bursts
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)


def receive(
    sock: socket.socket,
    batcher: Batcher,
    flush: Callable[[bytes, int], None],
    stopping: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Read datagrams into `batcher` and hand each due batch to `flush`, until `stopping` is set;
    then the last, partial batch is flushed too.

    Runs in a thread of its own that does nothing else: a unix datagram socket queues as few as
    10 datagrams (net.unix.max_dgram_qlen) and nginx drops what does not fit, so `flush` must
    not write to disk or wait for the network.
    """
    buffer = bytearray(MAX_DATAGRAM_BYTES)
    view = memoryview(buffer)
    while not stopping.is_set():
        left = batcher.seconds_left(clock())
        if left is not None and left <= 0:
            flush(*batcher.take())
            continue
        sock.settimeout(POLL_S if left is None else min(POLL_S, left))
        try:
            size = sock.recv_into(buffer)
        except TimeoutError:
            continue
        line = line_of(bytes(view[:size]))
        if line is None:
            continue
        if not batcher.fits(line):
            flush(*batcher.take())
        batcher.add(line, clock())
        if batcher.is_full():
            flush(*batcher.take())
    if len(batcher):
        flush(*batcher.take())
