"""GraphQL's own errors carry a code; requests that are not GraphQL get a 400 GraphQL error.

Each case below was found by tests/hostile (a 500, "Unexpected error." or an error without code).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import ADMIN, error_codes, graphql

pytestmark = pytest.mark.anyio

TOO_LARGE = (
    "the query is too large to validate (too many errors, fields or fragments): "
    "send a smaller query"
)


@pytest.mark.parametrize(
    ("query", "variables", "code", "message"),
    [
        ("{ datasets { totalCount }", {}, "GRAPHQL_PARSE_FAILED",
         "Syntax Error: Expected Name, found <EOF>."),
        ("{ nope }", {}, "GRAPHQL_VALIDATION_FAILED", "Cannot query field 'nope' on type 'Query'."),
        ("query($f: Int) { datasets(first: $f) { totalCount } }", {"f": "ten"}, "BAD_USER_INPUT",
         "Variable '$f' has invalid value: Int cannot represent non-integer value: 'ten'"),
        ("{ datasets { } }", {}, "GRAPHQL_VALIDATION_FAILED",
         "a selection set is empty: name at least one field inside { }"),
        ("{ }", {}, "GRAPHQL_VALIDATION_FAILED",
         "a selection set is empty: name at least one field inside { }"),
        ("{ datasets { " + "totalCount " * 3000 + "} }", {}, "GRAPHQL_VALIDATION_FAILED",
         TOO_LARGE),
        ("{ datasets { " + "totalCount " * 6000 + "} }", {}, "GRAPHQL_PARSE_FAILED",
         "Syntax Error: Document contains more than 5000 tokens. Parsing aborted."),
    ],
    ids=["syntax", "unknown field", "variable type", "empty selection", "empty query",
         "validation aborted", "too many tokens"],
)  # fmt: skip
async def test_gives_graphqls_own_errors_a_code(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], code: str, message: str
) -> None:
    answer = await graphql(client, query, variables)
    assert error_codes(answer) == [code], answer
    assert answer["errors"][0]["message"] == message


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'"{ datasets { totalCount } }"', 'the body must be a JSON object: {"query": "..."}'),
        (b"null", 'the body must be a JSON object: {"query": "..."}'),
        (b"[" * 5000 + b"]" * 5000, "Unable to parse request body as JSON"),
        (b'{"query": "\x80"}', "Unable to parse request body as JSON"),
        (b"{not json", "Unable to parse request body as JSON"),
    ],
    ids=["string", "null", "nested 5000 deep", "invalid utf-8", "not json"],
)
async def test_refuses_a_body_that_is_no_graphql_request_with_json(
    client: httpx.AsyncClient, body: bytes, detail: str
) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    answer = await client.post("/graphql", content=body, headers=headers)
    expected = {"errors": [{"message": detail, "extensions": {"code": "BAD_REQUEST"}}]}
    assert (answer.status_code, answer.json()) == (400, expected)
