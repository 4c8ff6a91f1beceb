"""Real `uvicorn app.main:app` processes for the tests that need more than the in-process app."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN

ROOT = Path(__file__).resolve().parents[1]
READY_WITHIN_S = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
