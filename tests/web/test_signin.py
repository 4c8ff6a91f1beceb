"""Admin sign-in: a signed session cookie for admin tokens only, slow vague failures, sign-out."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from starlette.applications import Starlette

from app.auth.tokens import create_token, hash_token, revoke_token
from app.config import Settings
from app.web.session import COOKIE, SessionCookies
from tests.conftest import with_settings
from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN, app_client, csrf_token, sign_in

pytestmark = pytest.mark.anyio

FAILED = "This token does not open the admin pages."
# Every admin page and form, and what a request to it sends.
ADMIN_PAGES = [
    ("GET", "/admin"),
    ("GET", "/admin/analytics"),
    ("POST", "/admin/analytics"),
    ("GET", "/admin/analytics/fields"),
    ("POST", "/admin/analytics/preview"),
    ("GET", "/admin/logout"),
    ("POST", "/admin/logout"),
]


def cookie_attributes(set_cookie: str) -> set[str]:
    return {part.strip().lower() for part in set_cookie.split(";")[1:]}


async def post_token(client: httpx.AsyncClient, token: str) -> httpx.Response:
    form = await client.get("/admin/login")
    data = {"token": token, "csrf_token": csrf_token(form.text)}
    return await client.post("/admin/login", data=data)


async def test_signs_in_with_an_admin_token(client: httpx.AsyncClient) -> None:
    answer = await post_token(client, ADMIN_TOKEN)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/analytics"
    name, _, value = answer.headers["set-cookie"].partition(";")[0].partition("=")
    assert name == COOKIE
    assert cookie_attributes(answer.headers["set-cookie"]) == {
        "httponly",
        "max-age=43200",
        "path=/admin",
        "samesite=lax",
    }
    # Signed, not secret: it holds the token's sha256, never the token.
    _, payload = URLSafeSerializer("any key").loads_unsafe(value)
    assert payload["t"] == hash_token(ADMIN_TOKEN)
    assert ADMIN_TOKEN not in str(payload)
    page = await client.get("/admin/analytics")
    assert page.status_code == 200
    assert "<h1>Web analytics</h1>" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_marks_the_cookie_secure_over_https(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        answer = await post_token(client, ADMIN_TOKEN)
        assert "secure" in cookie_attributes(answer.headers["set-cookie"])
        assert (await client.get("/admin/analytics")).status_code == 200


async def test_marks_the_cookie_secure_behind_an_https_public_url(settings: Settings) -> None:
    public = with_settings(settings, public_url="https://metrics.example/usage")
    async with app_client(public) as client:
        # The proxy forwards https://metrics.example/usage/admin/login as /admin/login.
        answer = await client.get("/admin/login")
    assert {"secure", "path=/usage/admin"} <= cookie_attributes(answer.headers["set-cookie"])
    assert '<form method="post" action="/usage/admin/login" class="stack">' in answer.text


@pytest.mark.parametrize("token", ["", "um_unknown", INGEST_TOKEN, "owner", "revoked"])
async def test_refuses_any_other_token_with_one_message(
    client: httpx.AsyncClient, token: str
) -> None:
    if token == "owner":
        token = await create_token("owner:organization:acme", "acme")
    elif token == "revoked":
        token = await create_token("admin", "gone")
        await revoke_token("gone")

    answer = await post_token(client, token)

    assert answer.status_code == 401
    assert f'<p id="token-error" class="error" role="alert">{FAILED}</p>' in answer.text
    assert "set-cookie" not in answer.headers  # the sign-in form's session is kept as it was
    assert (await client.get("/admin/analytics")).status_code == 303


async def test_answers_a_failed_sign_in_after_the_delay(settings: Settings) -> None:
    async with app_client(with_settings(settings, failed_sign_in_delay_s=0.2)) as client:
        started = time.monotonic()
        answer = await post_token(client, "um_guess")
        elapsed = time.monotonic() - started
    assert answer.status_code == 401
    assert elapsed >= 0.2


async def test_refuses_a_sign_in_without_the_forms_csrf_token(client: httpx.AsyncClient) -> None:
    await client.get("/admin/login")
    answer = await client.post("/admin/login", data={"token": ADMIN_TOKEN})
    assert answer.status_code == 403
    assert answer.json()["error"] == "FORBIDDEN"
    assert (await client.get("/admin/analytics")).status_code == 303


@pytest.mark.parametrize(("method", "path"), ADMIN_PAGES)
async def test_sends_a_browser_without_a_session_to_sign_in(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    data = {"provider": "none", "csrf_token": "x"} if method == "POST" else None
    answer = await client.request(method, path, data=data)
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/login")
    htmx = await client.request(method, path, data=data, headers={"HX-Request": "true"})
    assert (htmx.status_code, htmx.headers["hx-redirect"], htmx.text) == (401, "/admin/login", "")


@pytest.mark.parametrize("case", ["expired", "other key", "not signed in", "garbage"])
async def test_refuses_a_session_cookie_it_cannot_trust(
    client: httpx.AsyncClient, settings: Settings, case: str
) -> None:
    digest = hash_token(ADMIN_TOKEN)
    sessions = SessionCookies(settings)
    cookies: dict[str, Callable[[], str]] = {
        "expired": lambda: sessions.encode(sessions.new(time.time() - 13 * 3600, digest)),
        "other key": lambda: SessionCookies(with_settings(settings, secret_key="other")).encode(
            sessions.new(time.time(), digest)
        ),
        "not signed in": lambda: sessions.encode(sessions.new(time.time())),
        "garbage": lambda: "eyJ0IjoiYWRtaW4ifQ.forged",
    }
    value = cookies[case]()
    answer = await client.get("/admin/analytics", headers={"Cookie": f"{COOKIE}={value}"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/login")


async def test_a_revoked_token_ends_its_sessions(client: httpx.AsyncClient) -> None:
    token = await create_token("admin", "to-revoke")
    await sign_in(client, token)
    await revoke_token("to-revoke")
    answer = await client.get("/admin/analytics")
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/login")


async def test_signs_out(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    confirm = await client.get("/admin/logout")
    assert confirm.status_code == 200
    assert csrf_token(confirm.text) == csrf

    refused = await client.post("/admin/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert (await client.get("/admin/analytics")).status_code == 200

    answer = await client.post("/admin/logout", data={"csrf_token": csrf})
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/login")
    assert "max-age=0" in cookie_attributes(answer.headers["set-cookie"])
    assert (await client.get("/admin/analytics")).status_code == 303


async def test_sends_a_signed_in_admin_from_the_sign_in_page_to_the_form(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client)
    answer = await client.get("/admin/login")
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/analytics")


async def test_serves_the_vendored_htmx(client: httpx.AsyncClient) -> None:
    page = await client.get("/admin/login")
    assert '<script src="/static/htmx.min.js"></script>' in page.text
    htmx = await client.get("/static/htmx.min.js")
    assert htmx.status_code == 200
    assert htmx.text.startswith("var htmx=function()")
