"""Read replicas against a real streaming standby (docs/deploy.md#past-one-machine).

The machine's PostgreSQL allows no replication connection (its pg_hba.conf has no replication
line), so the module runs a private primary (initdb: replication allowed from 127.0.0.1) and a
hot standby made from it by `pg_basebackup -R`, both on free ports. A standby is made to lag by
pausing its replay (`pg_wal_replay_pause()`): the WAL arrives and waits, as behind a slow
replica. Every wait is for a condition (an LSN replayed, a lag reached), bounded generously.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from app.auth.tokens import create_token, revoke_token
from app.config import Settings, load_settings
from app.errors import ConfigError
from app.main import create_app
from app.storage.replicas import APPLICATION_NAME
from tests.dashboard.pages import TODAY, card, element, ingest_known_data, open_dashboard, words
from tests.faults.cluster import Cluster, find_bin_dir, private_cluster, standby_of
from tests.helpers import (
    ADMIN,
    ADMIN_TOKEN,
    INGEST_TOKEN,
    csrf_token,
    dataset,
    error_codes,
    ingest,
    line_on,
)
from tests.helpers import graphql as ask

pytestmark = pytest.mark.anyio

WITHIN_S = 60.0  # a bound, not a speed: the machine is shared
WEEK = '{ usage(period: {start: "2024-01-08", end: "2024-01-14"}) { apiCalls { current } } }'
FRESHNESS = "{ freshness { foldedUntil waitingBatches ageSeconds } }"
KNOWN_API_CALLS = 8  # ingest_known_data's API calls in the week of 2024-01-08
LATER_API_CALLS = 4  # later_batch()'s


@dataclass(frozen=True)
class Pair:
    primary: Cluster
    standby: Cluster


@dataclass(frozen=True)
class Urls:
    primary: str
    standby: str  # the same database on the standby


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = "the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; the replica tests need them in CI")
        pytest.skip(message)
    with private_cluster(bin_dir) as primary, standby_of(primary) as standby:
        yield Pair(primary, standby)


@pytest.fixture
async def urls(pair: Pair) -> Urls:
    """A new database on the primary, and its URL on the standby once replayed there."""
    name = f"replicas_{uuid.uuid4().hex[:12]}"
    primary = await pair.primary.create_database(name)
    urls = Urls(primary, pair.standby.url(name))
    await replayed(urls)
    return urls


@asynccontextmanager
async def serving(urls: Urls, max_lag_s: float = 3600.0) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the primary with the standby as its read replica; a client on it."""
    settings = Settings(
        database_url=urls.primary,
        read_database_urls=(urls.standby,),
        max_replica_lag_s=max_lag_s,
        admin_token=ADMIN_TOKEN,
        ingest_token=INGEST_TOKEN,
        secret_key="test-secret-key",
        fold_interval_s=0,  # counted in the request: the ledger holds nothing
        today=TODAY,
        failed_sign_in_delay_s=0.0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def value(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WITHIN_S
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def cluster_of(url: str) -> str:
    """The same cluster's `postgres` database: the WAL functions are the cluster's."""
    return url.rsplit("/", 1)[0] + "/postgres"


async def primary_position(urls: Urls) -> str:
    return str(await value(cluster_of(urls.primary), "SELECT pg_current_wal_flush_lsn()::text"))


async def replayed(urls: Urls) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    lsn, standby = await primary_position(urls), cluster_of(urls.standby)

    async def done() -> bool:
        return bool(
            await value(standby, "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", lsn)
        )

    await wait_for(done, "the standby to replay the primary's WAL")


@asynccontextmanager
async def replay_paused(urls: Urls) -> AsyncIterator[None]:
    """The standby receives the primary's WAL and replays none of it, until the block ends."""
    standby = cluster_of(urls.standby)
    await value(standby, "SELECT pg_wal_replay_pause()")

    async def paused() -> bool:
        state = await value(standby, "SELECT pg_get_wal_replay_pause_state()")
        return bool(state == "paused")

    try:
        await wait_for(paused, "the standby's replay to pause")
        yield
    finally:
        await value(standby, "SELECT pg_wal_replay_resume()")


async def received(urls: Urls) -> None:
    """Until the standby has received (not replayed) everything the primary has written."""
    lsn, standby = await primary_position(urls), cluster_of(urls.standby)

    async def done() -> bool:
        return bool(
            await value(standby, "SELECT pg_last_wal_receive_lsn() >= $1::text::pg_lsn", lsn)
        )

    await wait_for(done, "the standby to receive the primary's WAL")


async def lagging_more_than(urls: Urls, seconds: float) -> None:
    """Until the standby's last replayed commit is more than `seconds` old (replay paused)."""
    standby = cluster_of(urls.standby)
    lag = "SELECT EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) > $1"

    async def done() -> bool:
        return bool(await value(standby, lag, seconds))

    await wait_for(done, f"the standby to lag more than {seconds} s")


async def later_batch(client: httpx.AsyncClient) -> None:
    await ingest(client, *[line_on("2024-01-09", resource=dataset("roads")) for _ in range(4)])


async def api_calls(client: httpx.AsyncClient, token: str = ADMIN_TOKEN) -> int:
    answer = await ask(client, WEEK, token=token)
    assert "errors" not in answer, answer
    calls: int = answer["data"]["usage"]["apiCalls"]["current"]
    return calls


async def data_fair_requests(client: httpx.AsyncClient, owner: str) -> int:
    """The owner's requests, every day, from Data Fair's list (app/datafair)."""
    answer = await client.get("/api/daily-api-metrics", params={"owner": owner}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return sum(int(row["nbRequests"]) for row in answer.json()["results"])


async def skips(client: httpx.AsyncClient) -> dict[str, float]:
    """usage_metrics_replica_skips_total of replica 1, by reason."""
    text = (await client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).text
    found = re.findall(
        r'usage_metrics_replica_skips_total\{reason="(\w+)",replica="1"\} (\S+)', text
    )
    return {reason: float(count) for reason, count in found}


async def read_sessions(url: str) -> int:
    """Sessions of the read side's pool on this database, from pg_stat_activity."""
    database = url.rsplit("/", 1)[1]
    sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = $2"
    return int(await value(cluster_of(url), sql, APPLICATION_NAME, database))


def test_replicas_are_read_from_the_environment_in_turn_order() -> None:
    settings = load_settings(
        {
            "USAGE_METRICS_DATABASE_URL": "postgres://usage@primary:5432/usage",
            "USAGE_METRICS_READ_DATABASE_URL": " postgres://usage@r1/usage ,"
            "postgresql://usage:s3cret@r2:5433/usage,",
            "USAGE_METRICS_MAX_REPLICA_LAG": "2.5",
        }
    )
    assert settings.read_database_urls == (
        "postgres://usage@r1/usage",
        "postgresql://usage:s3cret@r2:5433/usage",
    )
    assert settings.max_replica_lag_s == 2.5
    assert "s3cret" not in repr(settings)
    assert load_settings({}).read_database_urls == ()
    assert load_settings({}).max_replica_lag_s == 30.0


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"USAGE_METRICS_READ_DATABASE_URL": "postgres://u@r1/db,mysql://u:s3cret@r2/db"},
            "USAGE_METRICS_READ_DATABASE_URL: URL 2 is not postgres://",
        ),
        (
            {"USAGE_METRICS_READ_DATABASE_URL": "postgres://u:s3cret@r1/db"},
            "USAGE_METRICS_DATABASE_URL is not PostgreSQL",
        ),
        ({"USAGE_METRICS_MAX_REPLICA_LAG": "soon"}, "USAGE_METRICS_MAX_REPLICA_LAG='soon'"),
    ],
)
def test_a_replica_setting_we_cannot_use_stops_start_up_without_its_password(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"USAGE_METRICS_DATABASE_URL": "sqlite://x.sqlite3", **environ})
    assert message in refused.value.message
    assert "s3cret" not in refused.value.message


