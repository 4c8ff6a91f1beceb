"""Kept answers: a costly read statement's rows kept until a write touches one of its days, as
Matomo keeps the archives of closed periods, but exact: the writers of counters say which days
they wrote in their own transactions (docs/storage.md#kept-answers). PostgreSQL only: SQLite
serves small portals, whose statements are fast, and has one writer at a time.

- A writer raises the version of each day it writes (kept_days) and deletes the kept answers
  whose days reach one of them, before it commits.
- A reader that finds no kept answer makes sure each day of its period has a version row,
  reads their versions, runs the statement, then keeps its rows only if those versions are
  unchanged once the writers in flight on those days have committed (FOR SHARE waits for
  them): rows read before a write committed are never kept after it.
- Days written in the last QUIET_S seconds (today's, on a live portal) are not kept: the next
  fold would delete the answer at once.
- A period that ends today keeps the sums of every group of its closed days instead (its
  closed_part(), and the compared period), as rows of a sums table under an answer whose
  `rows` is SUMS; its readers add today's rows to them in one statement, which checks that the
  answer is still there (a write may have deleted it since it was found).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.core.periods import Period
from app.storage.sql import rows_written

QUIET_S = 60  # days written more recently than this are live: their answers are not kept
# Periods kept lie between these days: each day a reader names gets a kept_days row, so that
# one cannot fill the table with the days of nine millennia (a future day is live anyway).
KEPT_FROM = date(2000, 1, 1)
MAX_AGE_DAYS = 7  # the purge round forgets answers older than this, asked for or not
MAX_ANSWERS = 5_000  # and keeps at most this many, the newest
MAX_BYTES = 256 * 1024  # a larger answer (a ranking of ten thousand tied datasets) is not kept
# Today and yesterday (UTC) are read as they are: lines of both still come in, and a portal's
# day may be either in its timezone. The days before are closed: their sums may be kept.
LIVE_DAYS = 2
SUMS = ""  # the `rows` of an answer whose rows are in a sums table
SUMS_TABLES = ("kept_caller_sums", "kept_dataset_sums")
SUMS_MAX_AGE_DAYS = 2  # the days closed move on daily: older sums are never asked for again
ANALYSED_SUMS = 10_000  # sums of this many groups or more are worth the planner's statistics
_VERSIONS = (
    "SELECT count(*) AS n, COALESCE(sum(version), 0) AS version, "
    "COALESCE(max(written_at) > now() - make_interval(secs => {quiet}), false) AS live "
    "FROM kept_days WHERE day BETWEEN $1 AND $2"
)


@dataclass(frozen=True)
class Seen:
    """The versions of a period's days when a reader began (rows and their sum: versions only
    rise, rows are never deleted), and whether one of its days was written just now."""

    rows: int
    version: int
    live: bool


def keepable(first: date, last: date) -> bool:
    """Whether an answer over first..last may be kept: from KEPT_FROM to tomorrow (UTC)."""
    return first >= KEPT_FROM and last <= datetime.now(UTC).date() + timedelta(days=1)


def closed_part(period: Period, first: date) -> Period | None:
    """The closed days of a period that ends on a live day (today or yesterday, UTC) and starts
    before: those whose sums may be kept, the live ones read as they are. None for any other
    period, and for one whose days (from `first`: the compared period's start, if earlier)
    may not be kept."""
    first_live = datetime.now(UTC).date() - timedelta(days=LIVE_DAYS - 1)
    if not (period.start < first_live <= period.end and keepable(first, period.end)):
        return None
    return Period(period.start, first_live - timedelta(days=1))


def answer_key(statement: str, params: Sequence[Any]) -> str:
    """The sha256 of a statement and its values: what finds its kept rows."""
    return hashlib.sha256(statement.encode() + b"\0" + _json(list(params))).hexdigest()


async def forget_days(client: BaseDBAsyncClient, days: Iterable[date]) -> None:
    """In a writer's transaction: these days' versions raised and the kept answers that reach
    one of them deleted (PostgreSQL; on SQLite nothing is kept)."""
    found = sorted(set(days))
    if not found or not _postgres(client):
        return
    # Sorted: writers lock the days' rows in one order, as readers do.
    await client.execute_query(
        "INSERT INTO kept_days (day, version, written_at) SELECT d, 1, now() "
        "FROM unnest($1::date[]) AS d ORDER BY d ON CONFLICT (day) "
        "DO UPDATE SET version = kept_days.version + 1, written_at = now()",
        [found],
    )
    await _forget(client, "first_day <= $2 AND last_day >= $1", [found[0], found[-1]])


async def forget_before(client: BaseDBAsyncClient, day: date) -> None:
    """The kept answers that reach a day before `day` deleted, those days' versions raised (the
    purge deleted their rows; it runs again after its last chunk)."""
    if not _postgres(client):
        return
    await client.execute_query(
        "UPDATE kept_days SET version = version + 1, written_at = now() WHERE day < $1", [day]
    )
    await _forget(client, "first_day < $1", [day])


async def kept_rows(primary: BaseDBAsyncClient, key: str) -> list[dict[str, Any]] | None:
    """The rows kept under `key`, if any (read on the primary, which alone holds them)."""
    found = await primary.execute_query_dict("SELECT rows FROM kept_answers WHERE key = $1", [key])
    if not found:
        return None
    rows: list[dict[str, Any]] = orjson.loads(found[0]["rows"])
    return rows


async def kept_id(primary: BaseDBAsyncClient, key: str) -> int | None:
    """The id of the answer kept under `key`, if any: its rows are in a sums table."""
    found = await primary.execute_query_dict("SELECT id FROM kept_answers WHERE key = $1", [key])
    return int(found[0]["id"]) if found else None


async def prepare(primary: BaseDBAsyncClient, first: date, last: date) -> None:
    """Give each day of first..last a version row (on the primary), so that a writer of one of
    them updates a row a reader can wait for, rather than inserting one it cannot see."""
    await primary.execute_query(
        "INSERT INTO kept_days (day, version) SELECT d::date, 0 "
        "FROM generate_series($1::date, $2::date, interval '1 day') AS d "
        "ON CONFLICT (day) DO NOTHING",
        [first, last],
    )


def versions_statement() -> str:
    """The statement of seen(): run where the reader's statement runs (a replica or the
    primary), with first and last day as its values."""
    return _VERSIONS.format(quiet=QUIET_S)


def seen(row: dict[str, Any]) -> Seen:
    return Seen(int(row["n"]), int(row["version"]), bool(row["live"]))


async def keep(key: str, first: date, last: date, rows: list[dict[str, Any]], before: Seen) -> bool:
    """Keep `rows` under `key` if no write reached first..last since `before` was read, once
    every writer in flight on those days has committed; whether they were kept."""
    text = _json(rows).decode()
    if before.live or len(text) > MAX_BYTES:
        return False
    async with in_transaction() as client:
        if not await _unchanged(client, first, last, before):
            return False
        await client.execute_query(
            "INSERT INTO kept_answers (key, first_day, last_day, rows, made_at) "
            "VALUES ($1, $2, $3, $4, now()) ON CONFLICT (key) DO NOTHING",
            [key, first, last, text],
        )
    return True


async def keep_sums(
    key: str,
    first: date,
    last: date,
    into: tuple[str, Sequence[str]],
    statement: tuple[str, Sequence[Any]],
    before: Seen,
) -> int | None:
    """Run `statement` (text, values) on the primary into a sums table (`into`: its name and the
    columns the statement's rows fill), kept under `key` for first..last if no write reached
    those days since `before` was read (as keep()); the answer's id, or None."""
    if before.live:
        return None
    table, columns = into
    text, values = statement
    # The sums of an earlier day's live periods are never asked for again. Apart: readers
    # keeping sums at once would otherwise wait for one another's transactions.
    async with in_transaction() as client:
        await _forget(client, "rows = $1 AND last_day < $2", [SUMS, last])
    try:
        async with in_transaction() as client:
            made = await client.execute_query_dict(
                "INSERT INTO kept_answers (key, first_day, last_day, rows, made_at) "
                "VALUES ($1, $2, $3, $4, now()) ON CONFLICT (key) DO NOTHING RETURNING id",
                [key, first, last, SUMS],
            )
            if not made:  # another reader kept them meanwhile
                return await kept_id(client, key)
            answer = int(made[0]["id"])
            written = await rows_written(
                client,
                f"INSERT INTO {table} (answer_id, {', '.join(columns)}) "  # noqa: S608
                f"SELECT ${len(values) + 1}::bigint, s.* FROM ({text}) AS s",
                [*values, answer],
            )
            if not await _unchanged(client, first, last, before):
                raise _StaleError  # rolls the sums back
    except _StaleError:
        return None
    if written >= ANALYSED_SUMS:
        # The planner's statistics of the table as it now is: without them it guesses a few
        # rows an answer, and sorts ~10^5 of them where an index gives the first ones in order.
        async with in_transaction() as client:
            await client.execute_script(f"ANALYZE {table}")
    return answer


class _StaleError(Exception):
    """A write reached the days while their sums were added up."""


async def _unchanged(client: BaseDBAsyncClient, first: date, last: date, before: Seen) -> bool:
    """Whether the versions of first..last are still `before`'s, once every writer in flight on
    those days has committed (FOR SHARE waits for them and keeps the next ones waiting until
    the caller's transaction ends)."""
    locked = await client.execute_query_dict(
        "SELECT count(*) AS n, COALESCE(sum(version), 0) AS version FROM (SELECT version "
        "FROM kept_days WHERE day BETWEEN $1 AND $2 ORDER BY day FOR SHARE) AS k",
        [first, last],
    )
    return (int(locked[0]["n"]), int(locked[0]["version"])) == (before.rows, before.version)


async def forget_old(client: BaseDBAsyncClient) -> int:
    """The purge round's part: answers older than MAX_AGE_DAYS, and past the MAX_ANSWERS
    newest, deleted; how many."""
    if not _postgres(client):
        return 0
    old = await _forget(
        client,
        "made_at < now() - make_interval(days => "
        "CASE WHEN rows = $2 THEN $3::int ELSE $1::int END)",
        [MAX_AGE_DAYS, SUMS, SUMS_MAX_AGE_DAYS],
    )
    extra = await _forget(
        client,
        "id IN (SELECT id FROM kept_answers ORDER BY made_at DESC, id DESC OFFSET $1)",
        [MAX_ANSWERS],
    )
    return old + extra


async def _forget(client: BaseDBAsyncClient, where: str, values: list[Any]) -> int:
    """The kept answers `where` selects deleted, with their sums; how many answers."""
    sums = " ".join(
        f"sums_{n} AS (DELETE FROM {table} WHERE answer_id IN (SELECT id FROM gone)),"  # noqa: S608
        for n, table in enumerate(SUMS_TABLES)
    )
    found = await client.execute_query_dict(
        f"WITH gone AS (DELETE FROM kept_answers WHERE {where} RETURNING id), {sums} "  # noqa: S608
        "counted AS (SELECT count(*) AS n FROM gone) SELECT n FROM counted",
        values,
    )
    return int(found[0]["n"])


def _postgres(client: BaseDBAsyncClient) -> bool:
    # Not app.storage.database's: the migrator, which it imports, imports this module.
    return client.capabilities.dialect == "postgres"


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=_plain)


def _plain(value: Any) -> Any:
    # PostgreSQL's sums of bigints are numerics; days and times as ISO text.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be kept")
