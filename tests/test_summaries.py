"""Summary blocks: the fewest rows that cover a period, and the rows a batch adds to (pure)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.core.records import UsageKey
from app.storage.models.summaries import MONTH_SPAN
from app.storage.summaries import (
    BY_CALLER,
    BY_DATASET,
    BY_OWNER,
    SUMMARIES,
    Summary,
    batch_days,
    blocks,
    covering,
    spread,
)

D = date.fromisoformat


def days_of(span: int, first: date) -> list[date]:
    if span != MONTH_SPAN:
        return [first + timedelta(days=i) for i in range(span)]
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return [first + timedelta(days=i) for i in range((following - first).days)]


COVERS = [
    # 30 days ranked over every dataset: 6 rows per dataset instead of 30.
    (
        BY_DATASET,
        "2024-12-02",
        "2024-12-31",
        "1:2024-12-02 4:2024-12-03 16:2024-12-07 4:2024-12-23 4:2024-12-27 1:2024-12-31",
    ),
    (BY_DATASET, "2024-03-01", "2024-03-01", "1:2024-03-01"),
    (BY_DATASET, "1970-01-01", "1970-01-16", "16:1970-01-01"),  # blocks align on 1970-01-01
    (BY_OWNER, "2024-01-01", "2024-03-31", "0:2024-01-01 0:2024-02-01 0:2024-03-01"),
    (
        BY_CALLER,
        "2024-01-30",
        "2024-03-02",
        "1:2024-01-30 1:2024-01-31 0:2024-02-01 1:2024-03-01 1:2024-03-02",
    ),
    (BY_CALLER, "2024-02-27", "2024-02-28", "1:2024-02-27 1:2024-02-28"),  # not a whole month
    (
        BY_CALLER,
        "2024-01-02",
        "2024-03-31",
        " ".join(f"1:2024-01-{day:02}" for day in range(2, 32)) + " 0:2024-02-01 0:2024-03-01",
    ),
]


@pytest.mark.parametrize(("summary", "start", "end", "expected"), COVERS)
def test_covers_a_period_with_the_fewest_blocks(
    summary: Summary, start: str, end: str, expected: str
) -> None:
    found = blocks(summary, D(start), D(end))
    assert " ".join(f"{span}:{first}" for span, first in found) == expected


@pytest.mark.parametrize("summary", SUMMARIES)
def test_every_day_of_a_period_falls_in_one_block_the_ingest_wrote_it_to(summary: Summary) -> None:
    start = D("2023-12-20")
    for length in (1, 2, 7, 30, 31, 61, 365, 800):
        for shift in range(0, 40, 3):
            first, last = start + timedelta(days=shift), start + timedelta(days=shift + length - 1)
            found = blocks(summary, first, last)
            covered = [day for span, block_start in found for day in days_of(span, block_start)]
            assert covered == [first + timedelta(days=i) for i in range(length)]
            for span, block_start in found:
                for day in days_of(span, block_start):
                    assert (span, block_start) in covering(summary, day)


def test_writes_no_block_across_the_end_of_a_month_where_months_are_kept() -> None:
    # 2024-01-29 is in the 16-day block that starts on 2024-01-22 and ends in February, and in
    # the 4-day block that starts on 2024-01-26 and ends on 2024-01-29.
    assert covering(BY_DATASET, D("2024-01-29")) == [
        (1, D("2024-01-29")),
        (4, D("2024-01-26")),
        (MONTH_SPAN, D("2024-01-01")),
    ]
    assert covering(BY_CALLER, D("2024-01-30")) == [
        (1, D("2024-01-30")),
        (MONTH_SPAN, D("2024-01-01")),
    ]


@pytest.mark.parametrize("summary", SUMMARIES)
def test_handles_the_first_and_last_days_there_are(summary: Summary) -> None:
    assert blocks(summary, date.min, date.min + timedelta(days=40))[0][1] == date.min
    assert blocks(summary, date.max - timedelta(days=40), date.max)[-1][1] <= date.max
    assert all(first >= date.min for _, first in covering(summary, date.min))
    assert all(first <= date.max for _, first in covering(summary, date.max))


def key(day: str, operation: str = "api", status: str = "ok", dataset: str = "roads") -> UsageKey:
    owner, caller = ("organization", "org1"), ("ANONYMOUS", "a.example", "external", "")
    return UsageKey(*owner, D(day), "datasets", dataset, operation, status, *caller)


def test_a_batch_adds_status_ok_figures_per_day() -> None:
    rows = batch_days(
        {
            key("2024-01-08"): [3, 300, 30],
            key("2024-01-08", "download"): [2, 2000, 20],
            key("2024-01-08", "app", dataset="bridges"): [1, 10, 1],
            key("2024-01-08", status="client_error"): [5, 500, 50],
            key("2024-01-09", status="redirect", dataset="bridges"): [7, 70, 7],
        }
    )
    assert rows[BY_DATASET] == {
        ("datasets", D("2024-01-08"), "roads", "organization", "org1"): [3, 2, 2000, 0],
        ("datasets", D("2024-01-08"), "bridges", "organization", "org1"): [0, 0, 0, 1],
    }
    # Each owner's rows, and the rows of every owner added up (owner "", "").
    assert rows[BY_OWNER] == {
        ("datasets", D("2024-01-08"), "organization", "org1"): [3, 2, 2000, 1],
        ("datasets", D("2024-01-08"), "", ""): [3, 2, 2000, 1],
    }
    caller = ("ANONYMOUS", "a.example", "external")
    assert rows[BY_CALLER] == {
        ("datasets", D("2024-01-08"), "organization", "org1", *caller): [3, 2, 2000, 1],
        ("datasets", D("2024-01-08"), "", "", *caller): [3, 2, 2000, 1],
    }


def test_every_owners_rows_add_up_the_owners() -> None:
    rows = batch_days(
        {
            key("2024-01-08"): [3, 300, 30],
            UsageKey("user", "alice", D("2024-01-08"), "datasets", "notes", "api", "ok",
                     "ANONYMOUS", "a.example", "external", ""): [4, 40, 4],
        }
    )  # fmt: skip
    assert rows[BY_OWNER][("datasets", D("2024-01-08"), "", "")] == [7, 0, 0, 0]
    every = ("datasets", D("2024-01-08"), "", "", "ANONYMOUS", "a.example", "external")
    assert rows[BY_CALLER][every] == [7, 0, 0, 0]


def test_spreads_a_batchs_days_over_their_blocks() -> None:
    daily = {
        ("datasets", D("2024-01-31"), "organization", "org1"): [1, 0, 0, 0],
        ("datasets", D("2024-02-01"), "organization", "org1"): [0, 2, 20, 0],
        ("datasets", D("2024-02-02"), "organization", "org1"): [4, 0, 0, 0],
    }
    assert sorted(spread(BY_OWNER, daily, date.isoformat)) == [
        ["datasets", 0, "2024-01-01", "organization", "org1", 1, 0, 0, 0],
        ["datasets", 0, "2024-02-01", "organization", "org1", 4, 2, 20, 0],
        ["datasets", 1, "2024-01-31", "organization", "org1", 1, 0, 0, 0],
        ["datasets", 1, "2024-02-01", "organization", "org1", 0, 2, 20, 0],
        ["datasets", 1, "2024-02-02", "organization", "org1", 4, 0, 0, 0],
    ]
