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
from operator import itemgetter
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.storage.database import is_postgres
from app.storage.summaries import Dimension
from app.storage.upserts import rows_from

# The combinations of each dimension's values that a write needs ids for.
Values = dict[Dimension, set[tuple[Any, ...]]]


def gather(
    found: Values,
    columns: Sequence[str],
    dimensions: Iterable[Dimension],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Add to `found` each dimension's combinations in `rows`, whose values are in `columns`'
    order."""
    for dimension in dimensions:
        at = [columns.index(column) for column in dimension.values]
        values = found.setdefault(dimension, set())
        # itemgetter and zip walk the rows in C: a batch has ~10^5 of them.
        if len(at) == 1:
            values.update(zip(map(itemgetter(at[0]), rows), strict=True))
        else:
            values.update(map(itemgetter(*at), rows))


async def add_every(client: BaseDBAsyncClient, found: Values) -> None:
    """Give every combination in `found` an id, in the caller's transaction: once per dimension
    whichever tables a write fills, dimensions and values in one order for every writer (two
    concurrent writers then wait on each other instead of deadlocking)."""
    for dimension in sorted(found, key=lambda d: d.table):
        if found[dimension]:
            await add_ids(client, dimension, sorted(found[dimension]))


async def add_ids(
    client: BaseDBAsyncClient, dimension: Dimension, values: list[tuple[Any, ...]]
) -> None:
    """Give each of these combinations of `dimension.values` (sorted) an id, if it has none."""
    names = ", ".join(dimension.values)
    if is_postgres(client):
        same = " AND ".join(f"d.{c} = v.{c}" for c in dimension.values)
        types = tuple("varchar" for _ in dimension.values)
        # An import's first unit can bring 10^4 new datasets: staged then, as large facts are.
        joined = range(len(types))
        async with rows_from(client, dimension.table, types, values, joined) as (rows, arguments):
            await client.execute_query(
                f"INSERT INTO {dimension.table} ({names}) SELECT * FROM {rows} "  # noqa: S608
                f"AS v({names}) WHERE NOT EXISTS (SELECT 1 FROM {dimension.table} d "
                f"WHERE {same}) ORDER BY {names} ON CONFLICT DO NOTHING",
                arguments,
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
    stored: Sequence[str | Dimension], value: Callable[[str], str]
) -> tuple[list[tuple[str, str]], str]:
    """The columns of a stored key (a summary's or the facts'), each as (SQL of its value, its
    name), and the joins to the dimension tables whose ids stand for values; `value(column)` is
    the SQL of a column of the key as named (every combination has its id: add_every ran)."""
    found: list[tuple[str, str]] = []
    joins = ""
    for part in stored:
        if isinstance(part, str):
            found.append((value(part), part))
            continue
        same = " AND ".join(f"{part.table}.{c} = {value(c)}" for c in part.values)
        joins += f" JOIN {part.table} ON {same}"
        found.append((f"{part.table}.id", part.column))
    return found, joins
