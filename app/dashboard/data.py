"""What a dashboard view shows, read through the same read side as the GraphQL API (app.reports):
a fixed number of grouped statements per page, whatever the number of datasets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from app import reports
from app.core.intervals import Interval
from app.core.periods import Period
from app.dashboard.overview import DatasetFigures, Overview
from app.dashboard.view import PAGE_SIZE, View
from app.errors import DatabaseUnavailableError
from app.reports import TOTAL, BucketFigures, Figures, Ranking, Trend
from app.reports.freshness import Freshness, freshness
from app.storage.database import DATABASE_ERRORS

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class DatasetsPage:
    rows: list[DatasetFigures]
    total: int  # datasets in the view, every page
    page: int
    pages: int


async def compared(
    view: View, read: Callable[[Period], Awaitable[Mapping[K, Figures]]]
) -> dict[K, Figures]:
    """`read`'s figures with their `previous` side from the view's comparison: the previous
    period comes with the period in one statement; a year before is a second read of its own
    (its `current` side); no comparison leaves zeros."""
    found = await read(view.period)
    against = view.compared
    if against is None:
        return {key: _current_only(figures) for key, figures in found.items()}
    if against == view.period.previous():
        return dict(found)
    before = await read(against)
    merged: dict[K, Figures] = {}
    for key in found.keys() | before.keys():
        now, then = found.get(key, reports.NO_FIGURES), before.get(key, reports.NO_FIGURES)
        merged[key] = Figures(
            *(Trend(a.current, b.current) for a, b in zip(_trends(now), _trends(then), strict=True))
        )
    return {key: figures for key, figures in merged.items() if any(map(any, _trends(figures)))}


def _current_only(figures: Figures) -> Figures:
    return Figures(*(Trend(trend.current, 0) for trend in _trends(figures)))


async def read_overview(view: View, upto: int | None) -> Overview:
    """The view's figures, its breakdowns' first `upto` groups (all of them without)."""
    usage, period = view.usage, view.period

    async def totals_of(part: Period) -> Mapping[tuple[str, str], Figures]:
        return await reports.figures(usage, part)

    # Side by side: PostgreSQL runs them on connections of the pool at once (SQLite's one
    # connection takes them in turn).
    totals, chart, found, consumers = await asyncio.gather(
        compared(view, totals_of),
        read_chart(view, view.interval),
        read_breakdowns(view, upto),
        reports.consumer_overview(usage, period, view.interval, view.compared),
    )
    return Overview(
        period=period,
        compared=view.compared,
        totals=totals.get((TOTAL, TOTAL), reports.NO_FIGURES),
        chart=chart,
        by_user_group=found["user_group"],
        by_domain=found["referer_domain"],
        by_category=found["referer_category"],
        consumers=consumers,
    )


async def read_breakdowns(view: View, upto: int | None) -> dict[str, Ranking]:
    """The view's breakdowns ranked, in one statement that returns the first `upto` groups of
    each. A comparison that overlaps the period (a year before a period longer than a year)
    reads every group of both periods, merged and ranked here."""
    usage, period, against = view.usage, view.period, view.compared
    if against is None or against.end < period.start:
        return await reports.ranked_callers(usage, period, upto=upto, against=against)

    async def callers_of(part: Period) -> Mapping[tuple[str, str], Figures]:
        return await reports.callers(usage, part, against=None)  # compared() takes each current

    found = await compared(view, callers_of)
    return {
        column: reports.rank(
            {key: figures for (of, key), figures in found.items() if of == column}, column, upto
        )
        for column in reports.CALLER_COLUMNS
    }


def _trends(figures: Figures) -> tuple[Trend, Trend, Trend, Trend]:
    return figures.api_calls, figures.downloads, figures.downloaded_bytes, figures.app_opens


async def read_chart(view: View, interval: Interval) -> list[BucketFigures]:
    """The main chart's buckets (or, by day, the export's): one statement for both sides, each
    bucket from its fewest summary rows (ten years by month read ~120 per owner, not 3 650)."""
    found = await reports.series(view.usage, view.period, interval, compared=view.compared)
    return found.get(TOTAL) or reports.empty_series(view.period, interval, view.compared)


async def read_freshness(now: datetime) -> Freshness:
    """What the folder has yet to add to the figures (the page's "updated N s ago")."""
    try:
        return await freshness(now)
    except DATABASE_ERRORS as exc:  # the read side's other statements say the same
        raise DatabaseUnavailableError(
            "the database did not answer; nothing is wrong with the query: retry shortly"
        ) from exc


async def count_datasets(view: View) -> int:
    return await reports.count_datasets(view.owner, None, view.datasets or None)


async def read_datasets_page(view: View, total: int) -> DatasetsPage:
    """One page of the datasets table, ordered as the view asks, with each dataset's figures."""
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(view.page, pages)
    rows = await reports.datasets_page(
        view.owner,
        None,
        view.order,
        view.period,
        (page - 1) * PAGE_SIZE,
        PAGE_SIZE,
        ranked_by=view.usage,
        descending=view.descending,
    )
    found: Mapping[tuple[str, str], Figures] = {}
    if rows:
        on_page = replace(view.usage, dataset_ids=tuple(row.id for row in rows))

        async def page_of(part: Period) -> Mapping[tuple[str, str], Figures]:
            return await reports.figures(on_page, part, by_dataset=True)

        found = await compared(view, page_of)
    figures = [DatasetFigures(row, found.get((row.id, TOTAL), reports.NO_FIGURES)) for row in rows]
    return DatasetsPage(figures, total, page, pages)


async def read_all_datasets(view: View) -> list[DatasetFigures]:
    """Every dataset with usage in the view (either period), most API calls first: the export's
    list, in one statement for the figures and one per thousand datasets for the titles."""

    async def every(part: Period) -> Mapping[tuple[str, str], Figures]:
        return await reports.figures(view.usage, part, by_dataset=True)

    found = await compared(view, every)
    ids = sorted(dataset_id for dataset_id, _ in found)
    rows: dict[str, reports.DatasetRow] = {}
    for start in range(0, len(ids), 1000):  # a statement's parameters are bounded
        rows.update(await reports.datasets_by_id(ids[start : start + 1000]))
    listed = [
        DatasetFigures(rows[dataset_id], figures)
        for (dataset_id, _), figures in found.items()
        if dataset_id in rows
    ]
    listed.sort(
        key=lambda d: (-d.figures.api_calls.current, -d.figures.downloads.current, d.dataset.id)
    )
    return listed
