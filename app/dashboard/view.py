"""A dashboard view, read from and written to the URL query alone (docs/dashboard.md), so it can
be shared.

`start`/`end` (ISO days, inclusive) or `preset` (today, 7d, 30d, last-month, 12m); repeated `group`,
`domain`, `dataset`; `owner=<type>:<id>` for an admin or a portal session of several owners; the
datasets table's `sort`, `dir` (asc, desc: against the sort's own order) and `page`; `lang`
(en, fr) when the reader switched language; `compare` (previous, year, none), `interval` (day,
week, month; by default from the period's length) and `metric` (the main chart's figure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Literal, TypeVar
from urllib.parse import urlencode

from app.auth.scope import Scope
from app.core.hosts import host_name, readable_domain
from app.core.intervals import Interval
from app.core.periods import Period, comparable
from app.core.records import OWNER_TYPES, Owner, OwnerFilter, UserGroup
from app.errors import BadUserInputError
from app.reports import DatasetOrder, UsageFilter

Lang = Literal["en", "fr"]
_E = TypeVar("_E", bound=StrEnum)
LANGUAGES: tuple[Lang, ...] = ("en", "fr")
PAGE_SIZE = 20
MAX_FILTER_VALUES = 100  # per filter: a bound on a statement's parameters and on the URL


class Preset(StrEnum):
    TODAY = "today"
    LAST_7_DAYS = "7d"
    LAST_30_DAYS = "30d"
    LAST_MONTH = "last-month"
    LAST_12_MONTHS = "12m"


class Compare(StrEnum):
    PREVIOUS = "previous"  # the same number of days just before
    YEAR = "year"  # the same days a year before
    NONE = "none"


DEFAULT_PRESET = Preset.LAST_7_DAYS
METRICS = ("api_calls", "downloads")
# Past these lengths a bar per day gets thinner than a pixel on a phone: weeks, then months.
DAYS_BY_DAY = 92
DAYS_BY_WEEK = 732
# The most bars the main chart draws: a year by day (a leap one). A bar and its row in the
# chart's table are ~0.2 KB of a page that stays under 150 KB for any period (issue 24,
# docs/dashboard.md#page-weight): ten years by day would be ~650 KB. Longer: by week or month.
MAX_BARS = 366
SORTS: Mapping[str, DatasetOrder] = {
    "api_calls": DatasetOrder.API_CALLS,
    "downloads": DatasetOrder.DOWNLOADS,
    "title": DatasetOrder.TITLE,
}


def preset_period(preset: Preset, today: date) -> Period:
    """Presets end today, so that a batch just sent shows at once; the chart marks today as
    partial (docs/dashboard.md). `last-month` is the previous calendar month, whole."""
    if preset is Preset.TODAY:
        return Period(today, today)
    if preset is Preset.LAST_7_DAYS:
        return Period(today - timedelta(days=6), today)
    if preset is Preset.LAST_30_DAYS:
        return Period(today - timedelta(days=29), today)
    if preset is Preset.LAST_MONTH:
        last = today.replace(day=1) - timedelta(days=1)
        return Period(last.replace(day=1), last)
    # From the day after the same date a year before: 365 days, 366 across a 29 February.
    return Period(_year_before(today + timedelta(days=1)), today)


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return date(day.year - 1, 3, 1)


@dataclass(frozen=True)
class View:
    period: Period
    preset: Preset | None  # None: a custom start/end
    owner: OwnerFilter  # the owner(s) the view is restricted to; None: every owner (admin)
    groups: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    sort: str = "api_calls"
    page: int = 1
    lang: Lang = "en"
    lang_chosen: bool = False  # `lang` came from the URL, not from Accept-Language
    owner_chosen: bool = False  # `owner` picked among several: the URL keeps it
    dataset_page: bool = False  # a dataset's page: its dataset is in the path, not the query
    compare: Compare = Compare.PREVIOUS
    interval_chosen: Interval | None = None  # None: from the period's length
    metric: str = "api_calls"  # the main chart's figure, one of METRICS
    descending_chosen: bool | None = None  # None: the sort's own (titles A-Z, usage most first)
    # The day in progress (USAGE_METRICS_TIMEZONE, or USAGE_METRICS_TODAY): the presets end on
    # it, and the chart's bucket that holds it is partial. Never in the URL.
    today: date | None = None

    @property
    def descending(self) -> bool:
        if self.descending_chosen is not None:
            return self.descending_chosen
        return self.sort != "title"

    @property
    def interval(self) -> Interval:
        if self.interval_chosen is not None:
            return self.interval_chosen
        return default_interval(self.period)

    @property
    def intervals(self) -> list[Interval]:
        """The intervals the main chart can draw this period in (at most MAX_BARS bars)."""
        return [interval for interval in Interval if bar_count(self.period, interval) <= MAX_BARS]

    @property
    def compared(self) -> Period | None:
        """The period the figures are compared with; None: no comparison."""
        if self.compare is Compare.NONE:
            return None
        if self.compare is Compare.YEAR:
            return year_before(self.period)
        return self.period.previous()

    @property
    def usage(self) -> UsageFilter:
        return UsageFilter(
            owner=self.owner,
            dataset_ids=self.datasets or None,
            user_groups=self.groups or None,
            domains=self.domains or None,
        )

    @property
    def order(self) -> DatasetOrder:
        return SORTS[self.sort]

    @property
    def is_filtered(self) -> bool:
        return bool(self.groups or self.domains or self.datasets)

    def query(self, **changes: object) -> str:
        """The URL query of this view with `changes` (View fields); defaults left out."""
        return urlencode(self.pairs(**changes))

    def hidden(self, *edited: str) -> list[tuple[str, str]]:
        """The fields a form must carry to keep the view, but for those it edits itself; the
        table goes back to its first page."""
        return [(k, v) for k, v in self.pairs() if k not in edited and k != "page"]

    def pairs(self, **changes: object) -> list[tuple[str, str]]:
        view = replace(self, **changes)  # type: ignore[arg-type]
        pairs: list[tuple[str, str]] = []
        if view.preset is not None:
            preset = Preset(view.preset)  # templates pass the preset's value
            if preset is not DEFAULT_PRESET:
                pairs.append(("preset", preset.value))
        else:
            pairs += [
                ("start", view.period.start.isoformat()),
                ("end", view.period.end.isoformat()),
            ]
        if view.owner_chosen and isinstance(view.owner, Owner):
            pairs.append(("owner", f"{view.owner.type}:{view.owner.id}"))
        pairs += [("group", group) for group in view.groups]
        pairs += [("domain", domain) for domain in view.domains]
        if not view.dataset_page:
            pairs += [("dataset", dataset) for dataset in view.datasets]
        if view.sort != "api_calls":
            pairs.append(("sort", view.sort))
        if view.descending_chosen is not None:
            pairs.append(("dir", "desc" if view.descending_chosen else "asc"))
        if view.page != 1:
            pairs.append(("page", str(view.page)))
        if view.compare is not Compare.PREVIOUS:
            pairs.append(("compare", Compare(view.compare).value))
        if view.interval_chosen is not None:
            pairs.append(("interval", Interval(view.interval_chosen).value))
        if view.metric != "api_calls":
            pairs.append(("metric", view.metric))
        if view.lang_chosen:
            pairs.append(("lang", view.lang))
        return pairs

    def without(self, name: str, value: str) -> str:
        """The query with one filter value removed (and the table back on its first page)."""
        kept = tuple(v for v in getattr(self, name) if v != value)
        return self.query(**{name: kept, "page": 1})


class Params:
    """The URL query's values; the last one wins for single values."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._items = items

    def one(self, name: str) -> str | None:
        values = self.all(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return [value.strip() for key, value in self._items if key == name and value.strip()]


def read_view(
    items: Sequence[tuple[str, str]],
    *,
    today: date,
    scope: Scope,
    accept_language: str | None,
    dataset: str | None = None,
) -> View:
    """The view a URL asks for, within the caller's scope; BadUserInputError says what is wrong.
    `dataset`: the one dataset of a dataset's page (its other `dataset` filters are ignored)."""
    params = Params(items)
    period, preset = _period(params, today)
    owner_value = params.one("owner")
    requested = _owner(owner_value) if owner_value is not None else None
    owner = scope.owner_filter(requested)  # ForbiddenError for another owner than one's own
    chosen = as_lang(params.one("lang"))
    sort = params.one("sort") or "api_calls"
    if sort not in SORTS:
        raise BadUserInputError(f"sort={sort!r}: sort by {', '.join(SORTS)}")
    direction = params.one("dir")
    if direction not in (None, "asc", "desc"):
        raise BadUserInputError(f"dir={direction!r}: choose asc or desc")
    metric = params.one("metric") or "api_calls"
    if metric not in METRICS:
        raise BadUserInputError(f"metric={metric!r}: choose one of {', '.join(METRICS)}")
    interval = _choice(Interval, "interval", params.one("interval"))
    if interval is not None and (bars := bar_count(period, interval)) > MAX_BARS:
        raise BadUserInputError(
            f"interval={interval.value}: {bars} bars, more than the chart draws ({MAX_BARS}); "
            "choose a longer interval or a shorter period"
        )
    return View(
        period=period,
        preset=preset,
        owner=owner,
        groups=_groups(params.all("group")),
        domains=_listed("domain", [as_domain(d) for d in params.all("domain")]),
        datasets=(dataset,) if dataset is not None else _listed("dataset", params.all("dataset")),
        sort=sort,
        page=_page(params.one("page")),
        lang=chosen or preferred_language(accept_language),
        lang_chosen=chosen is not None,
        owner_chosen=scope.has_choice and requested is not None,
        dataset_page=dataset is not None,
        compare=_choice(Compare, "compare", params.one("compare")) or Compare.PREVIOUS,
        interval_chosen=interval,
        metric=metric,
        descending_chosen=None if direction is None else direction == "desc",
        today=today,
    )


def _choice(kind: type[_E], name: str, value: str | None) -> _E | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise BadUserInputError(f"{name}={value!r}: choose one of {choices}") from None


def as_domain(value: str) -> str:
    """What a reader types as a calling domain, as stored: `https://Client.Example:8443/map`
    counts as `client.example`, as the line's Referer did (docs/classification.md)."""
    text = value.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    return readable_domain(host_name(text)) if text else value.strip().lower()


def default_interval(period: Period) -> Interval:
    if period.days <= DAYS_BY_DAY:
        return Interval.DAY
    return Interval.WEEK if period.days <= DAYS_BY_WEEK else Interval.MONTH


def bar_count(period: Period, interval: Interval) -> int:
    """How many days, ISO weeks or calendar months the period touches: the chart's bars."""
    start, end = period.start, period.end
    if interval is Interval.DAY:
        return period.days
    if interval is Interval.WEEK:
        monday = start - timedelta(days=start.weekday())
        return (end - monday).days // 7 + 1
    return (end.year - start.year) * 12 + end.month - start.month + 1


def year_before(period: Period) -> Period:
    """The same days a year before, as many of them (so day i faces day i)."""
    start = _year_before(period.start)
    return Period(start, start + (period.end - period.start))


def _period(params: Params, today: date) -> tuple[Period, Preset | None]:
    start, end = params.one("start"), params.one("end")
    if start is not None or end is not None:
        if start is None or end is None:
            raise BadUserInputError("a custom period needs both start and end (YYYY-MM-DD)")
        return comparable(_day("start", start), _day("end", end)), None
    value = params.one("preset") or DEFAULT_PRESET.value
    try:
        preset = Preset(value)
    except ValueError:
        choices = ", ".join(p.value for p in Preset)
        raise BadUserInputError(f"preset={value!r}: choose one of {choices}") from None
    return preset_period(preset, today), preset


def _day(name: str, value: str) -> date:
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise BadUserInputError(f"{name}={value!r} is not a day: write days as YYYY-MM-DD")


def _owner(value: str) -> Owner:
    kind, _, owner_id = value.partition(":")
    if kind not in OWNER_TYPES or not owner_id:
        raise BadUserInputError(
            f"owner={value!r}: write the owner as user:<id> or organization:<id>"
        )
    return Owner(kind, owner_id)


def _groups(values: list[str]) -> tuple[str, ...]:
    known = {group.value for group in UserGroup}
    for value in values:
        if value.upper() not in known:
            raise BadUserInputError(f"group={value!r}: choose among {', '.join(sorted(known))}")
    return _listed("group", [value.upper() for value in values])


def _listed(name: str, values: list[str]) -> tuple[str, ...]:
    if len(values) > MAX_FILTER_VALUES:
        raise BadUserInputError(f"{len(values)} {name} filters: give at most {MAX_FILTER_VALUES}")
    return tuple(sorted(set(values)))


def _page(value: str | None) -> int:
    if value is None:
        return 1
    if not value.isdigit() or int(value) < 1:
        raise BadUserInputError(f"page={value!r}: pages are numbered from 1")
    return int(value)


def as_lang(value: str | None) -> Lang | None:
    return "en" if value == "en" else "fr" if value == "fr" else None


def preferred_language(accept_language: str | None) -> Lang:
    """The first of our languages in Accept-Language, by quality; English otherwise."""
    best: tuple[float, int, Lang] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        primary = as_lang(tag.strip().lower().split("-")[0])
        if primary is None:
            continue
        quality = 1.0
        name, _, number = parameters.strip().partition("=")
        if name.strip() == "q":
            try:
                quality = float(number)
            except ValueError:
                quality = 0.0
        if quality > 0 and (best is None or (-quality, position) < (-best[0], best[1])):
            best = (quality, position, primary)
    return best[2] if best is not None else "en"
