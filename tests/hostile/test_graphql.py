"""Hostile GraphQL: any variables, documents and bodies get a readable error with a code.

Never HTTP 500, and never "Unexpected error." (kept for our own faults) for what the caller sent:
GraphQL answers errors in the body with `extensions.code`; a body that is not a GraphQL request
gets 400 (415 when it is not JSON) and a GraphQL error with a code too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from tests.helpers import (
    ADMIN,
    ADMIN_TOKEN,
    INGEST_TOKEN,
    PERIOD_WEEK,
    app_client,
    error_codes,
    ingest,
    line_on,
)

pytestmark = pytest.mark.anyio

HOSTILE = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What the caller sent is wrong: the codes our answers may carry (and nothing is masked).
CALLER_CODES = {
    "BAD_USER_INPUT",
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED",
    "OPERATION_RESOLUTION_FAILURE",
}
HUGE = "9" * 100_000

USAGE = """
query($period: PeriodInput!, $owner: OwnerInput, $datasets: [ID!], $userGroups: [UserGroup!],
      $domains: [String!], $by: Breakdown!, $first: Int, $after: String) {
  usage(period: $period, owner: $owner, datasets: $datasets, userGroups: $userGroups,
        domains: $domains) {
    period { start end days }
    apiCalls { current previous change }
    daily { day apiCalls downloads }
    breakdown(by: $by, first: $first, after: $after) {
      totalCount edges { cursor node { key apiCalls { current } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
DATASETS = """
query($first: Int, $after: String, $orderBy: DatasetOrder, $period: PeriodInput,
      $search: String, $owner: OwnerInput, $id: ID!) {
  datasets(first: $first, after: $after, orderBy: $orderBy, period: $period, search: $search,
           owner: $owner) {
    totalCount edges { cursor node { id title owner { type id } } }
    pageInfo { hasNextPage endCursor }
  }
  dataset(id: $id) { id }
}"""

ODD_DAYS = [
    "0000-00-00", "0001-01-01", "9999-12-31", "99999-01-01", "-0001-01-01", "2024-02-30",
    "2024-02-29", "2023-02-29", "2024-1-8", "20240108", "2024-W02-1", "2024-01-08T00:00",
    " 2024-01-08", "2024-01-08\x00", "\uff12\uff10\uff12\uff14-01-08", HUGE,
]  # fmt: skip
odd_scalars: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([None, True, 0, -1, 1.5, 2**31, 2**63, -(2**40), "", "\x00", HUGE, [], {}]),
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)
days = st.one_of(
    st.sampled_from(ODD_DAYS),
    st.dates().map(lambda d: d.isoformat()),
    odd_scalars,
)
periods = st.one_of(
    st.fixed_dictionaries({"start": days, "end": days}),
    st.dates().flatmap(  # ends before it starts, or runs past the longest period
        lambda start: st.sampled_from([-1, 0, 3659, 3660, 3661, 10**5]).map(
            lambda length: _period(start, length)
        )
    ),
    st.sampled_from([{}, {"start": "2024-01-08"}, {"start": "2024-01-08", "end": "x", "y": 1}]),
    odd_scalars,
)
cursors = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=30).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.sampled_from(["datasets:1", "groups:-1", "datasets:01", "datasets:99999999999"]).map(
        lambda t: base64.urlsafe_b64encode(t.encode()).decode().rstrip("=")
    ),
    st.sampled_from(["ZGF0YXNldHM6OTk5OTk5OTk5OQ", "Z3JvdXBzOjA", "!!!", "é", HUGE]),
    odd_scalars,
)
enums = st.one_of(
    st.sampled_from(["TITLE", "API_CALLS", "DOMAIN", "USER_GROUP", "BOT", "api_calls", "title"]),
    st.text(max_size=12),
    odd_scalars,
)
firsts = st.one_of(st.integers(-(2**40), 2**40), st.sampled_from([0, 100, 101, -1]), odd_scalars)
texts = st.one_of(st.text(max_size=30), st.sampled_from(["%", "_", "a\x00b", HUGE]), odd_scalars)
owners = st.one_of(st.fixed_dictionaries({"type": texts, "id": texts}), odd_scalars)
text_lists = st.one_of(
    st.lists(texts, max_size=4), st.just([str(i) for i in range(1001)]), odd_scalars
)


def _period(start: Any, length: int) -> dict[str, str]:
    from datetime import timedelta

    try:
        end = start + timedelta(days=length)
    except OverflowError:
        end = start
    return {"start": start.isoformat(), "end": end.isoformat()}


def _maybe(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Variables: each given, left out, or odd."""
    return st.fixed_dictionaries({}, optional=strategies)


def _check(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text[:500]
    body: dict[str, Any] = answer.json()
    assert set(body) <= {"data", "errors", "extensions"}
    for error in body.get("errors", []):
        assert isinstance(error["message"], str) and error["message"].strip(), error
        assert error["message"] != "Unexpected error.", error
        assert error.get("extensions", {}).get("code") in CALLER_CODES, error
    return body


@pytest.fixture
async def sqlite_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=f"sqlite://{tmp_path / 'metrics.sqlite3'}",
        admin_token=ADMIN_TOKEN,
        ingest_token=INGEST_TOKEN,
        secret_key="test-secret-key",
        fold_interval_s=0,  # counted in the request: read right after
    )
    async with app_client(settings) as client:
        await ingest(client, line_on("2024-01-08"))
        yield client


@HOSTILE
@given(
    variables=_maybe(
        period=periods,
        owner=owners,
        datasets=text_lists,
        userGroups=st.one_of(st.lists(enums, max_size=3), enums),
        domains=text_lists,
        by=enums,
        first=firsts,
        after=cursors,
    )
)
async def test_usage_variables_get_readable_errors(
    client: httpx.AsyncClient, variables: dict[str, Any]
) -> None:
    _check(
        await client.post("/graphql", json={"query": USAGE, "variables": variables}, headers=ADMIN)
    )


@HOSTILE
@given(
    variables=_maybe(
        first=firsts,
        after=cursors,
        orderBy=enums,
        period=periods,
        search=texts,
        owner=owners,
        id=texts,
    )
)
async def test_datasets_variables_get_readable_errors(
    client: httpx.AsyncClient, variables: dict[str, Any]
) -> None:
    body = {"query": DATASETS, "variables": variables}
    _check(await client.post("/graphql", json=body, headers=ADMIN))


def _nested(depth: int) -> str:
    inner = "name"
    for _ in range(depth):
        inner = f"name fields {{ type {{ ofType {{ {inner} }} }} }}"
    return "{ __schema { types { " + inner + " } } }"


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: datasets {{ totalCount }}" for i in range(count)) + " }"


documents = st.one_of(
    st.text(max_size=200),
    st.integers(1, 6).map(_nested),
    st.integers(0, 60).map(_aliases),
    st.integers(1, 3000).map(lambda n: "{" * n + "}" * n),
    st.integers(1, 3000).map(lambda n: "{ datasets { " + "totalCount " * n + "} }"),
    st.integers(0, 30).map(
        lambda n: "{ " + "datasets { edges { node { " * n + "id" + " } } }" * n + " }"
    ),
    st.from_regex(r"\{ [a-zA-Z_]{1,12}( \{ [a-zA-Z_]{1,12} \})? \}", fullmatch=True),
    st.sampled_from(
        [
            "{ datasets { ...A } } fragment A on DatasetConnection { ...B } "
            "fragment B on DatasetConnection { ...A }",
            "query($x: Int) { datasets { totalCount } }",
            "query { datasets(first: 1.5) { totalCount } }",
            '{ usage(period: {start: "2024-01-08", end: "2024-01-01"}) { period { days } } }',
            "mutation { x }",
            "subscription { x }",
            "{ datasets @include(if: true) @include(if: true) { totalCount } }",
            "#" + "x" * 200_000 + "\n{ datasets { totalCount } }",
            " " * 200_000 + "{ datasets { totalCount } }",
            '{ datasets(search: "' + "\\u0000" * 10 + '") { totalCount } }',
        ]
    ),
)


@HOSTILE
@given(query=documents, operation=st.one_of(st.none(), st.text(max_size=10)))
async def test_any_document_gets_a_readable_error(
    sqlite_client: httpx.AsyncClient, query: str, operation: str | None
) -> None:
    body: dict[str, Any] = {"query": query, "variables": {}, "operationName": operation}
    answer = await sqlite_client.post("/graphql", json=body, headers=ADMIN)
    if answer.status_code == 400:  # no query at all
        assert error_codes(answer.json()) == ["BAD_REQUEST"], answer.text
        assert not query.strip(), answer.text
        return
    _check(answer)


json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@HOSTILE
@given(
    body=st.one_of(
        st.binary(max_size=100),
        json_bodies.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {"query": st.one_of(st.text(max_size=20), odd_scalars)},
            optional={"variables": json_bodies, "operationName": json_bodies},
        ).map(lambda v: json.dumps(v).encode()),
        st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
        st.sampled_from([b"\x80{}", b'{"query": "{ datasets { totalCount } }"}\x00', b"{}"]),
    ),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/graphql", "", "multipart/form-data"]
    ),
)
async def test_any_body_gets_a_graphql_answer_or_a_400(
    sqlite_client: httpx.AsyncClient, body: bytes, content_type: str
) -> None:
    headers = {**ADMIN, "Content-Type": content_type}
    answer = await sqlite_client.post("/graphql", content=body, headers=headers)
    if answer.status_code in (400, 415):
        [error] = answer.json()["errors"]
        code = "BAD_REQUEST" if answer.status_code == 400 else "UNSUPPORTED_MEDIA_TYPE"
        assert error["extensions"] == {"code": code}, answer.text
        assert isinstance(error["message"], str) and error["message"].strip()
        return
    _check(answer)


async def test_a_valid_query_still_answers(sqlite_client: httpx.AsyncClient) -> None:
    # The hostile properties above would pass on a server refusing everything: not this one.
    query = "query($p: PeriodInput!) { usage(period: $p) { apiCalls { current } } }"
    body = {"query": query, "variables": {"p": PERIOD_WEEK}}
    answer = _check(await sqlite_client.post("/graphql", json=body, headers=ADMIN))
    assert answer == {"data": {"usage": {"apiCalls": {"current": 1}}}}
