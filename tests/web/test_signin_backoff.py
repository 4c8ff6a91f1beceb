"""Failed sign-ins bar their client address for a while, growing; in memory only, bounded."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.web.backoff import SignInBackoff
from tests.conftest import with_settings
from tests.helpers import ADMIN_TOKEN, csrf_token

THROTTLED = "Too many failed sign-ins from your address: try again in 30 s."


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bars_an_address_after_its_free_failures_doubling_up_to_the_cap() -> None:
    clock = Clock()
    backoff = SignInBackoff(free_failures=3, base_s=10, max_s=40, clock=clock)
    assert [backoff.attempt("192.0.2.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    waits = []
    for elapsed in (0, 9.5, 10, 20, 30, 40, 80, 80, 120):
        clock.now = 1000.0 + elapsed
        waits.append(backoff.attempt("192.0.2.1"))
    # Barred 10 s after the 3rd failure, then 20 s after the 4th (at +10), 40 s (the cap)
    # after the 5th (at +30), and 40 s again after the 6th (at +80).
    assert waits == [10.0, 0.5, 0.0, 10.0, 0.0, 30.0, 0.0, 40.0, 0.0]


def test_a_success_forgets_the_failures_of_its_address_only() -> None:
    backoff = SignInBackoff(free_failures=2, base_s=10, max_s=40, clock=Clock())
    for client in ("192.0.2.1", "192.0.2.2"):
        backoff.attempt(client)
    backoff.succeeded("192.0.2.1")
    assert (backoff.attempt("192.0.2.1"), backoff.attempt("192.0.2.1")) == (0.0, 0.0)
    assert backoff.attempt("192.0.2.1") == 10.0
    assert backoff.attempt("192.0.2.2") == 0.0  # its 2nd failure: barred from now on
    assert backoff.attempt("192.0.2.2") == 10.0


def test_keeps_a_bounded_number_of_addresses_and_forgets_stale_ones() -> None:
    clock = Clock()
    backoff = SignInBackoff(free_failures=1, base_s=10, max_s=40, max_clients=100, clock=clock)
    for n in range(1000):
        backoff.attempt(f"2001:db8::{n:x}")
    assert len(backoff) == 100  # the stalest went first
    assert backoff.attempt("2001:db8::3e7") == 10.0  # the latest is still barred
    assert backoff.attempt("2001:db8::0") == 0.0  # pushed out: counted afresh
    clock.now += 79
    backoff.attempt("192.0.2.1")
    assert len(backoff) == 100  # a new address pushed out the stalest
    clock.now += 1
    backoff.attempt("192.0.2.1")
    assert len(backoff) == 1  # twice the cap after their last attempt, all were forgotten


# Through the real app: the admin and dashboard forms share one allowance per address.
pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(
        settings, sign_in_free_failures=2, sign_in_backoff_s=30.0, sign_in_backoff_max_s=120.0
    )


@pytest.fixture
async def browsers(app: Starlette) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Clients of the same app from two addresses (httpx sets the ASGI client address)."""
    clients = {}
    for address in ("203.0.113.9", "198.51.100.7"):
        transport = httpx.ASGITransport(app=app, client=(address, 1234))
        clients[address] = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    yield clients
    for client in clients.values():
        await client.aclose()


async def submit(
    client: httpx.AsyncClient, token: str, path: str = "/admin/login"
) -> httpx.Response:
    form = await client.get(path)
    return await client.post(path, data={"token": token, "csrf_token": csrf_token(form.text)})


async def test_answers_429_once_an_address_used_its_free_failures(
    browsers: dict[str, httpx.AsyncClient],
) -> None:
    guesser = browsers["203.0.113.9"]
    assert [(await submit(guesser, "um_guess")).status_code for _ in range(2)] == [401, 401]

    barred = await submit(guesser, ADMIN_TOKEN)  # even the right token: it is not checked

    assert (barred.status_code, barred.headers["retry-after"]) == (429, "30")
    assert f'<p id="token-error" class="error" role="alert">{THROTTLED}</p>' in barred.text
    assert (await guesser.get("/admin/analytics")).status_code == 303
    # The dashboard's form shares the allowance, and says so in the reader's language.
    dashboard = await submit(guesser, ADMIN_TOKEN, "/login?lang=fr")
    assert (dashboard.status_code, dashboard.headers["retry-after"]) == (429, "30")
    assert (
        "Trop d'échecs de connexion depuis votre adresse : réessayez dans 30 s."
        in html.unescape(dashboard.text)
    )
    # Another address is not affected.
    other = await submit(browsers["198.51.100.7"], ADMIN_TOKEN)
    assert other.status_code == 303


async def test_a_success_takes_back_only_its_own_attempt(
    browsers: dict[str, httpx.AsyncClient],
) -> None:
    client = browsers["203.0.113.9"]
    statuses = [
        (await submit(client, token, path)).status_code
        for token, path in [
            ("um_typo", "/login"),
            (ADMIN_TOKEN, "/login"),
            ("um_typo", "/admin/login"),
            ("um_typo", "/admin/login"),
            (ADMIN_TOKEN, "/admin/login"),
        ]
    ]
    # The failure before the success stays counted (docs/security.md): a guesser holding any
    # valid token could otherwise clear its count between guesses.
    assert statuses == [401, 303, 401, 429, 429]
