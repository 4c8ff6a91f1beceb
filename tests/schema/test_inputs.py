"""Inputs we cannot use are BAD_USER_INPUT with a readable message; other failures are masked."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.storage.database import connection
from app.storage.models import SettingRow
from tests.helpers import PERIOD_WEEK, dataset, error_codes, graphql, ingest, line_on

pytestmark = pytest.mark.anyio

USAGE = """query($period: PeriodInput!) { usage(period: $period) { apiCalls { current } } }"""
DATASETS = """query($first: Int, $after: String, $orderBy: DatasetOrder) {
  datasets(first: $first, after: $after, orderBy: $orderBy) { edges { cursor node { id } } }
}"""
GROUPS = """query($period: PeriodInput!, $first: Int, $after: String) {
  usage(period: $period) { breakdown(by: DOMAIN, first: $first, after: $after) { totalCount } }
}"""


async def refused(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> str:
    """The message of the one BAD_USER_INPUT error the query gets."""
    answer = await graphql(client, query, variables)
    assert error_codes(answer) == ["BAD_USER_INPUT"], answer
    message: str = answer["errors"][0]["message"]
    return message


@pytest.mark.parametrize(
    ("period", "says"),
    [
        ({"start": "2024-01-14", "end": "2024-01-08"}, "ends (2024-01-08) before it starts"),
        ({"start": "2013-12-31", "end": "2024-01-08"}, "ask for at most 3660 days"),
        ({"start": "2024-13-01", "end": "2024-12-31"}, "write days as YYYY-MM-DD"),
        ({"start": "2024-01-08", "end": "20240114"}, "write days as YYYY-MM-DD"),
        ({"start": "2024-01-08", "end": 20240114}, "write days as YYYY-MM-DD"),
        ({"start": "0001-01-01", "end": "0001-01-31"}, "has no previous period"),
    ],
)
async def test_refuses_a_bad_period(
    client: httpx.AsyncClient, period: dict[str, Any], says: str
) -> None:
    assert says in await refused(client, USAGE, {"period": period})


async def test_refuses_a_malformed_day_written_in_the_query(client: httpx.AsyncClient) -> None:
    query = '{ usage(period: {start: "2024-02-30", end: "2024-03-01"}) { apiCalls { current } } }'
    assert "write days as YYYY-MM-DD" in await refused(client, query, {})


async def test_accepts_the_longest_period(client: httpx.AsyncClient) -> None:
    answer = await graphql(client, USAGE, {"period": {"start": "2014-01-01", "end": "2024-01-08"}})
    assert answer == {"data": {"usage": {"apiCalls": {"current": 0}}}}  # 3 660 days


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["nope", "", _b64("groups:3"), _b64("datasets:-1"), _b64("datasets:03"), _b64("datasets:x")],
)
async def test_refuses_a_cursor_it_did_not_give(client: httpx.AsyncClient, cursor: str) -> None:
    message = await refused(client, DATASETS, {"after": cursor})
    assert "is not a cursor this API gave" in message
    assert "pass pageInfo.endCursor of the previous page" in message


async def test_refuses_a_dataset_cursor_in_a_breakdown(client: httpx.AsyncClient) -> None:
    await ingest(client, line_on("2024-01-08", resource=dataset("a")), line_on("2024-01-08"))
    answer = await graphql(client, DATASETS, {"first": 1})
    cursor = answer["data"]["datasets"]["edges"][0]["cursor"]
    variables = {"period": PERIOD_WEEK, "after": cursor}
    assert "is not a cursor this API gave" in await refused(client, GROUPS, variables)


@pytest.mark.parametrize("first", [-1, 101])
async def test_refuses_first_out_of_range(client: httpx.AsyncClient, first: int) -> None:
    assert "ask for 0 to 100 items" in await refused(client, DATASETS, {"first": first})
    variables = {"period": PERIOD_WEEK, "first": first}
    assert "ask for 0 to 100 items" in await refused(client, GROUPS, variables)


@pytest.mark.parametrize("order", ["API_CALLS", "DOWNLOADS"])
async def test_refuses_a_usage_order_without_a_period(
    client: httpx.AsyncClient, order: str
) -> None:
    message = await refused(client, DATASETS, {"orderBy": order})
    assert message.startswith(f"orderBy: {order} ranks datasets by their usage in a period")


async def test_refuses_too_many_listed_datasets(client: httpx.AsyncClient) -> None:
    query = """query($period: PeriodInput!, $ids: [ID!]) {
      usage(period: $period, datasets: $ids) { apiCalls { current } }
    }"""
    answer = await graphql(client, query, {"period": PERIOD_WEEK, "ids": ["x"] * 1001})
    assert error_codes(answer) == ["BAD_USER_INPUT"]


async def test_refuses_a_query_deeper_than_10(client: httpx.AsyncClient) -> None:
    deepest = """{ datasets { edges { node {
      usage(period: {start: "2024-01-08", end: "2024-01-14"}) {
        breakdown(by: DOMAIN) { edges { node { apiCalls { current } } } } } } } } }"""
    assert "errors" not in await graphql(client, deepest)  # the schema's deepest path: 9
    # No valid query of today's schema is deeper: the limit guards the schema as it grows.
    deeper = "{ " + "datasets { edges { node { owner { " * 3 + "id" + " } } } }" * 3 + " }"
    for _ in range(2):  # the second time from the validation cache: refused all the same
        answer = await graphql(client, deeper)
        assert "data" not in answer  # refused before it ran: no `data` entry at all
        messages = [error["message"] for error in answer["errors"]]
        assert "'anonymous' exceeds maximum operation depth of 10" in messages


async def test_refuses_more_than_20_aliases(client: httpx.AsyncClient) -> None:
    fields = " ".join(f"a{n}: analytics {{ provider }}" for n in range(21))
    for _ in range(2):  # the second time from the validation cache: refused all the same
        answer = await graphql(client, "{ " + fields + " }", token=None)
        assert "data" not in answer
        assert "21 aliases found. Allowed: 20" in answer["errors"][0]["message"]
    fields = " ".join(f"a{n}: analytics {{ provider }}" for n in range(20))
    assert "errors" not in await graphql(client, "{ " + fields + " }", token=None)


async def test_masks_an_unexpected_error(client: httpx.AsyncClient) -> None:
    # A stored configuration that is not JSON is nobody's input error: the client learns nothing.
    await SettingRow.create(key="analytics", value="{not json", updated_at=datetime.now(UTC))
    answer = await graphql(client, "{ analytics { provider } }", token=None)
    assert answer["data"] is None
    assert answer["errors"] == [
        {
            "message": "Unexpected error.",
            "locations": [{"line": 1, "column": 3}],
            "path": ["analytics"],
        }
    ]


async def test_says_when_the_database_cannot_answer(client: httpx.AsyncClient) -> None:
    # The table that answers owner-wide totals is moved away for the query: the database
    # refuses it, as it would when down.
    await connection().execute_script("ALTER TABLE usage_by_owner RENAME TO usage_by_owner_away")
    try:
        answer = await graphql(client, USAGE, {"period": PERIOD_WEEK})
    finally:
        await connection().execute_script(
            "ALTER TABLE usage_by_owner_away RENAME TO usage_by_owner"
        )
    assert answer["data"] is None
    assert error_codes(answer) == ["DATABASE_UNAVAILABLE"]
    assert answer["errors"][0]["message"].startswith("the database did not answer")


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (DATASETS.replace("after: $after", "search: $after"), {"after": "a\x00b"}),
        (USAGE.replace("period: $period", "period: $period, datasets: $d").replace(
            "($period: PeriodInput!", "($period: PeriodInput!, $d: [ID!]"
        ), {"period": PERIOD_WEEK, "d": ["a\x00b"]}),
    ],
    ids=["search", "datasets"],
)  # fmt: skip
async def test_refuses_a_nul_character_as_bad_input(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> None:
    # Found by tests/hostile: PostgreSQL refused the statement, and the caller was told that the
    # database did not answer.
    assert await refused(client, query, variables) == (
        "a text argument contains a NUL character (U+0000)"
    )


async def test_refuses_a_body_over_a_mebibyte_before_reading_it_all(
    client: httpx.AsyncClient,
) -> None:
    large = (
        b'{"query": "{ analytics { provider } }", "variables": {"x": "'
        + b"a" * 1024 * 1024
        + b'"}}'
    )
    message = "the request body is over 1048576 bytes: send a smaller query or fewer values"
    expected = {"errors": [{"message": message, "extensions": {"code": "PAYLOAD_TOO_LARGE"}}]}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it is read
        for start in range(0, len(large), 65536):
            yield large[start : start + 65536]

    headers = {"Content-Type": "application/json"}
    for body in (large, chunks()):
        answer = await client.post("/graphql", content=body, headers=headers)
        assert (answer.status_code, answer.json()) == (413, expected)
    small = b'{"query": "{ analytics { provider } }"}'
    answer = await client.post("/graphql", content=small, headers=headers)
    assert answer.json() == {"data": {"analytics": {"provider": "NONE"}}}
