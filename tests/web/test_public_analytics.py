"""What a portal's front end gets once an admin saved the form: GraphQL, config.json, tracker.js."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.storage.models import SettingRow
from tests.conftest import with_settings
from tests.helpers import csrf_token, graphql, sign_in

pytestmark = pytest.mark.anyio

ANALYTICS = """{ analytics {
  provider matomo { trackerUrl siteId cookieless } googleAnalytics { measurementId }
  requiresConsent scriptUrl cspScriptSrc cspConnectSrc cspImgSrc
} }"""
PUBLIC_HEADERS = {"cache-control": "public, max-age=60", "access-control-allow-origin": "*"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # With a public URL the answers are the same for every client: a shared cache may keep them
    # (without one, tests/security/test_public_answers.py).
    return with_settings(settings, public_url="http://testserver")


async def save(client: httpx.AsyncClient, **form: str) -> None:
    page = await client.get("/admin/analytics")
    csrf = csrf_token(page.text) if page.status_code == 200 else await sign_in(client)
    answer = await client.post("/admin/analytics", data={**form, "csrf_token": csrf})
    assert answer.status_code == 303, answer.text


async def published(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any], str]:
    """GraphQL `analytics` (no token), config.json and tracker.js, as a portal reads them."""
    answer = await graphql(client, ANALYTICS, token=None)
    config = await client.get("/analytics/config.json")
    script = await client.get("/analytics/tracker.js")
    for response in (config, script):
        assert response.status_code == 200
        assert {k: response.headers[k] for k in PUBLIC_HEADERS} == PUBLIC_HEADERS
    assert config.headers["content-type"] == "application/json"
    assert script.headers["content-type"] == "application/javascript"
    return answer["data"]["analytics"], config.json(), script.text


async def test_publishes_a_saved_matomo_setup_everywhere(client: httpx.AsyncClient) -> None:
    await save(
        client,
        provider="matomo",
        tracker_url="https://matomo.example/piwik",
        site_id="42",
        cookieless="on",
    )
    from_graphql, config, script = await published(client)

    expected = {
        "provider": "MATOMO",
        "matomo": {
            "trackerUrl": "https://matomo.example/piwik/",
            "siteId": "42",
            "cookieless": True,
        },
        "googleAnalytics": None,
        "requiresConsent": False,
        "scriptUrl": "http://testserver/analytics/tracker.js",
        "cspScriptSrc": ["http://testserver", "https://matomo.example"],
        "cspConnectSrc": ["https://matomo.example"],
        "cspImgSrc": ["https://matomo.example"],
    }
    assert from_graphql == expected
    assert config == expected
    assert script.startswith("/* usage-metrics tracker.js: Matomo without cookies */\n")
    assert 'var tracker = "https://matomo.example/piwik/";' in script
    assert 'paq(["disableCookies"]);' in script
    assert 'paq(["setTrackerUrl", tracker + "matomo.php"]);' in script
    assert 'paq(["setSiteId", "42"]);' in script
    assert 'script.src = tracker + "matomo.js";' in script


async def test_publishes_a_saved_google_analytics_setup(client: httpx.AsyncClient) -> None:
    await save(client, provider="google-analytics", measurement_id="g-ab12cd")
    from_graphql, config, script = await published(client)
    assert from_graphql == config
    assert config["provider"] == "GOOGLE_ANALYTICS"
    assert config["googleAnalytics"] == {"measurementId": "G-AB12CD"}
    assert config["matomo"] is None
    assert config["requiresConsent"] is True
    assert 'var id = "G-AB12CD";' in script
    assert 'gtag("consent", "default", denied);' in script


async def test_switching_to_none_empties_the_script(client: httpx.AsyncClient) -> None:
    await save(client, provider="matomo", tracker_url="https://m.example/", site_id="1")
    await save(client, provider="none")
    from_graphql, config, script = await published(client)
    assert script == ""
    assert from_graphql == config
    assert config == {
        "provider": "NONE",
        "matomo": None,
        "googleAnalytics": None,
        "requiresConsent": False,
        "scriptUrl": "http://testserver/analytics/tracker.js",
        "cspScriptSrc": [],
        "cspConnectSrc": [],
        "cspImgSrc": [],
    }


async def test_publishes_nothing_before_any_save(client: httpx.AsyncClient) -> None:
    _, config, script = await published(client)
    assert (config["provider"], script) == ("NONE", "")


async def test_reads_the_stored_setup_on_every_request(client: httpx.AsyncClient) -> None:
    # Another server process saving is a row changing under this one: no stale copy is served.
    await save(client, provider="matomo", tracker_url="https://m.example/", site_id="1")
    assert (await client.get("/analytics/config.json")).json()["matomo"]["siteId"] == "1"
    matomo = {"tracker_url": "https://m.example/", "site_id": "9", "cookieless": True}
    value = json.dumps({"provider": "matomo", "matomo": matomo})
    await SettingRow.filter(key="analytics").update(value=value, updated_at=datetime.now(UTC))
    assert (await client.get("/analytics/config.json")).json()["matomo"]["siteId"] == "9"
    assert 'paq(["setSiteId", "9"]);' in (await client.get("/analytics/tracker.js")).text


async def test_needs_no_token_and_no_session(client: httpx.AsyncClient) -> None:
    for path in ("/analytics/config.json", "/analytics/tracker.js"):
        answer = await client.get(path)
        assert answer.status_code == 200
        assert "set-cookie" not in answer.headers
