"""Web analytics: the admin's input validated and the setup published to portals (pure)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import urlsplit

SETTING_KEY = "analytics"  # the settings row holding the stored configuration (JSON)
TRACKER_PATH = "/analytics/tracker.js"
# Where Google Analytics 4 (gtag.js) loads its script from and sends its hits to (Google's CSP
# guide for GA4); hits fall back to an image when the browser cannot send a beacon.
_GA_SCRIPT_SRC = ("https://www.googletagmanager.com",)
_GA_CONNECT_SRC = (
    "https://www.google-analytics.com",
    "https://*.google-analytics.com",
    "https://*.analytics.google.com",
    "https://www.googletagmanager.com",
)
_GA_IMG_SRC = ("https://*.google-analytics.com", "https://*.googletagmanager.com")

_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?")
_URL_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")  # RFC 3986 path characters
_SITE_ID = re.compile(r"[0-9]{1,10}")
_MEASUREMENT_ID = re.compile(r"G-[A-Z0-9]{1,30}")
_MAX_URL = 2000


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
    csp_img_src: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnalyticsForm:
    """What an admin typed, in the form or on the command line, before validation."""

    provider: str = AnalyticsProvider.NONE.value
    tracker_url: str = ""
    site_id: str = ""
    cookieless: bool = True
    measurement_id: str = ""


class FormResult(NamedTuple):
    stored: dict[str, Any] | None  # the settings row's JSON; None when a field is invalid
    errors: dict[str, str]  # form field -> what to fix; empty when valid


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
            tracker,  # Matomo falls back to an image request when it cannot send a beacon
        )
    google = GoogleAnalyticsConfig(**stored["google_analytics"])
    script_src = (own_origin, *_GA_SCRIPT_SRC)
    return AnalyticsConfig(
        provider, None, google, True, script_url, script_src, _GA_CONNECT_SRC, _GA_IMG_SRC
    )


def config_document(config: AnalyticsConfig) -> dict[str, Any]:
    """config.json: the names and values GraphQL's `analytics` answers."""
    matomo, google = config.matomo, config.google_analytics
    return {
        "provider": config.provider.name,
        "matomo": {
            "trackerUrl": matomo.tracker_url,
            "siteId": matomo.site_id,
            "cookieless": matomo.cookieless,
        }
        if matomo
        else None,
        "googleAnalytics": {"measurementId": google.measurement_id} if google else None,
        "requiresConsent": config.requires_consent,
        "scriptUrl": config.script_url,
        "cspScriptSrc": list(config.csp_script_src),
        "cspConnectSrc": list(config.csp_connect_src),
        "cspImgSrc": list(config.csp_img_src),
    }


def validate_form(form: AnalyticsForm) -> FormResult:
    """The settings row's JSON for valid input, else a message per invalid field.

    Only the chosen provider's fields are read; the other provider's are not stored.
    """
    try:
        provider = AnalyticsProvider(form.provider)
    except ValueError:
        return FormResult(None, {"provider": "Choose none, Matomo or Google Analytics."})
    errors: dict[str, str] = {}
    stored: dict[str, Any] = {"provider": provider.value}
    if provider is AnalyticsProvider.MATOMO:
        stored["matomo"] = {
            "tracker_url": _checked(errors, "tracker_url", normalise_tracker_url, form.tracker_url),
            "site_id": _checked(errors, "site_id", normalise_site_id, form.site_id),
            "cookieless": form.cookieless,
        }
    elif provider is AnalyticsProvider.GOOGLE_ANALYTICS:
        measurement_id = _checked(
            errors, "measurement_id", normalise_measurement_id, form.measurement_id
        )
        stored["google_analytics"] = {"measurement_id": measurement_id}
    return FormResult(None if errors else stored, errors)


def form_from_stored(stored: dict[str, Any] | None) -> AnalyticsForm:
    """The form's initial values: what is stored, Matomo's cookieless switch on otherwise."""
    stored = stored or {}
    matomo = stored.get("matomo") or {}
    google = stored.get("google_analytics") or {}
    return AnalyticsForm(
        provider=stored.get("provider", AnalyticsProvider.NONE.value),
        tracker_url=matomo.get("tracker_url", ""),
        site_id=matomo.get("site_id", ""),
        cookieless=matomo.get("cookieless", True),
        measurement_id=google.get("measurement_id", ""),
    )


def normalise_tracker_url(value: str) -> str:
    """The Matomo URL as stored: lower-case scheme and host, a trailing "/".

    Raises ValueError with what to fix. The URL is published to every visitor, so no credentials.
    """
    text = value.strip()
    if not text:
        raise ValueError("Enter the address of your Matomo server, like https://matomo.example/.")
    # urlsplit silently drops tabs and newlines (WHATWG), so they are refused before it runs.
    if len(text) > _MAX_URL or any(c.isspace() or not c.isprintable() for c in text):
        raise ValueError("A URL has no spaces and at most 2000 characters.")
    try:
        parts = urlsplit(text)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        parts, host, port = urlsplit(""), "", None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ValueError("Enter an http:// or https:// URL, like https://matomo.example/.")
    if parts.username is not None or parts.password is not None:
        raise ValueError("Remove the user name and password: this URL is shown to every visitor.")
    if "?" in text or "#" in text:
        raise ValueError("Remove the ?query and #fragment: give the folder of matomo.php.")
    if not (_HOST_NAME.fullmatch(host) or _is_ip_address(host)) or not _URL_PATH.fullmatch(
        parts.path
    ):
        raise ValueError("This URL's host name or path is not valid.")
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port is not None else ""
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}/"


def normalise_site_id(value: str) -> str:
    text = value.strip()
    if not _SITE_ID.fullmatch(text) or int(text) == 0:
        raise ValueError("The site id is a whole number from 1 up (Matomo: Websites > Manage).")
    return str(int(text))


def normalise_measurement_id(value: str) -> str:
    text = value.strip().upper()
    if not _MEASUREMENT_ID.fullmatch(text):
        raise ValueError("A measurement id is G- then letters and digits, like G-A1B2C3D4E5.")
    return text


def _checked(errors: dict[str, str], name: str, check: Callable[[str], str], value: str) -> str:
    try:
        result = check(value)
    except ValueError as exc:
        errors[name] = str(exc)
        return ""
    return result


def _is_ip_address(host: str) -> bool:
    # No IPv6 zone id (`fe80::1%eth0`): it names a network of the visitor's own machine, means
    # nothing in a public URL, and ipaddress takes any printable text there, which would reach
    # the CSP lists and tracker.js.
    if "%" in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