async def test_reads_go_to_the_replica_and_equal_the_primarys_figures_once_replayed(
    urls: Urls,
) -> None:
    async with serving(urls) as client:
        await ingest_known_data(client)
        await replayed(urls)
        assert await api_calls(client) == KNOWN_API_CALLS
        # The read side's pool is on the standby, under its name; the primary has none of it.
        assert await read_sessions(urls.standby) >= 1
        assert await read_sessions(urls.primary) == 0
        assert await data_fair_requests(client, "user:alice") == 2
        assert await skips(client) == {"lagging": 0.0, "unavailable": 0.0}


async def test_a_lagging_replica_within_the_bound_answers_its_own_position(urls: Urls) -> None:
    async with serving(urls) as client:
        await ingest_known_data(client)
        await replayed(urls)
        org1_before = await data_fair_requests(client, "organization:org1")
        async with replay_paused(urls):
            before_later = datetime.now(UTC)
            await later_batch(client)  # on the primary, not replayed on the standby
            await received(urls)
            # The standby's figures: GraphQL, Data Fair's API and the dashboard.
            assert await api_calls(client) == KNOWN_API_CALLS
            assert await data_fair_requests(client, "organization:org1") == org1_before
            fresh = (await ask(client, FRESHNESS))["data"]["freshness"]
            assert fresh["waitingBatches"] == 0
            assert datetime.fromisoformat(fresh["foldedUntil"]) < before_later
            assert fresh["ageSeconds"] > 0
            # The page says "up to date" within a second of the primary.
            await lagging_more_than(urls, 1.0)
            await open_dashboard(client, ADMIN_TOKEN)
            page = (await client.get("/dashboard")).text
            assert card(page, "api_calls").startswith(f"API calls {KNOWN_API_CALLS} ")
            updated = words(element(page, '<p class="updated"', "</p>"))
            assert re.fullmatch(
                r"Updated \d+ (s|min) ago: batches received since are not counted yet\.", updated
            ), updated
            assert await skips(client) == {"lagging": 0.0, "unavailable": 0.0}
        await replayed(urls)
        assert await api_calls(client) == KNOWN_API_CALLS + LATER_API_CALLS
        later = await data_fair_requests(client, "organization:org1")
        assert later == org1_before + LATER_API_CALLS


