"""Which failure an error of a fold means: the database away (the rows wait), the statement refused
(no row is blamed), or a row at fault (set aside). Errors as the drivers raise them, wrapped as
tortoise wraps them; SQLite's from real statements."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from asyncpg.exceptions import _base as asyncpg_base
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError

from app.core.records import FoldFailure
from app.ingest.failures import classify, describe
from app.ingest.ledger import LedgerRowError, decode, merge


def wrapped(error: Exception, wrapper: type[Exception] = OperationalError) -> Exception:
    """`error` as tortoise raises it: another exception, raised while handling it."""
    try:
        try:
            raise error
        except Exception as exc:
            raise wrapper(exc)  # noqa: B904 (tortoise's own way: the cause is the context)
    except Exception as outer:
        return outer


def sqlite_error(*statements: str) -> sqlite3.Error:
    connection = sqlite3.connect(":memory:")
    try:
        for statement in statements:
            connection.execute(statement)
    except sqlite3.Error as exc:
        return exc
    finally:
        connection.close()
    raise AssertionError("the statements did not fail")


def ledger_error(text: str) -> LedgerRowError:
    with pytest.raises(LedgerRowError) as caught:
        merge([text])
    return caught.value


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        # The database away: the rows wait in the ledger.
        (ConnectionRefusedError(111, "refused"), FoldFailure.DATABASE_UNAVAILABLE),
        (
            wrapped(ConnectionRefusedError(111, "refused"), DBConnectionError),
            FoldFailure.DATABASE_UNAVAILABLE,
        ),
        (asyncpg.ConnectionDoesNotExistError("closed"), FoldFailure.DATABASE_UNAVAILABLE),
        (asyncpg.CannotConnectNowError("starting up"), FoldFailure.DATABASE_UNAVAILABLE),
        (asyncpg.AdminShutdownError("terminating"), FoldFailure.DATABASE_UNAVAILABLE),
        (
            wrapped(asyncpg.OutOfMemoryError("out of shared memory")),
            FoldFailure.DATABASE_UNAVAILABLE,
        ),
        (wrapped(asyncpg.DiskFullError("no space left")), FoldFailure.DATABASE_UNAVAILABLE),
        (asyncpg.DeadlockDetectedError("deadlock"), FoldFailure.DATABASE_UNAVAILABLE),
        (asyncpg.InterfaceError("connection is closed"), FoldFailure.DATABASE_UNAVAILABLE),
        (TimeoutError(), FoldFailure.DATABASE_UNAVAILABLE),
        # The statement itself: no row is to blame.
        (wrapped(asyncpg.UndefinedColumnError("no such column")), FoldFailure.STATEMENT_REFUSED),
        (wrapped(asyncpg.InsufficientPrivilegeError("denied")), FoldFailure.STATEMENT_REFUSED),
        (
            wrapped(sqlite_error("SELECT x FROM ingest_quarantine")),
            FoldFailure.STATEMENT_REFUSED,
        ),
        # A row at fault: set aside.
        (
            wrapped(asyncpg.NumericValueOutOfRangeError("bigint out of range")),
            FoldFailure.REFUSED_BY_DATABASE,
        ),
        (
            wrapped(asyncpg.CharacterNotInRepertoireError("invalid byte sequence")),
            FoldFailure.REFUSED_BY_DATABASE,
        ),
        (
            wrapped(asyncpg.UniqueViolationError("duplicate key"), IntegrityError),
            FoldFailure.REFUSED_BY_DATABASE,
        ),
        (wrapped(asyncpg.RaiseError("boom")), FoldFailure.REFUSED_BY_DATABASE),  # a trigger's
        (
            asyncpg_base.DataError("invalid input for query argument"),
            FoldFailure.REFUSED_BY_DATABASE,
        ),
        (
            wrapped(
                sqlite_error(
                    "CREATE TABLE t (x INTEGER PRIMARY KEY)",
                    "INSERT INTO t VALUES (1)",
                    "INSERT INTO t VALUES (1)",
                ),
                IntegrityError,
            ),
            FoldFailure.REFUSED_BY_DATABASE,
        ),
        (ledger_error("not json"), FoldFailure.BAD_LEDGER_ROW),
        (ledger_error('{"v": 2, "rows": []}'), FoldFailure.BAD_LEDGER_ROW),
        (ledger_error('{"v": 1, "rows": [["a", "b"]]}'), FoldFailure.BAD_LEDGER_ROW),
        (ValueError("anything else"), FoldFailure.UNEXPECTED_ERROR),
    ],
)
def test_tells_the_database_away_from_a_row_at_fault(error: Exception, failure: str) -> None:
    found = classify(error)
    assert found == failure
    assert found.blames_row == (found not in {"database_unavailable", "statement_refused"})


def test_a_failure_is_described_by_type_and_sqlstate_never_by_its_text() -> None:
    error = wrapped(
        asyncpg.NumericValueOutOfRangeError("value 9223372036854775808 is out of range")
    )
    assert describe(error) == "NumericValueOutOfRangeError 22003"
    assert describe(wrapped(sqlite_error("SELECT x FROM secret_values"))) == "OperationalError"


def ledger_text(*row: object) -> str:
    """A ledger row of one row: key fields, then requests, bytes and duration."""
    return json.dumps({"v": 1, "rows": [list(row)]})


KEY = ("o", "i", "2024-01-08", "datasets", "r", "api", "ok", "G", "d", "c", "")


@pytest.mark.parametrize(
    "text",
    [
        ledger_text(*KEY, 1, 2.5, 3),  # a float counter
        ledger_text(*KEY, 1, True, 3),  # a bool is an int to Python, not a counter
        ledger_text(*KEY, 1, -2, 3),
        ledger_text("o", 7, *KEY[2:], 1, 2, 3),  # a key field that is not text
        ledger_text(*KEY[:2], "2024-13-08", *KEY[3:], 1, 2, 3),  # not a day
        ledger_text(*KEY, 1, 2),
        '{"v": 1, "rows": {}}',
        "[]",
    ],
)
def test_a_ledger_row_that_is_not_ours_is_refused_whole(text: str) -> None:
    with pytest.raises(LedgerRowError):
        merge([text])


def test_a_ledger_row_of_ours_merges() -> None:
    merged = merge([ledger_text(*KEY, 1, 2, 3), ledger_text(*KEY, 2, 4, 6)])
    assert list(merged.values()) == [[3, 6, 9]]
    assert decode('{"v": 1, "rows": []}') == []


def test_sqlite_s_lock_held_by_another_process_is_the_database_away(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x INTEGER)")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as caught:
            waiter.execute("INSERT INTO t VALUES (1)")
    finally:
        holder.close()
        waiter.close()
    assert classify(wrapped(caught.value)) == FoldFailure.DATABASE_UNAVAILABLE
