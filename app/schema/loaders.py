"""Per-request DataLoaders: the usage of a page of datasets costs one statement per figure set."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from strawberry.dataloader import DataLoader

from app import reports
from app.core.intervals import Interval, buckets
from app.core.periods import Period
from app.reports import (
    BucketFigures,
    Consumers,
    DatasetRow,
    DayFigures,
    Figures,
    Ranking,
    UsageFilter,
)


@dataclass(frozen=True)
class UsageQuery:
    """What a `Usage` is about: the filter without the dataset, the period, the dataset or None."""

    usage: UsageFilter
    period: Period
    dataset_id: str | None = None  # None: every dataset the filter lets through, summed

    @property
    def dataset_key(self) -> str:
        return self.dataset_id if self.dataset_id is not None else reports.TOTAL


@dataclass(frozen=True)
class FiguresKey:
    query: UsageQuery
    column: str | None = None  # a breakdown column, or None for the totals


# Keys that differ only by dataset id fall in one batch, answered by one grouped statement.
_Batch = tuple[UsageFilter, Period, str | None, bool]


def _batch(query: UsageQuery, column: str | None) -> _Batch:
    return query.usage, query.period, column, query.dataset_id is not None


def _batched_ids(queries: list[tuple[UsageQuery, str | None]]) -> dict[_Batch, set[str]]:
    batches: dict[_Batch, set[str]] = {}
    for query, column in queries:
        ids = batches.setdefault(_batch(query, column), set())
        if query.dataset_id is not None:
            ids.add(query.dataset_id)
    return batches


def _batch_filter(batch: _Batch, dataset_ids: set[str]) -> UsageFilter:
    usage, _, _, by_dataset = batch
    return replace(usage, dataset_ids=tuple(sorted(dataset_ids))) if by_dataset else usage


async def load_figures(keys: list[FiguresKey]) -> list[dict[str, Figures]]:
    """Each key's figures by group (reports.TOTAL when the key has no breakdown column)."""
    answers: dict[_Batch, dict[str, dict[str, Figures]]] = {}
    for batch, ids in _batched_ids([(key.query, key.column) for key in keys]).items():
        _, period, column, by_dataset = batch
        rows = await reports.figures(
            _batch_filter(batch, ids), period, by_dataset=by_dataset, column=column
        )
        per_dataset: dict[str, dict[str, Figures]] = {}
        for (dataset, group), figures in rows.items():
            per_dataset.setdefault(dataset, {})[group] = figures
        answers[batch] = per_dataset
    return [answers[_batch(k.query, k.column)].get(k.query.dataset_key, {}) for k in keys]


@dataclass(frozen=True)
class BreakdownKey:
    query: UsageQuery
    column: str  # a breakdown column
    upto: int  # how many of the first groups the page needs: its offset and its length


async def load_breakdowns(keys: list[BreakdownKey]) -> list[Ranking]:
    """Each key's breakdown ranked. A view's breakdowns by several columns come from one
    statement, which reads every caller row of the period (~1 M for a large portal's year:
    the scan is what they cost) and returns the first groups the farthest page needs. A
    dataset's among a page of datasets come from their figures, every group of each (a
    dataset's callers are few), one statement per column."""
    views: dict[tuple[UsageFilter, Period], dict[str, int]] = {}
    for key in keys:
        if key.query.dataset_id is None:
            wanted = views.setdefault((key.query.usage, key.query.period), {})
            wanted[key.column] = max(wanted.get(key.column, 0), key.upto)
    answers: dict[tuple[UsageFilter, Period, str], Ranking] = {}
    for (usage, period), wanted in views.items():
        found = await reports.ranked_callers(
            usage, period, tuple(wanted), max(wanted.values()), against=period.previous()
        )
        for column, ranking in found.items():
            answers[usage, period, column] = ranking
    of_datasets = [key for key in keys if key.query.dataset_id is not None]
    groups = await load_figures([FiguresKey(key.query, key.column) for key in of_datasets])
    each = {
        key: reports.rank(found, key.column, key.upto)
        for key, found in zip(of_datasets, groups, strict=True)
    }
    return [
        each[key] if key in each else answers[key.query.usage, key.query.period, key.column]
        for key in keys
    ]


async def load_daily(keys: list[UsageQuery]) -> list[list[DayFigures]]:
    """Each key's days, zeros included."""
    answers: dict[_Batch, dict[str, list[DayFigures]]] = {}
    for batch, ids in _batched_ids([(query, None) for query in keys]).items():
        _, period, _, by_dataset = batch
        answers[batch] = await reports.daily(
            _batch_filter(batch, ids), period, by_dataset=by_dataset
        )
    return [
        answers[_batch(query, None)].get(query.dataset_key) or reports.zero_days(query.period)
        for query in keys
    ]


