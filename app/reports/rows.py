"""What the read side takes and gives: filters, figures with their trend, days, dataset rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from app.core.records import Owner, OwnerFilter

DATASETS = "datasets"  # the resource type that GraphQL calls a dataset
# The only columns a breakdown may group on: they are pasted into SQL, never bound.
BREAKDOWN_COLUMNS = frozenset({"user_group", "referer_domain", "referer_category"})
TOTAL = ""  # the group key of figures that are not broken down, and the dataset key of totals


class DatasetOrder(StrEnum):
    TITLE = "title"
    API_CALLS = "api"  # the value is the operation whose status-ok requests are counted
    DOWNLOADS = "download"


@dataclass(frozen=True)
class UsageFilter:
    """Which status-ok dataset rows count: an owner or several (None: all), datasets, groups,
    domains."""

    owner: OwnerFilter = None
    dataset_ids: tuple[str, ...] | None = None
    user_groups: tuple[str, ...] | None = None
    domains: tuple[str, ...] | None = None


class Trend(NamedTuple):
    current: int
    previous: int


ZERO = Trend(0, 0)


@dataclass(frozen=True)
class Figures:
    """Status-ok requests and bytes of one group, in the period and in the previous one."""

    api_calls: Trend = ZERO
    downloads: Trend = ZERO
    downloaded_bytes: Trend = ZERO
    app_opens: Trend = ZERO


NO_FIGURES = Figures()


class Group(NamedTuple):
    """One group of a breakdown (a user group, calling domain or category) and its figures."""

    key: str
    figures: Figures


@dataclass(frozen=True)
class Ranking:
    """A breakdown's groups with API calls or downloads in either period, most used now first
    (current API calls + downloads, then key): the first ones asked for, not all of them."""

    top: list[Group]  # the first `upto` groups (all of them without `upto`)
    count: int  # how many groups there are
    total: Figures  # every group added up, used or not
    stand_ins: int = 0  # how many of the `count` are reserved domains (none, invalid, ...)


class DayFigures(NamedTuple):
    day: date
    api_calls: int
    downloads: int


@dataclass(frozen=True)
class DatasetRow:
    id: str
    title: str | None
    owner: Owner
    owner_name: str | None = None  # None until a line of the portal named the owner


@dataclass(frozen=True)
class NamedOwner:
    """An owner and its name as the portal's logs last gave it (None until one did)."""

    owner: Owner
    name: str | None
