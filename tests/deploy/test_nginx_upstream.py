"""deploy/nginx/usage-metrics-upstream.conf in a real nginx, with usage-metrics-proxy.conf pointed
at it as docs/deploy.md says, in front of two real servers on one PostgreSQL database: nginx
takes them in turn, skips one that is stopped, and every batch counts once.

Needs Debian's nginx (apt-get install nginx); skipped without it, except in CI.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.deploy.test_nginx import NGINX, running_nginx
from tests.faults.counted import Counted, read_counted, sums_of
from tests.helpers import ADMIN_TOKEN, NDJSON
from tests.ingest.test_concurrency import batch_body, batch_specs
from tests.server_processes import (
    free_port,
    postgres_database,
    start_server,
    stop_server,
    wait_until_ready,
)

if os.environ.get("CI") != "true" and not NGINX.exists():
    pytest.skip("Debian's nginx is not installed", allow_module_level=True)

pytestmark = pytest.mark.anyio

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
SHIPPED_SERVERS = ("127.0.0.1:8000", "127.0.0.1:8001")
SHIPPED_PASS = "proxy_pass http://127.0.0.1:8000/;"


@contextmanager
def nginx_in_front(prefix: Path, server_ports: list[int]) -> Iterator[str]:
    """nginx on a free port: the shipped upstream (its servers on `server_ports`) in its http
    block, the shipped location passing to it; the service's base URL through nginx."""
    upstream = (DEPLOY / "usage-metrics-upstream.conf").read_text()
    for shipped, port in zip(SHIPPED_SERVERS, server_ports, strict=True):
        assert upstream.count(f"server {shipped} ") == 1
        upstream = upstream.replace(f"server {shipped} ", f"server 127.0.0.1:{port} ")
    (prefix / "upstream.conf").write_text(upstream)
    location = (DEPLOY / "usage-metrics-proxy.conf").read_text()
    assert location.count(SHIPPED_PASS) == 1
    (prefix / "proxy.conf").write_text(
        location.replace(SHIPPED_PASS, "proxy_pass http://usage_metrics/;")
    )
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(f"""{user}
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} notice;
events {{ worker_connections 64; }}
http {{
{temp_paths}
    access_log off;
    include {prefix / "upstream.conf"};
    server {{
        listen 127.0.0.1:{port};
        server_name portal.example;
        include {prefix / "proxy.conf"};
    }}
}}
""")
    with running_nginx(prefix, port):
        yield f"http://127.0.0.1:{port}/usage-metrics"


async def counted_batches(http: httpx.AsyncClient, server: str) -> int:
    """Batches this server process counted, from its own /metrics."""
    metrics = await http.get(
        f"{server}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    found = re.search(r'usage_metrics_batches_total\{result="counted"\} (\S+)', metrics.text)
    assert found is not None, metrics.text
    return int(float(found[1]))


async def post(http: httpx.AsyncClient, base: str, number: int) -> None:
    answer = await http.post(
        f"{base}/ingest",
        content=batch_body(number),
        headers={**NDJSON, "Idempotency-Key": f"upstream-{number}"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["duplicate"] is False


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database() as url:  # a database of its own: the servers migrate it
        yield url


async def test_nginx_takes_the_servers_in_turn_and_skips_a_stopped_one(
    database: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        ports = [free_port(), free_port()]
        logs = [tmp_path / f"server-{n}.log" for n in range(2)]
        processes = [
            start_server(database, port, log) for port, log in zip(ports, logs, strict=True)
        ]
        for process in processes:
            stack.callback(stop_server, process)
        servers = [f"http://127.0.0.1:{port}" for port in ports]
        async with httpx.AsyncClient(timeout=60) as http:
            for server, process, log in zip(servers, processes, logs, strict=True):
                await wait_until_ready(http, server, process, log)
            prefix = tmp_path / "nginx"
            prefix.mkdir()
            base = stack.enter_context(nginx_in_front(prefix, ports))

            for number in range(10):
                await post(http, base, number)
            # Round robin: five each.
            assert [await counted_batches(http, server) for server in servers] == [5, 5]

            stop_server(processes[1])
            for number in range(10, 14):
                await post(http, base, number)  # the stopped one's turns go to the other
            assert await counted_batches(http, servers[0]) == 5 + 4

        sums = sums_of(line for number in range(14) for line in batch_specs(number))
        keys = sorted(f"upstream-{number}" for number in range(14))
        assert await read_counted(database) == Counted(sums, keys, True)
