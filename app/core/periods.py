"""Periods of whole days and the previous period of the same length (pure date arithmetic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from app.errors import BadUserInputError

MAX_PERIOD_DAYS = 3660


@dataclass(frozen=True, order=True)
class Period:
    """Days from start to end, both included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise BadUserInputError(
                f"the period ends ({self.end}) before it starts ({self.start}): "
                "give an end on or after the start"
            )
        if self.days > MAX_PERIOD_DAYS:
            raise BadUserInputError(
                f"the period has {self.days} days; ask for at most {MAX_PERIOD_DAYS} days at once"
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """Same length, ending the day before start: 2024-03-01..31 -> 2024-01-30..02-29."""
        end = self.start - timedelta(days=1)
        return Period(end - (self.end - self.start), end)

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def comparable(start: date, end: date) -> Period:
    """The period start..end, refused when it has no previous period (before year 1)."""
    period = Period(start, end)
    try:
        period.previous()
    except OverflowError:
        raise BadUserInputError(
            f"the period starting {start} has no previous period of the same length "
            "(it would start before year 1): start later"
        ) from None
    return period
