"""A full SQLite database: 503 DATABASE_UNAVAILABLE with Retry-After on every write a request
makes, nothing half-counted; once there is room again, every batch counts exactly once.

Two real SQLITE_FULL: `PRAGMA max_page_count` on the app's own connection (a statement finds no
page), and a server process whose database sits on a 2 MiB tmpfs that the test fills (the COMMIT
finds no room: SQLite raises its error untranslated there). The tmpfs is mounted in a user and
mount namespace of the server's own (`unshare`), so no privilege is needed; the test fills it
through /proc/<pid>/root, and makes a token there with `nsenter`. Besides batches, the disk
full answers a token's check (its first use writes `last_used_at`), the analytics form and a
sign-out the same way.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.storage.database import connection
from tests.helpers import (
    ADMIN_TOKEN,
    INGEST_TOKEN,
    NDJSON,
    app_client,
    csrf_token,
    dataset,
    line_on,
    ndjson,
    usage_rows,
)
from tests.server_processes import (
    READY_WITHIN_S,
    ROOT,
    USAGE,
    free_port,
    server_log,
    stop_server,
    wait_until_ready,
)

pytestmark = pytest.mark.anyio

DAY = "2024-01-09"
UNAVAILABLE = {
    "error": "DATABASE_UNAVAILABLE",
    "detail": "the database did not take the batch; nothing of it was counted: retry later with "
    "the same Idempotency-Key",
}
# SQLite's default: as many pages as the file format allows.
NO_PAGE_LIMIT = 4294967294
FOLDED_WITHIN_S = 60.0  # a bound for a busy machine, not a speed
TMPFS = "2m"


def batch(first: int, count: int) -> bytes:
    """`count` API calls, each on a dataset of its own (every one a new row to store)."""
    return ndjson(*(line_on(DAY, resource=dataset(f"d{n}")) for n in range(first, first + count)))


async def post(client: httpx.AsyncClient, url: str, body: bytes, key: str) -> httpx.Response:
    return await client.post(url, content=body, headers={**NDJSON, "Idempotency-Key": key})


async def test_a_full_database_answers_503_and_the_retry_counts_once(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite://{tmp_path / 'metrics.sqlite3'}",
        admin_token=ADMIN_TOKEN,
        ingest_token=INGEST_TOKEN,
        secret_key="test-secret-key",
        fold_interval_s=0,
    )
    async with app_client(settings) as client:
        assert (await post(client, "/ingest", batch(0, 10), "a")).status_code == 200
        db = connection()
        _, pages = await db.execute_query("PRAGMA page_count")
        await db.execute_script(f"PRAGMA max_page_count = {pages[0][0]}")  # no page to spare

        full = await post(client, "/ingest", batch(10, 400), "b")

        assert (full.status_code, full.json()) == (503, UNAVAILABLE)
        assert full.headers["retry-after"] == "10"
        assert sum(row["requests"] for row in await usage_rows()) == 10
        await db.execute_script(f"PRAGMA max_page_count = {NO_PAGE_LIMIT}")
        retry = await post(client, "/ingest", batch(10, 400), "b")
        replay = await post(client, "/ingest", batch(10, 400), "b")
        assert (retry.status_code, retry.json()["accepted"], retry.json()["duplicate"]) == (
            200,
            400,
            False,
        )
        assert replay.json()["duplicate"] is True
        assert sum(row["requests"] for row in await usage_rows()) == 410


def namespaced_server(
    mount: Path, port: int, log: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """A server whose `mount` is a small tmpfs of its own mount namespace."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    env |= {
        "USAGE_METRICS_DATABASE_URL": f"sqlite://{mount / 'metrics.sqlite3'}",
        "USAGE_METRICS_ADMIN_TOKEN": ADMIN_TOKEN,
        "USAGE_METRICS_INGEST_TOKEN": INGEST_TOKEN,
        "USAGE_METRICS_SECRET_KEY": "test-secret-key",
        **settings,
    }
    mount_then_run = f'mount -t tmpfs -o size={TMPFS} tmpfs "$0" && exec "$@"'
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount_then_run]
    command += [str(mount), sys.executable, "-m", "uvicorn", "app.main:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with log.open("ab") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output)


def create_token(server: subprocess.Popen[bytes], database: Path) -> str:
    """An ingest token made by `usage-metrics tokens create` on the server's database, run in
    the server's namespaces (SQLite resolves /proc/<pid>/root to our own root)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")}
    enter = ["nsenter", "--target", str(server.pid), "--user", "--mount", "--preserve-credentials"]
    command = [sys.executable, "-m", "app.cli", "tokens", "create", "--scope", "ingest"]
    done = subprocess.run(
        [*enter, *command, "--name", "disk-full"],
        cwd=ROOT,
        env={**env, "USAGE_METRICS_DATABASE_URL": f"sqlite://{database}"},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def can_mount_a_tmpfs(tmp_path: Path) -> bool:
    """Whether this machine lets a process mount a tmpfs in a namespace of its own."""
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    probe = ["unshare", "--user", "--map-root-user", "--mount", "mount", "-t", "tmpfs"]
    probe += ["-o", "size=64k", "tmpfs", str(tmp_path)]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


@contextmanager
def filled(folder: Path) -> Iterator[None]:
    """`folder`'s file system full for the block (a file takes every free byte), then room."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        block = bytes(64 * 1024)
        while True:
            try:
                os.write(descriptor, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                if len(block) == 1:
                    break
                block = block[: len(block) // 2]
        yield
    finally:
        os.close(descriptor)
        filler.unlink()


async def api_calls(http: httpx.AsyncClient, base: str) -> int:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    answer = await http.post(f"{base}/graphql", json={"query": USAGE}, headers=headers)
    total: int = answer.json()["data"]["usage"]["apiCalls"]["current"]
    return total


async def waiting_batches(http: httpx.AsyncClient, base: str) -> int:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    query = "{ freshness { waitingBatches } }"
    answer = await http.post(f"{base}/graphql", json={"query": query}, headers=headers)
    waiting: int = answer.json()["data"]["freshness"]["waitingBatches"]
    return waiting


async def wait_for_api_calls(http: httpx.AsyncClient, base: str, expected: int) -> None:
    deadline = time.monotonic() + FOLDED_WITHIN_S
    while (found := await api_calls(http, base)) != expected:
        assert found < expected, f"counted {found}, more than the {expected} sent"
        assert time.monotonic() < deadline, f"counted {found} of {expected}"
        await asyncio.sleep(0.05)


async def sign_in(http: httpx.AsyncClient, base: str) -> str:
    form = await http.get(f"{base}/admin/login")
    data = {"token": ADMIN_TOKEN, "csrf_token": csrf_token(form.text)}
    assert (await http.post(f"{base}/admin/login", data=data)).status_code == 303
    return csrf_token((await http.get(f"{base}/admin/analytics")).text)


def is_unavailable(response: httpx.Response) -> bool:
    body: Any = response.json()
    return (response.status_code, body["error"], response.headers.get("retry-after")) == (
        503,
        "DATABASE_UNAVAILABLE",
        "10",
    )


async def test_a_full_disk_answers_503_and_counts_everything_once_room_is_back(
    tmp_path: Path,
) -> None:
    mount = tmp_path / "disk"
    mount.mkdir()
    if not can_mount_a_tmpfs(mount):
        message = "no unshare and nsenter, or no user namespaces: no tmpfs of the server's own"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; the disk-full test needs it in CI")
        pytest.skip(message)
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    # The ledger and its folder, as deployed: the folder must catch up too once there is room.
    server = namespaced_server(mount, port, log, USAGE_METRICS_FOLD_INTERVAL="0.2")
    try:
        async with httpx.AsyncClient(timeout=READY_WITHIN_S) as http:
            await wait_until_ready(http, base, server, log)
            disk = Path(f"/proc/{server.pid}/root{mount}")
            csrf = await sign_in(http, base)
            # Its first use writes last_used_at.
            token = create_token(server, mount / "metrics.sqlite3")
            assert (await post(http, f"{base}/ingest", batch(0, 10), "a")).status_code == 200
            waiting = await post(http, f"{base}/ingest", batch(10, 20), "c")
            assert waiting.status_code == 200  # in the ledger; folded now or once there is room

            with filled(disk):
                full = await post(http, f"{base}/ingest", batch(30, 400), "b")
                headers = {**NDJSON, "Authorization": f"Bearer {token}"}
                checked = await http.post(f"{base}/ingest", content=batch(0, 1), headers=headers)
                settings = await http.post(
                    f"{base}/admin/analytics", data={"provider": "none", "csrf_token": csrf}
                )
                sign_out = await http.post(f"{base}/admin/logout", data={"csrf_token": csrf})

            assert (full.status_code, full.json()) == (503, UNAVAILABLE), server_log(log)
            assert full.headers["retry-after"] == "10"
            assert is_unavailable(checked), checked.text
            assert is_unavailable(settings), settings.text
            assert is_unavailable(sign_out), sign_out.text
            retry = await post(http, f"{base}/ingest", batch(30, 400), "b")
            assert (retry.json()["accepted"], retry.json()["duplicate"]) == (400, False)
            await wait_for_api_calls(http, base, 430)
            replay = await post(http, f"{base}/ingest", batch(30, 400), "b")
            assert replay.json()["duplicate"] is True
            assert await waiting_batches(http, base) == 0  # so nothing more can come
            assert await api_calls(http, base) == 430
            assert "Exception in ASGI application" not in server_log(log)
    finally:
        stop_server(server)
