"""The query strings of Data Fair's raw list, `_agg` and `_export`, checked as Data Fair checks
them (docs/coming-from-data-fair.md): a bad query is a 400 naming the parameter and what it
takes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from app.core.periods import Period, comparable
from app.core.records import Owner
from app.datafair.vocabulary import (
    GROUP_BY_CLASS,
    OPERATION_BY_TRACK,
    OPERATION_TRACKS,
    OTHER_CATEGORY,
    REFERER_CATEGORIES,
    SHARED_CATEGORIES,
    STATUS_BY_CLASS,
    STATUS_CLASSES,
    USER_CLASSES,
    our_categories,
)
from app.errors import BadUserInputError
from app.reports.daily_metrics import MAX_DOCUMENTS, DocumentsQuery, MetricsFilter, Order

SPLITS = ("day", "resource", "userClass", "refererApp", "refererDomain", "refererCategory")
# Data Fair's split names -> the usage_daily column each groups on.
SPLIT_COLUMNS = {
    "day": "day",
    "resource": "resource",
    "userClass": "user_group",
    "refererApp": "referer_app",
    "refererDomain": "referer_domain",
    "refererCategory": "referer_category",
}
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ONE = ("start", "end", "operationTrack", "statusClass", "resourceType", "topicId", "owner")
_MANY = ("userClass", "resourceId", "refererDomain", "refererCategory", "split")
_AGG_PARAMETERS = frozenset((*_ONE, *_MANY))
_EXPORT_PARAMETERS = frozenset(("start", "end", "owner"))
_LIST_PARAMETERS = frozenset(("start", "end", "size", "page", "skip", "sort", "owner"))
_WHOLE = re.compile(r"\d{1,9}")
# A document's fields the raw list sorts on (Data Fair's `sort=field:1|-1`): its column, and
# Data Fair's names of our values, so that the order is the one Data Fair's values give.
SORT_FIELDS = {
    "day": Order("day"),
    "resource.type": Order("resource_type"),
    "resource.id": Order("resource_id"),
    "operationTrack": Order("operation", labels=OPERATION_TRACKS),
    "statusClass": Order("status_class", labels=STATUS_CLASSES),
    "userClass": Order("user_group", labels=USER_CLASSES),
    "refererDomain": Order("referer_domain"),
    "refererCategory": Order(
        "referer_category", labels={c: c for c in SHARED_CATEGORIES}, otherwise=OTHER_CATEGORY
    ),
    "refererApp": Order("referer_app"),
    "nbRequests": Order("requests"),
    "bytes": Order("bytes"),
    "duration": Order("duration_ms"),
}
_OWNER = re.compile(r"(?P<type>user|organization):(?P<id>[^\s:]{1,200})")

Params = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class AggQuery:
    """An `_agg` request in our values; `owner` is ours (admin tokens, multi-owner sessions)."""

    period: Period
    split: tuple[str, ...]
    owner: Owner | None
    operations: tuple[str, ...] | None = None
    status_classes: tuple[str, ...] | None = None
    user_groups: tuple[str, ...] | None = None
    resource_type: str | None = None
    resource_ids: tuple[str, ...] | None = None
    referer_domains: tuple[str, ...] | None = None
    referer_categories: tuple[str, ...] | None = None

    def usage(self, owner: Owner) -> MetricsFilter:
        return MetricsFilter(
            owner=owner,
            period=self.period,
            operations=self.operations,
            status_classes=self.status_classes,
            user_groups=self.user_groups,
            resource_type=self.resource_type,
            resource_ids=self.resource_ids,
            referer_domains=self.referer_domains,
            referer_categories=self.referer_categories,
            with_app="refererApp" in self.split,  # Data Fair's split drops rows without an app
        )


@dataclass(frozen=True)
class PeriodQuery:
    """An `_export` request: the period, and maybe the owner (ours)."""

    period: Period
    owner: Owner | None


@dataclass(frozen=True)
class ListQuery:
    """A raw list request: days (each optional), a page, an order; `owner` is ours."""

    owner: Owner | None
    start: date | None
    end: date | None
    order: tuple[Order, ...]
    offset: int
    size: int

    def documents(self, owner: Owner) -> DocumentsQuery:
        return DocumentsQuery(owner, self.start, self.end, self.order, self.offset, self.size)


def parse_agg(params: Params) -> AggQuery:
    values = _collect(params, _AGG_PARAMETERS)
    track = _one(values, "operationTrack")
    status = _one(values, "statusClass")
    classes = _many(values, "userClass")
    categories = _many(values, "refererCategory")
    return AggQuery(
        period=_period(values),
        split=_split(values),
        owner=_owner(values),
        operations=(_member(track, OPERATION_BY_TRACK, "operationTrack"),) if track else None,
        status_classes=(_member(status, STATUS_BY_CLASS, "statusClass"),) if status else None,
        user_groups=tuple(_user_group(c) for c in classes) if classes else None,
        resource_type=_one(values, "resourceType"),
        resource_ids=_many(values, "resourceId"),
        referer_domains=_many(values, "refererDomain"),
        referer_categories=(
            tuple(dict.fromkeys(o for c in categories for o in _categories(c)))
            if categories
            else None
        ),
    )


def parse_period(params: Params) -> PeriodQuery:
    values = _collect(params, _EXPORT_PARAMETERS)
    # The export compares with the previous period: it must exist (not before year 1).
    period = _period(values)
    return PeriodQuery(comparable(period.start, period.end), _owner(values))


def parse_list(params: Params) -> ListQuery:
    """Data Fair's list paging (`size`, `page` or `skip`, `sort`), and days to narrow it."""
    values = _collect(params, _LIST_PARAMETERS, single=_LIST_PARAMETERS)
    start, end = _optional_day(values, "start"), _optional_day(values, "end")
    if start is not None and end is not None and end < start:
        raise BadUserInputError(
            f"the days end ({end}) before they start ({start}): give an end on or after the start"
        )
    size = _whole(values, "size", 0, MAX_DOCUMENTS) if "size" in values else MAX_DOCUMENTS
    if "page" in values and "skip" in values:
        raise BadUserInputError("give the query parameter 'page' or 'skip', not both")
    if "skip" in values:
        offset = _whole(values, "skip", 0, MAX_DOCUMENTS)
    else:
        offset = (_whole(values, "page", 1, MAX_DOCUMENTS) - 1) * size if "page" in values else 0
    if offset + size > MAX_DOCUMENTS:
        # Data Fair's bound on its lists (skip + size), and ours: deeper pages cost a scan.
        raise BadUserInputError(
            f"this page ends at document {offset + size}, past the first {MAX_DOCUMENTS} that "
            f"a list reaches (skip + size <= {MAX_DOCUMENTS}): narrow the days with start and "
            "end, or ask for a smaller size"
        )
    return ListQuery(_owner(values), start, end, _sort(values), offset, size)


