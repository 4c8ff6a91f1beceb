"""The thin path: one Data Fair line through POST /ingest lands as one aggregate row."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import NDJSON, data_fair_line, ndjson, usage_rows

pytestmark = pytest.mark.anyio


async def test_counts_one_data_fair_line(client: httpx.AsyncClient) -> None:
    response = await client.post("/ingest", content=ndjson(data_fair_line()), headers=NDJSON)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    rows = await usage_rows()
    assert [(r["resource_id"], r["operation"], r["user_group"], r["requests"]) for r in rows] == [
        ("roads", "api", "ANONYMOUS", 1)
    ]
