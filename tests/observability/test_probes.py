"""GET /healthz (the process answers) and GET /readyz (the database answers), for real.

The folder's part of /readyz is in tests/ingest/test_fold_outage.py."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from app.config import Settings
from tests.helpers import ADMIN_TOKEN, app_client
from tests.observability.scrape import scrape, value
from tests.relay import TcpRelay, through

pytestmark = pytest.mark.anyio

METRICS_TOKEN = "probe-metrics-token-77a0"


async def test_answers_alive_and_ready(client: httpx.AsyncClient) -> None:
    alive = await client.get("/healthz")
    ready = await client.get("/readyz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "quarantined_batches": 0})
    samples = await scrape(client)
    assert value(samples, "usage_metrics_database_errors_total") == 0


async def test_is_not_ready_while_postgres_is_unreachable(postgres_url: str) -> None:
    target = urlsplit(postgres_url)
    relay = TcpRelay(target.hostname or "127.0.0.1", target.port or 5432)
    await relay.start()
    relayed = Settings(
        database_url=through(postgres_url, relay.port),
        admin_token=ADMIN_TOKEN,
        metrics_token=METRICS_TOKEN,
    )
    try:
        async with app_client(relayed) as client:
            assert (await client.get("/readyz")).status_code == 200
            await relay.stop()
            down = await client.get("/readyz")
            alive = await client.get("/healthz")
            samples = await scrape(client, METRICS_TOKEN)  # the metrics token needs no database
            await relay.start()  # the same port: the database is back
            back = await client.get("/readyz")
    finally:
        await relay.stop()
    assert down.status_code == 503
    assert int(down.headers["retry-after"]) > 0
    assert down.json()["error"] == "DATABASE_UNAVAILABLE"
    assert "did not answer within 2 s" in down.json()["detail"]
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert value(samples, "usage_metrics_database_errors_total") == 1
    assert value(samples, "usage_metrics_http_requests_total", route="/readyz", status="503") == 1
    assert (back.status_code, back.json()) == (200, {"status": "ready", "quarantined_batches": 0})
