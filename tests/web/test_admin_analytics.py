"""/admin/analytics: CSRF, validation beside each field, saving, provider fields and preview."""

from __future__ import annotations

import httpx
import pytest
from markupsafe import escape
from starlette.applications import Starlette

from app.webanalytics.store import read_analytics
from tests.helpers import sign_in

pytestmark = pytest.mark.anyio

MATOMO_FORM = {
    "provider": "matomo",
    "tracker_url": "https://Matomo.example/piwik",
    "site_id": "42",
    "cookieless": "on",
}
MATOMO_STORED = {
    "provider": "matomo",
    "matomo": {"tracker_url": "https://matomo.example/piwik/", "site_id": "42", "cookieless": True},
}
HTMX = {"HX-Request": "true"}


def error_beside(field: str, message: str) -> str:
    return f'<span id="error-{field}" class="error">{escape(message)}</span>'


@pytest.mark.parametrize(
    ("path", "data"),
    [("/admin/analytics", MATOMO_FORM), ("/admin/analytics/preview", MATOMO_FORM)],
)
@pytest.mark.parametrize(
    ("form_token", "header_token"),
    [(None, None), ("wrong", None), (None, "wrong"), ("", "")],
)
async def test_refuses_a_post_without_the_sessions_csrf_token(
    client: httpx.AsyncClient,
    path: str,
    data: dict[str, str],
    form_token: str | None,
    header_token: str | None,
) -> None:
    await sign_in(client)
    form = {**data, "csrf_token": form_token} if form_token is not None else data
    headers = {"X-CSRF-Token": header_token} if header_token is not None else {}
    answer = await client.post(path, data=form, headers=headers)
    assert answer.status_code == 403
    assert answer.json() == {
        "error": "FORBIDDEN",
        "detail": "the form's CSRF token is missing or does not match your session: "
        "reload the page and submit it again",
    }
    assert await read_analytics() is None


