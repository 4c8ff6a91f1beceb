"""Finding 4: the sign-in back-off. X-Forwarded-For was believed from 127.0.0.1 (12 parallel
guesses with 12 addresses got no 429), and a success with another token reset a guesser's
counter. Now forwarded addresses count only from USAGE_METRICS_TRUSTED_PROXIES."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest

from app.auth.tokens import create_token
from app.config import Settings, load_settings
from app.web.backoff import SignInBackoff, client_address
from tests.conftest import with_settings
from tests.helpers import csrf_token
from tests.server_processes import procfile_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with procfile_server(tmp_path) as base:
        yield base


async def test_forged_forwarded_addresses_do_not_escape_the_back_off(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=60) as http:
        form = await http.get("/admin/login")
        csrf = csrf_token(form.text)

        async def guess(n: int) -> int:
            answer = await http.post(
                "/admin/login",
                data={"token": f"guess-{n}", "csrf_token": csrf},
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
            )
            return answer.status_code

        # The attack: 12 guesses sent at once, each claiming another address.
        statuses = await asyncio.gather(*(guess(n) for n in range(12)))
    assert statuses.count(429) == 12 - 5  # the 5 free failures of the one real address


def test_forwarded_for_is_read_only_from_a_trusted_proxy() -> None:
    proxies = (ip_network("10.0.0.0/8"),)
    assert client_address("127.0.0.1", "198.51.100.7", ()) == "127.0.0.1"
    assert client_address("192.0.2.1", "198.51.100.7", proxies) == "192.0.2.1"
    # Behind a trusted proxy: the last address it did not add itself; what the client wrote
    # before it (198.51.100.66) could be forged.
    assert client_address("10.0.0.2", "198.51.100.66, 192.0.2.9, 10.0.0.3", proxies) == (
        "192.0.2.9"
    )
    settings = load_settings({"USAGE_METRICS_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8"})
    assert settings.trusted_proxies == (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"))
    assert load_settings({}).trusted_proxies == ()


def test_a_success_keeps_the_failures_before_it() -> None:
    backoff = SignInBackoff(free_failures=5, base_s=30, max_s=900, clock=lambda: 1000.0)
    for _ in range(4):
        backoff.attempt("192.0.2.1")
    backoff.attempt("192.0.2.1")
    backoff.succeeded("192.0.2.1")  # the guesser's own valid token
    assert backoff.attempt("192.0.2.1") == 0.0  # the 5th failure: barred from now on
    assert backoff.attempt("192.0.2.1") == 30.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, failed_sign_in_delay_s=0.0)


async def test_a_success_with_another_token_does_not_reset_a_guessers_count(
    client: httpx.AsyncClient,
) -> None:
    owner = await create_token("owner:organization:org1", "the guesser's own token")
    form = await client.get("/login")
    csrf = csrf_token(form.text)

    async def sign_in(token: str) -> int:
        answer = await client.post("/login", data={"token": token, "csrf_token": csrf})
        return answer.status_code

    statuses = [await sign_in(f"guess-{n}") for n in range(4)]
    statuses.append(await sign_in(owner))
    client.cookies.clear()  # a new browser session; the same address
    form = await client.get("/login")
    csrf = csrf_token(form.text)
    statuses += [await sign_in(f"guess-{n}") for n in range(4, 6)]
    assert statuses == [401, 401, 401, 401, 303, 401, 429]
