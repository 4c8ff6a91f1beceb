"""Distinct consumers (docs/security.md#distinct-consumers): who a line's consumer is, counted
once per epoch however many lines, days, datasets, batches or replays; nothing of them kept but
sketches."""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.config import Settings, load_settings
from app.core.periods import Period
from app.core.records import Owner
from app.core.sketches import consumer_hash
from app.errors import BadUserInputError, ConfigError
from app.ingest.fold import fold_waiting
from app.reports.consumers import Consumers, consumers, shown
from app.reports.rows import TOTAL, UsageFilter
from app.storage.database import connection, is_postgres
from app.storage.epochs import EpochKeyring
from app.storage.retention import purge
from tests.helpers import (
    HELD_BACK_S,
    NDJSON,
    TABLES,
    api_key,
    app_client,
    combined_line,
    data_fair_line,
    dataset,
    fix_epoch_keys,
    id_token,
    named_line,
    ndjson,
    table_rows,
)

pytestmark = pytest.mark.anyio

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
FIREFOX_121 = FIREFOX.replace("120.0", "121.0")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ORG1 = Owner("organization", "org1")


def today() -> date:
    # The endpoint's clock: lines of today's epoch are the ones whose consumers count.
    return datetime.now(UTC).date()


def line(
    address: str = "192.0.2.10",
    *,
    agent: str = FIREFOX,
    day: date | None = None,
    **fields: Any,
) -> dict[str, Any]:
    on = day or today()
    return {
        **named_line(time=f"{on.isoformat()}T12:00:00+00:00", user_agent=agent, **fields),
        "remote_addr": address,
    }


@pytest.fixture
def in_request(settings: Settings) -> Settings:
    """Batches counted in their request (no ledger): the tables are written when answered."""
    return replace(settings, fold_interval_s=0, consumers_min=0)


