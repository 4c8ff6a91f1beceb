"""A view's figures as the page shows them: written out in the reader's language, charts drawn,
links made. Templates only place what this module prepares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from markupsafe import Markup

from app.dashboard import charts, formatting
from app.dashboard.data import DatasetsPage
from app.dashboard.labels import group_label
from app.dashboard.overview import Group, Overview
from app.dashboard.view import View
from app.reports import Figures, Trend

Translate = Callable[..., str]


@dataclass(frozen=True)
class Figure:
    """A figure with the previous period's value and the badge of their change."""

    value: str
    previous: str
    badge: formatting.Badge


@dataclass(frozen=True)
class KeyFigure:
    key: str  # api_calls, downloads, downloaded_bytes, app_opens
    label: str
    figure: Figure


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: Markup
    # The figures as a table, for screen readers and copying (daily charts: day, figure,
    # previous period's day, its figure); the SVG is one image to assistive technology.
    table: list[tuple[str, str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class OverviewShown:
    compared_with: str
    key_figures: list[KeyFigure]
    daily: list[Chart]
    breakdowns: list[Chart]
    domain_options: list[str]  # the view's calling domains, offered by the domain filter


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
    href: str
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


def figure(trend: Trend, lang: formatting.Lang, volume: bool = False) -> Figure:
    write = formatting.volume if volume else formatting.count
    return Figure(
        write(trend.current, lang),
        write(trend.previous, lang),
        formatting.badge(trend.current, trend.previous, lang),
    )


def present_overview(view: View, overview: Overview, t: Translate) -> OverviewShown:
    lang, totals, previous = view.lang, overview.totals, overview.period.previous()
    key_figures = [
        KeyFigure("api_calls", t("api_calls"), figure(totals.api_calls, lang)),
        KeyFigure("downloads", t("downloads"), figure(totals.downloads, lang)),
        KeyFigure(
            "downloaded_bytes", t("downloaded_bytes"), figure(totals.downloaded_bytes, lang, True)
        ),
        KeyFigure("app_opens", t("app_opens"), figure(totals.app_opens, lang)),
    ]
    labels = {"current_label": t("current_period"), "previous_label": t("previous_period")}
    daily = [
        Chart(
            metric,
            t(f"daily_{metric}"),
            charts.daily_chart(
                overview.daily,
                overview.previous_daily,
                metric,
                title=t(f"daily_{metric}"),
                lang=lang,
                id_prefix=f"daily-{metric}",
                **labels,
            ),
            [
                (
                    str(day.day),
                    formatting.count(getattr(day, metric), lang),
                    str(before.day),
                    formatting.count(getattr(before, metric), lang),
                )
                for day, before in zip(overview.daily, overview.previous_daily, strict=True)
            ],
        )
        for metric in ("api_calls", "downloads")
    ]
    breakdowns = [
        Chart(
            kind,
            t(title),
            charts.bar_chart(
                _bars(groups, kind, view, t),
                title=t(title),
                lang=lang,
                id_prefix=f"by-{kind}",
                empty_text=t("nothing"),
                **labels,
            ),
        )
        for kind, title, groups in (
            ("user_group", "by_user_group", overview.by_user_group),
            ("referer_domain", "by_domain", overview.by_domain),
            ("referer_category", "by_category", overview.by_category),
        )
    ]
    return OverviewShown(
        compared_with=t("compared_with", start=previous.start, end=previous.end),
        key_figures=key_figures,
        daily=daily,
        breakdowns=breakdowns,
        domain_options=[g.key for g in overview.by_domain if g.key not in ("none", "invalid")],
    )


def _uses(figures: Figures) -> Trend:
    """What a breakdown bar measures: API calls and downloads together."""
    return Trend(
        figures.api_calls.current + figures.downloads.current,
        figures.api_calls.previous + figures.downloads.previous,
    )


def _bars(groups: list[Group], kind: str, view: View, t: Translate) -> list[charts.BarRow]:
    named = [Group(group_label(view.lang, kind, g.key), g.figures) for g in groups]
    return charts.top_rows(
        named, _uses, limit=10, others_label=t("others", n="{n}"), lang=view.lang
    )


def present_table(view: View, page: DatasetsPage, here: str, t: Translate) -> TableShown:
    lang = view.lang
    columns = [
        Column(key, t(label), f"{here}?{view.query(sort=key, page=1)}", view.sort == key)
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
    )
