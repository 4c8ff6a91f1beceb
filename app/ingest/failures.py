"""Which FoldFailure an exception of a fold means: the database was away (wait for it), or a
ledger row cannot be folded (set it aside)."""

from __future__ import annotations

import sqlite3

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base
from tortoise.exceptions import DBConnectionError, TransactionManagementError

from app.core.records import FoldFailure
from app.ingest.ledger import LedgerRowError

# PostgreSQL error classes that say nothing of the rows: connection (08), resources such as
# "out of shared memory" (53), operator intervention (57: shutdown, cancel), system errors (58),
# a transaction to retry (40: serialization, deadlock); and a lock not available (55P03).
_POSTGRES_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_POSTGRES_TRANSIENT_STATES = frozenset({"55P03"})
# PostgreSQL classes that blame the statement, not a row: syntax or access rule (42: a missing
# table or column, a permission), a feature not supported (0A).
_POSTGRES_STATEMENT_CLASSES = frozenset({"42", "0A"})
# PostgreSQL classes that blame the values: data exceptions (22), integrity constraints (23), an
# exception a trigger raised (P0).
_POSTGRES_REFUSING_CLASSES = frozenset({"22", "23", "P0"})
# SQLite's primary result codes that say nothing of the rows.
_SQLITE_TRANSIENT_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_INTERRUPT,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)
_SQLITE_STATEMENT_CODES = frozenset({sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH})
# SQLite gives a missing table or column the generic code SQLITE_ERROR; its messages start so.
_SQLITE_STATEMENT_ERRORS = ("no such table", "no such column", "table ", "syntax error")
# A closed or refused connection, a timeout, a transaction the connection lost.
_UNREACHABLE = (
    asyncpg.InterfaceError,
    DBConnectionError,
    TransactionManagementError,
    OSError,
    TimeoutError,
)
_SQLITE_REFUSING_CODES = frozenset(
    {sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH}
)


def classify(exc: BaseException) -> FoldFailure:
    """The failure an exception of a fold means; its causes are read, innermost last, as
    tortoise wraps the drivers' errors."""
    for error in _chain(exc):
        found = _classify_one(error)
        if found is not None:
            return found
    return FoldFailure.UNEXPECTED_ERROR


def _classify_one(error: BaseException) -> FoldFailure | None:
    if isinstance(error, LedgerRowError):
        return FoldFailure.BAD_LEDGER_ROW
    if isinstance(error, asyncpg.PostgresError):
        state = str(getattr(error, "sqlstate", "") or "")
        if state[:2] in _POSTGRES_TRANSIENT_CLASSES or state in _POSTGRES_TRANSIENT_STATES:
            return FoldFailure.DATABASE_UNAVAILABLE
        if state[:2] in _POSTGRES_REFUSING_CLASSES:
            return FoldFailure.REFUSED_BY_DATABASE
        if state[:2] in _POSTGRES_STATEMENT_CLASSES:
            return FoldFailure.STATEMENT_REFUSED
        return None
    if isinstance(error, asyncpg_base.DataError | OverflowError):
        return FoldFailure.REFUSED_BY_DATABASE  # a value the driver cannot send (out of range)
    if isinstance(error, _UNREACHABLE):
        return FoldFailure.DATABASE_UNAVAILABLE
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        if primary in _SQLITE_TRANSIENT_CODES:
            return FoldFailure.DATABASE_UNAVAILABLE
        if primary in _SQLITE_REFUSING_CODES or isinstance(error, sqlite3.IntegrityError):
            return FoldFailure.REFUSED_BY_DATABASE
        if primary in _SQLITE_STATEMENT_CODES or str(error).startswith(_SQLITE_STATEMENT_ERRORS):
            return FoldFailure.STATEMENT_REFUSED
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < 10:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def describe(exc: BaseException) -> str:
    """The innermost cause's type and, from PostgreSQL, its SQLSTATE: what a log may say of an
    error (its text may quote the values of a statement)."""
    innermost = _chain(exc)[-1]
    state = getattr(innermost, "sqlstate", None)
    name = type(innermost).__name__
    return f"{name} {state}" if state else name
