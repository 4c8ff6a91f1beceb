"""Days grouped into the main chart's intervals: single days, weeks (Monday to Sunday) or months.

The compared period has as many days as the period: bucket n of it holds the same positions
(day i faces day i), so a week of the period faces the seven days it was compared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple

from app.dashboard.view import Interval
from app.reports import DayFigures


class Bucket(NamedTuple):
    """One bar of the main chart: its days, and the compared days in the same positions."""

    start: date
    end: date
    api_calls: int
    downloads: int
    previous_start: date
    previous_end: date
    previous_api_calls: int
    previous_downloads: int


def buckets(
    current: Sequence[DayFigures], previous: Sequence[DayFigures], interval: Interval
) -> list[Bucket]:
    """Consecutive days of `current` that share a week or a month, summed on both sides; the
    first and last buckets may be partial (a period starting on a Wednesday)."""
    if len(previous) != len(current):
        raise ValueError(f"{len(current)} current days against {len(previous)} previous days")
    found: list[Bucket] = []
    first = 0
    for i in range(1, len(current) + 1):
        if i < len(current) and _key(current[i].day, interval) == _key(
            current[first].day, interval
        ):
            continue
        now, then = current[first:i], previous[first:i]
        found.append(
            Bucket(
                now[0].day,
                now[-1].day,
                sum(day.api_calls for day in now),
                sum(day.downloads for day in now),
                then[0].day,
                then[-1].day,
                sum(day.api_calls for day in then),
                sum(day.downloads for day in then),
            )
        )
        first = i
    return found


def _key(day: date, interval: Interval) -> tuple[int, int]:
    if interval is Interval.MONTH:
        return day.year, day.month
    if interval is Interval.WEEK:
        year, week, _ = day.isocalendar()
        return year, week
    return day.toordinal(), 0
