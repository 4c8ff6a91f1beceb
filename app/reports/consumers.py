"""Distinct consumers of a period and of the previous one: their sketches read in one statement,
merged in Python, estimated (docs/graphql.md#consumers, docs/security.md#distinct-consumers).

Without a datasets filter the sketches come from usage_consumers_by_owner (an owner's, several
owners' or every owner's unions): whole months from month rows, the other days from day rows,
so a year reads ~12 to ~60 rows a user group whatever the owner's datasets. With one, from
usage_consumers: a dataset's day, user group and operation a row, hence MAX_SKETCHES."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.core.epochs import epoch_end, epoch_start
from app.core.intervals import Bucket, Interval, buckets
from app.core.periods import Period
from app.core.sketches import Sketch, Union
from app.errors import BadUserInputError
from app.reports.rows import DATASETS, TOTAL, UsageFilter
from app.reports.sources import owner_clauses
from app.reports.statement import Statement
from app.storage.models.summaries import MONTH_SPAN
from app.storage.sql import as_day
from app.storage.summaries import CONSUMERS_BY_OWNER, EVERY_OWNER, Block, blocks

# Past this many sketches, reading and merging them (~0.1 ms each) goes to a thread: the event
# loop stays free.
_MERGE_IN_THREAD = 50
# The most daily sketches an answer with a datasets filter reads (~60 bytes to ~7 KiB each,
# ~0.1 ms each to merge): past it the answer is refused rather than hold the process for
# seconds. Reads without one go to the owners' unions, a few rows a month (docs/graphql.md).
MAX_SKETCHES = 20_000
_DAY_SPAN = 1
# (dataset id or TOTAL, user group or TOTAL)
ConsumersKey = tuple[str, str]


@dataclass(frozen=True)
class Consumers:
    """Distinct consumers of the period and of the previous one (None: under the minimum)."""

    current: int | None
    previous: int | None


NO_CONSUMERS = Consumers(None, None)


async def consumers(
    usage: UsageFilter,
    period: Period,
    minimum: int,
    *,
    by_dataset: bool = False,
    by_group: bool = False,
    max_sketches: int = MAX_SKETCHES,
) -> dict[ConsumersKey, Consumers]:
    """Consumers per (dataset id, user group) of the period and the previous one; TOTAL in
    place of what is not split. Empty when the filter names calling domains: sketches are not
    kept per domain. A key without a sketch in either period is absent (0 consumers).
    BadUserInputError when more than `max_sketches` sketches would be read."""
    if usage.domains is not None:
        return {}
    if by_dataset or usage.dataset_ids is not None:
        rows = await _checked(await _rows(usage, period, max_sketches + 1), max_sketches)
    else:
        rows = await _owner_rows(usage, _owner_blocks([period.previous(), period]))
    if len(rows) > _MERGE_IN_THREAD:
        counts = await asyncio.to_thread(_estimates, rows, period, by_dataset, by_group)
    else:
        counts = _estimates(rows, period, by_dataset, by_group)
    return {key: shown(current, previous, minimum) for key, (current, previous) in counts.items()}


async def consumer_series(
    usage: UsageFilter,
    period: Period,
    interval: Interval,
    *,
    by_dataset: bool = False,
    max_sketches: int = MAX_SKETCHES,
) -> dict[str, list[Consumers]]:
    """Per dataset id (TOTAL without `by_dataset`), the consumers of each bucket of the period
    (days, weeks or months, as reports.series cuts them) beside those of the previous period's
    days at its positions; every count shown (the caller applies the minimum). One statement."""
    if usage.domains is not None:
        return {}
    cut = buckets(period, interval)
    if by_dataset or usage.dataset_ids is not None:
        rows = await _checked(await _rows(usage, period, max_sketches + 1), max_sketches)
        place = _places(cut, months=False)
    else:
        place = _places(cut, months=True)
        rows = await _owner_rows(usage, set(place))
    if len(rows) > _MERGE_IN_THREAD:
        counts = await asyncio.to_thread(_bucket_estimates, rows, place, by_dataset)
    else:
        counts = _bucket_estimates(rows, place, by_dataset)
    return {
        dataset: [shown(*found.get(i, (0, 0)), 0) for i in range(len(cut))]
        for dataset, found in counts.items()
    }


async def _checked(rows: list[dict[str, Any]], max_sketches: int) -> list[dict[str, Any]]:
    if len(rows) > max_sketches:
        raise BadUserInputError(
            f"counting these consumers would read more than {max_sketches} daily sketches: "
            "ask for a shorter period or fewer datasets"
        )
    return rows


# (span, first day) of a row -> (bucket index, True for the current period's side)
Places = dict[Block, tuple[int, bool]]


def _places(cut: list[Bucket], *, months: bool) -> Places:
    """Where each row read goes: the blocks of each bucket's days (whole months as month rows
    with `months`, else days), on its current and its previous side."""
    place: Places = {}
    for index, bucket in enumerate(cut):
        for side, current in ((bucket.current, True), (bucket.previous, False)):
            found = (
                blocks(CONSUMERS_BY_OWNER, side.start, side.end)
                if months
                else [(_DAY_SPAN, day) for day in side.each_day()]
            )
            for block in found:
                place[block] = (index, current)
    return place


def _bucket_estimates(
    rows: list[dict[str, Any]], place: Places, by_dataset: bool
) -> dict[str, dict[int, tuple[int, int]]]:
    """Per dataset, per bucket index: (current, previous) estimates."""
    unions: dict[tuple[str, int, bool], Union] = {}
    for row in rows:
        where = place.get(_block_of(row))
        if where is None:
            continue
        key = (str(row["resource_id"]) if by_dataset else TOTAL, *where)
        found = unions.get(key)
        if found is None:
            found = unions[key] = Union()
        found.add(Sketch.from_bytes(bytes(row["sketch"])))
    estimates: dict[str, dict[int, tuple[int, int]]] = {}
    for dataset, index, _ in unions:
        current, previous = unions.get((dataset, index, True)), unions.get((dataset, index, False))
        estimates.setdefault(dataset, {})[index] = (
            current.sketch().estimate() if current is not None else 0,
            previous.sketch().estimate() if previous is not None else 0,
        )
    return estimates


def shown(current: int, previous: int, minimum: int) -> Consumers:
    """A count under the minimum is not shown: a handful of consumers may be people one knows."""
    return Consumers(
        current if current >= minimum else None, previous if previous >= minimum else None
    )


@dataclass(frozen=True)
class ConsumerOverview:
    """A dashboard view's consumers, every count shown (the page applies the minimum)."""

    current: int
    compared: int  # in the view's compared period; 0 without one
    buckets: list[int]  # per bucket of the period (its chart's intervals), in order


