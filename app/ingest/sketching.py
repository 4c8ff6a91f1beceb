"""Fold consumers' sketches into usage_consumers and their owners' unions in
usage_consumers_by_owner, inside the caller's transaction.

A stored sketch and a new one merge by register maximum (app/core/sketches.py), done here in
Python: neither database has an element-wise maximum of two byte strings. Merging is idempotent,
so a ledger row folded twice, or a batch counted in its request and replayed, counts nobody
twice; the same holds for the unions, which only ever grow by the batch's own sketches.
Concurrent writers of one key (PostgreSQL) take turns on its row: a new key is inserted
first (ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit), then
the keys that were there are read FOR UPDATE, merged and written back, all in key order (the
daily table before the unions, in every transaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.core.sketches import Sketch, Union, as_bytes, as_sketch
from app.ingest.aggregate import SketchKey
from app.storage.database import is_postgres
from app.storage.models.consumers import OWNER_SKETCH_KEY_COLUMNS, SKETCH_KEY_COLUMNS
from app.storage.summaries import CONSUMERS_BY_OWNER, EVERY_OWNER, covering

# Sketches written between two returns to the event loop (each ~1 ms to merge and compress).
WRITE_SLICE = 20
# The resource type whose consumers the unions hold: the reads count datasets only.
_DATASETS = "datasets"

SketchValue = Sketch | bytes  # a sketch, or its stored form
# (span, first day, owner type, owner id, user group): a usage_consumers_by_owner row
OwnerSketchKey = tuple[int, date, str, str, str]


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]  # PostgreSQL's, for unnest
    day_at: int  # where the key holds its date (SQLite takes it as text)


_DAILY = _Table(
    "usage_consumers",
    SKETCH_KEY_COLUMNS,
    ("date", *("varchar" for _ in SKETCH_KEY_COLUMNS[1:])),
    SKETCH_KEY_COLUMNS.index("day"),
)
_BY_OWNER = _Table(
    CONSUMERS_BY_OWNER.table,
    OWNER_SKETCH_KEY_COLUMNS,
    ("smallint", "date", "varchar", "varchar", "varchar"),
    OWNER_SKETCH_KEY_COLUMNS.index("day"),
)


async def add_sketches(
    client: BaseDBAsyncClient, sketches: Mapping[SketchKey, SketchValue]
) -> None:
    """Merge `sketches` into the stored ones of their keys (new keys are inserted as given),
    and their unions into those of their owners' and every owner's days and months."""
    if not sketches:
        return
    ordered = sorted(sketches.items(), key=lambda item: item[0])  # one lock order for all
    await _add(client, _DAILY, ordered)
    unions = await owner_unions(ordered)
    await _add(client, _BY_OWNER, sorted(unions.items(), key=lambda item: item[0]))


async def owner_unions(
    ordered: Sequence[tuple[SketchKey, SketchValue]],
) -> dict[OwnerSketchKey, SketchValue]:
    """The union of the datasets' sketches per owner (and every owner), user group and block
    (the day, its month): what the batch adds to usage_consumers_by_owner. Each sketch is
    merged once, into its owner's day; the rest merges those unions."""
    by_day: dict[tuple[date, str, str, str], Union] = {}
    for number, (key, value) in enumerate(ordered, start=1):
        if key.resource_type != _DATASETS:
            continue
        day_key = (key.day, key.owner_type, key.owner_id, key.user_group)
        found = by_day.get(day_key)
        if found is None:
            found = by_day[day_key] = Union()
        found.add(as_sketch(value))
        if number % WRITE_SLICE == 0:
            await asyncio.sleep(0)
    blocks: dict[OwnerSketchKey, Union] = {}
    for (day, owner_type, owner_id, group), union in by_day.items():
        for owner in ((owner_type, owner_id), EVERY_OWNER):
            for span, first in covering(CONSUMERS_BY_OWNER, day):
                found = blocks.get((span, first, *owner, group))
                if found is None:
                    found = blocks[(span, first, *owner, group)] = Union()
                found.update(union)
    unions: dict[OwnerSketchKey, SketchValue] = {}
    for number, (block, union) in enumerate(blocks.items(), start=1):
        unions[block] = union.sketch()
        if number % WRITE_SLICE == 0:
            await asyncio.sleep(0)
    return unions


