"""Builders of log lines and readers of the stored aggregates, shared by the tests."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.core.epochs import open_epochs
from app.core.records import UsageKey
from app.ingest.store import key_namespace, scoped_key
from app.main import create_app
from app.storage.database import connection, is_postgres
from app.storage.models.summaries import FIGURE_COLUMNS
from app.storage.models.usage import KEY_COLUMNS
from app.storage.summaries import SUMMARIES, batch_days, spread

ADMIN_TOKEN = "test-admin-token"
INGEST_TOKEN = "test-ingest-token"
INGEST = {"Authorization": f"Bearer {INGEST_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TEXT = {**INGEST, "Content-Type": "text/plain"}
NDJSON = {**INGEST, "Content-Type": "application/x-ndjson"}


def stored_key(key: str, token: str = INGEST_TOKEN) -> str:
    """An Idempotency-Key as ingest_batches holds it: in its token's namespace."""
    return scoped_key(key_namespace(token), key)


def sent_key(stored: str) -> str:
    """The Idempotency-Key a sender gave, from the scoped one stored."""
    return stored.partition(":")[2]


# The tables of usage-metrics 0.1.0, then those later migrations added.
V0_1_0_TABLES = (
    "usage_daily",
    "usage_by_dataset",
    "usage_by_owner",
    "usage_by_caller",
    "resources",
    "ingest_batches",
    "tokens",
    "settings",
)
TABLES = (
    *(table for table in V0_1_0_TABLES if table != "usage_daily"),  # a view since 0020
    "usage_facts",
    "ingest_ledger",
    "revoked_sessions",
    "owners",
    "ingest_quarantine",
    "usage_consumers",
    "consumer_epochs",
    "usage_consumers_by_owner",
    "subscriptions",
    "deliveries",
    "leases",
    "owner_keys",
    "user_groups",
    "domains",
    "categories",
    "summary_rebuilds",
    "usage_by_status",
    "kept_answers",
    "kept_days",
    "kept_caller_sums",
    "kept_dataset_sums",
    "resource_keys",
)

JSON = {**INGEST, "Content-Type": "application/json"}

ORG_OWNER = {"type": "organization", "id": "org1"}
USER_OWNER = {"type": "user", "id": "alice"}
TRACKS = {"api": "readDataAPI", "download": "readDataFiles", "app": "openApplication"}


def data_fair_line(
    *,
    host: str = "portal.example",
    referer: str = "",
    request_time: float = 0.01,
    bytes_sent: int = 1000,
    status: int = 200,
    owner: dict[str, str] | None = ORG_OWNER,
    id_token: str = "",
    id_token_org: str = "",
    api_key: str = "",
    resource: dict[str, str] | None = None,
    track: str | None = "readDataAPI",
    gzip_ratio: str | None = "-",
) -> list[Any]:
    """Data Fair's positional `metrics` array (15 items; 14 when gzip_ratio is None)."""
    resource = (
        resource if resource is not None else {"type": "datasets", "id": "roads", "title": "Roads"}
    )
    operation = {"class": "read", "id": "readLines", **({"track": track} if track else {})}
    items: list[Any] = [
        host,
        referer,
        request_time,
        bytes_sent,
        status,
        json.dumps(owner) if owner else "",
        id_token,
        id_token_org,
        api_key,
        "",
        "",
        "MISS",
        json.dumps(resource) if resource else "",
        json.dumps(operation),
    ]
    if gzip_ratio is not None:
        items.append(gzip_ratio)
    return items


def id_token(payload: dict[str, Any]) -> str:
    """A session cookie as simple-directory logs it: header.payload, no signature."""
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}))
    return f"{header}.{_b64(json.dumps(payload))}"


def api_key(raw: str) -> str:
    return _b64(raw)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def ndjson(*values: Any) -> bytes:
    return "\n".join(json.dumps(v) for v in values).encode()


