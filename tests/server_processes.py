"""Real server processes (`uvicorn app.main:app`, `usage-metrics serve`, the Procfile's) and
PostgreSQL databases of their own, for the tests that need more than the in-process app."""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN

ROOT = Path(__file__).resolve().parents[1]
# The server that tests create their PostgreSQL databases on (trust auth on this machine).
POSTGRES_ADMIN_URL = os.environ.get(
    "USAGE_METRICS_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
# A bound, not a speed: on a loaded machine eight servers starting at once took over 30 s.
READY_WITHIN_S = 120
FOLDED_WITHIN_S = 60  # a ledger folded every 50 ms; the machine may be busy
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
    """The environment without our settings, but batches counted in the request (tests read
    right after they post); `extra` adds or overrides settings."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    return {**kept, "USAGE_METRICS_FOLD_INTERVAL": "0", **extra}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextmanager
def serving(database_url: str, port: int, **settings: str) -> Iterator[str]:
    """`usage-metrics serve` on `port` with the tokens of tests.helpers (and `settings`, more
    USAGE_METRICS_* variables); its base URL."""
    env = clean_env(
        USAGE_METRICS_DATABASE_URL=database_url,
        USAGE_METRICS_ADMIN_TOKEN=ADMIN_TOKEN,
        USAGE_METRICS_INGEST_TOKEN=INGEST_TOKEN,
        USAGE_METRICS_SECRET_KEY="syslog-test-secret",
        USAGE_METRICS_FOLD_INTERVAL="0",  # counted in the request: tests read right after
        **settings,
    )
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    with running(command, env, port, "usage-metrics serve") as base:
        yield base


@contextmanager
def procfile_server(tmp_path: Path, **settings: str) -> Iterator[str]:
    """The server as the Procfile starts it (its `web:` command, `$PORT` filled in), with the
    tokens of tests.helpers and `settings`; only PATH besides, as a platform gives."""
    line = (ROOT / "Procfile").read_text().split("web:", 1)[1].strip()
    port = free_port()
    args = shlex.split(line.replace("$PORT", str(port)))
    assert args[0] == "usage-metrics"
    env = {
        "PATH": str(Path(sys.executable).parent),
        "USAGE_METRICS_DATABASE_URL": f"sqlite://{tmp_path / 'metrics.sqlite3'}",
        "USAGE_METRICS_ADMIN_TOKEN": ADMIN_TOKEN,
        "USAGE_METRICS_INGEST_TOKEN": INGEST_TOKEN,
        "USAGE_METRICS_SECRET_KEY": "test-secret-key",
        **settings,
    }
    command = [sys.executable, "-m", "app.cli", *args[1:]]
    with running(command, env, port, "the Procfile's server") as base:
        yield base


@contextmanager
def running(command: list[str], env: dict[str, str], port: int, what: str) -> Iterator[str]:
    """`command`, a server on `port`, until the block ends; its base URL once it answers."""
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _is_up(base) or process.poll() is not None, "the server to answer")
        assert process.poll() is None, f"{what} did not start"
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
    name = f"usage_metrics_test_{uuid.uuid4().hex[:12]}"

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


def start_server(
    database_url: str, port: int, log: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """A server on `port`, its output appended to `log`; `settings` adds USAGE_METRICS_* values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    env |= {
        "USAGE_METRICS_DATABASE_URL": database_url,
        "USAGE_METRICS_ADMIN_TOKEN": ADMIN_TOKEN,
        "USAGE_METRICS_INGEST_TOKEN": INGEST_TOKEN,
        "USAGE_METRICS_SECRET_KEY": "test-secret-key",
        # Counted in the request unless a test sets an interval: most read right after posting.
        "USAGE_METRICS_FOLD_INTERVAL": "0",
        **settings,
    }
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log"]
    with log.open("ab") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def server_log(log: Path) -> str:
    return log.read_text(errors="replace")


async def wait_until_ready(
    http: httpx.AsyncClient, url: str, process: subprocess.Popen[bytes], log: Path
) -> None:
    for _ in range(READY_WITHIN_S * 10):
        if process.poll() is not None:
            pytest.fail(f"the server at {url} exited: {server_log(log)}")
        try:
            if (await http.get(f"{url}/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    pytest.fail(f"the server at {url} was not ready in {READY_WITHIN_S} s")


@asynccontextmanager
async def servers(
    database_url: str, logs: Path, http: httpx.AsyncClient, count: int, **settings: str
) -> AsyncIterator[list[str]]:
    """`count` servers started at once on one database; stopped whatever happens."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for number in range(count):
            port = free_port()
            log = logs / f"server-{number}.log"
            processes.append(start_server(database_url, port, log, **settings))
            urls.append(f"http://127.0.0.1:{port}")
        for number, (url, process) in enumerate(zip(urls, processes, strict=True)):
            await wait_until_ready(http, url, process, logs / f"server-{number}.log")
        yield urls
    finally:
        for process in processes:
            stop_server(process)


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


async def wait_until_folded(http: httpx.AsyncClient, url: str) -> None:
    """Until the server's GraphQL says no batch waits in the ingest ledger (bounded)."""
    query = {"query": "{ freshness { waitingBatches } }"}
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for _ in range(FOLDED_WITHIN_S * 10):
        answer = (await http.post(f"{url}/graphql", json=query, headers=headers)).json()
        if answer["data"]["freshness"]["waitingBatches"] == 0:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the ledger was not folded within {FOLDED_WITHIN_S} s")
