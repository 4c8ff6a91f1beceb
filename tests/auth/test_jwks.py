"""Portal sessions checked against a JWKS served over HTTP on loopback: keys fetched once and
cached, a rotated key found by refetching, unknown `kid`s refetched at most every interval, and an
unreachable JWKS told apart from a bad session."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.config import Settings
from tests.auth.sessions import KID, JwksServer, ask, bearer, jwks_server, session_token
from tests.conftest import with_settings
from tests.helpers import app_client, error_codes

pytestmark = pytest.mark.anyio

QUERY = "{ datasets { totalCount } }"
NEW_KID = "portal-key-2"


@pytest.fixture
def jwks(portal_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    with jwks_server() as server:
        server.publish((KID, portal_key))
        yield server


@pytest.fixture
def settings(settings: Settings, jwks: JwksServer) -> Settings:
    return with_settings(settings, jwks_url=jwks.url, jwks_refetch_interval_s=0.0)


async def test_fetches_the_keys_once_and_keeps_them(
    client: httpx.AsyncClient, jwks: JwksServer, portal_key: rsa.RSAPrivateKey
) -> None:
    for _ in range(3):
        answer = await ask(client, QUERY, headers=bearer(session_token(portal_key)))
        assert answer == {"data": {"datasets": {"totalCount": 0}}}
    assert jwks.fetches == 1


async def test_finds_a_rotated_key_and_drops_a_withdrawn_one(
    client: httpx.AsyncClient,
    jwks: JwksServer,
    portal_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
) -> None:
    old = session_token(portal_key)
    assert "errors" not in await ask(client, QUERY, headers=bearer(old))
    jwks.publish((NEW_KID, other_key))  # the portal rotates its key
    new = session_token(other_key, kid=NEW_KID)
    assert "errors" not in await ask(client, QUERY, headers=bearer(new))
    assert jwks.fetches == 2  # the unknown kid refetched the set once
    refused = await ask(client, QUERY, headers=bearer(old))
    assert error_codes(refused) == ["UNAUTHENTICATED"]
    assert "a key that the portal does not publish" in refused["errors"][0]["message"]
    assert jwks.fetches == 3


async def test_a_known_kid_with_another_keys_signature_is_refused(
    client: httpx.AsyncClient, jwks: JwksServer, other_key: rsa.RSAPrivateKey
) -> None:
    answer = await ask(client, QUERY, headers=bearer(session_token(other_key)))
    assert error_codes(answer) == ["UNAUTHENTICATED"]
    assert "signature does not match" in answer["errors"][0]["message"]


async def test_unknown_kids_refetch_at_most_once_per_interval(
    settings: Settings, jwks: JwksServer, portal_key: rsa.RSAPrivateKey
) -> None:
    async with app_client(with_settings(settings, jwks_refetch_interval_s=3600.0)) as client:
        assert "errors" not in await ask(client, QUERY, headers=bearer(session_token(portal_key)))
        for kid in ("forged-1", "forged-2", "forged-3"):
            answer = await ask(client, QUERY, headers=bearer(session_token(portal_key, kid=kid)))
            assert error_codes(answer) == ["UNAUTHENTICATED"]
        assert jwks.fetches == 1


async def test_a_token_without_kid_uses_the_only_key(
    client: httpx.AsyncClient, portal_key: rsa.RSAPrivateKey
) -> None:
    answer = await ask(client, QUERY, headers=bearer(session_token(portal_key, kid=None)))
    assert answer == {"data": {"datasets": {"totalCount": 0}}}


async def test_an_unreachable_jwks_is_not_the_sessions_fault(
    settings: Settings, portal_key: rsa.RSAPrivateKey
) -> None:
    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/.well-known/jwks.json"
    async with app_client(with_settings(settings, jwks_url=url)) as client:
        answer = await ask(client, QUERY, headers=bearer(session_token(portal_key)))
    assert error_codes(answer) == ["PORTAL_KEYS_UNAVAILABLE"]
    assert "could not be fetched from USAGE_METRICS_JWKS_URL" in answer["errors"][0]["message"]