async def usage_rows() -> list[dict[str, Any]]:
    """Every usage_daily row, without its surrogate id, days as ISO strings, in key order."""
    rows = await connection().execute_query_dict(
        "SELECT owner_type, owner_id, day, resource_type, resource_id, operation, status_class, "
        "user_group, referer_domain, referer_category, referer_app, requests, bytes, duration_ms "
        "FROM usage_daily ORDER BY owner_type, owner_id, day, resource_type, resource_id, "
        "operation, status_class, user_group, referer_domain, referer_category, referer_app"
    )
    return [{**row, "day": str(row["day"])} for row in rows]


async def summaries_of_usage_daily(
    spans: Mapping[str, tuple[int, ...]] | None = None,
) -> dict[str, list[tuple[Any, ...]]]:
    """What each summary table must hold: usage_daily added up as if it were one batch (with
    `spans`, a table's blocks of another layout: an earlier release's)."""
    spans = spans or {}
    daily_rows = await usage_rows()
    counters = {
        UsageKey(**{**{c: row[c] for c in KEY_COLUMNS}, "day": date.fromisoformat(row["day"])}): [
            row["requests"],
            row["bytes"],
            row["duration_ms"],
        ]
        for row in daily_rows
    }
    found = {
        summary.table: sorted(
            tuple(row)
            for row in spread(
                replace(summary, spans=spans.get(summary.table, summary.spans)),
                daily,
                date.isoformat,
            )
        )
        for summary, daily in batch_days(counters).items()
    }
    # usage_by_status: every status class, per owner, day, resource type and operation.
    statuses: dict[tuple[Any, ...], list[int]] = {}
    for row in daily_rows:
        key = tuple(row[c] for c in STATUS_COLUMNS)
        sums = statuses.setdefault(key, [0, 0, 0])
        for slot, counter in enumerate(STATUS_COUNTERS):
            sums[slot] += row[counter]
    found["usage_by_status"] = sorted((*key, *sums) for key, sums in statuses.items())
    return found


STATUS_COLUMNS = ("owner_type", "owner_id", "day", "resource_type", "operation", "status_class")
STATUS_COUNTERS = ("requests", "bytes", "duration_ms")


async def stored_summaries() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of each summary table, days as ISO strings, in key order."""
    found = {}
    for summary in SUMMARIES:
        columns = (*summary.key, *FIGURE_COLUMNS)
        rows = await connection().execute_query_dict(
            f"SELECT {', '.join(columns)} FROM {named_rows(summary.table)} t"  # noqa: S608
        )
        found[summary.table] = sorted(
            tuple(str(row[c]) if c == "day" else row[c] for c in columns) for row in rows
        )
    rows = await connection().execute_query_dict(
        "SELECT o.owner_type, o.owner_id, t.day, t.resource_type, t.operation, t.status_class, "
        "t.requests, t.bytes, t.duration_ms FROM usage_by_status t "
        "JOIN owner_keys o ON o.id = t.owner_key"
    )
    found["usage_by_status"] = sorted(
        tuple(str(row[c]) if c == "day" else row[c] for c in (*STATUS_COLUMNS, *STATUS_COUNTERS))
        for row in rows
    )
    return found


async def table_rows(table: str) -> list[dict[str, Any]]:
    """Every row of `table`, dimension ids replaced by their values."""
    return await connection().execute_query_dict(f"SELECT * FROM {named_rows(table)} t")  # noqa: S608


def named_rows(table: str) -> str:
    """What to read `table`'s rows from with their values, not dimension ids."""
    return caller_rows() if table == "usage_by_caller" else table


