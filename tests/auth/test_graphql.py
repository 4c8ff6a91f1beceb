"""Portal sessions on the GraphQL API (PEM key setting), on data sent to POST /ingest: Bearer and
split cookies, the owners each session reads, exact figures, and every token that is refused."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app.config import Settings
from tests.auth.sessions import (
    CAROL,
    ORG1,
    ORG3,
    USER_CAROL,
    ask,
    bearer,
    cookie_header,
    hs256_with_public_key,
    ingest_owners,
    public_pem,
    session_token,
    tampered,
    unsigned_token,
)
from tests.conftest import with_settings
from tests.helpers import (
    ADMIN,
    INGEST_TOKEN,
    NDJSON,
    PERIOD_WEEK,
    app_client,
    error_codes,
    ndjson,
    owner_input,
)

pytestmark = pytest.mark.anyio

DATASETS = """query($owner: OwnerInput) {
  datasets(owner: $owner) { totalCount edges { node { id owner { type id } } } }
}"""
USAGE = """query($period: PeriodInput!, $owner: OwnerInput, $datasets: [ID!],
                 $userGroups: [UserGroup!], $domains: [String!]) {
  usage(period: $period, owner: $owner, datasets: $datasets, userGroups: $userGroups,
        domains: $domains) {
    apiCalls { current previous }
    downloads { current previous }
    downloadedBytes { current }
    daily { day apiCalls downloads }
    breakdown(by: DOMAIN) { totalCount edges { node { key apiCalls { current previous } } } }
  }
}"""
EVERY_FIELD = """query($period: PeriodInput!) {
  datasets { totalCount }
  usage(period: $period) { apiCalls { current } }
}"""


@pytest.fixture
def settings(settings: Settings, portal_key: rsa.RSAPrivateKey) -> Settings:
    return with_settings(settings, jwt_public_key=public_pem(portal_key))


@pytest.fixture
async def session(client: httpx.AsyncClient, portal_key: rsa.RSAPrivateKey) -> str:
    """Carol's session, the owners' data ingested."""
    await ingest_owners(client)
    return session_token(portal_key)


def ids(answer: dict[str, Any]) -> list[str]:
    assert "errors" not in answer, answer["errors"]
    return sorted(edge["node"]["id"] for edge in answer["data"]["datasets"]["edges"])


async def test_a_bearer_session_lists_her_own_and_her_admin_organisations_datasets(
    client: httpx.AsyncClient, session: str
) -> None:
    answer = await ask(client, DATASETS, headers=bearer(session))
    assert answer["data"]["datasets"]["totalCount"] == 3
    assert ids(answer) == ["notes", "rivers", "roads"]  # not org2's parks: she is no admin there


async def test_the_split_cookies_open_the_same_scope(
    client: httpx.AsyncClient, session: str
) -> None:
    answer = await ask(client, DATASETS, headers=cookie_header(session))
    assert ids(answer) == ["notes", "rivers", "roads"]


@pytest.mark.parametrize(
    ("active_org", "expected"),
    [("org1", ["rivers", "roads"]), ("org3", ["notes"])],
)
async def test_the_active_organisation_cookie_narrows_the_scope(
    client: httpx.AsyncClient, session: str, active_org: str, expected: list[str]
) -> None:
    for headers in (
        cookie_header(session, id_token_org=active_org),
        {**bearer(session), "Cookie": f"id_token_org={active_org}"},
    ):
        assert ids(await ask(client, DATASETS, headers=headers)) == expected


async def test_an_organisation_she_does_not_administer_is_forbidden(
    client: httpx.AsyncClient, session: str
) -> None:
    answer = await ask(client, DATASETS, headers=cookie_header(session, id_token_org="org2"))
    assert (answer["data"], error_codes(answer)) == (None, ["FORBIDDEN"])
    assert "only the admins of the organisation org2" in answer["errors"][0]["message"]


async def test_a_department_as_active_account_is_forbidden(
    client: httpx.AsyncClient, session: str
) -> None:
    answer = await ask(client, DATASETS, headers=cookie_header(session, id_token_org="org4"))
    assert (answer["data"], error_codes(answer)) == (None, ["FORBIDDEN"])
    assert "not per department" in answer["errors"][0]["message"]


async def test_exact_figures_of_her_owners_added_up(
    client: httpx.AsyncClient, session: str
) -> None:
    answer = await ask(client, USAGE, {"period": PERIOD_WEEK}, headers=bearer(session))
    assert "errors" not in answer, answer["errors"]
    usage = answer["data"]["usage"]
    # carol: notes 2 calls (+1 before), a download of 5 000 bytes; org1: roads 3, rivers 4 before.
    assert usage["apiCalls"] == {"current": 5, "previous": 5}
    assert usage["downloads"] == {"current": 1, "previous": 0}
    assert usage["downloadedBytes"] == {"current": 5000}
    assert [d for d in usage["daily"] if d["apiCalls"] or d["downloads"]] == [
        {"day": "2024-01-08", "apiCalls": 2, "downloads": 0},
        {"day": "2024-01-09", "apiCalls": 0, "downloads": 1},
        {"day": "2024-01-10", "apiCalls": 3, "downloads": 0},
    ]
    # Both domains used 3 times (calls + downloads) this week: by key then.
    assert usage["breakdown"]["edges"] == [
        {"node": {"key": "client.example", "apiCalls": {"current": 3, "previous": 0}}},
        {"node": {"key": "none", "apiCalls": {"current": 2, "previous": 5}}},
    ]


@pytest.mark.parametrize(
    "filters",
    [
        {},  # the summary of owners
        {"userGroups": ["ANONYMOUS"]},  # the summary of callers
        {"domains": ["client.example", "none"]},
        {"datasets": ["notes", "roads", "rivers", "parks"]},  # the summary of datasets
        {"datasets": ["notes", "roads"], "userGroups": ["ANONYMOUS"]},  # usage_daily
    ],
)
async def test_every_table_sums_her_owners_as_the_admin_reads_them_one_by_one(
    client: httpx.AsyncClient, session: str, filters: dict[str, Any]
) -> None:
    variables = {"period": PERIOD_WEEK, **filters}
    mine = await ask(client, USAGE, variables, headers=bearer(session))
    assert "errors" not in mine, mine["errors"]
    each = [
        (await ask(client, USAGE, {**variables, "owner": owner_input(owner)}, headers=ADMIN))[
            "data"
        ]["usage"]
        for owner in (USER_CAROL, ORG1)
    ]
    usage = mine["data"]["usage"]
    for figure in ("apiCalls", "downloads"):
        for side in ("current", "previous"):
            assert usage[figure][side] == sum(one[figure][side] for one in each)
    assert [d["apiCalls"] for d in usage["daily"]] == [
        a["apiCalls"] + b["apiCalls"]
        for a, b in zip(each[0]["daily"], each[1]["daily"], strict=True)
    ]
    assert usage["apiCalls"]["current"] > 0  # the comparison is not between zeros


async def test_names_one_of_her_owners_or_is_forbidden(
    client: httpx.AsyncClient, session: str
) -> None:
    own = await ask(client, DATASETS, {"owner": owner_input(USER_CAROL)}, headers=bearer(session))
    assert ids(own) == ["notes"]
    org = await ask(
        client, USAGE, {"period": PERIOD_WEEK, "owner": owner_input(ORG1)}, headers=bearer(session)
    )
    assert org["data"]["usage"]["apiCalls"] == {"current": 3, "previous": 4}
    for query, variables in (
        (DATASETS, {"owner": owner_input(ORG3)}),
        (USAGE, {"period": PERIOD_WEEK, "owner": {"type": "ORGANIZATION", "id": "org2"}}),
    ):
        answer = await ask(client, query, variables, headers=bearer(session))
        assert (answer["data"], error_codes(answer)) == (None, ["FORBIDDEN"])
        assert "organization org1, user carol only" in answer["errors"][0]["message"]


async def test_another_owners_dataset_is_null(client: httpx.AsyncClient, session: str) -> None:
    query = """{ notes: dataset(id: "notes") { id } roads: dataset(id: "roads") { id }
                 parks: dataset(id: "parks") { id } lakes: dataset(id: "lakes") { id } }"""
    answer = await ask(client, query, headers=bearer(session))
    assert answer == {
        "data": {"notes": {"id": "notes"}, "roads": {"id": "roads"}, "parks": None, "lakes": None}
    }


async def test_a_datasets_usage_within_a_session(client: httpx.AsyncClient, session: str) -> None:
    query = """query($period: PeriodInput!) {
      datasets(orderBy: API_CALLS, period: $period) {
        edges { node { id usage(period: $period) { apiCalls { current previous } } } }
      }
    }"""
    answer = await ask(client, query, {"period": PERIOD_WEEK}, headers=bearer(session))
    assert [
        (edge["node"]["id"], edge["node"]["usage"]["apiCalls"])
        for edge in answer["data"]["datasets"]["edges"]
    ] == [
        ("roads", {"current": 3, "previous": 0}),
        ("notes", {"current": 2, "previous": 1}),
        ("rivers", {"current": 0, "previous": 4}),
    ]


def forgeries(key: rsa.RSAPrivateKey, other: rsa.RSAPrivateKey) -> dict[str, tuple[str, str]]:
    """Tokens that must be refused, and what the refusal says."""
    claims = {**CAROL, "exp": int(time.time()) + 3600}
    good = session_token(key)
    return {
        "expired": (session_token(key, expires_in=-3600), "has expired: sign in"),
        "tampered": (tampered(good, id="mallory"), "signature does not match"),
        "admin added": (
            tampered(good, organizations=[{"id": "org3", "role": "admin"}]),
            "signature does not match",
        ),
        "wrong key": (session_token(other), "signature does not match"),
        "alg none": (unsigned_token(claims), "not signed with RS256"),
        "hs256": (hs256_with_public_key(claims, public_pem(key)), "not signed with RS256"),
        "no exp": (session_token(key, {"id": "carol"}, expires_in=None), "no `exp` claim"),
        "exchange": (session_token(key, {**CAROL, "temporary": True}), "exchange token"),
        "garbage": ("eyJub3QganNvbg.eyJ9.c2ln", "not a readable JWT"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "tampered",
        "admin added",
        "wrong key",
        "alg none",
        "hs256",
        "no exp",
        "exchange",
        "garbage",
    ],
)
async def test_refuses_a_session_it_cannot_trust(
    client: httpx.AsyncClient,
    portal_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
    case: str,
) -> None:
    await ingest_owners(client)
    token, message = forgeries(portal_key, other_key)[case]
    headers_of = [bearer(token)]
    if token.split(".")[2]:  # the cookies need a signature to be a session at all
        headers_of.append(cookie_header(token))
    for headers in headers_of:
        answer = await ask(client, EVERY_FIELD, {"period": PERIOD_WEEK}, headers=headers)
        assert answer["data"] is None, case
        assert set(error_codes(answer)) == {"UNAUTHENTICATED"}, case
        assert message in answer["errors"][0]["message"], answer["errors"][0]["message"]


async def test_a_session_may_not_ingest(client: httpx.AsyncClient, session: str) -> None:
    answer = await client.post("/ingest", content=ndjson(), headers={**NDJSON, **bearer(session)})
    assert answer.status_code == 403
    assert answer.json()["error"] == "FORBIDDEN"


async def test_tokens_still_work_beside_sessions(client: httpx.AsyncClient, session: str) -> None:
    admin = await ask(client, DATASETS, headers=ADMIN)
    assert admin["data"]["datasets"]["totalCount"] == 6
    # The header wins over the cookies: an admin token with Carol's cookies is still the admin.
    both = await ask(client, DATASETS, headers={**ADMIN, **cookie_header(session)})
    assert both == admin
    ingest_only = await ask(client, DATASETS, headers=bearer(INGEST_TOKEN))
    assert error_codes(ingest_only) == ["FORBIDDEN"]


async def test_without_portal_settings_a_session_is_an_unknown_token(
    client: httpx.AsyncClient, settings: Settings, session: str
) -> None:
    async with app_client(with_settings(settings, jwt_public_key=None)) as plain:
        answer = await ask(plain, DATASETS, headers=bearer(session))
        assert error_codes(answer) == ["UNAUTHENTICATED"]
        assert answer["errors"][0]["message"] == "the token is unknown or was revoked"
        cookies = await ask(plain, DATASETS, headers=cookie_header(session))
        assert error_codes(cookies) == ["UNAUTHENTICATED"]
        assert "needs a token" in cookies["errors"][0]["message"]
