"""docs/deploy.md's step 1 as written: the PostgreSQL role and database it creates take the
migrations, the tokens it makes before the first start work on the started server, and that
server prints no token (under systemd, stderr goes to the journal).

The SQL and the commands are read from the page; the role and database get names of their own,
dropped afterwards. The suite's PostgreSQL trusts local connections, so the password is
carried, not checked.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from tests.server_processes import (
    POSTGRES_ADMIN_URL,
    READY_WITHIN_S,
    ROOT,
    clean_env,
    free_port,
    wait_until,
)

GUIDE = (ROOT / "docs" / "deploy.md").read_text()
STEP = GUIDE[GUIDE.index("<!-- deploy-postgres") : GUIDE.index("## 2. ")]
SQL = re.search(r"psql -v ON_ERROR_STOP=1 <<SQL\n(?P<sql>.*?)\nSQL\n", STEP, re.DOTALL)
URL = re.search(r"^USAGE_METRICS_DATABASE_URL=(?P<url>\S+)$", STEP, re.MULTILINE)
TOKENS = re.findall(r"^(\w+)=\$\(\.venv/bin/usage-metrics (tokens create [^)]+)\)$", STEP, re.M)
PASSWORD = "guide-test-password"  # the guide's is token_urlsafe: letters, digits, - and _


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        for statement in statements:  # one each: CREATE DATABASE refuses a transaction
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def database_url() -> Iterator[str]:
    """The guide's SQL run as the PostgreSQL superuser, its role and database renamed; the
    guide's database URL for them."""
    assert SQL is not None and URL is not None, "docs/deploy.md lost its PostgreSQL step"
    name = f"usage_metrics_guide_{uuid.uuid4().hex[:12]}"
    sql = re.sub(r"\busage\b", name, SQL["sql"]).replace("$DB_PASSWORD", PASSWORD)
    assert sql.count(name) == 3, sql
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable ({exc}); set USAGE_METRICS_TEST_POSTGRES_URL")
    server = urlsplit(POSTGRES_ADMIN_URL).netloc.rpartition("@")[2]
    url = re.sub(r"\busage\b", name, URL["url"]).replace("$DB_PASSWORD", PASSWORD)
    try:
        asyncio.run(_admin(*(statement for statement in sql.split(";\n") if statement.strip())))
        yield url.replace("@127.0.0.1:5432/", f"@{server}/")
    finally:
        drop = (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{name}"')
        asyncio.run(_admin(*drop))


def test_the_guides_database_and_tokens_serve_without_a_token_in_the_log(
    database_url: str, tmp_path: Path
) -> None:
    env = clean_env(USAGE_METRICS_DATABASE_URL=database_url, USAGE_METRICS_SECRET_KEY="guide")
    assert [variable for variable, _ in TOKENS] == ["ADMIN_TOKEN", "INGEST_TOKEN"]
    tokens = {}
    for variable, command in TOKENS:
        made = subprocess.run(
            [sys.executable, "-m", "app.cli", *command.split()],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr
        tokens[variable] = made.stdout.strip()
        assert re.fullmatch(r"um_[\w-]+", tokens[variable]), made.stdout

    port, log = free_port(), tmp_path / "serve.log"
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    with log.open("wb") as written:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=written, stderr=written)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _is_up(base) or server.poll() is not None, "serve", READY_WITHIN_S)
        assert server.poll() is None, log.read_text()
        admin = {"Authorization": f"Bearer {tokens['ADMIN_TOKEN']}"}
        answer = httpx.post(f"{base}/graphql", json={"query": "{ __typename }"}, headers=admin)
        assert answer.json() == {"data": {"__typename": "Query"}}
        ingest = {"Authorization": f"Bearer {tokens['INGEST_TOKEN']}", "Content-Type": "text/plain"}
        posted = httpx.post(f"{base}/ingest", content=b"", headers=ingest)
        assert posted.status_code == 200, posted.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    output = log.read_text()
    assert "um_" not in output and "No token existed" not in output, output


def _is_up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.TransportError:
        return False
