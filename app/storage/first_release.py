"""Databases made by v0.1.0 (its tables, no migration history): check them, record 0001 applied.

v0.1.0 created its tables with `generate_schemas`, which is what the initial migration creates;
such a database gets 0001 recorded as applied without running it, after a check that its tables
have the columns and indexes 0001 declares (extra indexes or tables are left alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields.base import Field
from tortoise.migrations.operations import CreateModel
from tortoise.migrations.recorder import MigrationRecorder

from app.errors import MigrationError

INITIAL = "0001_initial"

_SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"
_POSTGRES_TABLES = "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
_SQLITE_COLUMNS = "SELECT name AS column_name FROM pragma_table_info(?)"
_SQLITE_INDEXES = (
    'SELECT l.name AS index_name, l."unique" AS is_unique, i.name AS column_name '
    "FROM pragma_index_list(?) AS l JOIN pragma_index_info(l.name) AS i "
    "WHERE l.origin != 'pk' ORDER BY l.name, i.seqno"
)
_POSTGRES_COLUMNS = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = $1"
)
_POSTGRES_INDEXES = (
    "SELECT c.relname AS index_name, x.indisunique AS is_unique, a.attname AS column_name "
    "FROM pg_index AS x JOIN pg_class AS c ON c.oid = x.indexrelid "
    "CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, position) "
    "JOIN pg_attribute AS a ON a.attrelid = x.indrelid AND a.attnum = k.attnum "
    "WHERE x.indrelid = to_regclass(quote_ident($1)) AND NOT x.indisprimary "
    "ORDER BY c.relname, k.position"
)

Index = tuple[bool, tuple[str, ...]]  # (unique, columns in order)


@dataclass(frozen=True)
class TableShape:
    """What the check compares: column names, and indexes by their columns (not their names)."""

    columns: frozenset[str]
    indexes: frozenset[Index]


async def adopt_first_release(
    client: BaseDBAsyncClient, recorder: MigrationRecorder, package: str, app_label: str
) -> bool:
    """Record 0001 as applied on a v0.1.0 database; False on a fresh or a migrated one.

    Raises MigrationError, naming what differs, when the tables are not those of v0.1.0.
    """
    if any(key.app_label == app_label for key in await recorder.applied_migrations()):
        return False
    expected = initial_tables(package)
    if not expected.keys() & await _table_names(client):
        return False  # a fresh database: 0001 creates the tables
    found = {table: await read_shape(client, table) for table in expected}
    differences = [
        _difference(table, shape, found[table])
        for table, shape in expected.items()
        if found[table].columns != shape.columns or not shape.indexes <= found[table].indexes
    ]
    if differences:
        raise MigrationError(
            "the database has tables but no migration history, and they are not those of "
            f"usage-metrics 0.1.0: {'; '.join(differences)}. Restore a backup made by 0.1.0, "
            "or migrate this database by hand to the schema of 0001_initial"
        )
    await recorder.record_applied(app_label, INITIAL)
    return True


def initial_tables(package: str) -> dict[str, TableShape]:
    """The tables the initial migration creates, read from its operations (frozen, unlike the
    models)."""
    migration = import_module(f"{package}.{INITIAL}").Migration
    return {
        op.options["table"]: _declared_shape(op)
        for op in migration.operations
        if isinstance(op, CreateModel) and op.options
    }


def _declared_shape(op: CreateModel) -> TableShape:
    assert op.options is not None
    fields = [(name, field) for name, field in op.fields if isinstance(field, Field)]
    columns = {name: field.source_field or name for name, field in fields}
    indexes: set[Index] = {
        (True, (columns[name],)) for name, field in fields if field.unique and not field.pk
    }
    indexes |= {
        (True, tuple(columns[n] for n in names)) for names in op.options.get("unique_together", ())
    }
    indexes |= {
        (False, tuple(columns[n] for n in index.fields)) for index in op.options.get("indexes", ())
    }
    return TableShape(frozenset(columns.values()), frozenset(indexes))


async def read_shape(client: BaseDBAsyncClient, table: str) -> TableShape:
    """The table's columns and non-primary indexes as the database has them (empty if none)."""
    postgres = client.capabilities.dialect == "postgres"
    columns = await client.execute_query_dict(
        _POSTGRES_COLUMNS if postgres else _SQLITE_COLUMNS, [table]
    )
    rows = await client.execute_query_dict(
        _POSTGRES_INDEXES if postgres else _SQLITE_INDEXES, [table]
    )
    indexes: dict[str, tuple[bool, list[str]]] = {}
    for row in rows:
        indexes.setdefault(row["index_name"], (bool(row["is_unique"]), []))[1].append(
            row["column_name"]
        )
    return TableShape(
        frozenset(row["column_name"] for row in columns),
        frozenset((unique, tuple(names)) for unique, names in indexes.values()),
    )


async def _table_names(client: BaseDBAsyncClient) -> set[str]:
    postgres = client.capabilities.dialect == "postgres"
    rows = await client.execute_query_dict(_POSTGRES_TABLES if postgres else _SQLITE_TABLES)
    return {row["name"] for row in rows}


def _difference(table: str, expected: TableShape, found: TableShape) -> str:
    if not found.columns:
        return f"table {table} is missing"
    parts = []
    if missing := sorted(expected.columns - found.columns):
        parts.append(f"missing columns {', '.join(missing)}")
    if extra := sorted(found.columns - expected.columns):
        parts.append(f"unknown columns {', '.join(extra)}")
    for unique, names in sorted(expected.indexes - found.indexes):
        kind = "unique index" if unique else "index"
        parts.append(f"no {kind} on ({', '.join(names)})")
    return f"table {table}: {', '.join(parts)}"
