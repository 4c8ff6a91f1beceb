"""Alerts: which datasets' day fell, leapt or failed, against the same weekday of the four weeks
before, from usage_daily in one grouped statement (docs/reports-and-alerts.md#alerts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from app.core.records import Owner
from app.notify.subscriptions import Thresholds
from app.reports import DATASETS
from app.reports.statement import Statement
from app.storage.facts import FACTS, RESOURCE_KEYS
from app.storage.summaries import OWNER_KEYS

BASELINE_WEEKS = 4
# Datasets read for one day at most: the statement stays bounded whatever the portal's size
# (the busiest first, so that what is cut is what could least alert).
MAX_DATASETS = 50_000
_METRICS = (("api_calls", "api"), ("downloads", "download"))


class AlertKind(StrEnum):
    DROP = "drop"
    SPIKE = "spike"
    SERVER_ERRORS = "server_errors"


@dataclass(frozen=True)
class DayUse:
    """One dataset's day beside its baseline: the mean of the same weekday over four weeks."""

    owner: Owner
    dataset_id: str
    api_calls: int
    downloads: int
    api_calls_baseline: float
    downloads_baseline: float
    requests: int  # every request of the day, whatever its status
    server_errors: int


@dataclass(frozen=True)
class Alert:
    day: date
    owner: Owner
    dataset_id: str
    kind: AlertKind
    metric: str  # api_calls, downloads, or requests for server errors
    value: int
    baseline: float  # the baseline, or for server errors the day's requests


def baseline_days(day: date) -> list[date]:
    return [day - timedelta(weeks=week) for week in range(1, BASELINE_WEEKS + 1)]


async def day_uses(day: date) -> list[DayUse]:
    """Every dataset's `day` and baseline, of every owner, from one grouped statement.

    The datasets seen since the first baseline day (`resources.last_day`, any status) lead,
    each read through its id and usage_facts' (resource_key, day) index: no scan of
    usage_facts, which has no index that starts with the day.
    """
    sql = Statement()
    today = sql.bind(day)
    days = sql.bind_all([day, *baseline_days(day)])
    sums = [
        f"SUM(CASE WHEN u.day = {today} AND u.operation = '{op}' AND u.status_class = 'ok' "
        f"THEN u.requests ELSE 0 END) AS {name}, "
        f"SUM(CASE WHEN u.day <> {today} AND u.operation = '{op}' AND u.status_class = 'ok' "
        f"THEN u.requests ELSE 0 END) AS {name}_before"
        for name, op in _METRICS
    ]
    dataset = "o.owner_type, o.owner_id, r.resource_id"  # its owner and id
    statement = (
        f"SELECT {dataset}, {', '.join(sums)}, "  # noqa: S608
        f"SUM(CASE WHEN u.day = {today} THEN u.requests ELSE 0 END) AS requests, "
        f"SUM(CASE WHEN u.day = {today} AND u.status_class = 'server_error' "
        f"THEN u.requests ELSE 0 END) AS server_errors "
        f"FROM resources r JOIN {RESOURCE_KEYS.table} k ON k.resource_type = r.resource_type "
        f"AND k.resource_id = r.resource_id JOIN {FACTS} u ON u.resource_key = k.id "
        f"AND u.day IN ({days}) JOIN {OWNER_KEYS.table} o ON o.id = u.owner_key "
        f"WHERE r.resource_type = {sql.bind(DATASETS)} "
        f"AND r.last_day >= {sql.bind(baseline_days(day)[-1])} "
        f"GROUP BY {dataset} ORDER BY SUM(u.requests) DESC, {dataset} LIMIT {MAX_DATASETS}"
    )
    return [
        DayUse(
            Owner(row["owner_type"], row["owner_id"]),
            row["resource_id"],
            int(row["api_calls"] or 0),
            int(row["downloads"] or 0),
            int(row["api_calls_before"] or 0) / BASELINE_WEEKS,
            int(row["downloads_before"] or 0) / BASELINE_WEEKS,
            int(row["requests"] or 0),
            int(row["server_errors"] or 0),
        )
        for row in await sql.rows(statement)
    ]


def alerts_of(
    day: date, uses: list[DayUse], owner: Owner | None, limits: Thresholds
) -> list[Alert]:
    """The alerts of one subscription (its owner, None: all; its thresholds): at most one per
    dataset and kind, API calls before downloads."""
    found: list[Alert] = []
    for use in uses:
        if owner is not None and use.owner != owner:
            continue
        kinds: set[AlertKind] = set()
        for metric in ("api_calls", "downloads"):
            value, baseline = getattr(use, metric), getattr(use, f"{metric}_baseline")
            kind = _change(value, baseline, limits)
            if kind is not None and kind not in kinds:
                kinds.add(kind)
                found.append(Alert(day, use.owner, use.dataset_id, kind, metric, value, baseline))
        if (
            use.requests >= limits.error_floor
            and use.server_errors > limits.error_share * use.requests
        ):
            found.append(
                Alert(
                    day,
                    use.owner,
                    use.dataset_id,
                    AlertKind.SERVER_ERRORS,
                    "requests",
                    use.server_errors,
                    use.requests,
                )
            )
    found.sort(key=lambda a: (a.owner, a.dataset_id, a.kind))
    return found


def _change(value: int, baseline: float, limits: Thresholds) -> AlertKind | None:
    if baseline >= limits.floor and value < (1 - limits.drop_share) * baseline:
        return AlertKind.DROP
    # A dataset barely used jumps by large factors: measured against the floor at least.
    if value > limits.spike_factor * max(baseline, limits.floor):
        return AlertKind.SPIKE
    return None
