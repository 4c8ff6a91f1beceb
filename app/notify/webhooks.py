"""Webhooks: a JSON POST signed with the subscription's secret (X-Usage-Metrics-Signature),
tried again with back-off; never to loopback or private addresses unless allowed
(docs/security.md#webhooks)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from app.notify.deliveries import SendError
from app.notify.signing import SIGNATURE_HEADER, body_signature

WEBHOOK_TIMEOUT_S = 10.0
# Answers worth another try; any other 4xx will not change by waiting.
_RETRIED = frozenset({408, 425, 429})


async def check_address(url: str, allow_private: bool) -> None:
    """SendError when the URL's host resolves to an address in the operator's network
    (loopback, private, link-local, reserved...) and that is not allowed, or not at all."""
    host = urlsplit(url).hostname or ""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise SendError(f"the webhook's host {host} does not resolve") from None
    if allow_private:
        return
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global or address.is_multicast:
            raise SendError(
                f"the webhook's host {host} resolves to a non-public address: refused "
                "(USAGE_METRICS_WEBHOOK_ALLOW_PRIVATE=1 allows it on a closed network)"
            )


async def post(
    url: str,
    secret: str,
    data: dict[str, Any],
    *,
    allow_private: bool,
    delays: Sequence[float],
) -> None:
    """POST `data` as JSON, tried again after each of `delays` seconds while the receiver
    fails (5xx, 408, 429, no answer); SendError with the last answer."""
    await check_address(url, allow_private)
    body = orjson.dumps(data)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: body_signature(secret, body),
        "User-Agent": "usage-metrics",
    }
    async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False) as http:
        error = ""
        for pause in (*delays, None):
            try:
                answer = await http.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                error = f"HTTP: {type(exc).__name__}"
            else:
                if answer.is_success:
                    return
                error = f"HTTP {answer.status_code}"
                if answer.status_code < 500 and answer.status_code not in _RETRIED:
                    break
            if pause is not None:
                await asyncio.sleep(pause)
    raise SendError(error)
