"""The portal's RS256 signing keys: its PEM public key, or its JWKS fetched over HTTP and cached.

The JWKS is fetched by PyJWT's PyJWKClient (urllib, blocking) in a worker thread, so that the
event loop never waits on the portal; the parsed key set is kept CACHE_S seconds. A `kid` the
set does not hold refetches it once, at most every `refetch_interval_s`: a rotated key is found
at once, and forged `kid`s cannot make us hammer the portal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK, PyJWKClient, PyJWKSet, PyJWTError
from starlette.concurrency import run_in_threadpool

from app.errors import PortalKeysUnavailableError, UnauthenticatedError

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
CACHE_S = 300.0  # the portal rotates keys seldom; a new `kid` refetches anyway
FETCH_TIMEOUT_S = 5.0


class PortalKeys(Protocol):
    async def key_for(self, kid: str | None) -> Any:
        """The public key that checks a token whose header names `kid`."""


class PemKey:
    """One key, from USAGE_METRICS_JWT_PUBLIC_KEY (checked to be RSA by app/config.py)."""

    def __init__(self, pem: str) -> None:
        self._key = load_pem_public_key(pem.encode("utf-8"))

    async def key_for(self, kid: str | None) -> Any:
        return self._key


class JwksKeys:
    """The keys published at USAGE_METRICS_JWKS_URL."""

    def __init__(self, url: str, refetch_interval_s: float) -> None:
        # PyJWKClient's own cache is off: ours knows when a fetch is due without a thread hop.
        self._client = PyJWKClient(
            url,
            cache_jwk_set=False,
            timeout=FETCH_TIMEOUT_S,
            headers={"User-Agent": "usage-metrics", "Accept": "application/json"},
        )
        self._refetch_interval_s = refetch_interval_s
        self._keys: PyJWKSet | None = None
        self._fetched_at = -float("inf")  # time.monotonic() of the last fetch that succeeded
        self._tried_at = -float("inf")  # of the last fetch, successful or not
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str | None) -> Any:
        keys = self._keys
        if (keys is None or time.monotonic() - self._fetched_at >= CACHE_S) and self._may_fetch():
            keys = await self._refresh(keys)
        if keys is None:
            raise _unavailable()
        found = _match(keys, kid)
        if found is None and self._may_fetch():
            found = _match(await self._refresh(keys), kid)
        if found is None:
            raise UnauthenticatedError(
                "the portal session was signed with a key that the portal does not publish "
                "(USAGE_METRICS_JWKS_URL): sign in to the portal again"
            )
        return found.key

    def _may_fetch(self) -> bool:
        return time.monotonic() - self._tried_at >= self._refetch_interval_s

    async def _refresh(self, seen: PyJWKSet | None) -> PyJWKSet:
        async with self._lock:
            if self._keys is not seen or not self._may_fetch():
                # Another request fetched (or tried to) while this one waited for the lock.
                return _or_unavailable(self._keys)
            self._tried_at = time.monotonic()
            try:
                keys = await run_in_threadpool(self._client.get_jwk_set, True)
            except (PyJWTError, ValueError, OSError) as exc:  # ValueError: not JSON
                # A portal briefly down must not sign everyone out: keep the keys we had.
                log.warning("the portal's JWKS could not be fetched: %s", type(exc).__name__)
                if seen is None:
                    raise _unavailable() from exc
                return seen
            self._keys, self._fetched_at = keys, time.monotonic()
            return keys


def _unavailable() -> PortalKeysUnavailableError:
    return PortalKeysUnavailableError(
        "the portal's signing keys could not be fetched from USAGE_METRICS_JWKS_URL: "
        "retry shortly; if it lasts, check that URL"
    )


def _or_unavailable(keys: PyJWKSet | None) -> PyJWKSet:
    if keys is None:
        raise _unavailable()
    return keys


def _match(keys: PyJWKSet | None, kid: str | None) -> PyJWK | None:
    """The RSA signing key named `kid`; without a `kid`, the set's only such key."""
    usable = [
        key
        for key in keys or ()
        if key.key_type == "RSA"
        and key.public_key_use in ("sig", None)
        and key.algorithm_name == ALGORITHM
    ]
    if kid is None:
        return usable[0] if len(usable) == 1 else None
    return next((key for key in usable if key.key_id == kid), None)