async def empty_tables(client: Any) -> None:
    """Every table emptied (PostgreSQL: the session's tests share its database), and the month
    partitions an earlier test made dropped: TRUNCATE would otherwise rewrite each of them, for
    every test after it."""
    months = await client.execute_query_dict(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE c.relkind = 'r' AND c.relname ~ '_[0-9]{6}$'"
    )
    if months:
        await client.execute_script(f"DROP TABLE {', '.join(row['relname'] for row in months)}")
    await client.execute_script(f"TRUNCATE {', '.join(TABLES)}")


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app built from `settings` (lifespan entered, tables empty), with a client on it."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):  # ASGITransport skips it
        # The folder's round at start is over: with a long interval only the test folds.
        await application.state.folder.started.wait()
        client = connection()
        if is_postgres(client):  # the session's PostgreSQL database is shared by its tests
            await empty_tables(client)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def named_line(
    *,
    time: str = "2024-01-08T10:00:00+00:00",
    host: str = "portal.example",
    method: str = "GET",
    uri: str = "/data-fair/api/v1/datasets/roads/lines",
    status: int = 200,
    bytes_sent: int = 1000,
    request_time: str = "0.010",
    referer: str = "",
    user_agent: str = "",
    owner: dict[str, str] | None = ORG_OWNER,
    resource: dict[str, str] | None = None,
    track: str | None = "readDataAPI",
    api_key: str = "",
    id_token: str = "",
) -> dict[str, Any]:
    """Our nginx `usage_metrics` JSON object; the Data Fair headers are JSON strings, as logged."""
    resource = (
        resource if resource is not None else {"type": "datasets", "id": "roads", "title": "Roads"}
    )
    operation = {"class": "read", "id": "readLines", **({"track": track} if track else {})}
    return {
        "time": time,
        "host": host,
        "method": method,
        "uri": uri,
        "status": status,
        "bytes": bytes_sent,
        "request_time": request_time,
        "referer": referer,
        "origin": "",
        "user_agent": user_agent,
        "gzip_ratio": "",
        "owner": json.dumps(owner) if owner else "",
        "resource": json.dumps(resource) if resource else "",
        "operation": json.dumps(operation),
        "id_token": id_token,
        "id_token_org": "",
        "api_key": api_key,
    }


def combined_line(
    path: str,
    *,
    time_local: str = "08/Jan/2024:10:00:00 +0000",
    status: int = 200,
    bytes_sent: int = 512,
    remote_addr: str = "192.0.2.10",
    remote_user: str = "-",
    referer: str = "-",
    user_agent: str = "curl/8.5.0",
) -> str:
    """An nginx `combined` access-log line."""
    return (
        f'{remote_addr} - {remote_user} [{time_local}] "GET {path} HTTP/1.1" {status} '
        f'{bytes_sent} "{referer}" "{user_agent}"'
    )


# A fold interval no test outlasts: the app's own folder folds once at start, then only the test
# does (tests/ingest/conftest.py's `held_back`).
HELD_BACK_S = 3600.0

# GraphQL (tests/schema): lines on a known day, ingested through POST /ingest, then queried.
PERIOD_WEEK = {"start": "2024-01-08", "end": "2024-01-14"}  # previous: 2024-01-01..07


def line_on(day: str, **fields: Any) -> dict[str, Any]:
    """A named line counted on `day` (an ISO day); other fields as named_line takes them."""
    return named_line(time=f"{day}T12:00:00+00:00", **fields)


def dataset(resource_id: str, title: str | None = None) -> dict[str, str]:
    resource = {"type": "datasets", "id": resource_id}
    return {**resource, "title": title} if title is not None else resource


async def ingest(client: httpx.AsyncClient, *lines: Any) -> None:
    response = await client.post("/ingest", content=ndjson(*lines), headers=NDJSON)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (len(lines), []), answer


async def graphql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = ADMIN_TOKEN,
) -> dict[str, Any]:
    """The GraphQL answer (`data` and maybe `errors`); always HTTP 200, errors in the body."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = {"query": query, "variables": variables or {}}
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def graphql_data(client: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    """`data` of an admin query that must succeed."""
    answer = await graphql(client, query, variables)
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def owner_input(owner: dict[str, str] | None) -> dict[str, str] | None:
    """A line's owner ({"type": "organization", ...}) as GraphQL's OwnerInput spells it."""
    return {"type": owner["type"].upper(), "id": owner["id"]} if owner is not None else None


def error_codes(answer: dict[str, Any]) -> list[str | None]:
    return [error.get("extensions", {}).get("code") for error in answer.get("errors", [])]


# Admin pages (tests/web): sign in through the form, then post forms with the session's token.
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: str) -> str:
    """The CSRF token of the first form of an HTML page."""
    found = _CSRF_INPUT.search(page)
    assert found is not None, "the page has no CSRF token"
    return found[1]


async def sign_in(client: httpx.AsyncClient, token: str = ADMIN_TOKEN) -> str:
    """Open an admin session through /admin/login; returns the session's CSRF token."""
    form = await client.get("/admin/login")
    answer = await client.post(
        "/admin/login", data={"token": token, "csrf_token": csrf_token(form.text)}
    )
    assert answer.status_code == 303, answer.text
    page = await client.get("/admin/analytics")
    assert page.status_code == 200, page.text
    return csrf_token(page.text)


