"""Summary rows rebuilt from usage_daily for the months a writer left them to
(docs/storage.md#summaries-rebuilt-after-an-import).

`import-data-fair` writes usage_daily alone for each unit of documents and notes the months it
wrote (`defer`, in the unit's transaction); at its end, `rebuild` reads those months'
usage_daily rows once and adds them up into every block of every summary table, a statement
per table, in one transaction, instead of each unit spreading its rows over their blocks in
Python and upserting them (2.6 summary rows a document). The summaries are usage_daily's
status-ok rows added up (the summary-vs-daily tests check it), so a month rebuilt from its
daily rows is exact, whatever wrote them: the import, the live folder, an earlier release.

A month noted is rebuilt whole (each block lies inside one month). Until then its summary rows
lack what the import wrote; a killed import leaves its months noted, and the next import's end,
`usage-metrics fold` or a server's start rebuilds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.core.periods import Period
from app.core.records import Operation
from app.ingest.counting import lock_every_dataset
from app.storage.database import connection, is_postgres
from app.storage.dimensions import key_values
from app.storage.facts import FACTS, named
from app.storage.kept_answers import forget_days
from app.storage.models.summaries import FIGURE_COLUMNS
from app.storage.sql import as_day, capped_sum, part_names, sum_parts
from app.storage.summaries import (
    BY_CALLER,
    BY_OWNER,
    EVERY_OWNER,
    STATUS_OK,
    SUMMARIES,
    Summary,
    covering,
)

_TABLE = "summary_rebuilds"
# The noted months' status-ok usage_daily rows, read once per rebuild (a temporary table).
_STAGED = "rebuild_rows"
_STAGED_COLUMNS = (
    "resource_type",
    "day",
    "resource_id",
    "owner_type",
    "owner_id",
    "user_group",
    "referer_domain",
    "referer_category",
    "operation",
    "requests",
    "bytes",
)
# Units that note months share this lock; a rebuild takes it alone, so that no unit commits
# daily rows of a month between the rebuild's reading of that month and its forgetting it.
_REBUILD_LOCK = (0x72656275, 0)  # "rebu"
# Each figure: the usage_daily counter it adds up, and the operations whose rows count.
_SOURCES = {
    "api_calls": ("requests", f"u.operation = '{Operation.API}'"),
    "downloads": ("requests", f"u.operation = '{Operation.DOWNLOAD}'"),
    "downloaded_bytes": ("bytes", f"u.operation = '{Operation.DOWNLOAD}'"),
    "app_opens": ("requests", f"u.operation NOT IN ('{Operation.API}', '{Operation.DOWNLOAD}')"),
}
assert tuple(_SOURCES) == FIGURE_COLUMNS
# Tables that also keep every owner's rows (summaries.days_by_summary), and their owner columns.
_EVERY_OWNER_TOO = {BY_OWNER.table, BY_CALLER.table}
_OWNER_COLUMNS = ("owner_type", "owner_id")


async def defer(client: BaseDBAsyncClient, months: Iterable[tuple[str, date]]) -> None:
    """Note, in the caller's transaction, the (resource type, first day of a month) whose
    summary rows the caller leaves to `rebuild`."""
    found = sorted(set(months))
    if not found:
        return
    if is_postgres(client):
        await client.execute_query(
            "SELECT pg_advisory_xact_lock_shared($1, $2)", list(_REBUILD_LOCK)
        )
        await client.execute_query(
            f"INSERT INTO {_TABLE} (resource_type, month) "
            "SELECT * FROM unnest($1::varchar[], $2::date[]) ON CONFLICT DO NOTHING",
            [[t for t, _ in found], [m for _, m in found]],
        )
        return
    await client.execute_many(
        f"INSERT INTO {_TABLE} (resource_type, month) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [[t, m.isoformat()] for t, m in found],
    )


async def rebuild() -> list[tuple[str, date]]:
    """Rebuild every noted month's summary rows in one transaction, forget those months, and
    say which they were (resource type, first day)."""
    noted = await connection().execute_query_dict(f"SELECT 1 AS n FROM {_TABLE} LIMIT 1")
    if not noted:  # the common case, for the folder's round at start: no lock taken
        return []
    async with in_transaction() as client:
        postgres = is_postgres(client)
        if postgres:
            # Alone among rebuilds and noting units, then among every writer of counters.
            await client.execute_query("SELECT pg_advisory_xact_lock($1, $2)", list(_REBUILD_LOCK))
            await lock_every_dataset(client)
        else:  # a write first: SQLite's write lock, held from here to the commit
            await client.execute_query(f"UPDATE {_TABLE} SET month = month")
        rows = await client.execute_query_dict(
            f"SELECT resource_type, month FROM {_TABLE} ORDER BY resource_type, month"
        )
        months = [(row["resource_type"], as_day(row["month"])) for row in rows]
        if not months:
            return []
        source = _Source(postgres, months)
        for statement in source.stage():
            await client.execute_query(*statement)
        for summary in SUMMARIES:
            for statement in source.delete(summary):
                await client.execute_query(*statement)
            if summary.ids:
                for sql, arguments in source.dimension_values(summary):
                    await client.execute_query(sql, arguments)
            await client.execute_query(*source.insert(summary))
        if not postgres:  # PostgreSQL drops it at the commit
            await client.execute_query(f"DROP TABLE temp.{_STAGED}")
        await client.execute_query(f"DELETE FROM {_TABLE}")
        await forget_days(client, source.days)
    return months


class _Source:
    """The statements of one rebuild: the noted months' usage_daily rows, staged, and the
    blocks each of their days falls in, as row sources of the dialect (unnest() arrays, or
    json_each())."""

    def __init__(self, postgres: bool, months: list[tuple[str, date]]) -> None:
        self._postgres = postgres
        self._months = months
        self.days = sorted({day for _, month in months for day in _days_of(month)})

    def stage(self) -> list[tuple[str, list[Any]]]:
        """Copy the noted months' status-ok usage_daily rows into a temporary table, which the
        statements that follow read instead of usage_daily (seven reads).

        PostgreSQL reads them by owner through usage_facts' unique key (owner, day, ...), the
        owners found one after the other in that key (a skip scan: a look-up per owner), so a
        month costs its own rows whatever the table holds; through the index by resource type
        and day, every dataset's entries were read: 2.3 s for an empty month at 10^6 rows.
        (OFFSET 0 keeps the look-ups per owner: joined instead, a small table is read whole.)
        SQLite, for small portals, reads that index."""
        args: list[Any] = []
        pairs = self._rows(args, ("resource_type", "first_day", "next_day"), self._bounds())
        if not self._postgres:
            picked = ", ".join(f"u.{c}" for c in _STAGED_COLUMNS)
            ok = f"u.status_class = '{STATUS_OK}'"
            return [
                (f"DROP TABLE IF EXISTS temp.{_STAGED}", []),
                (
                    f"CREATE TEMP TABLE {_STAGED} AS SELECT {picked} FROM usage_daily u "
                    f"JOIN {pairs} ON u.resource_type = p.resource_type "
                    f"AND u.day >= p.first_day AND u.day < p.next_day WHERE {ok}",
                    args,
                ),
            ]
        # The owners' ids one after the other in usage_facts' key (owner_key, day, ...), each
        # owner's rows of the months then read through it, and named as the view names them.
        owners = (
            f"WITH RECURSIVE o AS ((SELECT owner_key FROM {FACTS} ORDER BY owner_key LIMIT 1) "
            "UNION ALL SELECT n.owner_key FROM o CROSS JOIN LATERAL (SELECT owner_key "
            f"FROM {FACTS} f WHERE f.owner_key > o.owner_key ORDER BY owner_key LIMIT 1) AS n)"
        )
        columns, joins = named("f", _STAGED_COLUMNS)
        picked = ", ".join(f"{columns[c]} AS {c}" for c in _STAGED_COLUMNS)
        return [
            (
                f"CREATE TEMP TABLE {_STAGED} ON COMMIT DROP AS {owners} SELECT {picked} "
                f"FROM o CROSS JOIN {pairs} CROSS JOIN LATERAL (SELECT * FROM {FACTS} f "
                "WHERE f.owner_key = o.owner_key "
                "AND f.day >= p.first_day AND f.day < p.next_day "
                f"AND f.resource_type = p.resource_type AND f.status_class = '{STATUS_OK}' "
                f"OFFSET 0) AS f{joins}",
                args,
            ),
            (f"ANALYZE {_STAGED}", []),  # the statements below then plan on its real size
        ]

    def delete(self, summary: Summary) -> list[tuple[str, list[Any]]]:
        """Every row of the noted months' blocks (each block lies inside one month): a
        statement per month, which the table's key (resource type, span, day, ...) finds."""
        spans = sorted({span for day in self.days for span, _ in covering(summary, day)})
        found = []
        for resource_type, month, following in self._bounds():
            if self._postgres:
                condition = "span = ANY($2::int2[]) AND day >= $3 AND day < $4"
                args = [resource_type, spans, month, following]
            else:
                condition = "span IN (SELECT value FROM json_each(?)) AND day >= ? AND day < ?"
                args = [resource_type, orjson.dumps(spans).decode(), str(month), str(following)]
            mark = "$1" if self._postgres else "?"
            sql = f"DELETE FROM {summary.table} WHERE resource_type = {mark} AND {condition}"
            found.append((sql, args))
        return found

    def dimension_values(self, summary: Summary) -> list[tuple[str, list[Any]]]:
        """Give every value of an id dimension in the noted months its id (every owner's too)."""
        found: list[tuple[str, list[Any]]] = []
        for dimension in summary.ids:
            names = ", ".join(dimension.values)
            picked = ", ".join(f"u.{c}" for c in dimension.values)
            every = ""
            if dimension.values == _OWNER_COLUMNS:
                every = f" UNION SELECT '{EVERY_OWNER[0]}', '{EVERY_OWNER[1]}'"
            same = " AND ".join(f"d.{c} = v.{c}" for c in dimension.values)
            sql = (
                f"INSERT INTO {dimension.table} ({names}) SELECT {names} FROM "
                f"(SELECT DISTINCT {picked} FROM {_STAGED} u{every}) AS v "
                f"WHERE NOT EXISTS (SELECT 1 FROM {dimension.table} d WHERE {same}) "
                f"ORDER BY {names}"
            )
            found.append((sql + (" ON CONFLICT DO NOTHING" if self._postgres else ""), []))
        return found

    def insert(self, summary: Summary) -> tuple[str, list[Any]]:
        """Each noted month's usage_daily rows added up per key and day, then per block."""
        args: list[Any] = []
        days = [self._per_day(summary, every=False)]
        if summary.table in _EVERY_OWNER_TOO:
            days.append(self._per_day(summary, every=True))
        cover = [(day, span, first) for day in self.days for span, first in covering(summary, day)]
        kinds = ("date", "int2", "date")
        blocks = self._rows(args, ("day", "span", "first_day"), cover, kinds, "c")
        kept = ", ".join(f"d.{c}" for c in summary.stored_key[3:])
        sums = ", ".join(f"SUM(d.{part}) AS {part}" for part in self._parts())
        key = ", ".join(f"k.{c}" for c in summary.stored_key)
        columns = ", ".join((*summary.stored_key, *FIGURE_COLUMNS))
        capped = ", ".join(capped_sum(f"k.{f}", self._postgres) for f in FIGURE_COLUMNS)
        sql = (
            f"INSERT INTO {summary.table} ({columns}) "
            f"SELECT {key}, {capped} "
            f"FROM (SELECT d.resource_type, c.span, c.first_day AS day, {kept}, {sums} "
            f"FROM ({' UNION ALL '.join(days)}) AS d JOIN {blocks} ON c.day = d.day "
            f"GROUP BY d.resource_type, c.span, c.first_day, {kept}) AS k "
            f"ORDER BY {key}"
        )
        return sql, args

    def _per_day(self, summary: Summary, every: bool) -> str:
        """The staged rows added up per day and key as `summary` stores it (each
        dimension's values as its id, found here: the blocks then group integers); with
        `every`, as every owner's."""

        def value(column: str) -> str:
            if every and column in _OWNER_COLUMNS:
                return f"'{EVERY_OWNER[_OWNER_COLUMNS.index(column)]}'"
            return f"u.{column}"

        values, joins = key_values(summary.stored[3:], value)
        picked = [f"{sql} AS {name}" for sql, name in values]
        sums = [
            part
            for figure, (counter, operations) in _SOURCES.items()
            for part in sum_parts(
                f"CASE WHEN {operations} THEN u.{counter} ELSE 0 END", figure, self._postgres
            )
        ]
        # Every owner's owner columns are constants, which PostgreSQL will not group by.
        grouped = ["u.resource_type", "u.day", *(v for v, _ in values if not v.startswith("'"))]
        return (
            f"SELECT u.resource_type, u.day, {', '.join(picked)}, {', '.join(sums)} "
            f"FROM {_STAGED} u{joins} GROUP BY {', '.join(grouped)}"
        )

    def _parts(self) -> list[str]:
        return [part for figure in FIGURE_COLUMNS for part in part_names(figure, self._postgres)]

    def _bounds(self) -> list[tuple[str, date, date]]:
        return [(rtype, month, _next_month(month)) for rtype, month in self._months]

    def _rows(
        self,
        args: list[Any],
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        types: tuple[str, ...] = ("varchar", "date", "date"),
        alias: str = "p",
    ) -> str:
        """A row source of these rows, its arguments appended to `args`."""
        if self._postgres:
            arrays = []
            for at, kind in enumerate(types):
                args.append([row[at] for row in rows])
                arrays.append(f"${len(args)}::{kind}[]")
            return f"unnest({', '.join(arrays)}) AS {alias}({', '.join(columns)})"
        args.append(
            orjson.dumps(
                [[v.isoformat() if isinstance(v, date) else v for v in row] for row in rows]
            ).decode()
        )
        picked = ", ".join(f"json_extract(value, '$[{at}]') AS {c}" for at, c in enumerate(columns))
        return f"(SELECT {picked} FROM json_each(?)) AS {alias}"


def _days_of(month: date) -> list[date]:
    return Period(month, _next_month(month) - timedelta(days=1)).each_day()


def _next_month(month: date) -> date:
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)
