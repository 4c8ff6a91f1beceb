"""A view's figures as the page shows them: written out in the reader's language, charts drawn,
links made. Templates only place what this module prepares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from urllib.parse import quote

from markupsafe import Markup

from app.core.hosts import RESERVED_DOMAINS
from app.core.intervals import Interval
from app.core.records import Owner
from app.dashboard import charts, formatting
from app.dashboard.data import DatasetsPage
from app.dashboard.labels import group_label
from app.dashboard.overview import Overview
from app.dashboard.picker import owner_label
from app.dashboard.view import MAX_BARS, METRICS, Compare, View, bar_count
from app.reports import Figures, Ranking, Trend
from app.reports.freshness import Freshness

Translate = Callable[..., str]
BREAKDOWN_ROWS = 10  # then one row sums the rest
# The domain filter's suggestions: a datalist of every domain of an admin's year was 1.9 MB
# (60 000 domains, issue 24); the field takes any domain typed.
DOMAIN_OPTIONS = 100
# Below this many in the compared period a percentage says more than the figures do
# (+591 % from 12): the change is written as a difference instead.
SMALL_BASE = 20
# Stand-ins rather than callers: listed after the named domains and categories.
STAND_INS = RESERVED_DOMAINS  # none, invalid, other, ip: ours, not a site to filter on
# The groups of each breakdown a page reads: the rows shown and one (a single rest is shown
# rather than folded), and enough domains to suggest DOMAIN_OPTIONS named ones.
GROUPS_READ = max(BREAKDOWN_ROWS + 1, DOMAIN_OPTIONS + len(STAND_INS))


@dataclass(frozen=True)
class Figure:
    """A figure with the compared period's value and the badge of their change."""

    value: str
    previous: str
    badge: formatting.Badge


@dataclass(frozen=True)
class KeyFigure:
    key: str  # api_calls, downloads, downloaded_bytes, app_opens
    label: str
    figure: Figure
    href: str | None  # the view with this figure in the main chart; None: not a chart's figure
    selected: bool
    sparkline: Markup


class ChartRow(NamedTuple):
    """One interval of the main chart as its table shows it (compared sides "" without a
    comparison)."""

    when: str
    value: str
    before: str  # the compared interval
    previous: str  # its figure
    change: str  # the badge's text: "▲ +25 %", "new", "–"
    partial: str  # what makes the interval partial ("today, partial"); "" for a whole one


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: Markup
    # The figures as a table, row i for bar i: for screen readers (the SVG is one image to
    # them), for copying, and for the crosshair of static/dashboard.js, which reads them here
    # rather than from each bar (docs/dashboard.md#the-page).
    table: list[ChartRow]
    partial_note: str  # the caption that says today's interval is still counted; "" if none


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    href: str | None  # None: not offered, `note` says why
    selected: bool
    note: str = ""


@dataclass(frozen=True)
class Share:
    """One figure of a breakdown row: both periods, the change, the share of the total."""

    figure: Figure
    share: str


@dataclass(frozen=True)
class BreakdownRow:
    key: str
    label: str
    href: str | None  # the view filtered on this row; None: not a filter (categories, others)
    api_calls: Share
    downloads: Share


@dataclass(frozen=True)
class Breakdown:
    key: str
    title: str
    rows: list[BreakdownRow]


@dataclass(frozen=True)
class Chip:
    """An active filter: what it is called on the page, and the view without it."""

    field: str  # group, domain, dataset
    value: str
    label: str  # "Calling domain: (no referer)"
    remove_href: str


@dataclass(frozen=True)
class OverviewShown:
    compared_with: str
    is_compared: bool
    key_figures: list[KeyFigure]
    chart: Chart
    intervals: list[Choice]
    breakdowns: list[Breakdown]
    # The view's most used calling domains, offered by the domain filter (any other can be
    # typed), and the note that says so when there are more.
    domain_options: list[str]
    domain_note: str
    chips: list[Chip]


@dataclass(frozen=True)
class Column:
    key: str  # a View sort
    label: str
    href: str  # the view sorted by this column, first page
    sorted: bool


