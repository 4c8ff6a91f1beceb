"""The command line: tokens create | list | revoke, resources add, and serve's first admin token."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.storage.database import database
from app.storage.models import ResourceRow, TokenRow
from tests.helpers import data_fair_line


def _stored_tokens(url: str) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        async with database(url):
            rows = await TokenRow.all().order_by("id")
            return [(row.name, row.scope, row.token_sha256) for row in rows]

    return asyncio.run(read())


def test_tokens_create_prints_the_token_alone_and_stores_its_hash(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USAGE_METRICS_DATABASE_URL", database_url)
    before = _stored_tokens(database_url)

    assert main(["tokens", "create", "--scope", "owner:organization:acme", "--name", "acme"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()

    assert re.fullmatch(r"um_[A-Za-z0-9_-]{43}", token)
    assert token not in err
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert _stored_tokens(database_url)[len(before) :] == [
        ("acme", "owner:organization:acme", digest)
    ]

    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert "acme" in listing and "owner:organization:acme" in listing and token not in listing

    assert main(["tokens", "revoke", "acme"]) == 0
    assert _stored_tokens(database_url) == before
    assert main(["tokens", "revoke", "acme"]) == 1


def test_tokens_create_refuses_an_unknown_scope(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USAGE_METRICS_DATABASE_URL", database_url)
    before = _stored_tokens(database_url)
    assert main(["tokens", "create", "--scope", "owner:acme"]) == 1
    assert "is not one of admin, ingest" in capsys.readouterr().err
    assert _stored_tokens(database_url) == before


def test_resources_add_registers_an_owner(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USAGE_METRICS_DATABASE_URL", database_url)
    assert main(["resources", "add", "datasets/cli-roads", "--owner", "user:bob", "--create"]) == 0

    async def read() -> tuple[str, str, str | None]:
        async with database(database_url):
            row = await ResourceRow.get(resource_type="datasets", resource_id="cli-roads")
            await row.delete()
            return row.owner_type, row.owner_id, row.title

    assert asyncio.run(read()) == ("user", "bob", None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_first_serve_prints_an_admin_token_that_ingests(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")},
        "USAGE_METRICS_DATABASE_URL": f"sqlite://{tmp_path / 'first.sqlite3'}",
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert server.stderr is not None
        token = ""
        deadline = time.monotonic() + 20
        while not token and time.monotonic() < deadline:
            found = re.search(r"um_[A-Za-z0-9_-]{43}", server.stderr.readline())
            token = found.group(0) if found else ""
        assert token, "serve printed no admin token"
        answer = _post_when_up(port, token)
        assert answer["accepted"] == 1
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()


def _post_when_up(port: int, token: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        try:
            response = httpx.post(
                f"http://127.0.0.1:{port}/ingest",
                content=json.dumps(data_fair_line()),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
            )
            result: dict[str, object] = response.json()
            return result
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