@dataclass(frozen=True)
class ConsumersKey:
    query: UsageQuery
    by_group: bool = False  # True: per user group, else every group together (reports.TOTAL)


async def load_consumers(keys: list[ConsumersKey]) -> list[dict[str, Consumers]]:
    """Each key's consumers by group, every count shown (the resolver applies the minimum);
    one statement per batch of datasets."""
    answers: dict[_Batch, dict[str, dict[str, Consumers]]] = {}
    column = "user_group"
    for batch, ids in _batched_ids(
        [(k.query, column if k.by_group else None) for k in keys]
    ).items():
        _, period, grouped, by_dataset = batch
        rows = await reports.consumers(
            _batch_filter(batch, ids),
            period,
            0,
            by_dataset=by_dataset,
            by_group=grouped is not None,
        )
        per_dataset: dict[str, dict[str, Consumers]] = {}
        for (dataset, group), found in rows.items():
            per_dataset.setdefault(dataset, {})[group] = found
        answers[batch] = per_dataset
    return [
        answers[_batch(k.query, column if k.by_group else None)].get(k.query.dataset_key, {})
        for k in keys
    ]


@dataclass(frozen=True)
class SeriesKey:
    query: UsageQuery
    interval: Interval


def _series_batches(keys: list[SeriesKey]) -> dict[tuple[_Batch, Interval], set[str]]:
    """Keys that differ only by dataset id, per interval: one statement each."""
    batches: dict[tuple[_Batch, Interval], set[str]] = {}
    for key in keys:
        ids = batches.setdefault((_batch(key.query, None), key.interval), set())
        if key.query.dataset_id is not None:
            ids.add(key.query.dataset_id)
    return batches


async def load_series(keys: list[SeriesKey]) -> list[list[BucketFigures]]:
    """Each key's buckets, zeros included; one statement per batch of datasets and interval."""
    answers: dict[tuple[_Batch, Interval], dict[str, list[BucketFigures]]] = {}
    for (batch, interval), ids in _series_batches(keys).items():
        _, period, _, by_dataset = batch
        answers[batch, interval] = await reports.series(
            _batch_filter(batch, ids),
            period,
            interval,
            compared=period.previous(),
            by_dataset=by_dataset,
        )
    return [
        answers[_batch(key.query, None), key.interval].get(key.query.dataset_key)
        or reports.empty_series(key.query.period, key.interval)
        for key in keys
    ]


async def load_datasets(ids: list[str]) -> list[DatasetRow | None]:
    found = await reports.datasets_by_id(sorted(set(ids)))
    return [found.get(dataset_id) for dataset_id in ids]


async def load_consumer_series(keys: list[SeriesKey]) -> list[list[Consumers]]:
    """Each key's consumers per bucket, every count shown; one statement per batch."""
    answers: dict[tuple[_Batch, Interval], dict[str, list[Consumers]]] = {}
    for (batch, interval), ids in _series_batches(keys).items():
        _, period, _, by_dataset = batch
        answers[batch, interval] = await reports.consumer_series(
            _batch_filter(batch, ids), period, interval, by_dataset=by_dataset
        )
    return [
        answers[_batch(key.query, None), key.interval].get(key.query.dataset_key)
        or [reports.shown(0, 0, 0) for _ in buckets(key.query.period, key.interval)]
        for key in keys
    ]


@dataclass
class Loaders:
    """Created per request, so that nothing cached outlives the request that read it."""

    figures: DataLoader[FiguresKey, dict[str, Figures]] = field(
        default_factory=lambda: DataLoader(load_fn=load_figures)
    )
    breakdowns: DataLoader[BreakdownKey, Ranking] = field(
        default_factory=lambda: DataLoader(load_fn=load_breakdowns)
    )
    daily: DataLoader[UsageQuery, list[DayFigures]] = field(
        default_factory=lambda: DataLoader(load_fn=load_daily)
    )
    series: DataLoader[SeriesKey, list[BucketFigures]] = field(
        default_factory=lambda: DataLoader(load_fn=load_series)
    )
    consumers: DataLoader[ConsumersKey, dict[str, Consumers]] = field(
        default_factory=lambda: DataLoader(load_fn=load_consumers)
    )
    consumer_series: DataLoader[SeriesKey, list[Consumers]] = field(
        default_factory=lambda: DataLoader(load_fn=load_consumer_series)
    )
    datasets: DataLoader[str, DatasetRow | None] = field(
        default_factory=lambda: DataLoader(load_fn=load_datasets)
    )