def _collect(
    params: Params, allowed: frozenset[str], single: Iterable[str] = _ONE
) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in params:
        if name not in allowed:
            raise BadUserInputError(
                f"unknown query parameter {name!r}: use {', '.join(sorted(allowed))}"
            )
        values.setdefault(name, []).append(value)
    for name in single:
        if len(values.get(name, ())) > 1:
            raise BadUserInputError(f"the query parameter {name!r} takes one value, not several")
    return values


def _one(values: dict[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    return found[0] if found else None


def _many(values: dict[str, list[str]], name: str) -> tuple[str, ...] | None:
    found = values.get(name)
    if not found:
        return None
    if any(value == "" for value in found):
        raise BadUserInputError(
            f"the query parameter {name!r} is empty: give a value or leave it out"
        )
    return tuple(dict.fromkeys(found))


def _period(values: dict[str, list[str]]) -> Period:
    start, end = _day(values, "start"), _day(values, "end")
    return Period(start, end)


def _day(values: dict[str, list[str]], name: str) -> date:
    text = _one(values, name)
    if text is None:
        raise BadUserInputError(f"the query parameter {name!r} is required (a day: YYYY-MM-DD)")
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise BadUserInputError(
            f"the query parameter {name!r} must be a day as YYYY-MM-DD, like 2024-01-31"
        ) from None


def _optional_day(values: dict[str, list[str]], name: str) -> date | None:
    return _day(values, name) if name in values else None


def _whole(values: dict[str, list[str]], name: str, low: int, high: int) -> int:
    text = values[name][0]
    if not _WHOLE.fullmatch(text) or not low <= int(text) <= high:
        raise BadUserInputError(
            f"the query parameter {name!r} must be a whole number from {low} to {high}"
        )
    return int(text)


def _sort(values: dict[str, list[str]]) -> tuple[Order, ...]:
    # Data Fair's forms: `field:1`, `field:-1`, `field`, `-field`, comma-separated.
    orders = []
    for part in filter(None, (_one(values, "sort") or "").split(",")):
        name, colon, way = part.partition(":")
        descending = way == "-1" or (not colon and name.startswith("-"))
        if colon and way not in ("1", "-1"):
            raise BadUserInputError(
                f"sort {part!r}: write field:1 (ascending) or field:-1 (descending)"
            )
        found = SORT_FIELDS.get(name[1:] if descending and not colon else name)
        if found is None:
            raise BadUserInputError(
                f"sort {part!r}: sort on {', '.join(SORT_FIELDS)} (field:1 or field:-1)"
            )
        orders.append(replace(found, descending=descending))
    return tuple(orders) or (SORT_FIELDS["day"],)


def _split(values: dict[str, list[str]]) -> tuple[str, ...]:
    # Data Fair takes `split=day,resource` and repeated `split=` alike.
    parts = [part for value in values.get("split", ["day"]) for part in value.split(",")]
    for part in parts:
        if part not in SPLITS:
            raise BadUserInputError(f"split {part!r} is not one of {', '.join(SPLITS)}")
    return tuple(dict.fromkeys(parts))


def _owner(values: dict[str, list[str]]) -> Owner | None:
    text = _one(values, "owner")
    if text is None:
        return None
    found = _OWNER.fullmatch(text)
    if found is None:
        raise BadUserInputError(
            "the query parameter 'owner' must be user:<id> or organization:<id>"
        )
    return Owner(found["type"], found["id"])


def _member(value: str, known: dict[str, str], name: str) -> str:
    if value not in known:
        raise BadUserInputError(f"{name} {value!r} is not one of {', '.join(known)}")
    return known[value]


def _user_group(value: str) -> str:
    if value not in GROUP_BY_CLASS:
        raise BadUserInputError(f"userClass {value!r} is not one of {', '.join(GROUP_BY_CLASS)}")
    # The legacy processing classes are counted as API keys (docs/coming-from-data-fair.md):
    # asked for themselves they match nothing, so that no request is counted under two names.
    return GROUP_BY_CLASS[value] if value in USER_CLASSES.values() else "-"


def _categories(value: str) -> tuple[str, ...]:
    if value not in REFERER_CATEGORIES:
        raise BadUserInputError(
            f"refererCategory {value!r} is not one of {', '.join(REFERER_CATEGORIES)}"
        )
    return our_categories(value)