async def test_sign_in_checks_never_read_a_lagging_replica(urls: Urls) -> None:
    async with serving(urls) as client:
        await ingest_known_data(client)
        await replayed(urls)
        async with replay_paused(urls):
            # Made while the standby replays nothing: only the primary knows this token.
            token = await create_token("owner:organization:org1", "made while lagging")
            await received(urls)
            assert await api_calls(client, token) == 6  # org1's, from the standby
            await open_dashboard(client, token)
            assert (await client.get("/dashboard")).status_code == 200

            # Signed out: the revocation is on the primary only; a copy of the cookie opens
            # nothing at once.
            copied = dict(client.cookies)
            confirm = await client.get("/logout")
            out = await client.post("/logout", data={"csrf_token": csrf_token(confirm.text)})
            assert out.status_code == 303
            await received(urls)
            client.cookies.clear()
            for name, cookie in copied.items():
                client.cookies.set(name, cookie)
            refused = await client.get("/dashboard")
            assert (refused.status_code, refused.headers["location"]) == (303, "/login")

            # A revoked token is refused at once too.
            assert await revoke_token("made while lagging") == 1
            await received(urls)
            answer = await ask(client, WEEK, token=token)
            assert error_codes(answer) == ["UNAUTHENTICATED"]


async def test_a_replica_past_the_lag_bound_is_skipped_for_the_primary_with_a_metric(
    urls: Urls,
) -> None:
    bound_s = 1.0
    async with serving(urls, max_lag_s=bound_s) as client:
        await ingest_known_data(client)
        await replayed(urls)
        async with replay_paused(urls):
            await later_batch(client)
            await received(urls)
            await lagging_more_than(urls, bound_s)
            # One request, read from the primary: the later batch is in its figures.
            assert await api_calls(client) == KNOWN_API_CALLS + LATER_API_CALLS
            assert await skips(client) == {"lagging": 1.0, "unavailable": 0.0}
            metrics = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            gauge = re.search(
                r'usage_metrics_replica_lag_seconds\{replica="1"\} (\S+)', metrics.text
            )
            assert gauge is not None and float(gauge[1]) > bound_s


async def test_a_replica_cut_off_from_the_primary_lags_from_its_last_commit(urls: Urls) -> None:
    # Without primary_conninfo the standby runs no WAL receiver: it cannot know what it misses,
    # and caught up with what it received, it would look current for ever. It lags from its
    # last replayed commit instead, and past the bound it is skipped.
    standby = cluster_of(urls.standby)
    conninfo = str(await value(standby, "SHOW primary_conninfo"))

    async def receiving(expected: bool) -> None:
        async def done() -> bool:
            found = await value(standby, "SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver)")
            return bool(found) is expected

        await wait_for(done, f"the standby's WAL receiver {'up' if expected else 'down'}")

    bound_s = 1.0
    async with serving(urls, max_lag_s=bound_s) as client:
        await ingest_known_data(client)
        await replayed(urls)
        await value(standby, "ALTER SYSTEM SET primary_conninfo = ''")
        await value(standby, "SELECT pg_reload_conf()")
        try:
            await receiving(False)
            await lagging_more_than(urls, bound_s)
            assert await api_calls(client) == KNOWN_API_CALLS
            assert await skips(client) == {"lagging": 1.0, "unavailable": 0.0}
        finally:
            quoted = conninfo.replace("'", "''")
            await value(standby, f"ALTER SYSTEM SET primary_conninfo = '{quoted}'")
            await value(standby, "SELECT pg_reload_conf()")
            await receiving(True)


async def test_a_statement_that_fails_on_the_replica_runs_again_on_the_primary(
    urls: Urls,
) -> None:
    # Paused before the app migrates the primary: the standby has the database, not its tables.
    async with replay_paused(urls), serving(urls) as client:
        await ingest_known_data(client)
        assert await api_calls(client) == KNOWN_API_CALLS
        fresh = await ask(client, FRESHNESS)
        assert "errors" not in fresh, fresh
        # The first request fell back (and the replica rests a few seconds: the second one
        # skipped it at once).
        assert await skips(client) == {"lagging": 0.0, "unavailable": 2.0}


async def test_a_stopped_replica_falls_back_to_the_primary_within_the_request(
    pair: Pair, urls: Urls
) -> None:
    async with serving(urls) as client:
        await ingest_known_data(client)
        await replayed(urls)
        assert await api_calls(client) == KNOWN_API_CALLS  # the pool is open on the standby
        pair.standby.crash()
        try:
            await later_batch(client)
            assert await api_calls(client) == KNOWN_API_CALLS + LATER_API_CALLS
            await open_dashboard(client, ADMIN_TOKEN)
            assert (await client.get("/dashboard")).status_code == 200
            assert await skips(client) == {"lagging": 0.0, "unavailable": 2.0}
        finally:
            pair.standby.start()
