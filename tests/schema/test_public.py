"""What needs no token: GraphiQL for a browser and the analytics configuration."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import httpx
import pytest

from app.config import Settings
from app.core.records import UserGroup as StoredUserGroup
from app.schema.enums import UserGroup, raw
from app.storage.models import SettingRow
from tests.conftest import with_settings
from tests.helpers import app_client, graphql

pytestmark = pytest.mark.anyio

ANALYTICS = """{ analytics {
  provider matomo { trackerUrl siteId cookieless } googleAnalytics { measurementId }
  requiresConsent scriptUrl cspScriptSrc cspConnectSrc
} }"""


async def test_serves_graphiql_to_a_browser_from_our_own_files(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'; "
        "font-src 'self' data:"
    )
    files = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert files == [
        "/static/graphiql/vendor/graphiql@3.8.3/graphiql.min.css",
        "/static/graphiql/graphiql-page.css",
        "/static/graphiql/vendor/react@18.2.0/react.production.min.js",
        "/static/graphiql/vendor/react-dom@18.2.0/react-dom.production.min.js",
        "/static/graphiql/vendor/graphiql@3.8.3/graphiql.min.js",
        "/static/graphiql/graphiql-page.js",
    ]
    for path in files:
        assert (await client.get(path)).status_code == 200, path
    for package in ("graphiql@3.8.3", "react@18.2.0", "react-dom@18.2.0"):
        licence = await client.get(f"/static/graphiql/vendor/{package}/LICENSE")
        assert licence.text.startswith("MIT License"), package


async def test_answers_a_query_sent_with_get(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ analytics { provider } }"})
    assert response.json() == {"data": {"analytics": {"provider": "NONE"}}}


async def test_publishes_no_analytics_until_configured(client: httpx.AsyncClient) -> None:
    answer = await graphql(client, ANALYTICS, token=None)
    assert answer == {
        "data": {
            "analytics": {
                "provider": "NONE",
                "matomo": None,
                "googleAnalytics": None,
                "requiresConsent": False,
                "scriptUrl": "http://testserver/analytics/tracker.js",
                "cspScriptSrc": [],
                "cspConnectSrc": [],
            }
        }
    }


async def test_publishes_the_stored_matomo_setup_at_the_public_url(settings: Settings) -> None:
    public = with_settings(settings, public_url="https://metrics.example/usage")
    async with app_client(public) as client:
        matomo = {"tracker_url": "https://matomo.example/", "site_id": "7", "cookieless": True}
        value = json.dumps({"provider": "matomo", "matomo": matomo})
        await SettingRow.create(key="analytics", value=value, updated_at=datetime.now(UTC))
        answer = await graphql(client, ANALYTICS, token=None)
    assert answer["data"]["analytics"] == {
        "provider": "MATOMO",
        "matomo": {"trackerUrl": "https://matomo.example/", "siteId": "7", "cookieless": True},
        "googleAnalytics": None,
        "requiresConsent": False,
        "scriptUrl": "https://metrics.example/usage/analytics/tracker.js",
        "cspScriptSrc": ["https://metrics.example", "https://matomo.example"],
        "cspConnectSrc": ["https://matomo.example"],
    }


def test_offers_the_user_groups_the_ingest_stores() -> None:
    assert [g.name for g in UserGroup] == [g.name for g in StoredUserGroup]
    assert [raw(g) for g in UserGroup] == [g.value for g in StoredUserGroup]
