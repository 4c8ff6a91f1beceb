"""The whole path: a real nginx with deploy/nginx/data-fair.conf's syslog access_log -> the
`usage-metrics syslog` process -> `usage-metrics serve`, which is down for the first requests.

Nothing is lost and nothing is counted twice: the GraphQL figures are exactly those of the
requests nginx served, on SQLite and on PostgreSQL. Needs Debian's nginx, as tests/deploy does.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.test_nginx import (
    USAGE,
    DataFairStandIn,
    ProxyRun,
    _free_port,
    _gzip_ratio,
    assert_figures,
    running_nginx,
    send_requests,
    write_config,
)
from tests.helpers import INGEST_TOKEN, graphql_data
from tests.server_processes import postgres_database, serving, wait_until
from tests.syslog.serving import spooled, start, stop, syslog_command

pytestmark = pytest.mark.anyio

DATAGRAMS_PER_RUN = 9  # send_requests: every request but the one without X-Operation


@pytest.fixture(params=["sqlite", "postgres"])
def server_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'metrics.sqlite3'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def upstream() -> Iterator[int]:
    """The Data Fair stand-in nginx proxies to; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), DataFairStandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def doubled(value: Any) -> Any:
    """The same figures with every `current` counted twice."""
    if isinstance(value, dict):
        return {k: v * 2 if k == "current" else doubled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [doubled(item) for item in value]
    return value


def proxy_requests(prefix: Path, port: int) -> tuple[bytes, bytes]:
    """send_requests through nginx; once nginx has stopped, every datagram has been sent."""
    with running_nginx(prefix, port):
        return send_requests(port)


async def test_nginx_datagrams_reach_a_server_that_was_down_once_each(
    server_database: str, upstream: int, tmp_path: Path
) -> None:
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port, api_port = _free_port(), _free_port()
    write_config(prefix, port, upstream)
    sock, spool, errors = prefix / "sock", tmp_path / "spool", tmp_path / "syslog.err"
    url = f"http://127.0.0.1:{api_port}/ingest"
    command = syslog_command(url, spool, "--socket", str(sock), "--flush-seconds", "2")
    receiver = start(command, errors)
    try:
        wait_until(lambda: sock.exists() or receiver.poll() is not None, "the socket")
        day = datetime.now(UTC).date()
        plain, gzipped = proxy_requests(prefix, port)  # the server is down
        if datetime.now(UTC).date() != day:
            pytest.skip("midnight (UTC) passed while nginx was logging")
        wait_until(lambda: sum(n for _, n in spooled(spool)) == DATAGRAMS_PER_RUN, "the spool")
        wait_until(lambda: "cannot deliver (ConnectError: " in errors.read_text(), "a retry")
        named_log = (prefix / "usage-metrics.log").read_text()
        run = ProxyRun(
            day=day,
            named_log=named_log,
            data_fair_log="",
            datagrams=[],
            downloaded_bytes=len(plain) + round(len(gzipped) * _gzip_ratio(named_log)),
        )
        with serving(server_database, api_port) as base:
            wait_until(lambda: spooled(spool) == [], "the spool to be sent", timeout=60)
            async with httpx.AsyncClient(base_url=base) as client:
                await assert_figures(client, run)
                period = {"start": day.isoformat(), "end": day.isoformat()}
                first = await graphql_data(client, USAGE, period=period)
                proxy_requests(prefix, port)  # the same requests again, the server up
                assert stop(receiver) == 0  # at once: the last batch goes on SIGTERM
                again = await graphql_data(client, USAGE, period=period)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait()
    if datetime.now(UTC).date() != day:
        pytest.skip("midnight (UTC) passed between the two runs: they count on two days")
    assert again == doubled(first)
    output = errors.read_text()
    assert re.search(
        r"stopped: 18 lines in \d+ batches: 16 accepted, 2 ignored, 0 rejected; "
        r"0 batch\(es\), 0 lines in the spool",
        output,
    ), output
    assert spooled(spool) == [] and not sock.exists()
    assert INGEST_TOKEN not in output and "portal.example" not in output
