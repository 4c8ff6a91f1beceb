"""Opening the database as an operator sees it (docs/configuration.md#which-database): its URL
shown without the password, a SQLite file's folder and existence checked before anything is
made, and a failed connection told in one line."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from tortoise.exceptions import DBConnectionError

from app.errors import ConfigError, DatabaseUnavailableError

SQLITE_ENGINE = "tortoise.backends.sqlite"
# The longest a PostgreSQL connection may take to open (asyncpg's own default is 60 s): a host
# that drops packets is told as unreachable while the operator still waits for an answer.
CONNECT_TIMEOUT_S = 10.0
_HIDDEN = "***"


def shown_url(database_url: str) -> str:
    """The URL with its password (and any query value named like one) replaced by `***`; a
    SQLite path made absolute, so that the line says which file."""
    if database_url.startswith("sqlite://"):
        path, mark, query = database_url.removeprefix("sqlite://").partition("?")
        shown = path if path == ":memory:" else Path(path).absolute()
        return f"sqlite://{shown}{mark}{query}"
    parts = urlsplit(database_url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{_HIDDEN}@{host}"
    options = [
        (name, _HIDDEN if "pass" in name.lower() else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(options, safe="*/")))


def sqlite_file(connection: Mapping[str, Any]) -> Path | None:
    """The file of a SQLite connection (Tortoise's config), None for PostgreSQL or `:memory:`."""
    if connection["engine"] != SQLITE_ENGINE:
        return None
    path: str = connection["credentials"]["file_path"]
    return None if path == ":memory:" else Path(path).absolute()


def check_folder(path: Path) -> None:
    """SQLite cannot make a missing folder, and Tortoise then waited forever on a lock its
    failed connection kept: refuse at once, naming the folder."""
    if not path.parent.is_dir():
        raise ConfigError(
            f"the folder {path.parent} of the SQLite database does not exist: create it, or "
            "correct the path in USAGE_METRICS_DATABASE_URL"
        )


def check_opens(path: Path) -> None:
    """Open the SQLite file once, synchronously (a local file: well under a millisecond): a file
    that cannot be opened fails here, before aiosqlite's worker thread, which would report its
    failure to an event loop that may be closed by then."""
    try:
        sqlite3.connect(path).close()
    except sqlite3.Error as exc:
        raise DatabaseUnavailableError(f"cannot open the SQLite database {path}: {exc}") from exc


def require_file(path: Path | None, what_to_do: str) -> None:
    """Refuse a SQLite file that does not exist yet (a command that should find the server's
    database must not make a new, empty one); `what_to_do` ends the message."""
    if path is None or path.exists():
        return
    check_folder(path)
    raise ConfigError(f"no SQLite database at {path}: {what_to_do}")


def connect_failure(exc: BaseException, connection: Mapping[str, Any]) -> str:
    """One line saying why the database of `connection` (Tortoise's config) could not be opened,
    and what to check."""
    path = sqlite_file(connection)
    if connection["engine"] == SQLITE_ENGINE:
        return f"cannot open the SQLite database {path or ':memory:'}: {exc}"
    credentials = connection["credentials"]
    host, port = credentials.get("host") or "localhost", credentials.get("port", 5432)
    where = host if str(host).startswith("/") else f"{host}:{port}"
    cause = exc.__cause__ if isinstance(exc, DBConnectionError) and exc.__cause__ else exc
    user, database = credentials.get("user"), credentials.get("database")
    if isinstance(cause, asyncpg.InvalidCatalogNameError):
        return (
            f'PostgreSQL at {where} has no database "{database}": create it (createdb --owner '
            f"{user} {database}), or correct its name in USAGE_METRICS_DATABASE_URL"
        )
    if isinstance(cause, asyncpg.InvalidPasswordError):
        return (
            f'PostgreSQL at {where} refused the password of the role "{user}": correct it in '
            "USAGE_METRICS_DATABASE_URL"
        )
    if isinstance(cause, asyncpg.InvalidAuthorizationSpecificationError):
        return (
            f"PostgreSQL at {where} refused the connection: {cause} (create the role, or "
            "correct the user in USAGE_METRICS_DATABASE_URL)"
        )
    if isinstance(cause, asyncpg.PostgresError):
        return f"PostgreSQL at {where} refused the connection: {cause}"
    return f"cannot reach PostgreSQL at {where}: {_network_reason(cause, host)}"


def _network_reason(exc: BaseException, host: str) -> str:
    if isinstance(exc, socket.gaierror):
        return f"no such host {host!r} ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s (a firewall, or the wrong host?)"
    # asyncio joins the refusals of each address a name resolves to (::1 and 127.0.0.1) into
    # one OSError without an errno.
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc):
        return "connection refused (is PostgreSQL running, and listening on that address and port?)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
