"""Fold consumers' sketches into usage_consumers, inside the caller's transaction.

A stored sketch and a new one merge by register maximum (app/core/sketches.py), done here in
Python: neither database has an element-wise maximum of two byte strings. Merging is idempotent,
so a ledger row folded twice, or a batch counted in its request and replayed, counts nobody
twice. Concurrent writers of one key (PostgreSQL) take turns on its row: a new key is inserted
first (ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit), then
the keys that were there are read FOR UPDATE, merged and written back, all in key order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.core.sketches import Sketch, as_bytes, as_sketch
from app.ingest.aggregate import SketchKey
from app.storage.database import is_postgres
from app.storage.models.consumers import SKETCH_KEY_COLUMNS

_TABLE = "usage_consumers"
_COLUMNS = ", ".join(SKETCH_KEY_COLUMNS)
_TYPES = ("date", *("varchar" for _ in SKETCH_KEY_COLUMNS[1:]))
_MATCH = " AND ".join(f"u.{c} = r.{c}" for c in SKETCH_KEY_COLUMNS)
# Sketches written between two returns to the event loop (each ~1 ms to merge and compress).
WRITE_SLICE = 20


SketchValue = Sketch | bytes  # a sketch, or its stored form


async def add_sketches(
    client: BaseDBAsyncClient, sketches: Mapping[SketchKey, SketchValue]
) -> None:
    """Merge `sketches` into the stored ones of their keys (new keys are inserted as given)."""
    if not sketches:
        return
    ordered = sorted(sketches.items(), key=lambda item: item[0])  # one lock order for all
    if is_postgres(client):
        await _add_postgres(client, ordered)
    else:
        await _add_sqlite(client, ordered)


async def _add_postgres(
    client: BaseDBAsyncClient, ordered: list[tuple[SketchKey, SketchValue]]
) -> None:
    n = len(SKETCH_KEY_COLUMNS)
    arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(_TYPES, start=1))
    rows = f"unnest({arrays}, ${n + 1}::bytea[]) AS r({_COLUMNS}, sketch)"
    inserted = await client.execute_query_dict(
        f"INSERT INTO {_TABLE} ({_COLUMNS}, sketch) SELECT * FROM {rows} "  # noqa: S608
        f"ORDER BY {_COLUMNS} ON CONFLICT ({_COLUMNS}) DO NOTHING RETURNING {_COLUMNS}",
        await _arguments(ordered),
    )
    new = {SketchKey(*(row[c] for c in SKETCH_KEY_COLUMNS)) for row in inserted}
    stored_keys = [(key, sketch) for key, sketch in ordered if key not in new]
    if not stored_keys:
        return
    keys = [list(column) for column in zip(*(key for key, _ in stored_keys), strict=True)]
    key_rows = f"unnest({arrays}) AS r({_COLUMNS})"
    found = await client.execute_query_dict(
        f"SELECT {', '.join(f'u.{c}' for c in SKETCH_KEY_COLUMNS)}, u.sketch "  # noqa: S608
        f"FROM {_TABLE} u JOIN {key_rows} ON {_MATCH} "
        f"ORDER BY {', '.join(f'u.{c}' for c in SKETCH_KEY_COLUMNS)} FOR UPDATE OF u",
        keys,
    )
    stored = {
        SketchKey(*(row[c] for c in SKETCH_KEY_COLUMNS)): bytes(row["sketch"]) for row in found
    }
    merged = await _merged(stored_keys, stored)
    await client.execute_query(
        f"UPDATE {_TABLE} u SET sketch = r.sketch FROM {rows} WHERE {_MATCH}",  # noqa: S608
        await _arguments(merged),
    )


async def _add_sqlite(
    client: BaseDBAsyncClient, ordered: list[tuple[SketchKey, SketchValue]]
) -> None:
    # The caller's transaction already holds SQLite's write lock (it wrote before): no other
    # writer between the read and the write of a key.
    marks = ", ".join("?" * len(SKETCH_KEY_COLUMNS))
    where = " AND ".join(f"{c} = ?" for c in SKETCH_KEY_COLUMNS)
    insert = (
        f"INSERT INTO {_TABLE} ({_COLUMNS}, sketch) VALUES ({marks}, ?) "  # noqa: S608
        f"ON CONFLICT ({_COLUMNS}) DO NOTHING"
    )
    select = f"SELECT sketch FROM {_TABLE} WHERE {where}"  # noqa: S608
    update = f"UPDATE {_TABLE} SET sketch = ? WHERE {where}"  # noqa: S608
    for start in range(0, len(ordered), WRITE_SLICE):
        for key, sketch in ordered[start : start + WRITE_SLICE]:
            values = [key.day.isoformat(), *key[1:]]
            inserted, _ = await client.execute_query(insert, [*values, as_bytes(sketch)])
            if inserted:
                continue
            _, found = await client.execute_query(select, values)
            stored = Sketch.from_bytes(bytes(found[0]["sketch"]))
            stored.merge(as_sketch(sketch))
            await client.execute_query(update, [stored.to_bytes(), *values])
        await asyncio.sleep(0)


async def _merged(
    new: list[tuple[SketchKey, SketchValue]], stored: dict[SketchKey, bytes]
) -> list[tuple[SketchKey, SketchValue]]:
    merged: list[tuple[SketchKey, SketchValue]] = []
    for number, (key, sketch) in enumerate(new, start=1):
        union = Sketch.from_bytes(stored[key])
        union.merge(as_sketch(sketch))
        merged.append((key, union))
        if number % WRITE_SLICE == 0:
            await asyncio.sleep(0)
    return merged


async def _arguments(rows: list[tuple[SketchKey, SketchValue]]) -> list[list[Any]]:
    """One array per column (unnest), the sketches in their stored form."""
    columns: list[list[Any]] = [[] for _ in range(len(SKETCH_KEY_COLUMNS) + 1)]
    for number, (key, sketch) in enumerate(rows, start=1):
        for column, value in zip(columns, (*key, as_bytes(sketch)), strict=True):
            column.append(value)
        if number % WRITE_SLICE == 0:
            await asyncio.sleep(0)
    return columns
