"""One read statement: its bound parameters in each dialect's placeholders, and its rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from app.errors import BadUserInputError, DatabaseUnavailableError
from app.storage.database import DATABASE_ERRORS, connection, is_postgres
from app.storage.kept_answers import (
    Seen,
    answer_key,
    keep,
    keep_sums,
    keepable,
    kept_id,
    kept_rows,
    prepare,
    seen,
    versions_statement,
)
from app.storage.reading import read_rows

log = logging.getLogger(__name__)


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

    async def kept_rows(self, statement: str, first: date, last: date) -> list[dict[str, Any]]:
        """rows(), kept until a write touches a day of first..last: the days the statement
        reads (PostgreSQL; docs/storage.md#kept-answers). Keeping is a saving, never a
        condition: when it fails, the rows are read as rows() reads them."""
        if not self.postgres or not keepable(first, last):
            return await self.rows(statement)
        key = answer_key(statement, self.params)
        try:
            found = await kept_rows(connection(), key)
            if found is not None:
                return found
            before = await _versions_before(first, last)
        except DATABASE_ERRORS:
            return await self.rows(statement)
        if before is None:
            return await self.rows(statement)  # the next fold would delete it at once
        rows = await self.rows(statement)
        try:
            await keep(key, first, last, rows, before)
        except DATABASE_ERRORS as exc:
            log.warning("an answer was not kept (%s)", type(exc).__name__)
        return rows

    async def kept_sums(
        self, into: tuple[str, Sequence[str]], statement: str, first: date, last: date
    ) -> int | None:
        """The id of the answer whose sums table (`into`: its name and the columns that
        `statement`'s rows fill) holds `statement`'s rows, kept until a write touches a day of
        first..last; made now if needed. None when they cannot be kept (SQLite, days written
        just now, a write meanwhile): read the period as rows() does."""
        if not self.postgres or not keepable(first, last):
            return None
        key = answer_key(statement, self.params)
        try:
            found = await kept_id(connection(), key)
            if found is not None:
                return found
            before = await _versions_before(first, last)
            if before is None:
                return None
            return await keep_sums(key, first, last, into, (statement, self.params), before)
        except DATABASE_ERRORS as exc:
            log.warning("sums were not kept (%s)", type(exc).__name__)
            return None

    def still_kept(self, answer: int) -> str:
        """A column `kept` that tells, in the statement's own snapshot, whether the answer whose
        sums it reads is still there: a write that deleted it since may have committed."""
        return f"EXISTS (SELECT 1 FROM kept_answers WHERE id = {self.bind(answer)}) AS kept"  # noqa: S608

    async def rows_if_kept(self, statement: str) -> list[dict[str, Any]] | None:
        """rows() of a statement that selects still_kept(): None when its sums were gone."""
        rows = await self.rows(statement)
        return rows if rows and all(row["kept"] for row in rows) else None


async def _versions_before(first: date, last: date) -> Seen | None:
    """The versions of first..last once each day has its row, read where the reader's
    statement runs; None when one of the days was written just now (live: not kept)."""
    versions = versions_statement()
    if seen((await read_rows(versions, [first, last]))[0]).live:
        return None
    await prepare(connection(), first, last)
    return seen((await read_rows(versions, [first, last]))[0])
