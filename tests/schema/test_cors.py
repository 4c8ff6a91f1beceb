"""CORS on /graphql: listed origins call it with credentials; any other origin reads the public
`analytics` field only, without credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.config import Settings, load_settings
from app.errors import ConfigError
from tests.conftest import with_settings
from tests.helpers import ADMIN, app_client, ingest, line_on

pytestmark = pytest.mark.anyio

PORTAL = "https://portal.example"
OTHER = "https://elsewhere.example"
USAGE = '{ usage(period: {start: "2024-01-08", end: "2024-01-14"}) { apiCalls { current } } }'


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    listed = with_settings(settings, cors_origins=frozenset({PORTAL, "http://localhost:5173"}))
    async with app_client(listed) as http:
        yield http


def preflight(origin: str, headers: str = "authorization, content-type") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }


async def test_answers_a_listed_origins_preflight_with_credentials(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.options("/graphql", headers=preflight(PORTAL))
    assert answer.status_code == 204
    assert {k: v for k, v in answer.headers.items() if k.startswith("access-control-")} == {
        "access-control-allow-origin": PORTAL,
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "accept, authorization, content-type",
        "access-control-max-age": "7200",
    }
    assert answer.headers["vary"] == "Origin"


async def test_a_listed_origin_reads_usage_with_its_token(client: httpx.AsyncClient) -> None:
    await ingest(client, line_on("2024-01-08"))
    answer = await client.post(
        "/graphql", json={"query": USAGE}, headers={**ADMIN, "Origin": PORTAL}
    )
    assert answer.json() == {"data": {"usage": {"apiCalls": {"current": 1}}}}
    assert answer.headers["access-control-allow-origin"] == PORTAL
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert answer.headers["vary"] == "Origin"


async def test_another_origin_may_not_send_credentials(client: httpx.AsyncClient) -> None:
    answer = await client.options("/graphql", headers=preflight(OTHER))
    assert answer.status_code == 403
    assert answer.json() == {
        "errors": [
            {
                "message": "the origin https://elsewhere.example may not send authorization: it "
                "is not in USAGE_METRICS_CORS_ORIGINS, so it may only read what needs no "
                "credentials (the analytics field)",
                "extensions": {"code": "CORS_REJECTED"},
            }
        ]
    }
    assert "access-control-allow-origin" not in answer.headers


async def test_another_origin_reads_the_public_analytics_field(client: httpx.AsyncClient) -> None:
    asked = await client.options("/graphql", headers=preflight(OTHER, "content-type"))
    assert asked.status_code == 204
    assert asked.headers["access-control-allow-origin"] == "*"
    assert asked.headers["access-control-allow-headers"] == "accept, content-type"
    assert "access-control-allow-credentials" not in asked.headers
    answer = await client.post(
        "/graphql", json={"query": "{ analytics { provider } }"}, headers={"Origin": OTHER}
    )
    assert answer.json() == {"data": {"analytics": {"provider": "NONE"}}}
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers


async def test_refuses_a_preflight_for_another_method_or_header(client: httpx.AsyncClient) -> None:
    put = {**preflight(PORTAL), "Access-Control-Request-Method": "PUT"}
    answer = await client.options("/graphql", headers=put)
    assert (answer.status_code, answer.json()["errors"][0]["message"]) == (
        403,
        "PUT is not allowed on /graphql: send GET or POST",
    )
    answer = await client.options("/graphql", headers=preflight(PORTAL, "x-debug, content-type"))
    assert (answer.status_code, answer.json()["errors"][0]["message"]) == (
        403,
        "/graphql does not read the headers x-debug: leave them out",
    )


async def test_other_paths_get_no_cors_headers(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz", headers={"Origin": PORTAL})
    assert "access-control-allow-origin" not in answer.headers
    answer = await client.post("/graphql", json={"query": "{ __typename }"})  # no Origin
    assert "access-control-allow-origin" not in answer.headers


def test_reads_origins_as_browsers_spell_them() -> None:
    value = "https://Portal.example/, http://localhost:5173 ,https://a.example:443,,http://[::1]:80"
    assert load_settings({"USAGE_METRICS_CORS_ORIGINS": value}).cors_origins == {
        "https://portal.example",
        "http://localhost:5173",
        "https://a.example",
        "http://[::1]",
    }
    assert load_settings({}).cors_origins == frozenset()


@pytest.mark.parametrize("value", ["*", "https://portal.example/datasets", "portal.example"])
def test_refuses_what_is_not_an_origin(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^USAGE_METRICS_CORS_ORIGINS: .* is not an origin"):
        load_settings({"USAGE_METRICS_CORS_ORIGINS": value})
