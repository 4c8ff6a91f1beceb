"""deploy/nginx/usage-metrics-proxy.conf in a real nginx in front of a real `usage-metrics serve`
with USAGE_METRICS_TRUSTED_PROXIES=127.0.0.1, as docs/deploy.md sets them up: the sign-in
back-off counts each client behind nginx on its own.

nginx sees every test client at a loopback address: the clients connect from 127.0.0.2 and
127.0.0.3 (all of 127.0.0.0/8 is local on Linux), so only the address nginx forwards tells them
apart. Needs Debian's nginx (apt-get install nginx); skipped without it, except in CI.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.test_nginx import NGINX, running_nginx
from tests.helpers import ADMIN_TOKEN, csrf_token
from tests.server_processes import free_port, serving

if os.environ.get("CI") != "true" and not NGINX.exists():
    pytest.skip("Debian's nginx is not installed", allow_module_level=True)

pytestmark = pytest.mark.anyio

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "usage-metrics-proxy.conf"
UPSTREAM = "proxy_pass http://127.0.0.1:8000/;"
GUESSER, VISITOR = "127.0.0.2", "127.0.0.3"
FREE_FAILURES = 5  # the server's default (docs/security.md)


@pytest.fixture(scope="module")
def public_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx on a free port, the shipped location in its server, usage-metrics behind it; the
    service's public URL, https://<portal>/usage-metrics as the guide has it."""
    prefix = tmp_path_factory.mktemp("nginx-proxy")
    port, server_port = free_port(), free_port()
    location = SHIPPED.read_text()
    assert location.count(UPSTREAM) == 1
    (prefix / "proxy.conf").write_text(
        location.replace(UPSTREAM, f"proxy_pass http://127.0.0.1:{server_port}/;")
    )
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
    server {{
        listen 127.0.0.1:{port};
        server_name portal.example;
        include {prefix / "proxy.conf"};
    }}
}}
""")
    url = f"http://127.0.0.1:{port}/usage-metrics"
    database = f"sqlite://{prefix / 'metrics.sqlite3'}"
    settings = {"USAGE_METRICS_TRUSTED_PROXIES": "127.0.0.1", "USAGE_METRICS_PUBLIC_URL": url}
    with serving(database, server_port, **settings), running_nginx(prefix, port):
        yield url


def browser(public_url: str, address: str) -> httpx.AsyncClient:
    """A client whose connections to nginx come from `address`."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(transport=transport, base_url=public_url, timeout=30)


async def form_token(client: httpx.AsyncClient) -> str:
    """The sign-in form's CSRF token, its session cookie kept by `client`."""
    form = await client.get("/login")
    assert form.status_code == 200, form.text
    return csrf_token(form.text)


async def sign_in(
    client: httpx.AsyncClient, token: str, csrf: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("/login", data={"token": token, "csrf_token": csrf}, headers=headers)


async def test_wrong_tokens_from_one_client_do_not_bar_another(public_url: str) -> None:
    async with browser(public_url, GUESSER) as guesser, browser(public_url, VISITOR) as visitor:
        # In parallel (each attempt counts from its start, each failure waits 1 s), from one
        # form, as a guesser would.
        csrf = await form_token(guesser)
        guesses = [sign_in(guesser, f"um_guess{n}", csrf) for n in range(FREE_FAILURES)]
        assert [r.status_code for r in await asyncio.gather(*guesses)] == [401] * FREE_FAILURES

        # nginx replaces what the client claims with the address it connects from.
        forged = {"X-Forwarded-For": VISITOR}
        barred = await sign_in(guesser, ADMIN_TOKEN, await form_token(guesser), forged)
        # Barred 30 s from the fifth failure's start, a real clock's second or so ago.
        assert barred.status_code == 429
        assert 0 < int(barred.headers["retry-after"]) <= 30

        signed_in = await sign_in(visitor, ADMIN_TOKEN, await form_token(visitor))
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == "/usage-metrics/dashboard"
        dashboard = await visitor.get("/dashboard")
        assert dashboard.status_code == 200
