"""Dimension ids in both dialects: what the writer adds before it writes facts that refer to them,
and how a statement finds the id of a value (docs/storage.md#dimensions).

Ids are assigned once and never change: a batch adds the combinations it has that are missing
(sorted, so concurrent writers wait on each other in one order) in its own transaction, and
reads ids back inside its statements, never from a cache that a rolled-back write could leave
wrong. Only missing rows are inserted: PostgreSQL's sequences and SQLite's AUTOINCREMENT draw a
number for every row an INSERT ... ON CONFLICT tries, and a batch repeats most of its callers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.storage.database import is_postgres
from app.storage.summaries import Dimension, Summary


def _positions(summary: Summary, dimension: Dimension) -> list[int]:
    """Where `dimension`'s values sit in a key of `summary.dimensions`."""
    return [summary.dimensions.index(column) for column in dimension.values]


async def add_values(
    client: BaseDBAsyncClient, summary: Summary, dimensions: Iterable[Sequence[Any]]
) -> None:
    """Give every combination of each id dimension in these keys (of `summary.dimensions`) an
    id, in the caller's transaction."""
    keys = list(dimensions)
    for dimension in summary.ids:
        at = _positions(summary, dimension)
        values = sorted({tuple(key[i] for i in at) for key in keys})
        if values:
            await add_ids(client, dimension, values)


async def add_ids(
    client: BaseDBAsyncClient, dimension: Dimension, values: list[tuple[Any, ...]]
) -> None:
    """Give each of these combinations of `dimension.values` (sorted) an id, if it has none."""
    names = ", ".join(dimension.values)
    if is_postgres(client):
        arrays = ", ".join(f"${i}::varchar[]" for i in range(1, len(dimension.values) + 1))
        same = " AND ".join(f"d.{c} = v.{c}" for c in dimension.values)
        await client.execute_query(
            f"INSERT INTO {dimension.table} ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608
            f"AS v({names}) WHERE NOT EXISTS (SELECT 1 FROM {dimension.table} d WHERE {same}) "
            f"ORDER BY {names} ON CONFLICT DO NOTHING",
            [list(column) for column in zip(*values, strict=True)],
        )
        return
    # SQLite has one writer at a time, so a check needs no ON CONFLICT; and its AUTOINCREMENT
    # ids, as PostgreSQL's sequences, would draw a number for every row an upsert tries.
    marks = [f"?{n}" for n in range(1, len(dimension.values) + 1)]
    same = " AND ".join(f"{c} = {m}" for c, m in zip(dimension.values, marks, strict=True))
    await client.execute_many(
        f"INSERT INTO {dimension.table} ({names}) SELECT {', '.join(marks)} "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT 1 FROM {dimension.table} WHERE {same})",
        [list(value) for value in values],
    )


def id_of(dimension: Dimension, values: Sequence[str]) -> str:
    """SQL for the id of one combination, `values` being SQL expressions (placeholders or
    columns) in the order of `dimension.values`."""
    same = " AND ".join(f"{c} = {v}" for c, v in zip(dimension.values, values, strict=True))
    return f"(SELECT id FROM {dimension.table} WHERE {same})"  # noqa: S608


def key_values(
    summary: Summary, value: Callable[[str], str], start: int = 0
) -> tuple[list[tuple[str, str]], str]:
    """The columns of `summary.stored_key` from `start` on, each as (SQL of its value, its
    name), and the joins to the dimension tables whose ids stand for values; `value(column)` is
    the SQL of a column of `summary.key` (every combination has its id: add_values ran)."""
    found: list[tuple[str, str]] = []
    joins = ""
    for part in summary.stored[start:]:
        if isinstance(part, str):
            found.append((value(part), part))
            continue
        same = " AND ".join(f"{part.table}.{c} = {value(c)}" for c in part.values)
        joins += f" JOIN {part.table} ON {same}"
        found.append((f"{part.table}.id", part.column))
    return found, joins