async def test_refuses_the_csrf_token_of_another_session(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        others_token = await sign_in(other)
    await sign_in(client)
    answer = await client.post("/admin/analytics", data={**MATOMO_FORM, "csrf_token": others_token})
    assert answer.status_code == 403
    assert await read_analytics() is None


async def test_saves_with_the_token_in_the_form_or_the_htmx_header(
    client: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(client)
    answer = await client.post("/admin/analytics", data={**MATOMO_FORM, "csrf_token": csrf})
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/analytics?saved=1")
    assert await read_analytics() == MATOMO_STORED

    page = await client.get("/admin/analytics?saved=1")
    assert "Saved: portals get it at once" in page.text
    assert 'value="https://matomo.example/piwik/"' in page.text

    htmx = await client.post(
        "/admin/analytics",
        data={"provider": "none"},
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert htmx.status_code == 200
    assert htmx.text.startswith('<form id="analytics-form"')
    assert "Saved: portals get it at once" in htmx.text
    assert await read_analytics() == {"provider": "none"}


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (
            {**MATOMO_FORM, "tracker_url": "matomo.example/piwik"},
            "tracker_url",
            "Enter an http:// or https:// URL, like https://matomo.example/.",
        ),
        (
            {**MATOMO_FORM, "tracker_url": ""},
            "tracker_url",
            "Enter the address of your Matomo server, like https://matomo.example/.",
        ),
        (
            {**MATOMO_FORM, "site_id": "0"},
            "site_id",
            "The site id is a whole number from 1 up (Matomo: Websites > Manage).",
        ),
        (
            {"provider": "google-analytics", "measurement_id": "UA-1234-5"},
            "measurement_id",
            "A measurement id is G- then letters and digits, like G-A1B2C3D4E5.",
        ),
    ],
)
@pytest.mark.parametrize("headers", [{}, HTMX])
async def test_shows_an_invalid_field_beside_it_and_saves_nothing(
    client: httpx.AsyncClient,
    form: dict[str, str],
    field: str,
    message: str,
    headers: dict[str, str],
) -> None:
    csrf = await sign_in(client)
    answer = await client.post(
        "/admin/analytics", data={**form, "csrf_token": csrf}, headers=headers
    )
    assert answer.status_code == 422
    assert error_beside(field, message) in answer.text
    assert f'id="{field}"' in answer.text
    assert "Nothing was saved: fix the fields marked below." in answer.text
    assert answer.text.startswith("<!doctype html>") is (headers == {})
    assert await read_analytics() is None


async def test_refuses_an_unknown_provider(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    answer = await client.post("/admin/analytics", data={"provider": "x", "csrf_token": csrf})
    assert answer.status_code == 422
    assert '<p class="error">Choose none, Matomo or Google Analytics.</p>' in answer.text
    assert await read_analytics() is None


async def test_keeps_cookieless_off_when_the_switch_is_unticked(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    form = {key: value for key, value in MATOMO_FORM.items() if key != "cookieless"}
    await client.post("/admin/analytics", data={**form, "csrf_token": csrf})
    stored = await read_analytics()
    assert stored is not None
    assert stored["matomo"]["cookieless"] is False


async def test_swaps_in_the_chosen_providers_fields_with_the_stored_values(
    client: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(client)
    await client.post("/admin/analytics", data={**MATOMO_FORM, "csrf_token": csrf})

    google = await client.get(
        "/admin/analytics/fields", params={"provider": "google-analytics"}, headers=HTMX
    )
    assert google.status_code == 200
    assert '<input id="measurement_id" name="measurement_id" value=""' in google.text
    assert 'id="tracker_url"' not in google.text
    assert '<section id="preview" hx-swap-oob="innerHTML">' in google.text

    matomo = await client.get(
        "/admin/analytics/fields",
        params={"provider": "matomo", "measurement_id": "G-X"},
        headers=HTMX,
    )
    assert 'value="https://matomo.example/piwik/"' in matomo.text
    assert '<input type="checkbox" name="cookieless" checked>' in matomo.text
    assert "script-src http://testserver https://matomo.example" in matomo.text


async def test_starts_a_new_matomo_setup_cookieless(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    answer = await client.get(
        "/admin/analytics/fields", params={"provider": "matomo"}, headers=HTMX
    )
    assert '<input type="checkbox" name="cookieless" checked>' in answer.text
    assert 'value=""' in answer.text


async def test_previews_the_script_tag_and_csp_sources(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    answer = await client.post(
        "/admin/analytics/preview", data={**MATOMO_FORM, "csrf_token": csrf}, headers=HTMX
    )
    assert answer.status_code == 200
    assert (
        '<pre id="script-tag"><code>&lt;script src=&#34;http://testserver/analytics/tracker.js'
        "&#34;&gt;&lt;/script&gt;</code></pre>"
    ) in answer.text
    assert (
        '<pre id="csp"><code>script-src http://testserver https://matomo.example\n'
        "connect-src https://matomo.example\nimg-src https://matomo.example\n</code></pre>"
    ) in answer.text
    assert "No consent is needed" in answer.text
    assert '<span id="error-tracker_url" class="error" hx-swap-oob="true"></span>' in answer.text
    assert await read_analytics() is None  # a preview saves nothing


async def test_previews_errors_beside_the_fields(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    form = {**MATOMO_FORM, "tracker_url": "ftp://matomo.example/", "csrf_token": csrf}
    answer = await client.post("/admin/analytics/preview", data=form, headers=HTMX)
    assert (
        '<span id="error-tracker_url" class="error" hx-swap-oob="true">'
        "Enter an http:// or https:// URL, like https://matomo.example/.</span>"
    ) in answer.text
    assert '<span id="error-site_id" class="error" hx-swap-oob="true"></span>' in answer.text
    assert "Fix the fields marked above" in answer.text


async def test_previews_google_analytics_as_needing_consent(client: httpx.AsyncClient) -> None:
    csrf = await sign_in(client)
    form = {"provider": "google-analytics", "measurement_id": "G-AB12", "csrf_token": csrf}
    answer = await client.post("/admin/analytics/preview", data=form, headers=HTMX)
    assert "script-src http://testserver https://www.googletagmanager.com\n" in answer.text
    assert "Consent is required" in answer.text


async def test_refuses_a_form_that_is_not_urlencoded_or_too_large(
    client: httpx.AsyncClient,
) -> None:
    csrf = await sign_in(client)
    headers = {"X-CSRF-Token": csrf}
    as_json = await client.post("/admin/analytics", json=MATOMO_FORM, headers=headers)
    assert as_json.status_code == 415
    huge = await client.post(
        "/admin/analytics", data={"provider": "none", "x": "a" * 70_000}, headers=headers
    )
    assert huge.status_code == 413
    assert await read_analytics() is None
