"""Summary tables: the blocks of days their rows cover, and what a batch adds to them (pure).

A figure of a period is added up from the fewest summary rows that cover the period exactly:
calendar months where a table keeps them, else blocks of 2, 4, 8... days aligned on multiples of
their length since 1970-01-01, else single days. The ingest adds each day of a batch to every
block that contains it, in the transaction that writes usage_daily, so all of them stay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.core.records import Operation, UsageKey
from app.storage.models.consumers import OWNER_SKETCH_KEY_COLUMNS
from app.storage.models.summaries import (
    CALLER_KEY,
    DATASET_KEY,
    FIGURE_COLUMNS,
    MONTH_SPAN,
    OWNER_KEY,
)

STATUS_OK = "ok"  # usage figures count status class ok only (docs/classification.md)
# The owner (type, id) of the rows of usage_by_owner and usage_by_caller that add up every owner:
# an admin's views read a few of them instead of one per owner (a year of every owner's callers
# was ~1 M rows, now ~100 000).
EVERY_OWNER = ("", "")
_EPOCH = date(1970, 1, 1).toordinal()
_FIRST, _LAST = date.min.toordinal(), date.max.toordinal()

_API_CALLS, _DOWNLOADS, _DOWNLOADED_BYTES, _APP_OPENS = (
    FIGURE_COLUMNS.index(column)
    for column in ("api_calls", "downloads", "downloaded_bytes", "app_opens")
)
Block = tuple[int, date]  # (span, first day)
# (resource_type, day or span and first day, dimensions...) -> the FIGURE_COLUMNS
Totals = dict[tuple[Any, ...], list[int]]


@dataclass(frozen=True)
class Dimension:
    """A dimension table: the integer id (`column` in the facts) of each combination of `values`
    (columns of a summary's key that the facts store as that id)."""

    table: str
    column: str
    values: tuple[str, ...]


OWNER_KEYS = Dimension("owner_keys", "owner_key", ("owner_type", "owner_id"))
USER_GROUPS = Dimension("user_groups", "group_key", ("user_group",))
DOMAINS = Dimension("domains", "domain_key", ("referer_domain",))
CATEGORIES = Dimension("categories", "category_key", ("referer_category",))


@dataclass(frozen=True)
class Summary:
    """A summary table: its key (resource_type, span, day, dimensions...) and its blocks; where
    `ids` are given, the table stores each of those dimensions' values as its id."""

    table: str
    key: tuple[str, ...]
    spans: tuple[int, ...]  # aligned block lengths in days, ascending, starting with 1
    months: bool = False
    ids: tuple[Dimension, ...] = ()

    @property
    def dimensions(self) -> tuple[str, ...]:
        return self.key[3:]

    @property
    def stored(self) -> tuple[str | Dimension, ...]:
        """The table's key as stored: `key`'s columns, each dimension's values once as the
        dimension, where its id stands."""
        found: list[str | Dimension] = []
        for column in self.key:
            dimension = next((d for d in self.ids if column in d.values), None)
            if dimension is None:
                found.append(column)
            elif dimension not in found:
                found.append(dimension)
        return tuple(found)

    @property
    def stored_key(self) -> tuple[str, ...]:
        """The table's unique key: `key` with each dimension's values replaced by its id."""
        return tuple(p if isinstance(p, str) else p.column for p in self.stored)


# Each span costs a batch one more row per dataset (or caller) and day it touches, and saves rows
# on reads only where keys are dense. Measured at 10^7 rows (docs/storage.md#summary-tables):
# ranking every dataset over 30 days reads ~10 blocks per dataset instead of 30 days, over a year
# 12 months and its edges; 2- and 8-day dataset blocks and 8-day caller blocks held a third of
# their tables for reads that kept answers serve once a day.
BY_DATASET = Summary("usage_by_dataset", DATASET_KEY, (1, 4, 16), months=True)
BY_OWNER = Summary("usage_by_owner", OWNER_KEY, (1,), months=True)
BY_CALLER = Summary(
    "usage_by_caller",
    CALLER_KEY,
    (1,),
    months=True,
    ids=(OWNER_KEYS, USER_GROUPS, DOMAINS, CATEGORIES),
)
SUMMARIES = (BY_DATASET, BY_OWNER, BY_CALLER)
# Consumers' sketches per owner (no resource type: datasets only), by day and month. Not among
# SUMMARIES (no figures): its blocks are cut and covered as theirs are.
CONSUMERS_BY_OWNER = Summary(
    "usage_consumers_by_owner", OWNER_SKETCH_KEY_COLUMNS, (1,), months=True
)


def blocks(summary: Summary, start: date, end: date) -> list[Block]:
    """The fewest rows of `summary` that cover start..end, every day exactly once."""
    found: list[Block] = []
    day, last = start.toordinal(), end.toordinal()
    while day <= last:
        if summary.months and date.fromordinal(day).day == 1 and _month_end(day) <= last:
            found.append((MONTH_SPAN, date.fromordinal(day)))
            day = _month_end(day) + 1
            continue
        # Blocks stay inside a month where months are kept, so that the next month stays whole.
        limit = min(last, _month_end(day)) if summary.months else last
        span = next(s for s in reversed(summary.spans) if _starts_block(day, s, limit))
        found.append((span, date.fromordinal(day)))
        day += span
    return found


def covering(summary: Summary, day: date) -> list[Block]:
    """Every block of `summary` that contains `day`: where a batch's figures of that day go."""
    ordinal = day.toordinal()
    starts = [(span, ordinal - (ordinal - _EPOCH) % span) for span in summary.spans]
    # Never asked for, so never written: a block that would start before year 1, and where
    # months are kept, a block across the end of a month (blocks() keeps months whole).
    found = [
        (span, date.fromordinal(first))
        for span, first in starts
        if first >= _FIRST and not (summary.months and first + span - 1 > _month_end(first))
    ]
    if summary.months:
        found.append((MONTH_SPAN, day.replace(day=1)))
    return found


def batch_days(counters: Mapping[UsageKey, Sequence[int]]) -> dict[Summary, Totals]:
    """What a merged batch adds to each summary table, per day; the writer adds it to blocks.

    Only status-ok requests count. The work grows with the batch's merged keys, not its lines.
    """
    by_dataset: Totals = {}
    by_caller: Totals = {}
    add_days(by_dataset, by_caller, counters.items())
    return days_by_summary(by_dataset, by_caller)


def add_days(
    by_dataset: Totals, by_caller: Totals, counters: Iterable[tuple[UsageKey, Sequence[int]]]
) -> None:
    """batch_days' first half, which a caller may run on parts of a batch: each key's figures
    added to its dataset's and its caller's day."""
    for key, counts in counters:
        if key.status_class != STATUS_OK:
            continue
        figures = _figures(key.operation, counts[0], counts[1])
        rtype, day, otype, oid = key.resource_type, key.day, key.owner_type, key.owner_id
        _add(by_dataset, (rtype, day, key.resource_id, otype, oid), figures)
        dims = (key.user_group, key.referer_domain, key.referer_category)
        _add(by_caller, (rtype, day, otype, oid, *dims), figures)


def days_by_summary(by_dataset: Totals, by_caller: Totals) -> dict[Summary, Totals]:
    """batch_days' second half: the owners' days, and every owner's, from those of add_days."""
    by_owner: Totals = {}
    add_owner_days(by_owner, by_dataset.items())
    add_every_owner(by_caller, list(by_caller.items()))
    return {BY_DATASET: by_dataset, BY_OWNER: by_owner, BY_CALLER: by_caller}


def add_owner_days(
    by_owner: Totals, dataset_days: Iterable[tuple[tuple[Any, ...], list[int]]]
) -> None:
    """Datasets' days (of add_days) added to their owner's day and every owner's, in `by_owner`;
    a caller may run it on parts of them."""
    for (rtype, day, _, otype, oid), sums in dataset_days:
        _add(by_owner, (rtype, day, otype, oid), sums)
        _add(by_owner, (rtype, day, *EVERY_OWNER), sums)


def add_every_owner(
    by_caller: Totals, caller_days: Iterable[tuple[tuple[Any, ...], list[int]]]
) -> None:
    """Callers' days (of add_days, a list taken before: `by_caller` grows) added to every
    owner's caller day, in `by_caller`; a caller may run it on parts of them."""
    for caller, sums in caller_days:
        _add(by_caller, (*caller[:2], *EVERY_OWNER, *caller[4:]), sums)


def covers(summary: Summary, days: Iterable[date]) -> list[tuple[date, int, date]]:
    """(day, span, first day) of every block of `summary` that contains one of these days."""
    return [(day, span, first) for day in days for span, first in covering(summary, day)]


def spread(summary: Summary, daily: Totals, as_day: Callable[[date], Any]) -> list[list[Any]]:
    """A batch's rows for every block its days fall in (for a writer that sends rows one by one).

    `as_day` converts the blocks' first days to what the database takes; rows come unsorted.
    """
    totals: Totals = {}
    spread_into(totals, summary, daily.items(), as_day)
    return [[*key, *figures] for key, figures in totals.items()]


def spread_into(
    totals: Totals,
    summary: Summary,
    daily: Iterable[tuple[tuple[Any, ...], Sequence[int]]],
    as_day: Callable[[date], Any],
) -> None:
    """spread()'s work on part of the days, added up in `totals` (block key -> figures)."""
    firsts: dict[date, list[tuple[int, Any]]] = {}
    for key, figures in daily:
        blocks_of_day = firsts.get(key[1])
        if blocks_of_day is None:
            blocks_of_day = firsts[key[1]] = [
                (span, as_day(first)) for span, first in covering(summary, key[1])
            ]
        rtype, rest = key[0], key[2:]
        for span, first in blocks_of_day:
            _add(totals, (rtype, span, first, *rest), figures)


def _figures(operation: str, requests: int, sent: int) -> list[int]:
    figures = [0] * len(FIGURE_COLUMNS)
    if operation == Operation.API:
        figures[_API_CALLS] = requests
    elif operation == Operation.DOWNLOAD:
        figures[_DOWNLOADS] = requests
        figures[_DOWNLOADED_BYTES] = sent
    else:  # Operation.APP
        figures[_APP_OPENS] = requests
    return figures


def _add(totals: Totals, key: tuple[Any, ...], figures: Sequence[int]) -> None:
    found = totals.get(key)
    if found is None:
        totals[key] = list(figures)
        return
    for slot, value in enumerate(figures):
        found[slot] += value


def _starts_block(day: int, span: int, last: int) -> bool:
    return (day - _EPOCH) % span == 0 and day + span - 1 <= last


def _month_end(day: int) -> int:
    current = date.fromordinal(day)
    if (current.year, current.month) == (9999, 12):
        return _LAST
    following = date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return following.toordinal() - 1
