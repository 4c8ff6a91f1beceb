"""Consumer epochs: the days one hashing key serves, and which keys a batch may still use (pure).

A consumer is hashed under the key of the epoch its line's day falls in (docs/security.md#
consumers). An epoch is a day, a calendar month or a calendar year; its key may hash lines until
GRACE_DAYS after it ends (late logs), and is deleted then, so that nobody can hash a guess and
find it in a sketch again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

GRACE_DAYS = 2
EPOCH_UNITS = ("day", "month", "year")


def epoch_start(day: date, unit: str) -> date:
    """The first day of the epoch that contains `day`."""
    if unit == "day":
        return day
    if unit == "month":
        return day.replace(day=1)
    if unit == "year":
        return day.replace(month=1, day=1)
    raise ValueError(f"unknown epoch unit {unit!r}")


def epoch_end(start: date, unit: str) -> date:
    """The first day after the epoch that starts on `start`."""
    if unit == "day":
        return start + timedelta(days=1)
    if unit == "month":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start.replace(year=start.year + 1)


def open_epochs(today: date, unit: str) -> tuple[date, ...]:
    """The starts of the epochs whose keys may hash lines today: today's, and the one before
    while its grace lasts. Lines of any other day count no consumer."""
    current = epoch_start(today, unit)
    previous = epoch_start(current - timedelta(days=1), unit)
    if today < epoch_end(previous, unit) + timedelta(days=GRACE_DAYS):
        return (previous, current)
    return (current,)


def is_expired(start: date, unit: str, today: date) -> bool:
    """True once the epoch's grace is over: its key must be gone."""
    return epoch_end(start, unit) + timedelta(days=GRACE_DAYS) <= today


class EpochKeys:
    """The keys of the open epochs, looked up per day of a batch (a few dict reads per batch)."""

    __slots__ = ("_by_day", "_keys", "_unit")

    def __init__(self, unit: str, keys: Mapping[date, bytes]) -> None:
        self._unit = unit
        self._keys = dict(keys)
        self._by_day: dict[date, bytes | None] = {}

    def key_for(self, day: date) -> bytes | None:
        """The key of `day`'s epoch, or None when that epoch is not open (too old, or ahead)."""
        try:
            return self._by_day[day]
        except KeyError:
            key = self._by_day[day] = self._keys.get(epoch_start(day, self._unit))
            return key
