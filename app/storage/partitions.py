"""Monthly partitions of the usage tables on PostgreSQL (docs/storage.md#monthly-partitions).

Each table is partitioned by range of `day`, a partition per calendar month (every summary
block lies inside a month) and a default partition for the days of no partition yet. Writers
never create a partition: a row of a month without one lands in the default partition, and
`place()` (the purge round, `import-data-fair` before it writes a month, migration 0019)
creates the months' partitions, moving the default partition's rows of those months in.
`pack()` rewrites a closed month's partitions once, full pages (fill factor 100, sorted by key,
indexes built at once) instead of the room open months keep for the same day's updates. The
retention drops whole months. SQLite keeps single tables: every function here is a no-op there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

log = logging.getLogger(__name__)

# Table -> the fill factor of its open months' partitions, as the tables had them: the summaries
# keep room on each page for the same day's updates (HOT updates, migrations 0001 and 0015).
OPEN_FILLFACTOR = {
    "usage_facts": 100,
    "usage_by_dataset": 70,
    "usage_by_owner": 70,
    "usage_by_caller": 70,
    "usage_by_status": 70,
}
PACKED = "packed"  # the comment on a month's partition once pack() rewrote it
# A month is closed once its last day is no longer live (today and yesterday in UTC: the days
# still written to, as kept answers count them).
CLOSED_AFTER_DAYS = 2
_LOCK_ID = 0x75737074  # "uspt": one process changes partitions at a time
_LAST_MONTH = date(9999, 12, 1)


@dataclass(frozen=True)
class Partition:
    table: str
    month: date  # its first day

    @property
    def name(self) -> str:
        return f"{self.table}_{self.month.year:04}{self.month.month:02}"

    @property
    def bounds(self) -> str:
        return f"FROM ('{self.month}') TO ('{next_month(self.month)}')"


def _postgres(client: BaseDBAsyncClient) -> bool:
    # Not database.is_postgres: the migrator, which database.py imports, imports this module.
    return bool(client.capabilities.dialect == "postgres")


def default_partition(table: str) -> str:
    return f"{table}_default"


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def months_of(first: date, last: date) -> list[date]:
    """The first day of each month from `first`'s to `last`'s."""
    found, month = [], first.replace(day=1)
    while month <= last:
        found.append(month)
        month = next_month(month)
    return found


def is_closed(month: date, today: date) -> bool:
    return next_month(month) + timedelta(days=CLOSED_AFTER_DAYS - 1) <= today


async def place(client: BaseDBAsyncClient, months: Iterable[date]) -> list[str]:
    """Create the partitions of `months` that are missing, each table in its own short
    transaction: its lock taken first (writers and readers of the table wait the few
    statements), the default partition's rows of the month moved in. The partitions made."""
    if not _postgres(client):
        return []
    # December 9999 has no end Python can write: its rows stay in the default partitions.
    wanted = sorted({m.replace(day=1) for m in months if m < _LAST_MONTH})
    made: list[str] = []
    for table, fillfactor in OPEN_FILLFACTOR.items():
        existing = await _months(client, table)
        missing = [Partition(table, m) for m in wanted if m not in existing]
        if not missing:
            continue
        async with in_transaction(client.connection_name) as tx:
            await tx.execute_query("SELECT pg_advisory_xact_lock($1)", [_LOCK_ID])
            await tx.execute_script(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            existing = await _months(tx, table)  # another process may have made some
            for part in missing:
                if part.month in existing:
                    continue
                moved = f"moved_{part.name}"
                await tx.execute_script(
                    f"CREATE TEMP TABLE {moved} ON COMMIT DROP AS WITH gone AS ("  # noqa: S608
                    f"DELETE FROM {default_partition(table)} WHERE day >= '{part.month}' "
                    f"AND day < '{next_month(part.month)}' RETURNING *) SELECT * FROM gone"
                )
                await _create(tx, part, fillfactor, packed=False)
                await tx.execute_script(f"INSERT INTO {table} SELECT * FROM {moved}")  # noqa: S608
                made.append(part.name)
    if made:
        log.info("partitions created: %s", ", ".join(made))
    return made


async def place_around(client: BaseDBAsyncClient, today: date) -> list[str]:
    """The purge round's: the previous, current and next months' partitions, and those of any
    month whose rows wait in a default partition (late lines, an import's history)."""
    if not _postgres(client):
        return []
    months = set(months_of(today - timedelta(days=31), today + timedelta(days=31)))
    for table in OPEN_FILLFACTOR:
        rows = await client.execute_query_dict(
            "SELECT DISTINCT date_trunc('month', day)::date AS month "  # noqa: S608
            f"FROM {default_partition(table)}"
        )
        months.update(row["month"] for row in rows)
    return await place(client, months)


async def pack(client: BaseDBAsyncClient, today: date) -> list[str]:
    """Rewrite each closed month's partitions not packed yet, full pages sorted by key, and
    swap them in. Writers of the table wait while a month is copied (readers go on); the swap
    itself holds the table a few statements. The partitions packed."""
    if not _postgres(client):
        return []
    packed: list[str] = []
    for table in OPEN_FILLFACTOR:
        for month, comment in (await _months(client, table)).items():
            if comment == PACKED or month >= _LAST_MONTH or not is_closed(month, today):
                continue
            if await _pack(client, Partition(table, month)):
                packed.append(Partition(table, month).name)
    if packed:
        log.info("partitions packed: %s", ", ".join(packed))
    return packed


async def _pack(client: BaseDBAsyncClient, part: Partition) -> bool:
    copy = f"{part.name}_packing"
    async with in_transaction(client.connection_name) as tx:
        await tx.execute_query("SELECT pg_advisory_xact_lock($1)", [_LOCK_ID])
        # Writers wait (no row may change under the copy), readers do not; nothing a reader
        # holds is waited for here, so none can deadlock with it.
        await tx.execute_script(f"LOCK TABLE {part.table} IN SHARE ROW EXCLUSIVE MODE")
        comment = await tx.execute_query_dict(
            "SELECT obj_description($1::regclass, 'pg_class') AS c", [part.name]
        )
        if comment[0]["c"] == PACKED:
            return False  # another process packed it meanwhile
        keys = await tx.execute_query_dict(
            "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint "
            "WHERE conrelid = $1::regclass AND contype = 'u' ORDER BY conname",
            [part.name],
        )
        indexes = await tx.execute_query_dict(
            "SELECT indexdef FROM pg_indexes i WHERE tablename = $1 AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY indexname",
            [part.name],
        )
        order = keys[0]["definition"].split("(", 1)[1].rsplit(")", 1)[0] if keys else "day"
        await tx.execute_script(
            f"CREATE TABLE {copy} (LIKE {part.name} INCLUDING DEFAULTS) WITH (fillfactor = 100);"  # noqa: S608
            f"INSERT INTO {copy} SELECT * FROM {part.name} ORDER BY {order};"
            f"ALTER TABLE {copy} ADD CONSTRAINT {copy}_days CHECK (day >= '{part.month}' "
            f"AND day < '{next_month(part.month)}')"
        )
        # The same keys and indexes on the copy, built once from sorted rows: ATTACH adopts
        # them as the partitions of the table's own instead of building its own.
        for n, key in enumerate(keys):
            await tx.execute_script(
                f"ALTER TABLE {copy} ADD CONSTRAINT {part.name}_k{n} {key['definition']}"
            )
        for n, index in enumerate(indexes):
            columns = index["indexdef"].split(" USING ", 1)[1]
            await tx.execute_script(f"CREATE INDEX {part.name}_i{n} ON {copy} USING {columns}")
        await tx.execute_script(
            f"ALTER TABLE {part.table} DETACH PARTITION {part.name};"
            f"DROP TABLE {part.name};"
            f"ALTER TABLE {copy} RENAME TO {part.name};"
            f"ALTER TABLE {part.table} ATTACH PARTITION {part.name} FOR VALUES {part.bounds};"
            f"ALTER TABLE {part.name} DROP CONSTRAINT {copy}_days;"
            f"COMMENT ON TABLE {part.name} IS '{PACKED}'"
        )
    await vacuum(client, [part.name])
    return True


async def vacuum(client: BaseDBAsyncClient, tables: Iterable[str], *, analyze: bool = True) -> None:
    """VACUUM rows just copied (outside a transaction): their visibility map set, so that reads
    of a closed month may answer from its indexes alone, and their hint bits, so that the first
    reads do not write every page; with `analyze`, statistics for the planner too."""
    if _postgres(client):
        options = "(ANALYZE) " if analyze else ""
        await client.execute_script(f"VACUUM {options}{', '.join(tables)}")


async def drop_before(client: BaseDBAsyncClient, day: date) -> dict[str, int]:
    """Drop the partitions of months before `day` (a month's first day, the retention's cut):
    table -> rows they held."""
    if not _postgres(client):
        return {}
    dropped: dict[str, int] = {}
    for table in OPEN_FILLFACTOR:
        for month in await _months(client, table):
            if month >= _LAST_MONTH or next_month(month) > day:
                continue
            part = Partition(table, month)
            rows = await client.execute_query_dict(f"SELECT COUNT(*) AS n FROM {part.name}")  # noqa: S608
            await client.execute_script(f"DROP TABLE {part.name}")
            dropped[table] = dropped.get(table, 0) + int(rows[0]["n"])
    return dropped


async def _create(
    client: BaseDBAsyncClient, part: Partition, fillfactor: int, packed: bool
) -> None:
    await client.execute_script(
        f"CREATE TABLE {part.name} PARTITION OF {part.table} FOR VALUES {part.bounds} "
        f"WITH (fillfactor = {fillfactor})"
        + (f"; COMMENT ON TABLE {part.name} IS '{PACKED}'" if packed else "")
    )


async def _months(client: BaseDBAsyncClient, table: str) -> dict[date, str | None]:
    """The table's month partitions: first day -> comment (PACKED once packed)."""
    rows = await client.execute_query_dict(
        "SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
        [table],
    )
    prefix = f"{table}_"
    found: dict[date, str | None] = {}
    for row in rows:
        suffix = row["relname"].removeprefix(prefix)
        if suffix.isdigit() and len(suffix) == 6:
            found[date(int(suffix[:4]), int(suffix[4:]), 1)] = row["comment"]
    return found
