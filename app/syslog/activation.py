"""The socket systemd passes to the receiver (socket activation: LISTEN_FDS, LISTEN_PID), which
outlives the receiver, so that nginx's datagrams wait in it while the receiver restarts."""

from __future__ import annotations

import socket
from collections.abc import MutableMapping

from app.errors import UsageMetricsError

# sd_listen_fds(3): the passed descriptors start at 3, after stdin, stdout and stderr.
FIRST_DESCRIPTOR = 3
VARIABLES = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")
RECEIVABLE = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)


class ActivationError(UsageMetricsError):
    """systemd passed what the receiver cannot read; the message says what to change."""


def inherited_socket(environ: MutableMapping[str, str], pid: int) -> socket.socket | None:
    """The one datagram socket passed to process `pid`, None when none was passed to it.

    The variables are removed either way, as sd_listen_fds(1) does: they name descriptors of
    this process, not of a child it would start. Closing the socket returned closes this
    process's descriptor only; systemd keeps the socket, and what is queued in it, open.
    """
    count, listen_pid = (environ.pop(name, None) for name in VARIABLES[:2])
    environ.pop(VARIABLES[2], None)
    if count is None or listen_pid != str(pid) or count == "0":
        return None
    if count != "1":
        raise ActivationError(
            f"systemd passed {count} sockets (LISTEN_FDS): the receiver reads one, "
            "give its socket unit a single ListenDatagram="
        )
    try:
        sock = socket.socket(fileno=FIRST_DESCRIPTOR)
    except OSError as exc:
        raise ActivationError(f"cannot use the socket systemd passed: {exc}") from exc
    if sock.type != socket.SOCK_DGRAM or sock.family not in RECEIVABLE:
        sock.close()
        raise ActivationError(
            "systemd passed a socket that is not a unix or UDP datagram socket: nginx sends "
            "datagrams, so its socket unit needs ListenDatagram="
        )
    sock.set_inheritable(False)  # nothing this process starts may hold it open
    return sock


def describe_address(sock: socket.socket) -> str:
    """What the socket listens on, as --socket or --udp would name it: a path, or udp-HOST:PORT."""
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        if isinstance(address, bytes):  # Linux's abstract namespace: a leading NUL byte
            return "@" + address[1:].decode(errors="replace")
        return address or "an unnamed unix socket"
    return "udp-{}:{}".format(*address[:2])