async def _add(
    client: BaseDBAsyncClient, table: _Table, ordered: list[tuple[Any, SketchValue]]
) -> None:
    if not ordered:
        return
    if is_postgres(client):
        await _add_postgres(client, table, ordered)
    else:
        await _add_sqlite(client, table, ordered)


async def _add_postgres(
    client: BaseDBAsyncClient, table: _Table, ordered: list[tuple[Any, SketchValue]]
) -> None:
    n = len(table.columns)
    names = ", ".join(table.columns)
    stored_names = ", ".join(f"u.{c}" for c in table.columns)
    match = " AND ".join(f"u.{c} = r.{c}" for c in table.columns)
    arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(table.types, start=1))
    rows = f"unnest({arrays}, ${n + 1}::bytea[]) AS r({names}, sketch)"
    inserted = await client.execute_query_dict(
        f"INSERT INTO {table.name} ({names}, sketch) SELECT * FROM {rows} "  # noqa: S608
        f"ORDER BY {names} ON CONFLICT ({names}) DO NOTHING RETURNING {names}",
        await _arguments(table, ordered),
    )
    new = {tuple(row[c] for c in table.columns) for row in inserted}
    stored_keys = [(key, sketch) for key, sketch in ordered if tuple(key) not in new]
    if not stored_keys:
        return
    keys = [list(column) for column in zip(*(key for key, _ in stored_keys), strict=True)]
    key_rows = f"unnest({arrays}) AS r({names})"
    found = await client.execute_query_dict(
        f"SELECT {stored_names}, u.sketch "  # noqa: S608
        f"FROM {table.name} u JOIN {key_rows} ON {match} "
        f"ORDER BY {stored_names} FOR UPDATE OF u",
        keys,
    )
    stored = {tuple(row[c] for c in table.columns): bytes(row["sketch"]) for row in found}
    merged = await _merged(stored_keys, stored)
    await client.execute_query(
        f"UPDATE {table.name} u SET sketch = r.sketch FROM {rows} WHERE {match}",  # noqa: S608
        await _arguments(table, merged),
    )


async def _add_sqlite(
    client: BaseDBAsyncClient, table: _Table, ordered: list[tuple[Any, SketchValue]]
) -> None:
    # The caller's transaction already holds SQLite's write lock (it wrote before): no other
    # writer between the read and the write of a key.
    names = ", ".join(table.columns)
    marks = ", ".join("?" * len(table.columns))
    where = " AND ".join(f"{c} = ?" for c in table.columns)
    insert = (
        f"INSERT INTO {table.name} ({names}, sketch) VALUES ({marks}, ?) "  # noqa: S608
        f"ON CONFLICT ({names}) DO NOTHING"
    )
    select = f"SELECT sketch FROM {table.name} WHERE {where}"  # noqa: S608
    update = f"UPDATE {table.name} SET sketch = ? WHERE {where}"  # noqa: S608
    for start in range(0, len(ordered), WRITE_SLICE):
        for key, sketch in ordered[start : start + WRITE_SLICE]:
            values = list(key)
            values[table.day_at] = values[table.day_at].isoformat()
            inserted, _ = await client.execute_query(insert, [*values, as_bytes(sketch)])
            if inserted:
                continue
            _, found = await client.execute_query(select, values)
            stored = Sketch.from_bytes(bytes(found[0]["sketch"]))
            stored.merge(as_sketch(sketch))
            await client.execute_query(update, [stored.to_bytes(), *values])
        await asyncio.sleep(0)


async def _merged(
    new: list[tuple[Any, SketchValue]], stored: dict[tuple[Any, ...], bytes]
) -> list[tuple[Any, SketchValue]]:
    merged: list[tuple[Any, SketchValue]] = []
    for number, (key, sketch) in enumerate(new, start=1):
        union = Sketch.from_bytes(stored[tuple(key)])
        union.merge(as_sketch(sketch))
        merged.append((key, union))
        if number % WRITE_SLICE == 0:
            await asyncio.sleep(0)
    return merged


async def _arguments(table: _Table, rows: list[tuple[Any, SketchValue]]) -> list[list[Any]]:
    """One array per column (unnest), the sketches in their stored form."""
    columns: list[list[Any]] = [[] for _ in range(len(table.columns) + 1)]
    for number, (key, sketch) in enumerate(rows, start=1):
        for column, value in zip(columns, (*key, as_bytes(sketch)), strict=True):
            column.append(value)
        if number % WRITE_SLICE == 0:
            await asyncio.sleep(0)
    return columns
