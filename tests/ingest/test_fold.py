"""The ingest ledger and its folder: a batch is answered once its counters are in the ledger, and
a fold adds them to usage_daily and the summaries exactly once, whatever the interleaving."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import pytest

from app.auth.tokens import create_token
from app.config import Settings
from app.ingest.domain_cap import DomainCap
from app.ingest.fold import Folded, fold_pass, fold_waiting
from app.storage.database import connection, is_postgres
from tests.helpers import (
    NDJSON,
    PERIOD_WEEK,
    app_client,
    dataset,
    graphql,
    graphql_data,
    line_on,
    ndjson,
    stored_key,
    stored_summaries,
    summaries_of_usage_daily,
    table_rows,
    usage_rows,
)
from tests.server_processes import ROOT, clean_env

pytestmark = pytest.mark.anyio

DAY = "2024-01-08"
FRESHNESS = "{ freshness { foldedUntil waitingBatches waitingLines ageSeconds } }"
API_CALLS = """query($period: PeriodInput!) { usage(period: $period) { apiCalls { current } } }"""


async def post(client: httpx.AsyncClient, *lines: Any, key: str | None = None) -> Any:
    headers = {**NDJSON, **({"Idempotency-Key": key} if key else {})}
    response = await client.post("/ingest", content=ndjson(*lines), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def requests_by_dataset() -> dict[str, int]:
    found: dict[str, int] = {}
    for row in await usage_rows():
        found[row["resource_id"]] = found.get(row["resource_id"], 0) + row["requests"]
    return dict(sorted(found.items()))


async def freshness(client: httpx.AsyncClient) -> dict[str, Any]:
    found: dict[str, Any] = (await graphql_data(client, FRESHNESS))["freshness"]
    return found


async def test_a_batch_waits_in_the_ledger_until_a_fold_counts_it(
    ledger_client: httpx.AsyncClient,
) -> None:
    answer = await post(ledger_client, line_on(DAY), line_on(DAY), key="first")
    assert (answer["accepted"], answer["duplicate"]) == (2, False)
    assert await usage_rows() == []
    assert len(await table_rows("ingest_ledger")) == 1
    assert [r["resource_id"] for r in await table_rows("resources")] == ["roads"]

    assert await fold_waiting(DomainCap(200)) == Folded(batches=1, keys=1)
    assert await requests_by_dataset() == {"roads": 2}
    assert await table_rows("ingest_ledger") == []
    assert await stored_summaries() == await summaries_of_usage_daily()
    assert await fold_waiting(DomainCap(200)) == Folded()  # folding again adds nothing

    replay = await post(ledger_client, line_on(DAY), line_on(DAY), key="first")
    assert replay == {**answer, "duplicate": True}
    assert await table_rows("ingest_ledger") == []
    assert await requests_by_dataset() == {"roads": 2}


async def test_freshness_shows_the_waiting_batches_while_the_fold_is_held_back(
    ledger_client: httpx.AsyncClient,
) -> None:
    idle = await freshness(ledger_client)
    assert (idle["waitingBatches"], idle["waitingLines"], idle["ageSeconds"]) == (0, 0, 0.0)
    before = time.time()
    await post(ledger_client, line_on(DAY), line_on(DAY), line_on(DAY))
    await post(ledger_client, line_on(DAY))
    await post(ledger_client, line_on(DAY, track=None))  # nothing counted: nothing to fold
    waiting = await freshness(ledger_client)
    assert (waiting["waitingBatches"], waiting["waitingLines"]) == (2, 4)
    folded_until = waiting["foldedUntil"]
    assert before - 1 <= _epoch(folded_until) <= time.time()
    assert waiting["ageSeconds"] >= 0

    await fold_waiting(DomainCap(200))
    done = await freshness(ledger_client)
    assert (done["waitingBatches"], done["waitingLines"], done["ageSeconds"]) == (0, 0, 0.0)
    usage = await graphql_data(ledger_client, API_CALLS, period=PERIOD_WEEK)
    assert usage["usage"]["apiCalls"]["current"] == 4


async def test_freshness_needs_a_token(ledger_client: httpx.AsyncClient) -> None:
    answer = await graphql(ledger_client, FRESHNESS, token=None)
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


async def test_folds_and_ingests_interleaved_add_up_exactly(
    held_back: Settings,
) -> None:
    """Any interleaving of batches and partial folds: exact sums, summaries equal usage_daily."""
    shuffle = random.Random(14)
    expected: dict[str, int] = {}
    days = ("2024-01-07", "2024-01-08", "2024-01-31", "2024-02-01")
    async with app_client(held_back) as client:
        for step in range(40):
            lines = []
            for _ in range(shuffle.randint(1, 6)):
                name = f"d{shuffle.randint(0, 4)}"
                track = shuffle.choice(("readDataAPI", "readDataFiles", "openApplication"))
                day = shuffle.choice(days)
                lines.append(line_on(day, resource=dataset(name), track=track))
                expected[name] = expected.get(name, 0) + 1
            await post(client, *lines, key=f"batch-{step}")
            if shuffle.random() < 0.3:
                await fold_pass(DomainCap(200), rows=shuffle.randint(1, 3))
                assert await stored_summaries() == await summaries_of_usage_daily()
        await fold_waiting(DomainCap(200))
        assert await requests_by_dataset() == dict(sorted(expected.items()))
        assert await stored_summaries() == await summaries_of_usage_daily()
        assert await table_rows("ingest_ledger") == []


async def test_the_domain_cap_stays_exact_over_folded_batches(held_back: Settings) -> None:
    capped = replace(held_back, max_domains_per_day=2)
    async with app_client(capped) as client:
        await post(client, line_on(DAY, referer="https://a.example/"))
        await post(client, line_on(DAY, referer="https://b.example/"))
        await fold_pass(DomainCap(2), rows=1)  # a is stored; b waits
        await post(client, line_on(DAY, referer="https://c.example/"))  # the 3rd: other
        await post(client, line_on(DAY, referer="https://b.example/"))
        await fold_waiting(DomainCap(2))  # one pass over b, c, b: b named, c under other
        rows = sorted((r["referer_domain"], r["requests"]) for r in await usage_rows())
        assert rows == [("a.example", 1), ("b.example", 2), ("other", 1)]
        assert await stored_summaries() == await summaries_of_usage_daily()


async def test_the_server_s_folder_shows_a_batch_by_itself_at_the_default_interval(
    settings: Settings,
) -> None:
    # The folder runs every second; how soon is the benchmark's to say (docs/benchmarks.md). On a
    # busy machine a pass can be late, so the bound here is a limit for a broken folder only.
    default = replace(settings, fold_interval_s=Settings().fold_interval_s)
    assert default.fold_interval_s == 1.0
    async with app_client(default) as client:
        await post(client, line_on(DAY), line_on(DAY))
        answered = time.monotonic()
        calls = 0
        while time.monotonic() - answered < 60.0 and calls != 2:
            usage = await graphql_data(client, API_CALLS, period=PERIOD_WEEK)
            calls = usage["usage"]["apiCalls"]["current"]
            await asyncio.sleep(0.05)
        assert calls == 2
        assert (await freshness(client))["waitingBatches"] == 0


async def test_two_tokens_may_use_the_same_key(ledger_client: httpx.AsyncClient) -> None:
    other = await create_token("ingest", "second shipper")
    first = await post(ledger_client, line_on(DAY), key="shared-key")
    headers = {**NDJSON, "Authorization": f"Bearer {other}", "Idempotency-Key": "shared-key"}
    response = await ledger_client.post("/ingest", content=ndjson(line_on(DAY)), headers=headers)
    assert first["duplicate"] is False
    assert response.json()["duplicate"] is False  # its own batch, not the first token's
    admin = await post_as_admin(ledger_client, "shared-key")
    assert admin["duplicate"] is False
    again = await ledger_client.post("/ingest", content=ndjson(line_on(DAY)), headers=headers)
    assert again.json()["duplicate"] is True
    await fold_waiting(DomainCap(200))
    assert await requests_by_dataset() == {"roads": 3}
    keys = sorted(row["idempotency_key"] for row in await table_rows("ingest_batches"))
    assert stored_key("shared-key") in keys
    assert len(keys) == 3


async def post_as_admin(client: httpx.AsyncClient, key: str) -> Any:
    from tests.helpers import ADMIN_TOKEN

    headers = {
        **NDJSON,
        "Authorization": f"Bearer {ADMIN_TOKEN}",
        "Idempotency-Key": key,
    }
    response = await client.post("/ingest", content=ndjson(line_on(DAY)), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_key_stored_before_keys_were_scoped_still_answers_replays(
    client: httpx.AsyncClient,
) -> None:
    body = ndjson(line_on(DAY))
    answer = await client.post("/ingest", content=body, headers={**NDJSON, "Idempotency-Key": "k"})
    db = connection()
    mark = "$1" if is_postgres(db) else "?"
    # As an upgraded database holds it: the key as the sender gave it, in no namespace.
    await db.execute_query(
        f"UPDATE ingest_batches SET idempotency_key = 'legacy' WHERE idempotency_key = {mark}",  # noqa: S608
        [stored_key("k")],
    )
    replay = await client.post(
        "/ingest", content=body, headers={**NDJSON, "Idempotency-Key": "legacy"}
    )
    assert replay.json() == {**answer.json(), "duplicate": True}
    assert await requests_by_dataset() == {"roads": 1}


async def test_the_rejected_list_is_capped_and_its_count_exact(client: httpx.AsyncClient) -> None:
    body = b"\n".join([b"not json"] * 2500 + [ndjson(line_on(DAY)).strip()] + [b"{}"] * 10)
    response = await client.post("/ingest", content=body, headers=NDJSON)
    answer = response.json()
    assert (answer["accepted"], answer["rejected_count"]) == (1, 2510)
    assert len(answer["rejected"]) == 1000
    assert [r["line"] for r in answer["rejected"]] == list(range(1, 1001))
    assert {r["code"] for r in answer["rejected"]} == {"bad_json"}


async def test_the_fold_command_folds_what_waits(
    ledger_client: httpx.AsyncClient, held_back: Settings
) -> None:
    await post(ledger_client, line_on(DAY), line_on(DAY), key="one")
    await post(ledger_client, line_on(DAY), key="two")
    command = [sys.executable, "-m", "app.cli", "fold"]
    env = clean_env(USAGE_METRICS_DATABASE_URL=held_back.database_url)
    done = await anyio.to_thread.run_sync(
        lambda: subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    )
    assert (done.returncode, done.stdout) == (0, "folded 2 batches (1 merged daily rows)\n")
    assert await requests_by_dataset() == {"roads": 3}
    assert await table_rows("ingest_ledger") == []


PARTIAL_DAY = "{ freshness { partialDay } }"


async def test_freshness_names_the_day_in_progress_in_the_service_s_time_zone(
    settings: Settings,
) -> None:
    # Kiritimati is UTC+14: its day differs from UTC's for 14 hours of every 24.
    zone = ZoneInfo("Pacific/Kiritimati")
    async with app_client(replace(settings, timezone=zone, today=None)) as client:
        before = datetime.now(zone).date().isoformat()
        found = (await graphql_data(client, PARTIAL_DAY))["freshness"]["partialDay"]
        after = datetime.now(zone).date().isoformat()
    assert found in {before, after}  # the same, unless midnight passed between the two reads
    async with app_client(replace(settings, today=date(2024, 1, 9))) as client:
        found = (await graphql_data(client, PARTIAL_DAY))["freshness"]["partialDay"]
    assert found == "2024-01-09"
