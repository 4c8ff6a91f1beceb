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
    previous: Period  # as many days, `period.days` earlier: what the bucket compares with
    partial: bool  # the period cuts the interval: it covers fewer days than a whole one


def buckets(period: Period, interval: Interval) -> list[Bucket]:
    """The intervals of `period` in order; the first and last may be partial."""
    shift = timedelta(days=period.days)
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