@dataclass(frozen=True)
class TableRow:
    id: str
    title: str
    href: str  # the dataset's page
    filter_href: str  # the view filtered on this dataset
    owner: str
    api_calls: Figure
    downloads: Figure


@dataclass(frozen=True)
class TableShown:
    columns: list[Column]
    rows: list[TableRow]
    caption: str
    previous_href: str | None
    next_href: str | None
    total: int
    with_owner: bool
    descending: bool


def figure(
    trend: Trend, lang: formatting.Lang, volume: bool = False, small_base: int = SMALL_BASE
) -> Figure:
    """A row's figure; a key figure (the headline, a sum of many rows) passes small_base=0 and
    keeps its percentage."""
    write = formatting.volume if volume else formatting.count
    return Figure(
        write(trend.current, lang),
        write(trend.previous, lang),
        formatting.badge(
            trend.current, trend.previous, lang, small_base=0 if volume else small_base
        ),
    )


def updated(found: Freshness, now: datetime, t: Translate, lang: formatting.Lang) -> str:
    """How fresh the figures are: every batch received before `found.folded_until` is in them
    (docs/dashboard.md); the rest waits for the folder. Read from a replica behind the primary,
    nothing may wait there and the figures still stop at its last replayed commit."""
    if not found.waiting_batches:
        behind = found.age_seconds(now)
        if behind < 1:
            return t("updated_now")
        return t("updated_behind", age=formatting.age(behind, lang))
    return t(
        "updated_waiting",
        age=formatting.age(found.age_seconds(now), lang),
        batches=_counted(t, "batches", found.waiting_batches, lang),
        lines=_counted(t, "lines", found.waiting_lines, lang),
    )


def _counted(t: Translate, key: str, n: int, lang: formatting.Lang) -> str:
    # French counts 0 and 1 in the singular, English only 1.
    one = n == 1 if lang == "en" else n < 2
    return t(f"{key}_{'one' if one else 'many'}", n=formatting.count(n, lang))


def compared_with(view: View, t: Translate) -> str:
    against = view.compared
    if against is None:
        return t("no_comparison")
    key = "compared_with_year" if view.compare is Compare.YEAR else "compared_with"
    return t(key, start=against.start, end=against.end)


def present_overview(
    view: View,
    overview: Overview,
    here: str,
    t: Translate,
    zone: str = "UTC",
    consumers_min: int = 5,
) -> OverviewShown:
    """`zone`: the time zone whose day is today (USAGE_METRICS_TIMEZONE), named by the chart;
    `consumers_min`: under it a count of consumers is not shown (USAGE_METRICS_CONSUMERS_MIN)."""
    lang, totals = view.lang, overview.totals
    series = {
        "api_calls": [bucket.figures.api_calls.current for bucket in overview.chart],
        "downloads": [bucket.figures.downloads.current for bucket in overview.chart],
    }
    key_figures = []
    for key, volume in (
        ("api_calls", False),
        ("downloads", False),
        ("downloaded_bytes", True),
        ("app_opens", False),
    ):
        if key == "app_opens" and view.datasets:
            continue  # Data Fair logs application opens on the application, not the dataset
        charted = key in METRICS
        key_figures.append(
            KeyFigure(
                key,
                t(key),
                figure(getattr(totals, key), lang, volume, small_base=0),
                f"{here}?{view.query(metric=key)}" if charted else None,
                view.metric == key,
                charts.sparkline(series[key], label=t(f"trend_{key}")) if charted else Markup(""),
            )
        )
    key_figures.append(_consumers_figure(overview, consumers_min, lang, t))
    domains = [g.key for g in overview.by_domain.top if g.key not in STAND_INS]
    named_domains = overview.by_domain.count - overview.by_domain.stand_ins
    return OverviewShown(
        compared_with=compared_with(view, t),
        is_compared=view.compared is not None,
        key_figures=key_figures,
        chart=_main_chart(view, overview, t, zone),
        intervals=[_interval_choice(view, interval, here, t) for interval in Interval],
        breakdowns=[
            Breakdown(kind, t(title), _breakdown(groups, kind, view, here, t))
            for kind, title, groups in (
                ("referer_domain", "by_domain", overview.by_domain),
                ("user_group", "by_user_group", overview.by_user_group),
                ("referer_category", "by_category", overview.by_category),
            )
        ],
        domain_options=domains[:DOMAIN_OPTIONS],
        domain_note=(
            t(
                "domains_suggested",
                shown=formatting.count(DOMAIN_OPTIONS, lang),
                total=formatting.count(named_domains, lang),
            )
            if named_domains > DOMAIN_OPTIONS
            else ""
        ),
        chips=_chips(view, here, t),
    )


