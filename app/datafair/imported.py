"""Which documents of Data Fair's history are counted already: keys in ingest_batches, one per
chunk end and one per document outside whole chunks (docs/coming-from-data-fair.md#exactly-once).

A whole chunk (app/datafair/chunks.py) is recorded under both of its boundary documents' ids,
`data-fair:o:<id>` (the chunk it opens) and `data-fair:c:<id>` (the chunk before it), with a
hash of its ids in order and its number of documents; a piece of a chunk cut by a file's start
or end, or a loose one, records each of its documents, `data-fair:d:<id>`. A document is counted
already when its own key is stored, when its whole chunk is, or when it lies in a piece of a
chunk stored whole (a piece after boundary b of a chunk `o:b` of as many documents or more;
before boundary c, of `c:c`): a later split of the same export finds its pieces there. A whole
chunk stored with other ids (the same boundary, other documents around it) counts nothing
again: its documents are reported `other_export`.

Every unit of chunks is decided and written in one transaction that imports take in turn (an
advisory lock on PostgreSQL; on SQLite, a first write takes the database's write lock), so two
imports at once never both count a document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from app.datafair.chunks import Chunk
from app.datafair.documents import Imported
from app.storage.database import is_postgres

KEY_PREFIX = "data-fair:"
# The lock of imports' transactions (the two-key form: the fold and the migrations use others).
_IMPORT_LOCK = (0x64666169, 0)  # "dfai"
# A key never stored: deleting it is a write, which takes SQLite's write lock first, before
# anything is read (a read first would see the database as it was when another writer began).
_NO_KEY = f"{KEY_PREFIX}lock"
_INSERT_KEYS_POSTGRES = (
    "INSERT INTO ingest_batches (idempotency_key, body_sha256, answer, received_at) "
    "SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::text[], $4::timestamptz[]) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)
_INSERT_KEYS_SQLITE = (
    "INSERT INTO ingest_batches (idempotency_key, body_sha256, answer, received_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING"
)


class Stored(NamedTuple):
    body_sha256: str
    answer: str


def opened_key(document_id: str) -> str:
    return f"{KEY_PREFIX}o:{document_id}"


def closed_key(document_id: str) -> str:
    return f"{KEY_PREFIX}c:{document_id}"


def document_key(document_id: str) -> str:
    return f"{KEY_PREFIX}d:{document_id}"


@dataclass
class Decision:
    """What a unit of chunks does: documents to count, documents counted already, documents
    skipped as `other_export`, and the keys to store (key -> (body_sha256, answer))."""

    counted: list[Imported] = field(default_factory=list)
    duplicate: int = 0
    other_export: list[Imported] = field(default_factory=list)
    rows: dict[str, Stored] = field(default_factory=dict)


def keys_to_look_up(unit: Iterable[Chunk]) -> list[str]:
    found: dict[str, None] = {}
    for chunk in unit:
        if chunk.opened_by is not None:
            found[opened_key(chunk.opened_by)] = None
        if chunk.closed_by is not None:
            found[closed_key(chunk.closed_by)] = None
        for document in chunk.documents:
            found[document_key(document.document_id)] = None
    return list(found)


def decide(unit: Sequence[Chunk], stored: Mapping[str, Stored], counted: bool) -> Decision:
    """Which documents of `unit` to count, given the keys `stored` before; `counted`: the whole
    file is known counted (an earlier release's import), so none is, but every key is stored."""
    decision = Decision()
    seen: set[str] = set()  # ids counted, or found counted, in this unit
    for chunk in unit:
        signature = _signature(chunk)
        earlier = _earlier(chunk, stored)
        if earlier is not None and not _holds(earlier, chunk, signature):
            decision.other_export.extend(chunk.documents)
            continue
        if chunk.is_whole:
            assert chunk.opened_by is not None and chunk.closed_by is not None
            decision.rows[opened_key(chunk.opened_by)] = signature
            decision.rows[closed_key(chunk.closed_by)] = signature
        if earlier is not None:
            decision.duplicate += len(chunk.documents)
            seen.update(document.document_id for document in chunk.documents)
            continue
        for document in chunk.documents:
            key = document_key(document.document_id)
            if not chunk.is_whole:
                decision.rows[key] = _DOCUMENT_ROW
            if counted or document.document_id in seen or key in stored:
                decision.duplicate += 1
            else:
                decision.counted.append(document)
            seen.add(document.document_id)
    return decision


def _signature(chunk: Chunk) -> Stored:
    ids = "\n".join(document.document_id for document in chunk.documents)
    answer = orjson.dumps({"documents": len(chunk.documents)}).decode()
    return Stored(hashlib.sha256(ids.encode()).hexdigest(), answer)


_DOCUMENT_ROW = Stored("", "{}")


def _earlier(chunk: Chunk, stored: Mapping[str, Stored]) -> Stored | None:
    """The whole chunk stored before that `chunk` is, or is a piece of."""
    found = None
    if chunk.opened_by is not None:
        found = stored.get(opened_key(chunk.opened_by))
    if found is None and chunk.closed_by is not None:
        found = stored.get(closed_key(chunk.closed_by))
    return found


def _holds(earlier: Stored, chunk: Chunk, signature: Stored) -> bool:
    """Whether the chunk stored earlier holds `chunk`: the same one, or as a piece, one of as
    many documents or more (the ids between a boundary and a cut are not kept: the same export
    order is trusted there)."""
    if chunk.is_whole:
        return earlier == signature
    try:
        documents = orjson.loads(earlier.answer)["documents"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        return False
    return isinstance(documents, int) and len(chunk.documents) <= documents


async def take_turn(client: BaseDBAsyncClient) -> None:
    """Wait until no other import's transaction runs; ours then runs alone until it ends."""
    if is_postgres(client):
        await client.execute_query("SELECT pg_advisory_xact_lock($1, $2)", list(_IMPORT_LOCK))
        return
    await client.execute_query("DELETE FROM ingest_batches WHERE idempotency_key = ?", [_NO_KEY])


async def stored_keys(client: BaseDBAsyncClient, keys: Sequence[str]) -> dict[str, Stored]:
    """The rows of these keys, in one statement whatever their number."""
    if not keys:
        return {}
    if is_postgres(client):
        sql = (
            "SELECT idempotency_key, body_sha256, answer FROM ingest_batches "
            "WHERE idempotency_key = ANY($1::varchar[])"
        )
        _, rows = await client.execute_query(sql, [list(keys)])
    else:
        sql = (
            "SELECT idempotency_key, body_sha256, answer FROM ingest_batches "
            "WHERE idempotency_key IN (SELECT value FROM json_each(?))"
        )
        _, rows = await client.execute_query(sql, [orjson.dumps(list(keys)).decode()])
    return {row["idempotency_key"]: Stored(row["body_sha256"], row["answer"]) for row in rows}


async def store_keys(
    client: BaseDBAsyncClient, rows: Mapping[str, Stored], received_at: datetime
) -> None:
    """Add these keys (a key stored already stays as it is)."""
    if not rows:
        return
    keys = sorted(rows)
    if is_postgres(client):
        hashes = [rows[key].body_sha256 for key in keys]
        answers = [rows[key].answer for key in keys]
        arguments = [keys, hashes, answers, [received_at] * len(keys)]
        await client.execute_query(_INSERT_KEYS_POSTGRES, arguments)
        return
    received = received_at.isoformat()  # as the ingest writes it (app/ingest/store.py)
    await client.execute_many(_INSERT_KEYS_SQLITE, [[key, *rows[key], received] for key in keys])


def earlier_release_key(file_sha256: str) -> str:
    """The key of a file's first chunk as the release before this one stored it (it keyed a
    file by its content): a file found under it is counted already."""
    return f"{KEY_PREFIX}{file_sha256}:5000:0"
