"""A report's figures: the key figures against the previous period, the distinct consumers,
the top datasets, the biggest risers and fallers, read through app/reports as the dashboard
reads them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from app import reports
from app.core.periods import Period
from app.core.records import Owner
from app.errors import BadUserInputError
from app.notify.subscriptions import Kind
from app.reports import TOTAL, Consumers, Figures, UsageFilter

TOP = 10  # datasets listed by use
MOVERS = 5  # risers and fallers listed each


@dataclass(frozen=True)
class DatasetLine:
    id: str
    title: str | None
    figures: Figures

    @property
    def uses(self) -> tuple[int, int]:
        return uses(self.figures)


def uses(figures: Figures) -> tuple[int, int]:
    """API calls and downloads together, now and in the previous period: what ranks datasets."""
    f = figures
    return f.api_calls.current + f.downloads.current, f.api_calls.previous + f.downloads.previous


@dataclass(frozen=True)
class Report:
    kind: Kind
    period: Period
    owner: Owner | None  # None: every owner
    totals: Figures
    # Distinct consumers, each count None under `consumers_min` (as the dashboard shows them);
    # None: too many sketches for one answer (a large portal's month: see docs/graphql.md).
    consumers: Consumers | None
    consumers_min: int
    top: tuple[DatasetLine, ...]
    risers: tuple[DatasetLine, ...]
    fallers: tuple[DatasetLine, ...]
    link: str | None  # the same view on the dashboard; None without USAGE_METRICS_PUBLIC_URL


def report_period(kind: Kind, today: date) -> Period:
    """The last whole week (Monday to Sunday) or month before `today`."""
    if kind is Kind.WEEKLY:
        monday = today - timedelta(days=today.weekday())
        return Period(monday - timedelta(days=7), monday - timedelta(days=1))
    last = today.replace(day=1) - timedelta(days=1)
    return Period(last.replace(day=1), last)


async def read_report(
    kind: Kind, period: Period, owner: Owner | None, public_url: str | None, consumers_min: int
) -> Report:
    """The report of `period` for one owner (None: every owner), in two grouped statements,
    one for the consumers and one for the titles, as the dashboard reads them."""
    usage = UsageFilter(owner=owner)
    totals = (await reports.figures(usage, period)).get((TOTAL, TOTAL), reports.NO_FIGURES)
    consumers = await _consumers(usage, period, consumers_min)
    by_dataset = await reports.figures(usage, period, by_dataset=True)
    found = {dataset_id: figures for (dataset_id, _), figures in by_dataset.items()}
    ranked = sorted(found, key=lambda i: (-uses(found[i])[0], i))[:TOP]
    change = {i: uses(f)[0] - uses(f)[1] for i, f in found.items()}
    risers = sorted((i for i in found if change[i] > 0), key=lambda i: (-change[i], i))[:MOVERS]
    fallers = sorted((i for i in found if change[i] < 0), key=lambda i: (change[i], i))[:MOVERS]
    titles = await reports.datasets_by_id(sorted({*ranked, *risers, *fallers}))

    def lines(ids: list[str]) -> tuple[DatasetLine, ...]:
        row = titles.get
        return tuple(DatasetLine(i, getattr(row(i), "title", None), found[i]) for i in ids)

    return Report(
        kind,
        period,
        owner,
        totals,
        consumers,
        consumers_min,
        lines(ranked),
        lines(risers),
        lines(fallers),
        dashboard_link(public_url, period, owner),
    )


async def _consumers(usage: UsageFilter, period: Period, minimum: int) -> Consumers | None:
    try:
        found = await reports.consumers(usage, period, minimum)
    except BadUserInputError:  # only a datasets filter is capped (none here): left out then
        return None
    # No sketch in either period: nobody, which the minimum may hide as it hides a few.
    return found.get((TOTAL, TOTAL)) or reports.shown(0, 0, minimum)


def dashboard_link(public_url: str | None, period: Period, owner: Owner | None) -> str | None:
    if public_url is None:
        return None
    query = [("start", period.start.isoformat()), ("end", period.end.isoformat())]
    if owner is not None:
        query.append(("owner", f"{owner.type}:{owner.id}"))
    return f"{public_url}/dashboard?{urlencode(query)}"
