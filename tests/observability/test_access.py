"""Who may read GET /metrics: the metrics token and admin tokens; everyone else is refused."""

from __future__ import annotations

import httpx
import pytest

from app.auth.tokens import create_token
from app.config import Settings
from tests.conftest import with_settings
from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN, app_client
from tests.observability.scrape import parse, value

pytestmark = pytest.mark.anyio

METRICS_TOKEN = "test-metrics-token-5f1c"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param(bearer("not-a-token"), id="unknown-token"),
        pytest.param(bearer(METRICS_TOKEN + "x"), id="metrics-token-plus-one"),
        pytest.param({"Authorization": f"Basic {METRICS_TOKEN}"}, id="basic-scheme"),
        pytest.param({"Authorization": "Bearer "}, id="empty-bearer"),
    ],
)
async def test_refuses_metrics_without_a_known_token(
    settings: Settings, headers: dict[str, str]
) -> None:
    async with app_client(with_settings(settings, metrics_token=METRICS_TOKEN)) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "UNAUTHENTICATED"
    assert "usage_metrics" not in response.text


async def test_refuses_metrics_to_tokens_without_admin_scope(client: httpx.AsyncClient) -> None:
    owner = await create_token("owner:organization:org1", "an owner")
    for token in (INGEST_TOKEN, owner):
        response = await client.get("/metrics", headers=bearer(token))
        assert (response.status_code, response.json()["error"]) == (403, "FORBIDDEN")


async def test_serves_metrics_to_the_metrics_token_and_admin_tokens(settings: Settings) -> None:
    async with app_client(with_settings(settings, metrics_token=METRICS_TOKEN)) as client:
        stored_admin = await create_token("admin", "ops")
        answers = [
            await client.get("/metrics", headers=bearer(token))
            for token in (METRICS_TOKEN, ADMIN_TOKEN, stored_admin)
        ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert answers[0].headers["cache-control"] == "no-store"
    # Each scrape counts the ones before it.
    counts = [
        value(parse(a.text), "usage_metrics_http_requests_total", route="/metrics", status="200")
        for a in answers
    ]
    assert counts == [None, 1, 2]


async def test_refuses_the_metrics_token_when_none_is_configured(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert response.status_code == 401


async def test_speaks_openmetrics_to_a_scraper_that_asks_for_it(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/metrics",
        headers={
            **bearer(ADMIN_TOKEN),
            "Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    assert "usage_metrics_batches_total" in response.text
