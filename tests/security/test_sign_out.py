"""Finding 10: a session cookie copied before sign-out opened the pages until it expired (12 h).

The attack: sign in, keep a copy of the session cookie (a shared computer, a leaked header),
sign out, then send the copy. Signing out now revokes the session on the server.
"""

from __future__ import annotations

import httpx
import pytest

from app.config import Settings
from app.web.session import ADMIN_SESSION, DASHBOARD_SESSION
from tests.conftest import with_settings
from tests.dashboard.pages import open_dashboard, org1_token
from tests.helpers import csrf_token, sign_in, table_rows

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, failed_sign_in_delay_s=0.0)


def _copied(client: httpx.AsyncClient, cookie: str) -> dict[str, str]:
    value = client.cookies.get(cookie)
    assert value, f"no {cookie} cookie after sign-in"
    return {"Cookie": f"{cookie}={value}"}


async def test_a_copied_dashboard_cookie_opens_nothing_after_sign_out(
    client: httpx.AsyncClient,
) -> None:
    await open_dashboard(client, await org1_token())
    copy = _copied(client, DASHBOARD_SESSION.cookie)
    confirm = await client.get("/logout")
    answer = await client.post("/logout", data={"csrf_token": csrf_token(confirm.text)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")

    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as thief:
        replayed = await thief.get("/dashboard", headers=copy)
    assert (replayed.status_code, replayed.headers["location"]) == (303, "/login")
    assert len(await table_rows("revoked_sessions")) == 1  # its id, never the token


async def test_a_copied_admin_cookie_opens_nothing_after_sign_out(
    client: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(client)
    copy = _copied(client, ADMIN_SESSION.cookie)
    answer = await client.post("/admin/logout", data={"csrf_token": csrf})
    assert answer.status_code == 303

    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as thief:
        replayed = await thief.get("/admin/analytics", headers=copy)
    assert (replayed.status_code, replayed.headers["location"]) == (303, "/admin/login")


async def test_signing_out_ends_only_that_session(client: httpx.AsyncClient) -> None:
    token = await org1_token()
    await open_dashboard(client, token)
    first = _copied(client, DASHBOARD_SESSION.cookie)
    client.cookies.clear()
    await open_dashboard(client, token)  # the same token on a second browser
    confirm = await client.get("/logout")
    await client.post("/logout", data={"csrf_token": csrf_token(confirm.text)})

    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as other:
        still = await other.get("/dashboard", headers=first)
    assert still.status_code == 200
