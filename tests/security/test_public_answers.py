"""Findings 5 and 6: a tracker URL with an IPv6 zone id was saved and reached the CSP lists and
tracker.js; without USAGE_METRICS_PUBLIC_URL, `Host: evil.example` was written into config.json
under `Cache-Control: public` (docs/security.md)."""

from __future__ import annotations

import httpx
import pytest

from app.config import Settings
from tests.conftest import with_settings
from tests.web.test_public_analytics import save

pytestmark = pytest.mark.anyio

ZONE_ID_URL = "https://[fe80::1%x';'unsafe-inline';]/"
COMMENT_URL = "https://[fe80::1%<!--]/"
MATOMO = {"provider": "matomo", "site_id": "3", "cookieless": "on"}


@pytest.mark.parametrize("tracker_url", [ZONE_ID_URL, COMMENT_URL])
async def test_a_tracker_url_with_a_zone_id_is_refused(
    client: httpx.AsyncClient, tracker_url: str
) -> None:
    from tests.helpers import csrf_token, sign_in

    page = await client.get("/admin/analytics")
    csrf = csrf_token(page.text) if page.status_code == 200 else await sign_in(client)
    answer = await client.post(
        "/admin/analytics", data={**MATOMO, "tracker_url": tracker_url, "csrf_token": csrf}
    )
    assert answer.status_code == 422, answer.status_code
    assert "This URL&#39;s host name or path is not valid." in answer.text
    config = (await client.get("/analytics/config.json")).json()
    script = (await client.get("/analytics/tracker.js")).text
    assert config["provider"] == "NONE" and script == ""
    assert "unsafe-inline" not in str(config) and "<!--" not in script


async def test_without_a_public_url_host_built_answers_are_not_shared(
    client: httpx.AsyncClient,
) -> None:
    await save(client, **MATOMO, tracker_url="https://matomo.example/")
    for path in ("/analytics/config.json", "/analytics/tracker.js"):
        answer = await client.get(path, headers={"Host": "evil.example"})
        assert answer.status_code == 200
        # The attack: evil.example is in the answer, but no shared cache may keep it for others.
        assert answer.headers["cache-control"] == "private, max-age=60"
        assert answer.headers["vary"] == "Host"


@pytest.fixture
def public(settings: Settings) -> Settings:
    return with_settings(settings, public_url="http://metrics.portal.example")


async def test_with_a_public_url_the_host_is_never_reflected(public: Settings) -> None:
    from tests.helpers import app_client

    async with app_client(public) as client:
        await save(client, **MATOMO, tracker_url="https://matomo.example/")
        answer = await client.get("/analytics/config.json", headers={"Host": "evil.example"})
        assert answer.headers["cache-control"] == "public, max-age=60"
        assert "evil.example" not in answer.text
        assert answer.json()["scriptUrl"] == "http://metrics.portal.example/analytics/tracker.js"
