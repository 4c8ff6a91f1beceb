"""Web-analytics configuration as the portal's front end sees it, built from the stored settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

SETTING_KEY = "analytics"  # the settings row holding the stored configuration (JSON)
TRACKER_PATH = "/analytics/tracker.js"
# Where Google Analytics 4 (gtag.js) loads its script from and sends its hits to.
_GA_SCRIPT_SRC = ("https://www.googletagmanager.com",)
_GA_CONNECT_SRC = (
    "https://www.google-analytics.com",
    "https://*.google-analytics.com",
    "https://*.analytics.google.com",
    "https://www.googletagmanager.com",
)


class AnalyticsProvider(StrEnum):
    NONE = "none"
    MATOMO = "matomo"
    GOOGLE_ANALYTICS = "google-analytics"


@dataclass(frozen=True)
class MatomoConfig:
    tracker_url: str  # stored with a trailing "/"
    site_id: str
    cookieless: bool = True


@dataclass(frozen=True)
class GoogleAnalyticsConfig:
    measurement_id: str


@dataclass(frozen=True)
class AnalyticsConfig:
    provider: AnalyticsProvider
    matomo: MatomoConfig | None
    google_analytics: GoogleAnalyticsConfig | None
    requires_consent: bool
    script_url: str
    csp_script_src: tuple[str, ...]
    csp_connect_src: tuple[str, ...]


def build_config(stored: dict[str, Any] | None, base_url: str) -> AnalyticsConfig:
    """The configuration to publish; nothing stored means no provider.

    `stored` is the settings row's JSON: {"provider": "none" | "matomo" | "google-analytics",
    "matomo": {"tracker_url", "site_id", "cookieless"}, "google_analytics": {"measurement_id"}}.
    """
    script_url = base_url.rstrip("/") + TRACKER_PATH
    provider = AnalyticsProvider((stored or {}).get("provider", AnalyticsProvider.NONE))
    if stored is None or provider is AnalyticsProvider.NONE:
        return AnalyticsConfig(provider.NONE, None, None, False, script_url, (), ())
    own_origin = _origin(script_url)
    if provider is AnalyticsProvider.MATOMO:
        matomo = MatomoConfig(**stored["matomo"])
        tracker = (_origin(matomo.tracker_url),)
        return AnalyticsConfig(
            provider,
            matomo,
            None,
            # Matomo without cookies keeps no identifier on the visitor's device: no consent needed.
            not matomo.cookieless,
            script_url,
            (own_origin, *tracker),
            tracker,
        )
    google = GoogleAnalyticsConfig(**stored["google_analytics"])
    return AnalyticsConfig(
        provider, None, google, True, script_url, (own_origin, *_GA_SCRIPT_SRC), _GA_CONNECT_SRC
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
