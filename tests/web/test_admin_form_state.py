"""/admin/analytics regressions of issue 17: typed values kept across provider changes, no stale
"Saved" or "Nothing was saved" after a further edit."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers import sign_in

pytestmark = pytest.mark.anyio
HTMX = {"HX-Request": "true"}


def value_of(page: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page)
    assert found is not None, name
    return found[1]


async def test_matomo_then_ga_then_matomo_keeps_what_was_typed(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    typed = {
        "provider": "google-analytics",
        "tracker_url": "https://typed.example/",
        "site_id": "7",
    }
    to_ga = await client.get("/admin/analytics/fields", params=typed, headers=HTMX)
    # GA's field is shown; Matomo's typed values ride along, hidden.
    assert 'id="measurement_id"' in to_ga.text
    assert '<input type="hidden" name="tracker_url" value="https://typed.example/">' in to_ga.text
    back = {
        "provider": "matomo",
        "tracker_url": value_of(to_ga.text, "tracker_url"),
        "site_id": value_of(to_ga.text, "site_id"),
        "measurement_id": "G-TYPED12",
    }
    to_matomo = await client.get("/admin/analytics/fields", params=back, headers=HTMX)
    assert value_of(to_matomo.text, "tracker_url") == "https://typed.example/"
    assert value_of(to_matomo.text, "site_id") == "7"
    assert '<input type="hidden" name="measurement_id" value="G-TYPED12">' in to_matomo.text


async def test_a_further_edit_empties_the_saved_and_failed_notices(
    client: httpx.AsyncClient,
) -> None:
    token = await sign_in(client)
    form = {"provider": "matomo", "tracker_url": "nope", "site_id": "1", "csrf_token": token}
    failed = await client.post("/admin/analytics", data=form, headers=HTMX)
    assert failed.status_code == 422
    assert "Nothing was saved" in failed.text
    preview = await client.post("/admin/analytics/preview", data=form, headers=HTMX)
    status = re.search(r'<div id="form-status"[^>]*>(.*?)</div>', preview.text, re.S)
    assert status is not None and 'hx-swap-oob="true"' in status[0]
    assert status[1].strip() == ""
    switched = await client.get(
        "/admin/analytics/fields", params={"provider": "none"}, headers=HTMX
    )
    assert '<div id="form-status" hx-swap-oob="true">' in switched.text
    assert "Saved" not in switched.text
