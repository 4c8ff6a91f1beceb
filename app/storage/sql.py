"""SQL helpers: column types read from the models (so that hand-written statements and the
schema agree), days read back, and sums that saturate alike in both dialects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

_SQL_TYPES: dict[type[fields.Field[Any]], str] = {
    fields.CharField: "varchar",
    fields.TextField: "text",
    fields.DateField: "date",
    fields.SmallIntField: "smallint",
    fields.IntField: "integer",
    fields.BigIntField: "bigint",
}


def column_types(model: type[Model], columns: Sequence[str]) -> tuple[str, ...]:
    """The PostgreSQL type of each of the model's columns (the unnest() arrays' casts)."""
    return tuple(_SQL_TYPES[type(model._meta.fields_map[column])] for column in columns)


def as_day(value: Any) -> date:
    """A day read back: a date from PostgreSQL, ISO text from SQLite."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# The largest value of a bigint column (every counter and figure): sums saturate there
# (docs/storage.md#sums-that-cannot-overflow).
BIGINT_MAX = 2**63 - 1
_LOW_BITS = 2**32 - 1


def sum_parts(expression: str, name: str, postgres: bool) -> list[str]:
    """SELECT items that add up a bigint `expression` as `name`, for capped_sum(). SQLite's
    SUM() of integers fails past 2^63, so there the high and low 32 bits are added apart."""
    if postgres:
        return [f"SUM({expression}) AS {name}"]
    return [
        f"SUM(({expression}) >> 32) AS {name}_high",
        f"SUM(({expression}) & {_LOW_BITS}) AS {name}_low",
    ]


def part_names(name: str, postgres: bool) -> list[str]:
    """The columns sum_parts() names."""
    return [name] if postgres else [f"{name}_high", f"{name}_low"]


def capped_sum(name: str, postgres: bool) -> str:
    """The sum that sum_parts() added up as `name` (qualified as a query reads it), saturating
    at BIGINT_MAX as every sum does (docs/storage.md#sums-that-cannot-overflow)."""
    if postgres:
        return f"LEAST({name}, {BIGINT_MAX})::bigint"
    high = f"({name}_high + ({name}_low >> 32))"
    return (
        f"CASE WHEN {high} > {BIGINT_MAX >> 32} THEN {BIGINT_MAX} "
        f"ELSE ({high} << 32) + ({name}_low & {_LOW_BITS}) END"
    )


async def rows_written(client: BaseDBAsyncClient, statement: str, values: Sequence[Any]) -> int:
    """Run an INSERT (or UPDATE, DELETE) on PostgreSQL; how many rows it wrote. Counted by a
    query: tortoise reads the status "INSERT <oid> <rows>" as its rows, and takes the OID."""
    counted = f"WITH written AS ({statement} RETURNING 1) SELECT count(*) AS n FROM written"  # noqa: S608
    found = await client.execute_query_dict(counted, list(values))
    return int(found[0]["n"])
