"""GET /healthz (the process answers) and GET /readyz (the database answers), for real."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from app.config import Settings
from tests.helpers import ADMIN_TOKEN, app_client
from tests.observability.scrape import scrape, value

pytestmark = pytest.mark.anyio

METRICS_TOKEN = "probe-metrics-token-77a0"


async def test_answers_alive_and_ready(client: httpx.AsyncClient) -> None:
    alive = await client.get("/healthz")
    ready = await client.get("/readyz")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "quarantined_batches": 0})
    samples = await scrape(client)
    assert value(samples, "usage_metrics_database_errors_total") == 0


class TcpRelay:
    """Forwards a local port to PostgreSQL; stop() cuts every connection, as an outage does."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def test_is_not_ready_while_postgres_is_unreachable(postgres_url: str) -> None:
    target = urlsplit(postgres_url)
    relay = TcpRelay(target.hostname or "127.0.0.1", target.port or 5432)
    await relay.start()
    relayed = Settings(
        database_url=_through(postgres_url, relay.port),
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
