"""Cutting a period into days, ISO weeks and calendar months, each beside the previous period."""

from __future__ import annotations

from datetime import date

import pytest

from app.core.intervals import Bucket, Interval, buckets
from app.core.periods import Period


def p(start: str, end: str) -> Period:
    return Period(date.fromisoformat(start), date.fromisoformat(end))


@pytest.mark.parametrize(
    ("period", "interval", "expected"),
    [
        (p("2024-01-03", "2024-01-16"), Interval.WEEK, [
            Bucket(p("2024-01-03", "2024-01-07"), p("2023-12-20", "2023-12-24"), True),
            Bucket(p("2024-01-08", "2024-01-14"), p("2023-12-25", "2023-12-31"), False),
            Bucket(p("2024-01-15", "2024-01-16"), p("2024-01-01", "2024-01-02"), True),
        ]),
        (p("2024-01-01", "2024-01-14"), Interval.WEEK, [  # Monday to Sunday: whole weeks
            Bucket(p("2024-01-01", "2024-01-07"), p("2023-12-18", "2023-12-24"), False),
            Bucket(p("2024-01-08", "2024-01-14"), p("2023-12-25", "2023-12-31"), False),
        ]),
        (p("2024-01-15", "2024-03-10"), Interval.MONTH, [  # a leap February is whole
            Bucket(p("2024-01-15", "2024-01-31"), p("2023-11-20", "2023-12-06"), True),
            Bucket(p("2024-02-01", "2024-02-29"), p("2023-12-07", "2024-01-04"), False),
            Bucket(p("2024-03-01", "2024-03-10"), p("2024-01-05", "2024-01-14"), True),
        ]),
        (p("2024-02-10", "2024-02-20"), Interval.MONTH, [  # one month, cut at both ends
            Bucket(p("2024-02-10", "2024-02-20"), p("2024-01-30", "2024-02-09"), True),
        ]),
        (p("2024-12-31", "2025-01-01"), Interval.DAY, [
            Bucket(p("2024-12-31", "2024-12-31"), p("2024-12-29", "2024-12-29"), False),
            Bucket(p("2025-01-01", "2025-01-01"), p("2024-12-30", "2024-12-30"), False),
        ]),
    ],
    ids=["weeks cut at both ends", "whole weeks", "months", "inside one month", "days"],
)  # fmt: skip
def test_cuts_a_period_and_aligns_the_previous_one(
    period: Period, interval: Interval, expected: list[Bucket]
) -> None:
    assert buckets(period, interval) == expected


def test_a_year_of_weeks_covers_the_period_and_the_previous_one_exactly() -> None:
    period = p("2023-03-15", "2024-03-14")
    cut = buckets(period, Interval.WEEK)
    assert (cut[0].current.start, cut[-1].current.end) == (period.start, period.end)
    assert (cut[0].previous.start, cut[-1].previous.end) == (
        period.previous().start,
        period.previous().end,
    )
    assert sum(b.current.days for b in cut) == sum(b.previous.days for b in cut) == 366
    assert [b.partial for b in cut].count(True) == 2  # a Wednesday to a Thursday
