"""Distinct consumers of a period and of the previous one: their sketches read in one statement,
merged in Python, estimated (docs/graphql.md#consumers, docs/security.md#distinct-consumers)."""

from __future__ import annotations

import asyncio
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
from app.reports.statement import Statement, as_day

# Past this many sketches, reading and merging them (~0.1 ms each) goes to a thread: the event
# loop stays free.
_MERGE_IN_THREAD = 50
# The most sketches one answer reads (~60 bytes to ~7 KiB each, ~0.1 ms each to merge): past it
# the answer is refused rather than hold the process for seconds. A year of an owner with a few
# dozen datasets fits; a year of every dataset of a large portal waits for summary sketches
# (docs/graphql.md#consumers).
MAX_SKETCHES = 20_000
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
    rows = await _rows(usage, period, max_sketches + 1)
    if len(rows) > max_sketches:
        raise BadUserInputError(
            f"counting these consumers would read more than {max_sketches} daily sketches: "
            "ask for a shorter period or fewer datasets"
        )
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
    rows = await _rows(usage, period, max_sketches + 1)
    if len(rows) > max_sketches:
        raise BadUserInputError(
            f"counting these consumers would read more than {max_sketches} daily sketches: "
            "ask for a shorter period or fewer datasets"
        )
    cut = buckets(period, interval)
    if len(rows) > _MERGE_IN_THREAD:
        counts = await asyncio.to_thread(_bucket_estimates, rows, cut, by_dataset)
    else:
        counts = _bucket_estimates(rows, cut, by_dataset)
    return {
        dataset: [shown(*found.get(i, (0, 0)), 0) for i in range(len(cut))]
        for dataset, found in counts.items()
    }


def _bucket_estimates(
    rows: list[dict[str, Any]], cut: list[Bucket], by_dataset: bool
) -> dict[str, dict[int, tuple[int, int]]]:
    """Per dataset, per bucket index: (current, previous) estimates."""
    place: dict[date, tuple[int, bool]] = {}
    for index, bucket in enumerate(cut):
        for day in bucket.current.each_day():
            place[day] = (index, True)
        for day in bucket.previous.each_day():
            place[day] = (index, False)
    unions: dict[tuple[str, int, bool], Union] = {}
    for row in rows:
        where = place.get(as_day(row["day"]))
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
    first = compared.start if compared is not None and with_previous else period.start
    rows = await _rows_between(usage, first, period.end, max_sketches + 1)
    before: list[dict[str, Any]] = []
    if compared is not None and not with_previous:
        before = await _rows_between(usage, compared.start, compared.end, max_sketches + 1)
    if len(rows) + len(before) > max_sketches:
        return None
    cut = buckets(period, interval)
    if len(rows) + len(before) > _MERGE_IN_THREAD:
        return await asyncio.to_thread(_overview, rows, before, period, cut)
    return _overview(rows, before, period, cut)


def _overview(
    rows: list[dict[str, Any]], before: list[dict[str, Any]], period: Period, cut: list[Bucket]
) -> ConsumerOverview:
    current, earlier, compared = Union(), Union(), Union()
    for row in rows:
        in_period = as_day(row["day"]) >= period.start
        (current if in_period else earlier).add(Sketch.from_bytes(bytes(row["sketch"])))
    for row in before:
        compared.add(Sketch.from_bytes(bytes(row["sketch"])))
    by_bucket = _bucket_estimates(rows, cut, by_dataset=False).get(TOTAL, {})
    return ConsumerOverview(
        current.sketch().estimate(),
        (compared if before else earlier).sketch().estimate(),
        [by_bucket.get(i, (0, 0))[0] for i in range(len(cut))],
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
        "SELECT t.day, t.resource_id, t.user_group, t.sketch "  # noqa: S608
        f"FROM usage_consumers t WHERE {' AND '.join(clauses)} LIMIT {int(limit)}"
    )


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
