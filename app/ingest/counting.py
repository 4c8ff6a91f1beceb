"""Add merged counters to usage_daily and the summary tables, inside the caller's transaction.

Counts are added with INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x (tortoise's
bulk_create(on_conflict=...) would replace them), and every sum saturates at the columns' maximum
(2^63 - 1) instead of failing on PostgreSQL or turning into a REAL on SQLite
(app/storage/upserts.py, docs/storage.md#sums-that-cannot-overflow). The single writer of
counters: a batch counted in its request (USAGE_METRICS_FOLD_INTERVAL=0), the folder, and
`import-data-fair`.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient

from app.core.records import UsageKey
from app.ingest.aggregate import Counters
from app.ingest.domain_cap import CappedBatch, DomainCap
from app.storage.database import is_postgres
from app.storage.dimensions import Values, add_every, gather, id_of, key_values
from app.storage.facts import fact_values, write_facts
from app.storage.kept_answers import forget_days
from app.storage.models.summaries import FIGURE_COLUMNS, STATUS_KEY
from app.storage.models.usage import KEY_COLUMNS
from app.storage.sql import BIGINT_MAX
from app.storage.status_days import STATUS_TABLE, StatusTotals, add_status_rows, add_up
from app.storage.summaries import (
    BY_CALLER,
    BY_DATASET,
    BY_OWNER,
    Summary,
    Totals,
    add_days,
    add_every_owner,
    add_owner_days,
    covers,
    spread_into,
)
from app.storage.upserts import (
    add_saturating,
    clamp_rows,
    clamp_totals,
    rows_from,
    upsert_counted,
)

# The first key of the advisory locks that order the writers of one dataset's counters (the
# second is the dataset's bucket); the migrations' lock uses the one-key form, apart from these.
_DATASET_LOCKS = 0x666F6C64  # "fold"
# A write locks the buckets of the datasets it touches, never more than this many locks, however
# many datasets (PostgreSQL's lock table holds 64 per connection by default): measured in
# docs/storage.md#locks.
LOCK_BUCKETS = 16
# Keys (or days) prepared between two returns to the event loop: ~10 ms of work.
PREPARE_SLICE = 2_000
_Item = TypeVar("_Item")
_DAY_KEY = ("resource_type", "day")  # a summary's per-day key: these, then its dimensions


@dataclass(frozen=True)
class Counted:
    """What add_counters did: the capped batch (for `cap.remember` after the commit) and, per
    table, the rows written with a counter at its ceiling (what passed it was dropped)."""

    capped: CappedBatch | None
    saturated: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    """Counters as the rows each table gets: add_counters' work in Python, which a caller may
    do before its write transaction (SQLite's single write lock waits for none of it)."""

    counters: dict[UsageKey, Counters]
    usage: list[tuple[Any, ...]]  # usage_daily's rows, in key order
    statuses: list[list[Any]]  # usage_by_status's rows, in key order
    # Per summary, its per-day figures and, for SQLite, the rows of every block, sorted.
    summaries: list[tuple[Summary, Totals, list[list[Any]]]]
    clamped: Counter[str]  # rows with a sum past the ceiling before any write, by table
    # Every dimension value the rows of every table store as an id: added once per write.
    values: Values


async def prepare(
    counters: dict[UsageKey, Counters], postgres: bool, summaries: bool = True
) -> Prepared:
    """The rows of every table (usage_daily's and usage_by_status's alone unless `summaries`),
    giving the event loop back every PREPARE_SLICE keys or rows."""
    # In key order: a stable lock order for concurrent writers.
    usage: list[tuple[Any, ...]] = []
    clamped: Counter[str] = Counter()
    by_status: StatusTotals = {}
    values: Values = {}
    async for part in _parts(await _sorted(list(counters.items()))):
        rows = [(*key, *counts) for key, counts in part]
        clamped["usage_daily"] += clamp_rows(rows, len(KEY_COLUMNS))
        usage += rows
        add_up(by_status, rows)
        fact_values(values, rows)  # usage_by_status's owners are among them
    statuses, clamped[STATUS_TABLE] = await _sorted_rows(by_status, len(STATUS_KEY))
    if not summaries:
        return Prepared(counters, usage, statuses, [], clamped, values)
    by_dataset: Totals = {}
    by_caller: Totals = {}
    async for part in _parts(list(counters.items())):
        add_days(by_dataset, by_caller, part)
    by_owner: Totals = {}
    async for days in _parts(list(by_dataset.items())):
        add_owner_days(by_owner, days)
    async for days in _parts(list(by_caller.items())):
        add_every_owner(by_caller, days)
    rows_of: list[tuple[Summary, Totals, list[list[Any]]]] = []
    for summary, daily in ((BY_DATASET, by_dataset), (BY_OWNER, by_owner), (BY_CALLER, by_caller)):
        await asyncio.sleep(0)
        if summary.ids:
            async for keys in _parts(list(daily)):
                gather(values, _DAY_KEY + summary.dimensions, summary.ids, keys)
        if postgres:
            clamped[summary.table] = clamp_totals(daily.values())
            rows_of.append((summary, daily, []))
            continue
        blocks: Totals = {}
        async for days in _parts(list(daily.items())):
            spread_into(blocks, summary, days, date.isoformat)  # SQLite keeps days as ISO text
        # Sorted: a block's new rows land next to each other, and its readers scan them together.
        block_rows, clamped[summary.table] = await _sorted_rows(blocks, len(summary.key))
        rows_of.append((summary, daily, block_rows))
    return Prepared(counters, usage, statuses, rows_of, clamped, values)


async def _sorted_rows(
    totals: dict[tuple[Any, ...], list[int]], first: int
) -> tuple[list[list[Any]], int]:
    """The rows [*key, *figures] of `totals` in key order, each value from column `first` on
    brought down to the ceiling; (rows, how many had one past it). In parts, as _sorted."""
    unsorted: list[list[Any]] = []
    async for part in _parts(list(totals.items())):
        unsorted += [[*key, *figures] for key, figures in part]
    rows: list[list[Any]] = []
    clamped = 0
    async for ordered in _parts(await _sorted(unsorted)):
        clamped += clamp_rows(ordered, first)  # replaces rows in `ordered`, a copy
        rows += ordered
    return rows, clamped


async def _sorted(items: list[Any]) -> list[Any]:
    """sorted(items), giving the event loop back between parts: each part sorted alone, then
    the parts merged a slice at a time (one sort of 20 000 keys held the loop ~100 ms)."""
    runs = [sorted(part) async for part in _parts(items)]
    merged = heapq.merge(*runs)
    found: list[Any] = []
    while part := list(itertools.islice(merged, PREPARE_SLICE)):
        found += part
        await asyncio.sleep(0)
    return found


async def _parts(items: list[_Item]) -> AsyncIterator[list[_Item]]:
    for start in range(0, len(items), PREPARE_SLICE):
        await asyncio.sleep(0)
        yield items[start : start + PREPARE_SLICE]


async def add_counters(
    client: BaseDBAsyncClient,
    counters: dict[UsageKey, Counters],
    cap: DomainCap | None,
    prepared: Prepared | None = None,
    summaries: bool = True,
) -> Counted:
    """Add `counters` (the domain cap applied) to usage_daily and, unless the caller leaves
    them to a rebuild (app/ingest/rebuilds.py), every summary table; `prepared`, if given, is
    `prepare(counters)`, used unless the cap renames a domain.

    The caller commits, then tells the cap what is stored (`cap.remember(counted.capped)`).
    """
    capped: CappedBatch | None = None
    if cap is not None:
        await lock_datasets(client, {(key.resource_type, key.resource_id) for key in counters})
        capped = await cap.apply(client, counters)
        counters = capped.counters  # the same dict unless a domain or an app was capped
    if prepared is None or prepared.counters is not counters:
        prepared = await prepare(counters, is_postgres(client), summaries)
    saturated = Counter(prepared.clamped)
    await add_every(client, prepared.values)
    saturated["usage_daily"] += await write_facts(client, prepared.usage)
    saturated[STATUS_TABLE] += await add_status_rows(client, prepared.statuses)
    for summary, daily, rows in prepared.summaries:
        saturated[summary.table] += await _upsert_summary(client, summary, daily, rows)
    # Last: the answers kept for these days go, and their readers wait for this commit.
    await forget_days(client, {key.day for key in counters})
    return Counted(capped, {table: n for table, n in saturated.items() if n})


async def lock_datasets(client: BaseDBAsyncClient, datasets: set[tuple[str, str]]) -> None:
    """Writers of one dataset's counters take turns until they commit (PostgreSQL), so the cap
    sees the domains every writer before stored; SQLite has one writer at a time anyway.

    One lock per bucket of datasets, sorted: one lock order for every writer. Two datasets of
    one bucket only wait on each other.
    """
    if is_postgres(client):
        # A hash a dataset (~1.5 µs: 20 000 held the event loop 30 ms), until every bucket is
        # among them: a large write's first few hundred datasets find all of them.
        buckets: set[int] = set()
        for resource_type, resource_id in datasets:
            buckets.add(lock_bucket(resource_type, resource_id))
            if len(buckets) == LOCK_BUCKETS:
                break
        await _lock_buckets(client, sorted(buckets))


async def lock_every_dataset(client: BaseDBAsyncClient) -> None:
    """Every bucket's lock, in the same order: no writer of counters runs until the commit
    (PostgreSQL)."""
    await _lock_buckets(client, list(range(LOCK_BUCKETS)))


async def _lock_buckets(client: BaseDBAsyncClient, keys: list[int]) -> None:
    if keys:
        await client.execute_query(
            "SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int4[]) WITH ORDINALITY "
            "AS t(k, n) ORDER BY n",
            [_DATASET_LOCKS, keys],
        )


def lock_bucket(resource_type: str, resource_id: str) -> int:
    """The lock bucket of a dataset, 0 to LOCK_BUCKETS - 1 (the second key of its lock)."""
    digest = hashlib.blake2b(f"{resource_type}/{resource_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % LOCK_BUCKETS


async def _upsert_summary(
    client: BaseDBAsyncClient, summary: Summary, daily: Totals, rows: list[list[Any]]
) -> int:
    """Add a batch's per-day figures to every block of `summary` that contains their days
    (`rows`: those blocks' rows, for SQLite)."""
    if not daily:
        return 0
    table = summary.table
    conflict = f"ON CONFLICT ({', '.join(summary.stored_key)}) "
    if is_postgres(client):

        async def write_postgres(update: str) -> tuple[int, int]:
            return await _upsert_summary_postgres(client, summary, daily, conflict + update)

        return await add_saturating(client, table, FIGURE_COLUMNS, write_postgres)
    columns = (*summary.stored_key, *FIGURE_COLUMNS)
    values = _sqlite_values(summary)

    async def write_sqlite(update: str) -> tuple[int, int]:
        written = await upsert_counted(client, table, columns, (), rows, conflict + update, values)
        return len(rows), written

    return await add_saturating(client, table, FIGURE_COLUMNS, write_sqlite)


def _sqlite_values(summary: Summary) -> str | None:
    """The VALUES list of a row of `summary.key` and figures, each dimension's values looked up
    as its id; None where the table stores its key as it is."""
    if not summary.ids:
        return None
    values = [
        "?" if isinstance(part, str) else id_of(part, ["?"] * len(part.values))
        for part in summary.stored
    ]
    return ", ".join([*values, *("?" for _ in FIGURE_COLUMNS)])


async def _upsert_summary_postgres(
    client: BaseDBAsyncClient, summary: Summary, daily: Totals, on_conflict: str
) -> tuple[int, int]:
    """PostgreSQL gets each day once and adds the days up per block itself; (block rows to
    write, rows written).

    A third of the rows to send (read as usage_facts' are: upserts.rows_from), and the
    ORDER BY gives concurrent writers one lock order. A block's SUM() saturates as a row does.
    """
    dimensions = summary.dimensions
    day_columns = ("resource_type", "day", *dimensions, *FIGURE_COLUMNS)
    types = (
        "varchar",
        "date",
        *("varchar" for _ in dimensions),
        *("bigint" for _ in FIGURE_COLUMNS),
    )
    block_key = ", ".join(
        ("r.resource_type", "c.span", "c.first_day", *(f"r.{d}" for d in dimensions))
    )
    sums = ", ".join(f"LEAST(SUM(r.{c}), {BIGINT_MAX}) AS {c}" for c in FIGURE_COLUMNS)
    columns = ", ".join((*summary.stored_key, *FIGURE_COLUMNS))
    named = ", ".join(
        f"{expression} AS {name}"
        for expression, name in zip(block_key.split(", "), summary.key, strict=True)
    )
    values, joins = key_values(summary.stored, lambda column: f"k.{column}")
    stored = [sql for sql, _ in values]
    rows = [day_key + tuple(figures) for day_key, figures in daily.items()]
    cover = covers(summary, {day_key[1] for day_key in daily})
    spans = [list(column) for column in zip(*cover, strict=True)]
    # Grouped on the day's key, joined on its dimensions: those columns analysed if staged.
    joined = range(len(_DAY_KEY) + len(dimensions))
    async with rows_from(client, summary.table, types, rows, joined) as (source, arguments):
        n = len(arguments)
        sql = (
            f"WITH blocks AS (SELECT {named}, {sums} "
            f"FROM {source} AS r({', '.join(day_columns)}) "
            f"JOIN unnest(${n + 1}::date[], ${n + 2}::int2[], ${n + 3}::date[]) "
            f"AS c(day, span, first_day) ON c.day = r.day GROUP BY {block_key}), "
            f"written AS (INSERT INTO {summary.table} ({columns}) "
            f"SELECT {', '.join(stored)}, {', '.join(f'k.{c}' for c in FIGURE_COLUMNS)} "
            f"FROM blocks k{joins} ORDER BY {', '.join(stored)} {on_conflict} RETURNING 1) "
            "SELECT (SELECT count(*) FROM blocks) AS wanted, (SELECT count(*) FROM written) AS n"
        )
        found = await client.execute_query_dict(sql, [*arguments, *spans])
    return int(found[0]["wanted"]), int(found[0]["n"])
