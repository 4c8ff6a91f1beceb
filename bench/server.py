"""(d) End to end: a real uvicorn server on a fresh database, gzip batches posted over HTTP.

Each run gets its own database (a SQLite file in a temporary directory, or a PostgreSQL
database created for it and dropped after) and its own server process, so that runs do not
see each other's rows.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/test"
TOKEN = "bench-token"  # noqa: S105 (a throwaway admin token for the benchmark's own server)
START_TIMEOUT_S = 30


class Batch(NamedTuple):
    gzipped: bytes
    lines: int


class Tally(NamedTuple):
    """What the answers of a run add up to."""

    accepted: int
    ignored: int
    rejected: int
    ignored_by_reason: dict[str, int]


class HttpRun(NamedTuple):
    seconds: float  # first post to last answer
    lines: int
    tally: Tally


def gzip_batches(bodies: Sequence[bytes], lines: Sequence[int]) -> list[Batch]:
    # Compressed before any timing: the shipper pays for gzip, not the service.
    return [Batch(gzip.compress(b, 6), n) for b, n in zip(bodies, lines, strict=True)]


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="usage-metrics-bench-") as directory:
        yield f"sqlite://{directory}/bench.sqlite3"


@contextmanager
def postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def kept_postgres_database(name: str, admin_url: str = POSTGRES_ADMIN_URL) -> str:
    """The URL of a PostgreSQL database that is kept after the run, created if it is missing."""

    async def create() -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def postgres_unreachable(admin_url: str = POSTGRES_ADMIN_URL) -> str | None:
    """Why PostgreSQL cannot be used for the benchmark, or None when it can."""
    try:
        asyncio.run(_admin(admin_url, "SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def _admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def running_server(
    database_url: str, cpu: str | None = None, root: Path = PROJECT_ROOT, **settings: str
) -> Iterator[str]:
    """A uvicorn process serving app.main:app on a free local port; yields its base URL.

    `cpu`: pinned to that core (taskset -c); `root`: the checkout whose code it runs;
    `settings`: more USAGE_METRICS_* variables.
    """
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    env |= {
        "USAGE_METRICS_DATABASE_URL": database_url,
        "USAGE_METRICS_ADMIN_TOKEN": TOKEN,
        "USAGE_METRICS_SECRET_KEY": "x",
        **settings,
    }
    pinned = ["taskset", "-c", cpu] if cpu is not None else []
    command = [*pinned, sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(base_url, process, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            raise RuntimeError(f"the server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer GET /healthz within {START_TIMEOUT_S} s")


def post_batches(base_url: str, batches: Sequence[Batch], clients: int, run: str) -> HttpRun:
    """Post every batch, spread over `clients` threads (one connection each); check answers."""
    sessions = [_client(base_url) for _ in range(clients)]
    try:
        for session in sessions:  # connect before timing
            session.get("/healthz").raise_for_status()
        numbered = list(enumerate(batches))
        shares = [numbered[i::clients] for i in range(clients)]
        answers: list[tuple[Batch, httpx.Response]] = []
        threads = [
            threading.Thread(target=_post_all, args=(s, share, run, answers))
            for s, share in zip(sessions, shares, strict=True)
        ]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    finally:
        for session in sessions:
            session.close()
    return HttpRun(seconds, sum(b.lines for b in batches), _tally(answers, len(batches)))


def _client(base_url: str) -> httpx.Client:
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "text/plain",
        "Content-Encoding": "gzip",
    }
    return httpx.Client(base_url=base_url, headers=headers, timeout=120)


def _post_all(
    session: httpx.Client,
    share: list[tuple[int, Batch]],
    run: str,
    answers: list[tuple[Batch, httpx.Response]],
) -> None:
    for number, batch in share:
        key = {"Idempotency-Key": f"bench-{run}-{number}"}
        response = session.post("/ingest", content=batch.gzipped, headers=key)
        answers.append((batch, response))  # list.append is atomic: no lock needed


def _tally(answers: list[tuple[Batch, httpx.Response]], expected: int) -> Tally:
    if len(answers) != expected:
        raise RuntimeError(f"{expected} batches posted, {len(answers)} answered")
    accepted = ignored = rejected = 0
    reasons: Counter[str] = Counter()
    for batch, response in answers:
        if response.status_code != 200:
            raise RuntimeError(f"POST /ingest answered {response.status_code}: {response.text}")
        answer = response.json()
        counted = answer["accepted"] + answer["ignored"] + len(answer["rejected"])
        if counted != batch.lines or answer["duplicate"]:
            raise RuntimeError(f"a batch of {batch.lines} lines was answered {answer}")
        accepted += answer["accepted"]
        ignored += answer["ignored"]
        rejected += len(answer["rejected"])
        reasons.update({k: v for k, v in answer["ignored_by_reason"].items() if v})
    return Tally(accepted, ignored, rejected, dict(reasons))