_SQLITE_BOOM = (
    "CREATE TRIGGER boom BEFORE INSERT ON usage_facts WHEN NEW.resource_key IN "
    "(SELECT id FROM resource_keys WHERE resource_id = 'boom') "
    "BEGIN SELECT RAISE(ABORT, 'boom'); END"
)
_POSTGRES_BOOM = (
    "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.resource_key IN (SELECT id FROM resource_keys WHERE resource_id = 'boom') THEN "
    "RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$; "
    "CREATE TRIGGER boom BEFORE INSERT ON usage_facts FOR EACH ROW EXECUTE FUNCTION boom()"
)


@asynccontextmanager
async def failing_writes() -> AsyncIterator[None]:
    """While inside, the database refuses (a real trigger) every usage_facts row of the dataset
    `boom`: the write of a batch that counts it fails, whatever wrote before it."""
    db = connection()
    postgres = is_postgres(db)
    await db.execute_script(_POSTGRES_BOOM if postgres else _SQLITE_BOOM)
    try:
        yield
    finally:
        await db.execute_script(
            "DROP TRIGGER IF EXISTS boom ON usage_facts; DROP FUNCTION IF EXISTS boom()"
            if postgres
            else "DROP TRIGGER IF EXISTS boom"
        )


# A known key for the consumer epochs open today: estimates of small sets are then the same on
# every run (under a random key, 2 of 50 consumers share a register 7 % of the time).
FIXED_EPOCH_KEY = b"\x01" * 32


async def fix_epoch_keys(unit: str = "month", key: bytes = FIXED_EPOCH_KEY) -> None:
    """Store `key` for the epochs open today, before any batch creates a random one."""
    client = connection()
    today = datetime.now(UTC).date()
    for start in open_epochs(today, unit):
        day: Any = start if is_postgres(client) else start.isoformat()
        marks = "$1, $2" if is_postgres(client) else "?, ?"
        await client.execute_query(
            f"INSERT INTO consumer_epochs (first_day, epoch_key) VALUES ({marks})",  # noqa: S608
            [day, key],
        )


def caller_rows(schema: str = "") -> str:
    """usage_by_caller with its dimension ids replaced by their values, as a table of the
    columns it had before it stored ids (`schema`: an attached SQLite database's name and dot)."""
    return (
        "(SELECT t.id, t.resource_type, t.span, t.day, o.owner_type, o.owner_id, g.user_group, "  # noqa: S608
        "d.referer_domain, c.referer_category, t.api_calls, t.downloads, t.downloaded_bytes, "
        f"t.app_opens FROM {schema}usage_by_caller t "
        f"JOIN {schema}owner_keys o ON o.id = t.owner_key "
        f"JOIN {schema}user_groups g ON g.id = t.group_key "
        f"JOIN {schema}domains d ON d.id = t.domain_key "
        f"JOIN {schema}categories c ON c.id = t.category_key)"
    )


CALLER_DIMENSIONS = "0012_caller_dimensions"
DATA = Path(__file__).parent / "data"
DIMENSION_TABLES = ("owner_keys", "user_groups", "domains", "categories")


