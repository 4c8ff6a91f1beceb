"""A period cut into days, ISO weeks or calendar months, each beside the previous period's
days at the same positions (pure date arithmetic)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from enum import StrEnum
from typing import NamedTuple

from app.core.periods import Period


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO 8601: Monday to Sunday
    MONTH = "month"  # calendar months


class Bucket(NamedTuple):
    """One interval of a period, clipped to it, and the previous period's days at its positions."""

    current: Period
    previous: Period  # as many days, as far before as the compared period: what it faces
    partial: bool  # the period cuts the interval: it covers fewer days than a whole one


def buckets(period: Period, interval: Interval, against: Period | None = None) -> list[Bucket]:
    """The intervals of `period` in order; the first and last may be partial. Each faces the
    days at its positions in `against` (as long as `period`; its previous period by default)."""
    if against is not None and against.days != period.days:
        raise ValueError(
            f"{period.start}..{period.end} has {period.days} days, "
            f"{against.start}..{against.end} has {against.days} days"
        )
    shift = period.start - (against or period.previous()).start
    found = []
    start = period.start
    while start <= period.end:
        last = _last_day(start, interval)
        end = min(last, period.end)
        whole = start == _first_day(start, interval) and end == last
        found.append(Bucket(Period(start, end), Period(start - shift, end - shift), not whole))
        start = end + timedelta(days=1)
    return found


def _first_day(day: date, interval: Interval) -> date:
    if interval is Interval.WEEK:
        return day - timedelta(days=day.weekday())
    if interval is Interval.MONTH:
        return day.replace(day=1)
    return day


def _last_day(day: date, interval: Interval) -> date:
    if interval is Interval.WEEK:
        return day + timedelta(days=6 - day.weekday())
    if interval is Interval.MONTH:
        return day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return day
