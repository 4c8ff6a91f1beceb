"""The published web-analytics configuration, from what is stored (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from app.webanalytics.tracking import AnalyticsProvider, build_config

BASE = "https://metrics.example/"
SCRIPT = "https://metrics.example/analytics/tracker.js"
MATOMO = {"tracker_url": "https://matomo.example/m/", "site_id": "3", "cookieless": True}


def test_publishes_no_provider_when_nothing_is_stored() -> None:
    config = build_config(None, BASE)
    assert (config.provider, config.matomo, config.google_analytics) == (
        AnalyticsProvider.NONE,
        None,
        None,
    )
    assert (config.requires_consent, config.script_url) == (False, SCRIPT)
    assert (config.csp_script_src, config.csp_connect_src) == ((), ())


@pytest.mark.parametrize(
    ("stored", "consent", "script_src", "connect_src"),
    [
        ({"provider": "matomo", "matomo": MATOMO}, False,
         ("https://metrics.example", "https://matomo.example"), ("https://matomo.example",)),
        ({"provider": "matomo", "matomo": {**MATOMO, "cookieless": False}}, True,
         ("https://metrics.example", "https://matomo.example"), ("https://matomo.example",)),
        ({"provider": "google-analytics", "google_analytics": {"measurement_id": "G-AB12"}},
         True, ("https://metrics.example", "https://www.googletagmanager.com"),
         ("https://www.google-analytics.com", "https://*.google-analytics.com",
          "https://*.analytics.google.com", "https://www.googletagmanager.com")),
        ({"provider": "none"}, False, (), ()),
    ],
)  # fmt: skip
def test_publishes_a_stored_provider_with_its_consent_and_csp(
    stored: dict[str, Any], consent: bool, script_src: tuple[str, ...], connect_src: tuple[str, ...]
) -> None:
    config = build_config(stored, BASE)
    assert config.provider == AnalyticsProvider(stored["provider"])
    assert config.requires_consent is consent
    assert (config.csp_script_src, config.csp_connect_src) == (script_src, connect_src)
    assert config.script_url == SCRIPT


@pytest.mark.parametrize(
    ("stored", "img_src"),
    [
        ({"provider": "matomo", "matomo": MATOMO}, ("https://matomo.example",)),
        (
            {"provider": "google-analytics", "google_analytics": {"measurement_id": "G-AB12"}},
            ("https://*.google-analytics.com", "https://*.googletagmanager.com"),
        ),
        ({"provider": "none"}, ()),
    ],
)
def test_publishes_the_img_src_a_tracker_falls_back_to(
    stored: dict[str, Any], img_src: tuple[str, ...]
) -> None:
    assert build_config(stored, BASE).csp_img_src == img_src
