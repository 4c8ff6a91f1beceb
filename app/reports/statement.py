"""One read statement: its bound parameters in each dialect's placeholders, and its rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from app.errors import BadUserInputError, DatabaseUnavailableError
from app.storage.database import DATABASE_ERRORS, connection, is_postgres
from app.storage.reading import read_rows


class Statement:
    """Collects a statement's parameters; numbered placeholders, so one may appear twice.

    Statements paste only constant column names, table names, spans and these placeholders
    (hence their `noqa: S608`): every value is bound.
    """

    def __init__(self) -> None:
        # The primary's dialect: read replicas are PostgreSQL standbys of a PostgreSQL primary.
        self.postgres = is_postgres(connection())
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        if isinstance(value, str) and "\x00" in value:
            # PostgreSQL text cannot hold U+0000 (its driver fails the whole statement), and
            # nothing stored holds one: the caller's argument is wrong, not the database.
            raise BadUserInputError("a text argument contains a NUL character (U+0000)")
        cast = ""
        if isinstance(value, date):
            if self.postgres:
                cast = "::date"  # a day in a VALUES list must be typed: untyped, it is text
            else:
                value = value.isoformat()  # SQLite stores days as ISO text, as the ingest writes
        self.params.append(value)
        number = len(self.params)
        return f"${number}{cast}" if self.postgres else f"?{number}"

    def bind_all(self, values: Sequence[Any]) -> str:
        # An empty list matches nothing (`IN ()` is not valid on PostgreSQL).
        return ", ".join(self.bind(v) for v in values) or "NULL"

    async def rows(self, statement: str) -> list[dict[str, Any]]:
        try:
            # On the request's read source: a replica, or the primary (app/storage/reading.py).
            return await read_rows(statement, self.params)
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailableError(
                "the database did not answer; nothing is wrong with the query: retry shortly"
            ) from exc
