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

QUIET_S = 60  # days written more recently than this are live: their answers are not kept
# Periods kept lie between these days: each day a reader names gets a kept_days row, so that
# one cannot fill the table with the days of nine millennia (a future day is live anyway).
KEPT_FROM = date(2000, 1, 1)
MAX_AGE_DAYS = 7  # the purge round forgets answers older than this, asked for or not
MAX_ANSWERS = 5_000  # and keeps at most this many, the newest
MAX_BYTES = 256 * 1024  # a larger answer (a ranking of ten thousand tied datasets) is not kept
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
    await client.execute_query(
        "DELETE FROM kept_answers WHERE first_day <= $2 AND last_day >= $1", [found[0], found[-1]]
    )


async def forget_before(client: BaseDBAsyncClient, day: date) -> None:
    """The kept answers that reach a day before `day` deleted, those days' versions raised (the
    purge deleted their rows; it runs again after its last chunk)."""
    if not _postgres(client):
        return
    await client.execute_query(
        "UPDATE kept_days SET version = version + 1, written_at = now() WHERE day < $1", [day]
    )
    await client.execute_query("DELETE FROM kept_answers WHERE first_day < $1", [day])


async def kept_rows(primary: BaseDBAsyncClient, key: str) -> list[dict[str, Any]] | None:
    """The rows kept under `key`, if any (read on the primary, which alone holds them)."""
    found = await primary.execute_query_dict("SELECT rows FROM kept_answers WHERE key = $1", [key])
    if not found:
        return None
    rows: list[dict[str, Any]] = orjson.loads(found[0]["rows"])
    return rows


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
        locked = await client.execute_query_dict(
            "SELECT count(*) AS n, COALESCE(sum(version), 0) AS version FROM (SELECT version "
            "FROM kept_days WHERE day BETWEEN $1 AND $2 ORDER BY day FOR SHARE) AS k",
            [first, last],
        )
        current = (int(locked[0]["n"]), int(locked[0]["version"]))
        if current != (before.rows, before.version):
            return False
        await client.execute_query(
            "INSERT INTO kept_answers (key, first_day, last_day, rows, made_at) "
            "VALUES ($1, $2, $3, $4, now()) ON CONFLICT (key) DO NOTHING",
            [key, first, last, text],
        )
    return True


async def forget_old(client: BaseDBAsyncClient) -> int:
    """The purge round's part: answers older than MAX_AGE_DAYS, and past the MAX_ANSWERS
    newest, deleted; how many."""
    if not _postgres(client):
        return 0
    old, _ = await client.execute_query(
        "DELETE FROM kept_answers WHERE made_at < now() - make_interval(days => $1)",
        [MAX_AGE_DAYS],
    )
    extra, _ = await client.execute_query(
        "DELETE FROM kept_answers WHERE id IN (SELECT id FROM kept_answers "
        "ORDER BY made_at DESC, id DESC OFFSET $1)",
        [MAX_ANSWERS],
    )
    return int(old) + int(extra)


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
