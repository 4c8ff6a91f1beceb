"""Summed rows -> the `_agg` answer, shaped and sorted as Data Fair's
(docs/coming-from-data-fair.md).

Pure. Several of our rows may make one of Data Fair's groups (its `other` category covers five of
ours), so rows are added up here, after the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from app.core.periods import Period
from app.datafair.vocabulary import USER_CLASSES, referer_category
from app.reports.daily_metrics import MetricsRow


@dataclass
class _Sums:
    requests: int = 0
    bytes: int = 0
    duration_ms: int = 0

    def add(self, row: MetricsRow) -> None:
        self.requests += row.requests
        self.bytes += row.bytes
        self.duration_ms += row.duration_ms


@dataclass
class _Serie:
    key: dict[str, Any]
    sums: _Sums = field(default_factory=_Sums)
    days: dict[date, _Sums] = field(default_factory=dict)


def series_key(row: MetricsRow) -> dict[str, Any]:
    """A row's key in Data Fair's names and values, without its day."""
    key: dict[str, Any] = {}
    for column, value in row.key.items():
        if column == "user_group":
            key["userClass"] = USER_CLASSES.get(value, value)
        elif column == "referer_app":
            key["refererApp"] = value
        elif column == "referer_domain":
            key["refererDomain"] = value
        elif column == "referer_category":
            key["refererCategory"] = referer_category(value)
        elif column == "resource":
            key["resource"] = resource_object(*value)
    return key


def resource_object(resource_type: str, resource_id: str, title: str | None) -> dict[str, str]:
    found = {"type": resource_type, "id": resource_id}
    return {**found, "title": title} if title is not None else found


def agg_answer(rows: list[MetricsRow], period: Period, by_day: bool) -> dict[str, Any]:
    """`{nbRequests, bytes, series, days?}`: series by requests, most first (ties by key, so
    that the answer is stable); with `by_day`, each serie's days and every day of the period,
    when any row counts."""
    series: dict[tuple[Any, ...], _Serie] = {}
    for row in rows:
        # Our values, mapped: several of our categories make Data Fair's `other`.
        identity = tuple(
            referer_category(value) if column == "referer_category" else value
            for column, value in row.key.items()
            if column != "day"
        )
        serie = series.get(identity)
        if serie is None:
            serie = series[identity] = _Serie(series_key(row))
        serie.sums.add(row)
        if by_day:
            day = row.key["day"]
            sums = serie.days.get(day)
            if sums is None:
                sums = serie.days[day] = _Sums()
            sums.add(row)
    ordered = sorted(
        series.values(),
        key=lambda s: (-s.sums.requests, orjson.dumps(s.key, option=orjson.OPT_SORT_KEYS)),
    )
    answer: dict[str, Any] = {
        "nbRequests": sum(s.sums.requests for s in ordered),
        "bytes": sum(s.sums.bytes for s in ordered),
        "series": [_serie(serie, by_day) for serie in ordered],
    }
    if by_day:
        answer["days"] = [day.isoformat() for day in period.each_day()] if rows else []
    return answer


def _serie(serie: _Serie, by_day: bool) -> dict[str, Any]:
    found: dict[str, Any] = {
        "key": serie.key,
        "nbRequests": serie.sums.requests,
        "bytes": serie.sums.bytes,
    }
    if by_day:
        found["days"] = {
            day.isoformat(): {
                "nbRequests": sums.requests,
                "bytes": sums.bytes,
                "meanDuration": _mean_seconds(sums),
            }
            for day, sums in sorted(serie.days.items())
        }
    return found


def _mean_seconds(sums: _Sums) -> float:
    # Data Fair stores seconds; we store milliseconds.
    return sums.duration_ms / 1000 / sums.requests if sums.requests else 0.0