async def consumer_overview(
    usage: UsageFilter,
    period: Period,
    interval: Interval,
    compared: Period | None,
    *,
    max_sketches: int = MAX_SKETCHES,
) -> ConsumerOverview | None:
    """The period's consumers, the compared period's and each bucket's, from one statement
    (two when the comparison is not the previous period); None when the filter names calling
    domains or the sketches to read pass `max_sketches` (the page shows no figure)."""
    if usage.domains is not None:
        return None
    with_previous = compared is not None and compared == period.previous()
    cut = buckets(period, interval)
    if usage.dataset_ids is None:
        return await _owner_overview(usage, period, cut, compared, with_previous)
    first = compared.start if compared is not None and with_previous else period.start
    rows = await _rows_between(usage, first, period.end, max_sketches + 1)
    before: list[dict[str, Any]] = []
    if compared is not None and not with_previous:
        before = await _rows_between(usage, compared.start, compared.end, max_sketches + 1)
    if len(rows) + len(before) > max_sketches:
        return None
    ours = {(_DAY_SPAN, day) for day in period.each_day()}
    sides = _Sides(ours, period.start, with_previous, _places(cut, months=False), len(cut))
    if len(rows) + len(before) > _MERGE_IN_THREAD:
        return await asyncio.to_thread(_overview, rows, before, sides)
    return _overview(rows, before, sides)


async def _owner_overview(
    usage: UsageFilter,
    period: Period,
    cut: list[Bucket],
    compared: Period | None,
    with_previous: bool,
) -> ConsumerOverview:
    """consumer_overview from the owners' unions: the blocks of the period, of its buckets and
    of the previous period in one statement (the buckets may need days where the period reads
    a month), a compared period that is not the previous one in a second."""
    ours = set(_owner_blocks([period]))
    place = _places(cut, months=True)
    wanted = ours | set(place)
    if compared is not None and with_previous:
        wanted |= set(_owner_blocks([compared]))
    rows = await _owner_rows(usage, wanted)
    before: list[dict[str, Any]] = []
    if compared is not None and not with_previous:
        before = await _owner_rows(usage, _owner_blocks([compared]))
    sides = _Sides(ours, period.start, with_previous, place, len(cut))
    if len(rows) + len(before) > _MERGE_IN_THREAD:
        return await asyncio.to_thread(_overview, rows, before, sides)
    return _overview(rows, before, sides)


@dataclass(frozen=True)
class _Sides:
    """What an overview's rows are: the period's blocks (`ours`), the previous period's (any
    row before `start`, counted when `with_previous`), each bucket's (`place`)."""

    ours: set[Block]
    start: date
    with_previous: bool
    place: Places
    buckets: int


