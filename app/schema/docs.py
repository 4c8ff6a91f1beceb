"""Descriptions shared by several fields of the schema (one wording for one figure everywhere),
and `described`, which gives a resolver its description."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry

from app.core.periods import MAX_PERIOD_DAYS

_Resolver = TypeVar("_Resolver", bound=Callable[..., Any])


def described(description: str) -> Callable[[_Resolver], _Resolver]:
    """`@strawberry.field(description=...)`, typed: Strawberry's overloads return Any for it."""
    return cast(Callable[[_Resolver], _Resolver], strawberry.field(description=description))


# Every figure counts status-ok requests (docs/classification.md) of every user group, robots
# included, unless a `userGroups` argument narrows it.
_COUNTED = "answered with a 2xx status, by any user group (robots too) unless userGroups narrows it"
API_CALLS = (
    f"Calls to the datasets' API (Data Fair's readDataAPI: lines, values, aggregations) {_COUNTED}."
)
CONSUMERS = (
    "Distinct consumers of the datasets (API calls, downloads and application opens answered "
    "with a 2xx status, bots excluded): accounts by session or API key, anonymous clients by "
    "network and browser family; an estimate from sketches, exact in practice for small "
    "counts, within 2 % from 10 000 up. Null when a `domains` filter is given."
)
DOWNLOADS = f"Downloads of the datasets' files (Data Fair's readDataFiles) {_COUNTED}."
DOWNLOADED_BYTES = (
    "Bytes of those downloads before compression (bytes sent × the proxy's gzip ratio)."
)
APP_OPENS = (
    f"Openings of applications (Data Fair's openApplication) {_COUNTED}: logged on the datasets "
    "and, when the usage is not of given datasets, on the owners' applications too."
)
DAY = (
    "Days are calendar days in the service's time zone (USAGE_METRICS_TIMEZONE, UTC unless "
    "set), of the time the proxy logged the request."
)
PERIOD = f"The days to count, both included; at most {MAX_PERIOD_DAYS} days. {DAY}"
USER_GROUPS = "Count only requests of these user groups; null: every group, robots included."
DOMAINS = (
    "Count only requests from these calling domains (host names as `Breakdown.DOMAIN` keys "
    "spell them, any case); null: every domain."
)
DATASETS = "Count only these datasets (ids, at most 1000); null: every dataset in scope."
OWNER = (
    "Count only this owner's datasets; it must be one the credentials may read (see `viewer`). "
    "Null: every owner they may read."
)
FIRST = "How many items this page holds, 0 to 100."
AFTER = "The `pageInfo.endCursor` of the previous page; null: the first page."
CURSOR = "Where this item is: pass it as `after` to get the items that follow."
TOTAL_COUNT = "How many items all pages hold together."
EDGES = "The items of this page with their cursors."
NODES = "The items of this page, in order, without cursors."
PAGE_INFO = "Whether there are pages before and after this one, and the cursors to reach them."
