"""Who sees what: admin everything, an owner token its own datasets, others nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.auth.tokens import create_token
from tests.helpers import (
    INGEST_TOKEN,
    PERIOD_WEEK,
    dataset,
    error_codes,
    graphql,
    ingest,
    line_on,
    owner_input,
)

pytestmark = pytest.mark.anyio

ORG1 = {"type": "organization", "id": "org1"}
ALICE = {"type": "user", "id": "alice"}
USAGE = """query($period: PeriodInput!, $owner: OwnerInput, $datasets: [ID!]) {
  usage(period: $period, owner: $owner, datasets: $datasets) { apiCalls { current } }
}"""
DATASETS = """query($owner: OwnerInput) {
  datasets(owner: $owner) { totalCount edges { node { id } } }
}"""


@pytest.fixture
async def org1_token(client: httpx.AsyncClient) -> str:
    """An owner token of org1, with org1 (roads: 2 calls) and alice (notes: 1 call) ingested."""
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("roads")),
        line_on("2024-01-09", resource=dataset("roads")),
        line_on("2024-01-08", resource=dataset("notes"), owner=ALICE),
    )
    return await create_token("owner:organization:org1", "org1 dashboard")


async def test_owner_token_lists_its_own_datasets_only(
    client: httpx.AsyncClient, org1_token: str
) -> None:
    answer = await graphql(client, DATASETS, token=org1_token)
    assert answer == {"data": {"datasets": {"totalCount": 1, "edges": [{"node": {"id": "roads"}}]}}}
    own = await graphql(client, DATASETS, {"owner": owner_input(ORG1)}, token=org1_token)
    assert own == answer


async def test_owner_token_gets_null_for_another_owners_dataset(
    client: httpx.AsyncClient, org1_token: str
) -> None:
    query = '{ notes: dataset(id: "notes") { id } roads: dataset(id: "roads") { id } }'
    answer = await graphql(client, query, token=org1_token)
    assert answer == {"data": {"notes": None, "roads": {"id": "roads"}}}


async def test_owner_token_may_not_name_another_owner(
    client: httpx.AsyncClient, org1_token: str
) -> None:
    for query, variables in (
        (DATASETS, {"owner": owner_input(ALICE)}),
        (USAGE, {"owner": owner_input(ALICE), "period": PERIOD_WEEK}),
    ):
        answer = await graphql(client, query, variables, token=org1_token)
        assert answer["data"] is None
        assert error_codes(answer) == ["FORBIDDEN"]
        assert "organization org1 only" in answer["errors"][0]["message"]


async def test_owner_token_totals_count_its_own_datasets_only(
    client: httpx.AsyncClient, org1_token: str
) -> None:
    calls: list[tuple[dict[str, Any], int]] = [
        ({}, 2),
        ({"owner": owner_input(ORG1)}, 2),
        ({"datasets": ["roads", "notes"]}, 2),  # notes is outside the scope: it counts 0
        ({"datasets": ["notes"]}, 0),
    ]
    for variables, expected in calls:
        answer = await graphql(
            client, USAGE, {"period": PERIOD_WEEK, **variables}, token=org1_token
        )
        assert answer == {"data": {"usage": {"apiCalls": {"current": expected}}}}, variables
    admin = await graphql(client, USAGE, {"period": PERIOD_WEEK})
    assert admin["data"]["usage"]["apiCalls"]["current"] == 3


async def test_ingest_token_may_not_read(client: httpx.AsyncClient) -> None:
    for query, variables in ((DATASETS, {}), (USAGE, {"period": PERIOD_WEEK})):
        answer = await graphql(client, query, variables, token=INGEST_TOKEN)
        assert (answer["data"], error_codes(answer)) == (None, ["FORBIDDEN"])


@pytest.mark.parametrize("token", [None, "not-a-token"])
async def test_refuses_usage_without_a_known_token(
    client: httpx.AsyncClient, token: str | None
) -> None:
    query = """query($period: PeriodInput!) {
      usage(period: $period) { apiCalls { current } }
      datasets { totalCount }
    }"""
    answer = await graphql(client, query, {"period": PERIOD_WEEK}, token=token)
    assert answer["data"] is None
    assert set(error_codes(answer)) == {"UNAUTHENTICATED"}
    one = await graphql(client, '{ dataset(id: "roads") { id } }', token=token)
    assert (one["data"], error_codes(one)) == ({"dataset": None}, ["UNAUTHENTICATED"])


async def test_answers_analytics_without_a_token(client: httpx.AsyncClient) -> None:
    answer = await graphql(client, "{ analytics { provider } }", token=None)
    assert answer == {"data": {"analytics": {"provider": "NONE"}}}