@pytest.fixture
async def client(in_request: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(in_request) as http:
        await fix_epoch_keys()
        yield http


async def post(client: httpx.AsyncClient, *lines: Any, key: str | None = None) -> Any:
    headers = {**NDJSON, **({"Idempotency-Key": key} if key else {})}
    response = await client.post("/ingest", content=ndjson(*lines), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def counted(usage: UsageFilter | None = None, days: int = 1, minimum: int = 0) -> int | None:
    period = Period(today() - timedelta(days=days - 1), today())
    found = await consumers(usage or UsageFilter(), period, minimum)
    return found.get((TOTAL, TOTAL), shown(0, 0, minimum)).current


@pytest.mark.parametrize("n", [1, 2, 50])
async def test_counts_each_consumer_once_however_many_lines(
    client: httpx.AsyncClient, n: int
) -> None:
    addresses = [f"2001:db8:{i:x}::1" for i in range(1, n + 1)]
    await post(client, *(line(a) for a in addresses), *(line(a) for a in addresses))
    assert await counted() == n
    assert await counted(UsageFilter(owner=ORG1, dataset_ids=("roads",))) == n


async def test_one_network_and_agent_family_is_one_consumer(client: httpx.AsyncClient) -> None:
    await post(
        client,
        line("192.0.2.10"),
        line("192.0.2.99", agent=FIREFOX.replace("120.0", "120.1")),
        line("::ffff:192.0.2.7"),  # the same /24, IPv4-mapped
        line("2001:db8:1:2::1"),
        line("2001:db8:1:ffff::9"),  # the same /48
    )
    assert await counted() == 2
    await post(client, line("192.0.2.10", agent=FIREFOX_121), line("198.51.100.1"))
    assert await counted() == 4


async def test_a_consumer_on_two_datasets_and_two_days_counts_once_in_their_union(
    client: httpx.AsyncClient,
) -> None:
    yesterday = today() - timedelta(days=1)
    await post(
        client,
        line(),
        line(resource=dataset("rivers")),
        line(day=yesterday),
        line("198.51.100.1", day=yesterday, resource=dataset("rivers")),
    )
    assert await counted(UsageFilter(dataset_ids=("roads",))) == 1
    assert await counted(UsageFilter(dataset_ids=("rivers",))) == 1
    assert await counted(UsageFilter(dataset_ids=("rivers",)), days=2) == 2
    assert await counted(UsageFilter(owner=ORG1), days=2) == 2
    assert await counted(UsageFilter(owner=Owner("user", "alice")), days=2) == 0


async def test_an_account_is_one_consumer_by_session_or_api_key(client: httpx.AsyncClient) -> None:
    bob = id_token({"id": "bob", "organizations": []})
    await post(
        client,
        line("192.0.2.10", id_token=bob),
        line("198.51.100.1", id_token=bob),  # another network: still bob
        line("203.0.113.5", api_key=api_key("u:bob:r4nd0m")),  # bob's own key
        line("192.0.2.10", api_key=api_key("o:org2:k3y1")),
        line("198.51.100.1", api_key=api_key("o:org2:dept:k3y2")),  # org2's other key
        line("198.51.100.1", api_key="not-a-data-fair-key"),
    )
    assert await counted() == 3  # bob, org2, the unreadable key
    groups = await consumers(UsageFilter(), Period(today(), today()), 0, by_group=True)
    assert groups == {
        (TOTAL, "EXTERNAL"): Consumers(1, 0),
        (TOTAL, "EXTERNAL_API_KEY"): Consumers(3, 0),
    }
    datasets = await consumers(UsageFilter(), Period(today(), today()), 2, by_dataset=True)
    assert datasets == {("roads", TOTAL): Consumers(3, None)}


async def test_bots_failures_and_lines_without_address_count_nobody(
    client: httpx.AsyncClient,
) -> None:
    answer = await post(
        client,
        line("192.0.2.10", agent=GOOGLEBOT),
        line("198.51.100.1", status=404),
        line("203.0.113.1", status=500),
        line(""),
        line("unix:"),
        named_line(time=f"{today().isoformat()}T12:00:00+00:00"),  # no remote_addr at all
    )
    assert answer["accepted"] == 6
    data_fair = data_fair_line()  # an array has no address: counted, its consumer unknown
    assert (await post(client, data_fair))["accepted"] == 1
    assert await counted() == 0
    assert await table_rows("usage_consumers") == []


async def test_an_answer_reading_too_many_sketches_is_refused(client: httpx.AsyncClient) -> None:
    yesterday = today() - timedelta(days=1)
    await post(client, line(), line(day=yesterday), line(resource=dataset("rivers")))
    period = Period(today(), today())  # with its previous period: yesterday
    both = UsageFilter(dataset_ids=("rivers", "roads"))
    assert await consumers(both, period, 0, max_sketches=3) == {(TOTAL, TOTAL): Consumers(1, 1)}
    with pytest.raises(BadUserInputError, match="more than 2 daily sketches"):
        await consumers(both, period, 0, max_sketches=2)
    # Without a datasets filter the owners' unions answer, whatever the daily sketches.
    for owner in (None, ORG1):
        assert await consumers(UsageFilter(owner=owner), period, 0, max_sketches=1) == {
            (TOTAL, TOTAL): Consumers(1, 1)
        }


async def test_lines_of_a_closed_epoch_count_no_consumer(client: httpx.AsyncClient) -> None:
    long_ago = today() - timedelta(days=800)
    await post(client, line(day=long_ago))
    assert await table_rows("usage_consumers") == []
    assert len(await table_rows("usage_daily")) == 1


async def test_combined_lines_count_their_address(client: httpx.AsyncClient) -> None:
    stamp = datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    path = "/data-fair/api/v1/datasets/roads/lines"
    body = "\n".join(
        [
            json.dumps(line()),  # teaches the owner of roads
            combined_line(path, time_local=stamp, remote_addr="198.51.100.7", user_agent=FIREFOX),
            combined_line(path, time_local=stamp, remote_addr="198.51.100.8", user_agent=FIREFOX),
        ]
    )
    response = await client.post(
        "/ingest", content=body, headers={**NDJSON, "Content-Type": "text/plain"}
    )
    assert response.json()["accepted"] == 3
    assert await counted() == 2


async def test_replays_and_folds_again_count_nobody_twice(settings: Settings) -> None:
    held = replace(settings, fold_interval_s=HELD_BACK_S, consumers_min=0)
    async with app_client(held) as client:
        await fix_epoch_keys()
        lines = [line(f"2001:db8:{i:x}::1") for i in range(1, 8)]
        await post(client, *lines, key="batch-1")
        assert (await post(client, *lines, key="batch-1"))["duplicate"] is True
        ledger = await table_rows("ingest_ledger")
        assert len(ledger) == 1
        await fold_waiting(None)
        assert await counted() == 7
        # The same ledger row folded a second time (as if a crash lost the record of the first
        # fold): register maxima change nothing.
        await _insert_ledger_row(ledger[0]["counters"])
        await fold_waiting(None)
        assert await counted() == 7
        # Another batch with some of the same consumers and new ones.
        await post(client, *lines[:3], line("2001:db8:99::1"), key="batch-2")
        await fold_waiting(None)
        assert await counted() == 8


async def _insert_ledger_row(text: str) -> None:
    client = connection()
    now: Any = datetime.now(UTC)
    marks = "$1, $2, $3" if is_postgres(client) else "?, ?, ?"
    await client.execute_query(
        f"INSERT INTO ingest_ledger (received_at, lines, counters) VALUES ({marks})",  # noqa: S608
        [now if is_postgres(client) else now.isoformat(), 7, text],
    )


async def test_no_table_or_log_holds_a_consumer_its_hash_or_the_key(
    in_request: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    bob = id_token({"id": "bob-the-consumer", "organizations": []})
    # Statements are logged with their values at DEBUG: the key drawn for the epoch by this
    # batch must not be among them.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, "tortoise.db_client"):
        async with app_client(in_request) as client:
            await post(
                client,
                line("192.0.2.123", agent=FIREFOX),
                line("198.51.100.45", id_token=bob),
                line("203.0.113.9", api_key=api_key("o:org-secret:k3y-s3cr3t")),
            )
            await _scan_for_consumers(caplog)


async def _scan_for_consumers(caplog: pytest.LogCaptureFixture) -> None:
    assert "INSERT INTO usage_consumers" in caplog.text
    keys = await table_rows("consumer_epochs")
    for row in keys:
        key = bytes(row["epoch_key"])
        assert repr(key)[2:-1] not in caplog.text and key.hex() not in caplog.text
    hashes = [
        consumer_hash(consumer, bytes(row["epoch_key"])).to_bytes(8, "big")
        for row in keys
        for consumer in (
            "net:192.0.2.0/24 Firefox 120",
            "user:bob-the-consumer",
            "organization:org-secret",
        )
    ]
    texts: list[str] = []
    blobs: list[bytes] = []
    for table in TABLES:
        for row in await table_rows(table):
            for column, value in row.items():
                if isinstance(value, bytes | memoryview):
                    blobs.append(bytes(value))
                texts.append(f"{column}={value}")
    text = "\n".join([*texts, caplog.text]).lower()
    for value in ("192.0.2", "198.51.100", "203.0.113", "bob", "org-secret", "firefox", "k3y"):
        assert value not in text
    sketches = [bytes(row["sketch"]) for row in await table_rows("usage_consumers")]
    assert len(sketches) == 3  # anonymous, session, API key: each its user group's sketch
    for blob in [*blobs, *(zlib.decompress(s[1:]) for s in sketches)]:
        assert not any(h in blob for h in hashes)
    for sketch in sketches:
        assert max(zlib.decompress(sketch[1:])) <= 51  # ranks, nothing else


async def test_every_process_shares_an_epochs_key_until_its_grace_ends(
    settings: Settings,
) -> None:
    monthly = replace(settings, consumer_epoch="month")
    async with app_client(monthly):
        day = date(2026, 3, 31)
        first, second = EpochKeyring("month"), EpochKeyring("month")
        march = (await first.keys(day)).key_for(day)
        assert march is not None
        assert (await second.keys(day)).key_for(day) == march
        # 2 April: March's key still hashes late lines; 3 April: it is gone.
        april_2 = await first.keys(date(2026, 4, 2))
        assert april_2.key_for(day) == march
        assert april_2.key_for(date(2026, 4, 2)) not in (None, march)
        report = await purge(monthly, datetime(2026, 4, 2, 12, tzinfo=UTC))
        assert report.rows["consumer_epochs"] == 0
        assert len(await table_rows("consumer_epochs")) == 2
        report = await purge(monthly, datetime(2026, 4, 3, 12, tzinfo=UTC))
        assert report.rows["consumer_epochs"] == 1
        rows = await table_rows("consumer_epochs")
        assert [str(row["first_day"]) for row in rows] == ["2026-04-01"]
        assert (await first.keys(date(2026, 4, 3))).key_for(day) is None
        # A new process after the purge cannot find March's key again.
        assert (await EpochKeyring("month").keys(date(2026, 4, 3))).key_for(day) is None


def test_consumer_settings_have_defaults_and_refuse_what_they_cannot_read() -> None:
    defaults = load_settings({})
    assert (defaults.consumer_epoch, defaults.consumers_min) == ("month", 5)
    chosen = load_settings(
        {"USAGE_METRICS_CONSUMER_EPOCH": "Year", "USAGE_METRICS_CONSUMERS_MIN": "0"}
    )
    assert (chosen.consumer_epoch, chosen.consumers_min) == ("year", 0)
    with pytest.raises(ConfigError, match="USAGE_METRICS_CONSUMER_EPOCH='week'"):
        load_settings({"USAGE_METRICS_CONSUMER_EPOCH": "week"})
    with pytest.raises(ConfigError, match="USAGE_METRICS_CONSUMERS_MIN='-1'"):
        load_settings({"USAGE_METRICS_CONSUMERS_MIN": "-1"})


async def test_keep_days_purges_sketches_and_every_purge_deletes_expired_keys(
    client: httpx.AsyncClient, in_request: Settings
) -> None:
    yesterday = today() - timedelta(days=1)
    await post(client, line(), line(day=yesterday))
    assert len(await table_rows("usage_consumers")) == 2
    # The owner's and every owner's unions: two days and their one or two months.
    months = 1 if yesterday.month == today().month else 2
    assert len(await table_rows("usage_consumers_by_owner")) == 2 * (2 + months)
    keys = len(await table_rows("consumer_epochs"))  # 2 on a month's first day, else 1
    later = datetime.now(UTC) + timedelta(days=40)
    report = await purge(replace(in_request, keep_days=1), later)
    assert (report.rows["usage_consumers"], report.rows["consumer_epochs"]) == (2, keys)
    assert report.rows["usage_consumers_by_owner"] == 2 * (2 + months)
    assert await table_rows("usage_consumers") == []
    assert await table_rows("usage_consumers_by_owner") == []
    assert await table_rows("consumer_epochs") == []
