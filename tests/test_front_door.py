"""GET /: browsers go to the dashboard, JSON clients get the index of our entry points; the
Procfile's server answers on every interface, as Procfile platforms reach it (issue 23, 10)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.config import Settings
from tests.conftest import with_settings
from tests.helpers import app_client
from tests.server_processes import procfile_server

pytestmark = pytest.mark.anyio

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
INDEX = {
    "dashboard": "/dashboard",
    "graphql": "/graphql",
    "ingest": "/ingest",
    "dailyApiMetrics": "/api/daily-api-metrics",
}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # No storage here: SQLite alone.
    return f"sqlite://{tmp_path / 'metrics.sqlite3'}"


@pytest.mark.parametrize(
    "accept",
    [BROWSER, "*/*", "", "application/json;q=0.5, text/html", "text/html, application/json"],
)
async def test_leads_a_browser_to_the_dashboard(client: httpx.AsyncClient, accept: str) -> None:
    answer = await client.get("/", headers={"Accept": accept} if accept else {})
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard")
    # Not signed in, the dashboard leads on to its sign-in page.
    dashboard = await client.get("/dashboard", headers={"Accept": BROWSER})
    assert (dashboard.status_code, urlsplit(dashboard.headers["location"]).path) == (303, "/login")


@pytest.mark.parametrize(
    "accept", ["application/json", "text/html;q=0.1, application/json", "application/JSON"]
)
async def test_gives_a_json_client_the_index(client: httpx.AsyncClient, accept: str) -> None:
    answer = await client.get("/", headers={"Accept": accept})
    assert answer.status_code == 200
    assert answer.json() == INDEX


async def test_links_under_the_public_url_path(settings: Settings) -> None:
    behind = with_settings(settings, public_url="https://portal.example/usage")
    async with app_client(behind) as client:
        answer = await client.get("/", headers={"Accept": BROWSER, "Host": "evil.example"})
        index = await client.get("/", headers={"Accept": "application/json"})
    assert answer.headers["location"] == "/usage/dashboard"
    assert index.json() == {name: f"/usage{path}" for name, path in INDEX.items()}


def test_the_procfile_server_answers_on_every_interface(tmp_path: Path) -> None:
    # 127.0.0.2 is loopback too, but a server bound to 127.0.0.1 alone refuses it: only one on
    # 0.0.0.0 answers there, as a platform's router reaching the container's interface needs.
    with procfile_server(tmp_path) as base:
        other = base.replace("127.0.0.1", "127.0.0.2")
        answer = httpx.get(f"{other}/", headers={"Accept": "application/json"})
        assert (answer.status_code, answer.json()) == (200, INDEX)
        assert httpx.get(f"{other}/healthz").json() == {"status": "ok"}