def _overview(
    rows: list[dict[str, Any]], before: list[dict[str, Any]], sides: _Sides
) -> ConsumerOverview:
    current, earlier, compared = Union(), Union(), Union()
    for row in rows:
        block = _block_of(row)
        if block in sides.ours:
            current.add(Sketch.from_bytes(bytes(row["sketch"])))
        elif block[1] < sides.start and sides.with_previous:
            # A bucket's day inside a month of the previous period adds nobody new to it.
            earlier.add(Sketch.from_bytes(bytes(row["sketch"])))
    for row in before:
        compared.add(Sketch.from_bytes(bytes(row["sketch"])))
    by_bucket = _bucket_estimates(rows, sides.place, by_dataset=False).get(TOTAL, {})
    return ConsumerOverview(
        current.sketch().estimate(),
        (compared if before else earlier).sketch().estimate(),
        [by_bucket.get(i, (0, 0))[0] for i in range(sides.buckets)],
    )


async def _rows(usage: UsageFilter, period: Period, limit: int) -> list[dict[str, Any]]:
    """The sketches of the period and of the previous one."""
    return await _rows_between(usage, period.previous().start, period.end, limit)


async def _rows_between(
    usage: UsageFilter, first: date, last: date, limit: int
) -> list[dict[str, Any]]:
    sql = Statement()
    clauses = [
        f"t.day >= {sql.bind(first)}",
        f"t.day <= {sql.bind(last)}",
        f"t.resource_type = {sql.bind(DATASETS)}",
        *owner_clauses(sql, "t", usage.owner),
    ]
    if usage.dataset_ids is not None:
        clauses.append(f"t.resource_id IN ({sql.bind_all(usage.dataset_ids)})")
    if usage.user_groups is not None:
        clauses.append(f"t.user_group IN ({sql.bind_all(usage.user_groups)})")
    return await sql.rows(
        f"SELECT {_DAY_SPAN} AS span, t.day, t.resource_id, t.user_group, t.sketch "  # noqa: S608
        f"FROM usage_consumers t WHERE {' AND '.join(clauses)} LIMIT {int(limit)}"
    )


def _owner_blocks(periods: list[Period]) -> list[Block]:
    """The fewest usage_consumers_by_owner rows that cover each period (blocks never cross
    from one period to the next)."""
    return [block for one in periods for block in blocks(CONSUMERS_BY_OWNER, one.start, one.end)]


async def _owner_rows(usage: UsageFilter, wanted: Iterable[Block]) -> list[dict[str, Any]]:
    """The owners' union sketches of these blocks, one statement: the months by their first
    days, the days by runs of consecutive days."""
    months = sorted({first for span, first in wanted if span == MONTH_SPAN})
    days = sorted({first for span, first in wanted if span == _DAY_SPAN})
    if not months and not days:
        return []
    sql = Statement()
    ranges = []
    if months:
        ranges.append(f"(t.span = {MONTH_SPAN} AND t.day IN ({sql.bind_all(months)}))")
    for first, last in _runs(days):
        ranges.append(
            f"(t.span = {_DAY_SPAN} AND t.day >= {sql.bind(first)} AND t.day <= {sql.bind(last)})"
        )
    if usage.owner is None:
        owners = [
            f"t.owner_type = {sql.bind(EVERY_OWNER[0])}",
            f"t.owner_id = {sql.bind(EVERY_OWNER[1])}",
        ]
    else:
        owners = owner_clauses(sql, "t", usage.owner)
    clauses = [f"({' OR '.join(ranges)})", *owners]
    if usage.user_groups is not None:
        clauses.append(f"t.user_group IN ({sql.bind_all(usage.user_groups)})")
    return await sql.rows(
        "SELECT t.span, t.day, t.user_group, t.sketch "  # noqa: S608
        f"FROM usage_consumers_by_owner t WHERE {' AND '.join(clauses)}"
    )


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _block_of(row: dict[str, Any]) -> Block:
    return int(row["span"]), as_day(row["day"])


def _estimates(
    rows: list[dict[str, Any]], period: Period, by_dataset: bool, by_group: bool
) -> dict[ConsumersKey, tuple[int, int]]:
    """(current, previous) estimates per key: every row's sketch merged into its key's union."""
    unions: dict[tuple[str, str, bool], Union] = {}
    start = period.start
    for row in rows:
        key = (
            str(row["resource_id"]) if by_dataset else TOTAL,
            str(row["user_group"]) if by_group else TOTAL,
            as_day(row["day"]) >= start,
        )
        found = unions.get(key)
        if found is None:
            found = unions[key] = Union()
        found.add(Sketch.from_bytes(bytes(row["sketch"])))
    return {
        (dataset, group): (
            _estimate(unions, dataset, group, True),
            _estimate(unions, dataset, group, False),
        )
        for dataset, group, _ in unions
    }


def _estimate(
    unions: dict[tuple[str, str, bool], Union], dataset: str, group: str, current: bool
) -> int:
    union = unions.get((dataset, group, current))
    return union.sketch().estimate() if union is not None else 0


def epochs_in(period: Period, unit: str) -> int:
    """How many consumer epochs the period touches: a consumer counts once in each."""
    count, start = 0, epoch_start(period.start, unit)
    while start <= period.end:
        count += 1
        start = epoch_end(start, unit)
    return count