def _consumers_figure(
    overview: Overview, minimum: int, lang: formatting.Lang, t: Translate
) -> KeyFigure:
    """Distinct consumers: a count under the minimum reads "< 5", and its change is not shown;
    the sparkline shows buckets under it as 0. No figure ("—") with a domain filter."""
    found = overview.consumers
    if found is None:
        none = formatting.badge(0, 0, lang)
        shown = Figure(none.text, none.text, none)
        return KeyFigure("consumers", t("consumers"), shown, None, False, Markup(""))
    current, previous = found.current, found.compared

    def written(n: int) -> str:
        return formatting.count(n, lang) if n >= minimum else f"<{formatting.NBSP}{minimum}"

    both = current >= minimum and previous >= minimum
    badge = formatting.badge(current, previous, lang) if both else formatting.badge(0, 0, lang)
    line = [n if n >= minimum else 0 for n in found.buckets]
    return KeyFigure(
        "consumers",
        t("consumers"),
        Figure(written(current), written(previous), badge),
        None,
        False,
        charts.sparkline(line, label=t("trend_consumers")),
    )


def _interval_choice(view: View, interval: Interval, here: str, t: Translate) -> Choice:
    """A switch of the main chart's interval; one that would draw more than MAX_BARS bars is
    not a link, and says why."""
    label = t(f"interval_{interval.value}")
    if interval in view.intervals:
        href = f"{here}?{view.query(interval_chosen=interval)}"
        return Choice(interval.value, label, href, view.interval is interval)
    bars = formatting.count(bar_count(view.period, interval), view.lang)
    note = t("too_many_bars", bars=bars, most=formatting.count(MAX_BARS, view.lang))
    return Choice(interval.value, label, None, False, note)


def _chips(view: View, here: str, t: Translate) -> list[Chip]:
    filters = [
        ("group", "groups", "user_group", view.groups),
        ("domain", "domains", "referer_domain", view.domains),
        # A dataset's page is about its dataset: no chip to remove it.
        ("dataset", "datasets", "", () if view.dataset_page else view.datasets),
    ]
    return [
        Chip(
            field,
            value,
            f"{t(f'chip_{field}')}: {group_label(view.lang, kind, value) if kind else value}",
            f"{here}?{view.without(name, value)}",
        )
        for field, name, kind, values in filters
        for value in values
    ]


def _main_chart(view: View, overview: Overview, t: Translate, zone: str) -> Chart:
    metric, lang, interval, today = view.metric, view.lang, view.interval, view.today
    title = t(f"chart_{metric}_{interval.value}")
    previous_label = (
        None
        if view.compared is None
        or not any(getattr(b.figures, metric).previous for b in overview.chart)
        else t("compared_period")
    )
    svg = charts.daily_chart(
        overview.chart,
        metric,  # type: ignore[arg-type]
        title=title,
        current_label=t("current_period"),
        previous_label=previous_label,
        lang=lang,
        id_prefix="main",
        interval=interval,
        today=today,
    )
    partial_label = t(f"partial_{interval.value}")
    compared = view.compared is not None
    table = []
    partial = False
    for b in overview.chart:
        now, then = b.bucket.current, b.bucket.previous
        trend = getattr(b.figures, metric)
        holds_today = charts.holds(now, today)
        partial = partial or holds_today
        table.append(
            ChartRow(
                charts.when(now.start, now.end, interval),
                formatting.count(trend.current, lang),
                charts.when(then.start, then.end, interval) if compared else "",
                formatting.count(trend.previous, lang) if compared else "",
                formatting.badge(trend.current, trend.previous, lang).text if compared else "",
                partial_label if holds_today else "",
            )
        )
    note = t(f"partial_note_{interval.value}", day=today, zone=zone) if partial else ""
    return Chart(metric, title, svg, table, note)


