"""Real processes for the receiver's tests: `usage-metrics serve`, `usage-metrics syslog`, and
readers of what they did (figures through GraphQL, batch files in the spool)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from app.syslog.spool import decode_header
from tests.helpers import INGEST_TOKEN
from tests.server_processes import ROOT, clean_env

TOKEN_ENV = "SYSLOG_TEST_TOKEN"


def syslog_command(url: str, spool: Path, *options: str) -> list[str]:
    return [
        *(sys.executable, "-m", "app.cli", "syslog", *options),
        *("--url", url, "--token-env", TOKEN_ENV, "--spool", str(spool)),
    ]


# Plays systemd's part in socket activation: the socket at descriptor 3, LISTEN_FDS=1 and
# LISTEN_PID set to the process that runs the command (known only once forked), then exec.
ACTIVATE = """import os, sys
passed = int(sys.argv[1])
os.dup2(passed, 3)
if passed != 3:
    os.close(passed)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
"""


def start(
    command: list[str],
    errors: Path,
    token: str = INGEST_TOKEN,
    inherited: socket.socket | None = None,
) -> subprocess.Popen[bytes]:
    """A long-running command; its stderr goes to `errors` (a pipe could fill up). With
    `inherited`, the command gets that socket as a systemd socket unit passes it."""
    passed: tuple[int, ...] = ()
    if inherited is not None:
        passed = (inherited.fileno(),)
        command = [sys.executable, "-c", ACTIVATE, str(inherited.fileno()), *command]
    with errors.open("ab") as stderr:
        return subprocess.Popen(
            command,
            env=clean_env(**{TOKEN_ENV: token}),
            cwd=ROOT,
            stderr=stderr,
            pass_fds=passed,
        )


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def spooled(spool: Path) -> list[tuple[str, int]]:
    """(key, lines) of each batch file in the spool, oldest first."""
    found = []
    for path in sorted(spool.glob("*.batch")):
        try:
            found.append(decode_header(path.read_bytes()))
        except FileNotFoundError:
            continue  # delivered meanwhile
    return found


def send_datagrams(path: Path, datagrams: list[bytes]) -> None:
    """To a unix datagram socket: a blocking send waits while the receiver's queue is full."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, str(path))
