"""Write a reduced batch in one transaction: its key, its resources, its owners' names and its
counters.

The Idempotency-Key row is written first in the same transaction, so a batch counts exactly once
or not at all, and a concurrent replay of the same key waits on that row until the first request
commits or rolls back. The counters go either straight to usage_daily and the summaries (counted
in the request, USAGE_METRICS_FOLD_INTERVAL=0) or into one ledger row that the folder adds later
(app/ingest/fold.py): the key and the ledger row commit together, so exactly once still holds.
Resources are written in the request either way: the next batch's route-rule lines look their
owners up there. Owners' names go the way titles go, in the same transaction: a batch's names are
written once or not at all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.auth.tokens import hash_token
from app.core.records import Owner
from app.core.titles import fold
from app.errors import DatabaseUnavailableError, IdempotencyConflictError
from app.ingest import ledger
from app.ingest.aggregate import BatchTotals
from app.ingest.counting import add_counters
from app.ingest.domain_cap import DomainCap
from app.ingest.sketching import add_sketches
from app.storage.database import DATABASE_ERRORS, connection, is_postgres, placeholders
from app.storage.models import OwnerRow, ResourceRow
from app.storage.sql import column_types
from app.storage.upserts import upsert

_RESOURCE_COLUMNS = (
    "resource_type",
    "resource_id",
    "title",
    "title_folded",
    "owner_type",
    "owner_id",
    "first_day",
    "last_day",
)
_RESOURCE_TYPES = column_types(ResourceRow, _RESOURCE_COLUMNS)
_OWNER_COLUMNS = ("owner_type", "owner_id", "name", "last_day")
_OWNER_TYPES = column_types(OwnerRow, _OWNER_COLUMNS)
# Past this length, a scoped key keeps a hash of the sender's key (the column holds 200).
_KEPT_KEY_LENGTH = 200 - 17
# How every key stored since keys were scoped begins: a token's namespace (key_namespace()).
_SCOPED_KEY = re.compile(r"[0-9a-f]{16}:")


@dataclass(frozen=True)
class StoredBatch:
    body_sha256: str
    answer: str  # the JSON answer given the first time


@dataclass(frozen=True)
class BatchWrite:
    totals: BatchTotals
    idempotency_key: str | None
    body_sha256: str
    answer: str
    received_at: datetime
    key_wait_ms: int = 30_000
    domain_cap: DomainCap | None = None
    # True: the counters wait in the ledger for the folder; False: counted in this transaction.
    to_ledger: bool = False
    # The sender's key as given, when `idempotency_key` is scoped to its token (scoped_key()):
    # a batch stored before scoping existed is still found under it (legacy_key()).
    sent_key: str | None = None
    # False: usage_daily alone, the summaries left to a rebuild (app/ingest/rebuilds.py).
    summaries: bool = True


def key_namespace(token: str) -> str:
    """The Idempotency-Keys' namespace of a token (each token its own, bootstrap tokens
    included): a prefix of its sha256, which the tokens table already holds whole."""
    return hash_token(token)[:16]


def scoped_key(namespace: str, key: str) -> str:
    """A sender's Idempotency-Key in its token's namespace: two tokens never share a batch.

    `namespace` is 16 hex digits (a token's sha256 prefix); a key too long to fit beside it is
    kept as its sha256.
    """
    if len(key) > _KEPT_KEY_LENGTH:
        key = "#" + hashlib.sha256(key.encode()).hexdigest()
    return f"{namespace}:{key}"


async def find_batch(key: str, sent_key: str | None = None) -> StoredBatch | None:
    """The batch counted under the scoped `key`, or else under the key as the sender gave it
    when that is a key stored before keys were scoped to their token (legacy_key())."""
    client = connection()
    legacy = legacy_key(sent_key) if sent_key is not None else None
    keys = [key] if legacy is None or legacy == key else [key, legacy]
    sql = (
        "SELECT idempotency_key, body_sha256, answer FROM ingest_batches "
        f"WHERE idempotency_key IN ({placeholders(client, len(keys))})"
    )
    try:
        _, rows = await client.execute_query(sql, keys)
    except DATABASE_ERRORS as exc:
        raise _unavailable() from exc
    rows = sorted(rows, key=lambda row: row["idempotency_key"] != key)  # the scoped one first
    return StoredBatch(rows[0]["body_sha256"], rows[0]["answer"]) if rows else None


def legacy_key(sent_key: str) -> str | None:
    """The key a batch sent before scoping (0.1.0, before migration 0003) was stored under, or
    None when `sent_key` is spelled like a scoped key: every key stored since is
    `<16 hex digits>:...`, so such a key could only reach another token's batch."""
    if _SCOPED_KEY.match(sent_key):
        return None
    return sent_key


async def known_owners(refs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Owner]:
    """Owners of these resources from the resources table, in one query."""
    wanted = set(refs)
    if not wanted:
        return {}
    client = connection()
    ids = sorted({resource_id for _, resource_id in wanted})
    sql = (
        "SELECT resource_type, resource_id, owner_type, owner_id FROM resources "
        f"WHERE resource_id IN ({placeholders(client, len(ids))})"
    )
    try:
        _, rows = await client.execute_query(sql, ids)
    except DATABASE_ERRORS as exc:
        raise _unavailable() from exc
    found = {
        (r["resource_type"], r["resource_id"]): Owner(r["owner_type"], r["owner_id"]) for r in rows
    }
    return {ref: owner for ref, owner in found.items() if ref in wanted}


async def write_batch(batch: BatchWrite) -> StoredBatch | None:
    """Count the batch; if its key was already counted, write nothing and return that batch."""
    cap = batch.domain_cap
    try:
        async with in_transaction() as client:
            if batch.idempotency_key is not None:
                await _insert_batch_row(client, batch)
            await _upsert_resources(client, batch.totals)
            await _upsert_owners(client, batch.totals)
            if batch.to_ledger:
                await _insert_ledger_row(client, batch)
                capped = None
            else:
                counted = await add_counters(
                    client, batch.totals.counters, cap, summaries=batch.summaries
                )
                capped = counted.capped
                await add_sketches(client, batch.totals.sketches)
        if cap is not None and capped is not None:
            cap.remember(capped)
        return None
    except IntegrityError as exc:
        if batch.idempotency_key is not None:
            existing = await find_batch(batch.idempotency_key, batch.sent_key)
            if existing is not None:
                return existing
        raise _unavailable() from exc
    except DATABASE_ERRORS as exc:
        if isinstance(exc, asyncpg.LockNotAvailableError) or isinstance(
            exc.__cause__, asyncpg.LockNotAvailableError
        ):
            raise IdempotencyConflictError(
                "a request with this Idempotency-Key is still being processed; "
                "retry later with the same key"
            ) from exc
        raise _unavailable() from exc


async def _insert_batch_row(client: BaseDBAsyncClient, batch: BatchWrite) -> None:
    if is_postgres(client):
        # A replay waits for the first request's transaction on this row, at most this long.
        await client.execute_script(f"SET LOCAL lock_timeout = {int(batch.key_wait_ms)}")
    sql = (
        "INSERT INTO ingest_batches (idempotency_key, body_sha256, answer, received_at) "
        f"VALUES ({placeholders(client, 4)})"
    )
    received = batch.received_at if is_postgres(client) else batch.received_at.isoformat()
    await client.execute_query(
        sql, [batch.idempotency_key, batch.body_sha256, batch.answer, received]
    )
    if is_postgres(client):
        # Counter rows shared with concurrent batches are worth waiting for: no timeout there.
        await client.execute_script("SET LOCAL lock_timeout = 0")


async def _insert_ledger_row(client: BaseDBAsyncClient, batch: BatchWrite) -> None:
    counters = batch.totals.counters
    if not counters:
        return  # nothing to fold: a batch of ignored or rejected lines leaves no ledger row
    sql = (
        "INSERT INTO ingest_ledger (received_at, lines, counters) "
        f"VALUES ({placeholders(client, 3)})"
    )
    received = batch.received_at if is_postgres(client) else batch.received_at.isoformat()
    text = ledger.encode(counters, batch.totals.sketches)
    await client.execute_query(sql, [received, batch.totals.accepted, text])


async def _upsert_resources(client: BaseDBAsyncClient, totals: BatchTotals) -> None:
    if not totals.resources:
        return
    rows = [
        (
            *(ref[0], ref[1], seen.title, fold(seen.title) if seen.title is not None else None),
            *(seen.owner.type, seen.owner.id, seen.first_day, seen.last_day),
        )
        for ref, seen in sorted(totals.resources.items())
    ]
    await upsert(
        client,
        "resources",
        _RESOURCE_COLUMNS,
        _RESOURCE_TYPES,
        rows,
        "ON CONFLICT (resource_type, resource_id) DO UPDATE SET "
        "title = COALESCE(excluded.title, resources.title), "
        "title_folded = COALESCE(excluded.title_folded, resources.title_folded), "
        "owner_type = excluded.owner_type, owner_id = excluded.owner_id, "
        "first_day = CASE WHEN excluded.first_day < resources.first_day "
        "THEN excluded.first_day ELSE resources.first_day END, "
        "last_day = CASE WHEN excluded.last_day > resources.last_day "
        "THEN excluded.last_day ELSE resources.last_day END",
    )


async def _upsert_owners(client: BaseDBAsyncClient, totals: BatchTotals) -> None:
    # As for titles: the latest batch's name wins; only owners a line named are written.
    rows = [
        (owner.type, owner.id, seen.name, seen.last_day)
        for owner, seen in sorted(totals.owners.items())
    ]
    await upsert_owner_names(client, rows)


async def upsert_owner_names(
    client: BaseDBAsyncClient, rows: Sequence[tuple[str, str, str, date]]
) -> None:
    """Rows of (owner type, owner id, name, day), in key order: each name replaces the stored
    one; `last_day` is the day for a new owner and never goes down (the ingest and the
    `owner-names` command write names alike)."""
    if not rows:
        return
    await upsert(
        client,
        "owners",
        _OWNER_COLUMNS,
        _OWNER_TYPES,
        list(rows),
        "ON CONFLICT (owner_type, owner_id) DO UPDATE SET name = excluded.name, "
        "last_day = CASE WHEN excluded.last_day > owners.last_day "
        "THEN excluded.last_day ELSE owners.last_day END",
    )


def _unavailable() -> DatabaseUnavailableError:
    return DatabaseUnavailableError(
        "the database did not take the batch; nothing of it was counted: retry later with the "
        "same Idempotency-Key"
    )
