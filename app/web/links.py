"""The service's public base URL and what follows from it: page links, the cookies' Secure flag."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from app.config import Settings


def base_url(request: Request, settings: Settings) -> str:
    """USAGE_METRICS_PUBLIC_URL, else the request's base URL; no trailing "/"."""
    return settings.public_url or str(request.base_url).rstrip("/")


def path_prefix(request: Request, settings: Settings) -> str:
    """What goes before our own paths in a link ("" or "/usage" behind a proxy's sub-path)."""
    return urlsplit(base_url(request, settings)).path.rstrip("/")


def is_https(request: Request, settings: Settings) -> bool:
    # Behind a proxy that ends TLS the request itself may be plain HTTP; the public URL says more.
    return request.url.scheme == "https" or base_url(request, settings).startswith("https://")
