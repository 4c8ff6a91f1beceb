"""Idempotency-Keys are scoped to their token: no key a sender can spell reaches another token's
batch (a key stored before scoping still answers its replays: tests/ingest/test_fold.py)."""

from __future__ import annotations

import httpx
import pytest

from app.auth.tokens import create_token
from app.ingest.store import key_namespace
from tests.helpers import NDJSON, dataset, line_on, ndjson, stored_key, table_rows, usage_rows

pytestmark = pytest.mark.anyio

DAY = "2024-01-08"


async def requests_by_dataset() -> dict[str, int]:
    return {row["resource_id"]: row["requests"] for row in await usage_rows()}


async def post(client: httpx.AsyncClient, token: str, key: str, body: bytes) -> httpx.Response:
    headers = {**NDJSON, "Authorization": f"Bearer {token}", "Idempotency-Key": key}
    return await client.post("/ingest", content=body, headers=headers)


async def test_a_key_spelled_as_another_tokens_scoped_key_reaches_nothing_of_it(
    client: httpx.AsyncClient,
) -> None:
    victim = await create_token("ingest", "victim-shipper")
    attacker = await create_token("ingest", "attacker-shipper")
    body = ndjson(line_on(DAY, resource=dataset("roads")))
    other_body = ndjson(line_on(DAY, resource=dataset("rivers")))
    assert (await post(client, victim, "batch-7", body)).json()["duplicate"] is False
    forged = f"{key_namespace(victim)}:batch-7"  # what ingest_batches holds for the victim

    same = await post(client, attacker, forged, body)
    other = await post(client, attacker, forged, other_body)

    # Neither the victim's answer (a replay) nor its body hash (422) comes back: the attacker's
    # key is its own, and its first batch counts.
    assert (same.status_code, same.json()["duplicate"], same.json()["accepted"]) == (200, False, 1)
    assert other.status_code == 422, other.text  # the attacker's own key, reused with a new body
    assert await requests_by_dataset() == {"roads": 2}
    keys = sorted(row["idempotency_key"] for row in await table_rows("ingest_batches"))
    assert keys == sorted([stored_key("batch-7", victim), stored_key(forged, attacker)])
