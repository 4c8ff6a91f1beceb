"""Real processes for the receiver's tests: `usage-metrics serve`, `usage-metrics syslog`, and
readers of what they did (figures through GraphQL, batch files in the spool)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.syslog.spool import decode_header
from tests.conftest import POSTGRES_ADMIN_URL
from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN

ROOT = Path(__file__).resolve().parents[2]
TOKEN_ENV = "SYSLOG_TEST_TOKEN"
USAGE = """
query($datasets: [ID!]) {
  usage(period: {start: "2024-01-08", end: "2024-01-14"}, datasets: $datasets) {
    apiCalls { current }
  }
}
"""


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    return {**kept, **extra}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextmanager
def serving(database_url: str, port: int) -> Iterator[str]:
    """`usage-metrics serve` on `port` with the tokens of tests.helpers; its base URL."""
    env = clean_env(
        USAGE_METRICS_DATABASE_URL=database_url,
        USAGE_METRICS_ADMIN_TOKEN=ADMIN_TOKEN,
        USAGE_METRICS_INGEST_TOKEN=INGEST_TOKEN,
        USAGE_METRICS_SECRET_KEY="syslog-test-secret",
    )
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _is_up(base) or process.poll() is not None, "the server to answer")
        assert process.poll() is None, "usage-metrics serve did not start"
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _is_up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of its own (the server migrates it), dropped afterwards."""
    name = f"usage_metrics_syslog_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable ({exc}); set USAGE_METRICS_TEST_POSTGRES_URL")
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def api_calls(base: str, dataset_id: str) -> int:
    """API calls of the week of 2024-01-09 for one dataset."""
    response = httpx.post(
        f"{base}/graphql",
        json={"query": USAGE, "variables": {"datasets": [dataset_id]}},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    answer = response.json()
    assert "errors" not in answer, answer
    current: int = answer["data"]["usage"]["apiCalls"]["current"]
    return current


def syslog_command(url: str, spool: Path, *options: str) -> list[str]:
    return [
        *(sys.executable, "-m", "app.cli", "syslog", *options),
        *("--url", url, "--token-env", TOKEN_ENV, "--spool", str(spool)),
    ]


def start(command: list[str], errors: Path, token: str = INGEST_TOKEN) -> subprocess.Popen[bytes]:
    """A long-running command; its stderr goes to `errors` (a pipe could fill up)."""
    with errors.open("ab") as stderr:
        return subprocess.Popen(
            command, env=clean_env(**{TOKEN_ENV: token}), cwd=ROOT, stderr=stderr
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