FILTERS = {"referer_domain": "domains", "user_group": "groups"}


def _breakdown(
    groups: Ranking, kind: str, view: View, here: str, t: Translate
) -> list[BreakdownRow]:
    total_api = groups.total.api_calls.current
    total_downloads = groups.total.downloads.current
    # The most used rows, whatever they are: "(no referer)" is often the largest of thousands
    # of domains and must not vanish into the others' row; shown after the named ones.
    shown, rest = groups.top[:BREAKDOWN_ROWS], groups.count - BREAKDOWN_ROWS
    if rest == 1:  # folding one row would only hide its name
        shown, rest = groups.top[: BREAKDOWN_ROWS + 1], 0
    name = FILTERS.get(kind)
    rows = []
    for group in sorted(shown, key=lambda g: g.key in STAND_INS):  # stable: named ones first
        href = None
        if name is not None and group.key not in getattr(view, name):
            values = (*getattr(view, name), group.key)
            href = f"{here}?{view.query(**{name: values, 'page': 1})}"
        label = group_label(view.lang, kind, group.key)
        rows.append(_row(group.key, label, href, group.figures, total_api, total_downloads, view))
    if rest > 0:
        # The rest is the total less the rows shown: exact, without reading the rest's groups.
        summed = Figures(
            Trend(
                total_api - sum(g.figures.api_calls.current for g in shown),
                groups.total.api_calls.previous - sum(g.figures.api_calls.previous for g in shown),
            ),
            Trend(
                total_downloads - sum(g.figures.downloads.current for g in shown),
                groups.total.downloads.previous - sum(g.figures.downloads.previous for g in shown),
            ),
        )
        label = t("others", n=formatting.count(rest, view.lang))
        rows.append(_row("", label, None, summed, total_api, total_downloads, view))
    return rows


def _row(
    key: str,
    label: str,
    href: str | None,
    figures: Figures,
    total_api: int,
    total_downloads: int,
    view: View,
) -> BreakdownRow:
    lang = view.lang
    return BreakdownRow(
        key,
        label,
        href,
        Share(
            figure(figures.api_calls, lang),
            formatting.share(figures.api_calls.current, total_api, lang),
        ),
        Share(
            figure(figures.downloads, lang),
            formatting.share(figures.downloads.current, total_downloads, lang),
        ),
    )


def _sorted_by(view: View, key: str) -> str:
    """The query of the table sorted by `key`: the sorted column's link reverses its order,
    another column's starts in its own (titles A-Z, usage most first)."""
    if view.sort == key:
        return view.query(page=1, descending_chosen=not view.descending)
    return view.query(sort=key, page=1, descending_chosen=None)


def present_table(view: View, page: DatasetsPage, here: str, t: Translate) -> TableShown:
    lang = view.lang
    columns = [
        Column(key, t(label), f"{here}?{_sorted_by(view, key)}", view.sort == key)
        for key, label in (
            ("title", "title"),
            ("api_calls", "api_calls"),
            ("downloads", "downloads"),
        )
    ]
    dataset_query = view.query(page=1, sort="api_calls", datasets=())
    rows = [
        TableRow(
            id=item.dataset.id,
            title=item.dataset.title or item.dataset.id,
            href=f"{here}/datasets/{quote(item.dataset.id, safe='')}"
            + (f"?{dataset_query}" if dataset_query else ""),
            filter_href=f"{here}?{view.query(datasets=(*view.datasets, item.dataset.id), page=1)}",
            owner=owner_label(item.dataset.owner, item.dataset.owner_name, t),
            api_calls=figure(item.figures.api_calls, lang),
            downloads=figure(item.figures.downloads, lang),
        )
        for item in page.rows
    ]
    return TableShown(
        columns=columns,
        rows=rows,
        caption=t("page_of", page=page.page, pages=page.pages),
        previous_href=f"{here}?{view.query(page=page.page - 1)}" if page.page > 1 else None,
        next_href=f"{here}?{view.query(page=page.page + 1)}" if page.page < page.pages else None,
        total=page.total,
        with_owner=not isinstance(view.owner, Owner),
        descending=view.descending,
    )
