"""Who reads what through Data Fair's API: the same credentials as GraphQL (our tokens, portal
sessions as Bearer or split cookies), the owner each reads, and what is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.auth.tokens import create_token
from app.config import Settings
from tests.auth.sessions import (
    bearer,
    cookie_header,
    ingest_owners,
    new_key,
    public_pem,
    session_token,
)
from tests.conftest import with_settings
from tests.helpers import INGEST, app_client

pytestmark = pytest.mark.anyio

WEEK = {"start": "2024-01-08", "end": "2024-01-14", "split": "resource"}
AGG = "/api/daily-api-metrics/_agg"


@pytest.fixture(scope="module")
def portal_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture
async def portal(
    settings: Settings, portal_key: rsa.RSAPrivateKey
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(with_settings(settings, jwt_public_key=public_pem(portal_key))) as c:
        await ingest_owners(c)
        yield c


async def resources(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> dict[str, int]:
    response = await client.get(AGG, params={**WEEK, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return {s["key"]["resource"]["id"]: s["nbRequests"] for s in response.json()["series"]}


async def test_refuses_a_request_without_credentials(portal: httpx.AsyncClient) -> None:
    for path in (AGG, "/api/daily-api-metrics", "/api/daily-api-metrics/_export"):
        params = WEEK if path == AGG else {"start": "2024-01-08", "end": "2024-01-14"}
        response = await portal.get(path, params=params)
        assert response.status_code == 401, path
        assert response.json()["error"] == "UNAUTHENTICATED"


async def test_an_owner_token_reads_its_owner_and_no_other(portal: httpx.AsyncClient) -> None:
    token = {"Authorization": f"Bearer {await create_token('owner:organization:org2', 'o2')}"}
    assert await resources(portal, token) == {"parks": 5}
    response = await portal.get(AGG, params={**WEEK, "owner": "organization:org1"}, headers=token)
    assert response.status_code == 403
    assert response.json() == {
        "error": "FORBIDDEN",
        "detail": "this token reads the datasets of organization org2 only: "
        "leave `owner` out or name that owner",
    }


async def test_an_ingest_token_reads_nothing(portal: httpx.AsyncClient) -> None:
    response = await portal.get(AGG, params=WEEK, headers=INGEST)
    assert response.status_code == 403
    assert response.json() == {
        "error": "FORBIDDEN",
        "detail": "this token may not read usage: use an owner or admin token",
    }


async def test_a_portal_session_reads_its_active_account(
    portal: httpx.AsyncClient, portal_key: rsa.RSAPrivateKey
) -> None:
    token = session_token(portal_key)
    # Carol's own account when no organisation is active, as in Data Fair (2 API calls,
    # 1 download).
    assert await resources(portal, cookie_header(token)) == {"notes": 3}
    assert await resources(portal, bearer(token)) == {"notes": 3}
    # Her active organisation, which she administers.
    assert await resources(portal, cookie_header(token, id_token_org="org1")) == {"roads": 3}
    # Or, with our `owner`, an organisation she administers.
    assert await resources(portal, cookie_header(token), owner="organization:org1") == {"roads": 3}
    # An organisation she does not belong to: her own account, Data Fair's fallback.
    assert await resources(portal, cookie_header(token, id_token_org="org3")) == {"notes": 3}


async def test_a_plain_member_is_refused_what_data_fair_shows(
    portal: httpx.AsyncClient, portal_key: rsa.RSAPrivateKey
) -> None:
    # Data Fair shows any member the active organisation's metrics; we only its admins.
    headers = cookie_header(session_token(portal_key), id_token_org="org2")
    response = await portal.get(AGG, params=WEEK, headers=headers)
    assert response.status_code == 403
    assert response.json()["detail"].startswith("only the admins of the organisation org2")
    other = await portal.get(
        AGG,
        params={**WEEK, "owner": "organization:org3"},
        headers=cookie_header(session_token(portal_key)),
    )
    assert other.status_code == 403
