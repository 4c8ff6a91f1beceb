"""GraphQL over HTTP: every request-level refusal is `{"errors": [...]}` with a code, statuses
follow application/graphql-response+json when the client accepts it, and a document with several
operations needs an operationName."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import ADMIN

pytestmark = pytest.mark.anyio

JSON, GRAPHQL_RESPONSE = "application/json", "application/graphql-response+json"
TWO = "query Totals { analytics { provider } } query Script { analytics { scriptUrl } }"


def refusal(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


@pytest.mark.parametrize(
    ("body", "status", "message", "code"),
    [
        ({"variables": {}}, 400, "No GraphQL query found in the request", "BAD_REQUEST"),
        ({"query": "{ analytics { provider } }", "variables": [1]}, 400,
         "The GraphQL operation's `variables` must be an object or null, if provided.",
         "BAD_REQUEST"),
        ({"query": 7}, 400,
         "The GraphQL operation's `query` must be a string or null, if provided.", "BAD_REQUEST"),
        ([{"query": "{ analytics { provider } }"}], 400, "Batching is not enabled", "BAD_REQUEST"),
    ],
    ids=["no query", "variables not an object", "query not a string", "batch"],
)  # fmt: skip
@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
async def test_refuses_a_request_that_is_no_graphql_request_with_a_graphql_error(
    client: httpx.AsyncClient, body: Any, status: int, message: str, code: str, accept: str
) -> None:
    answer = await client.post("/graphql", json=body, headers={**ADMIN, "Accept": accept})
    assert (answer.status_code, answer.json()) == (status, refusal(message, code))
    assert answer.headers["content-type"] == accept


async def test_refuses_a_body_that_is_not_json_with_415(client: httpx.AsyncClient) -> None:
    for content_type in ("text/plain", "application/graphql", "multipart/form-data"):
        answer = await client.post(
            "/graphql",
            content=b"{ analytics { provider } }",
            headers={"Content-Type": content_type},
        )
        message = 'send the request as JSON: Content-Type: application/json, {"query": "..."}'
        assert (answer.status_code, answer.json()) == (
            415,
            refusal(message, "UNSUPPORTED_MEDIA_TYPE"),
        )
    # A charset parameter is fine.
    answer = await client.post(
        "/graphql",
        content=b'{"query": "{ analytics { provider } }"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert answer.json() == {"data": {"analytics": {"provider": "NONE"}}}


async def test_refuses_other_methods_with_405_and_allow(client: httpx.AsyncClient) -> None:
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):  # OPTIONS without Origin: no preflight
        answer = await client.request(method, "/graphql", json={"query": "{ __typename }"})
        message = "GraphQL only supports GET and POST requests."
        assert (answer.status_code, answer.json()) == (405, refusal(message, "METHOD_NOT_ALLOWED"))
        assert answer.headers["allow"] == "GET, POST"


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ({"query": TWO}, "the document holds 2 operations (Totals, Script): name the one to run "
         "in operationName", "OPERATION_RESOLUTION_FAILURE"),
        ({"query": TWO, "operationName": "Nope"}, "operationName 'Nope' names no operation of "
         "the document; it holds: Totals, Script", "OPERATION_RESOLUTION_FAILURE"),
        ({"query": "fragment F on Query { analytics { provider } }"}, "the document holds no "
         "operation: write one, e.g. query { analytics { provider } }",
         "OPERATION_RESOLUTION_FAILURE"),
        ({"query": "{ analytics { provider }"}, "Syntax Error: Expected Name, found <EOF>.",
         "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ nope }"}, "Cannot query field 'nope' on type 'Query'.",
         "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "query($f: Int) { datasets(first: $f) { totalCount } }",
          "variables": {"f": "ten"}},
         "Variable '$f' has invalid value: Int cannot represent non-integer value: 'ten'",
         "BAD_USER_INPUT"),
    ],
    ids=["two operations", "unknown operation", "no operation", "parse", "validation",
         "variable coercion"],
)  # fmt: skip
async def test_a_request_that_could_not_run_has_no_data_and_400_for_graphql_response_json(
    client: httpx.AsyncClient, body: dict[str, Any], message: str, code: str
) -> None:
    legacy = await client.post("/graphql", json=body, headers={**ADMIN, "Accept": JSON})
    spec = await client.post("/graphql", json=body, headers={**ADMIN, "Accept": GRAPHQL_RESPONSE})
    for answer, status, media_type in ((legacy, 200, JSON), (spec, 400, GRAPHQL_RESPONSE)):
        assert (answer.status_code, answer.headers["content-type"]) == (status, media_type)
        found = answer.json()
        assert "data" not in found
        assert [(e["message"], e["extensions"]["code"]) for e in found["errors"]] == [
            (message, code)
        ]


async def test_runs_the_named_one_of_several_operations(client: httpx.AsyncClient) -> None:
    body = {"query": TWO, "operationName": "Script"}
    answer = await client.post("/graphql", json=body, headers={"Accept": GRAPHQL_RESPONSE})
    assert answer.status_code == 200
    assert answer.json() == {
        "data": {"analytics": {"scriptUrl": "http://testserver/analytics/tracker.js"}}
    }


async def test_a_field_error_is_a_200_with_data_for_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    # It ran: `data` is there (null, as `datasets` is not nullable) beside the error.
    answer = await client.post(
        "/graphql",
        json={"query": "{ datasets { totalCount } }"},
        headers={"Accept": GRAPHQL_RESPONSE},
    )
    assert answer.status_code == 200
    found = answer.json()
    assert found["data"] is None
    assert [e["extensions"]["code"] for e in found["errors"]] == ["UNAUTHENTICATED"]


async def test_answers_a_query_sent_with_get(client: httpx.AsyncClient) -> None:
    answer = await client.get(
        "/graphql",
        params={"query": "query A { analytics { provider } }", "operationName": "A"},
        headers={"Accept": GRAPHQL_RESPONSE},
    )
    assert (answer.status_code, answer.headers["content-type"]) == (200, GRAPHQL_RESPONSE)
    assert answer.json() == {"data": {"analytics": {"provider": "NONE"}}}
