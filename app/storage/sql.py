"""SQL helpers that read the models, so that hand-written statements and the schema agree."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from tortoise import fields
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