OWNER_INDEX = ("0013_dataset_owner_index", "idx_usage_by_da_resourc_fadbce")
# The migrations after OWNER_INDEX, and their tables.
SUMMARY_REBUILDS = ("0014_summary_rebuilds", "summary_rebuilds")
STATUS_SUMMARY = ("0015_status_summary", "usage_by_status")
KEPT_ANSWERS = ("0016_kept_answers", "kept_answers", "kept_days")
KEPT_SUMS = ("0017_kept_sums", "kept_caller_sums", "kept_dataset_sums")
FEWER_BLOCKS = ("0018_fewer_blocks",)  # no table: rows of the spans dropped deleted
# No table either: the usage tables partitioned on PostgreSQL (again only those that are not).
MONTHLY_PARTITIONS = ("0019_monthly_partitions",)
# usage_daily's rows moved to usage_facts with dimension ids, usage_daily a view.
DAILY_DIMENSIONS = ("0020_daily_dimensions",)


async def undo_daily_dimensions() -> None:
    """Put usage_daily back as the table of text keys it was before DAILY_DIMENSIONS (the same
    rows and ids), the migration unrecorded: for tests that apply an earlier migration again
    (tortoise plans nothing under an applied later one)."""
    db = connection()
    postgres = is_postgres(db)
    schema = (DATA / f"schema_v0_1_0.{'postgres' if postgres else 'sqlite'}.sql").read_text()
    [table] = re.findall(r'CREATE TABLE "usage_daily" \(.*?\n\);', schema, re.DOTALL)
    [index] = re.findall(r'CREATE INDEX "idx_usage_daily_[^;]*;', schema)
    await db.execute_script("CREATE TABLE daily_rows AS SELECT * FROM usage_daily")
    await db.execute_script("DROP VIEW usage_daily")
    await db.execute_script("DROP TABLE usage_facts")  # and its partitions
    await db.execute_script("DROP TABLE resource_keys")
    await _put_back(db, "usage_daily", f"{table}\n{index}", "daily_rows")
    await _unrecord(db, DAILY_DIMENSIONS[0])


async def _put_back(db: Any, table: str, create: str, saved: str) -> None:
    """`table` made again by `create`, with the rows and ids set aside in `saved`."""
    await db.execute_script(create)
    await db.execute_script(f"INSERT INTO {table} SELECT * FROM {saved}")  # noqa: S608
    await db.execute_script(f"DROP TABLE {saved}")
    if is_postgres(db):
        await db.execute_script(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) "  # noqa: S608
            f"FROM {table} HAVING count(*) > 0"
        )


async def _unrecord(db: Any, migration: str) -> None:
    mark = "$1" if is_postgres(db) else "?"
    await db.execute_query(
        f"DELETE FROM tortoise_migrations WHERE name = {mark}",  # noqa: S608
        [migration],
    )


async def undo_caller_dimensions() -> None:
    """Put usage_by_caller back as it was before CALLER_DIMENSIONS (text keys, the same rows),
    the migration and the later ones unrecorded: for tests that apply an earlier migration
    again (tortoise plans nothing under an applied later one)."""
    await undo_daily_dimensions()
    db = connection()
    postgres = is_postgres(db)
    for migration, *tables in (
        MONTHLY_PARTITIONS,
        FEWER_BLOCKS,
        KEPT_SUMS,
        KEPT_ANSWERS,
        STATUS_SUMMARY,
        SUMMARY_REBUILDS,
    ):
        for table in tables:
            await db.execute_script(f"DROP TABLE {table}")
        await _unrecord(db, migration)
    migration, index = OWNER_INDEX
    await db.execute_script(f'DROP INDEX "{index}"')
    await _unrecord(db, migration)
    schema = (DATA / f"schema_v0_1_0.{'postgres' if postgres else 'sqlite'}.sql").read_text()
    [before] = re.findall(r'CREATE TABLE "usage_by_caller" \(.*?\n\)', schema, re.DOTALL)
    await db.execute_script(f"CREATE TABLE caller_rows AS SELECT * FROM {caller_rows()} t")  # noqa: S608
    await db.execute_script("DROP TABLE usage_by_caller")
    for table in DIMENSION_TABLES:
        await db.execute_script(f"DROP TABLE {table}")
    await _put_back(db, "usage_by_caller", before, "caller_rows")
    await _unrecord(db, CALLER_DIMENSIONS)
