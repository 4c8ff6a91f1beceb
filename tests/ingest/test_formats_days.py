"""The day a line counts on: its own time, a syslog date without a year, else reception."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.ingest.formats import ParseContext, parse_entry, parse_line
from app.ingest.route_rules import DEFAULT_RULES, route_matcher
from tests.helpers import data_fair_line

PARIS = ZoneInfo("Europe/Paris")
RULES = route_matcher(DEFAULT_RULES)
# 2024-01-08 at 13:00 in Paris.
CONTEXT = ParseContext(PARIS, datetime(2024, 1, 8, 12, 0, tzinfo=UTC), RULES)
NAMED = {
    "host": "portal.example",
    "status": 200,
    "bytes": 1000,
    "request_time": 0.01,
    "owner": '{"type":"organization","id":"org1"}',
    "resource": '{"type":"datasets","id":"roads","title":"Roads"}',
    "operation": '{"class":"read","id":"readLines","track":"readDataAPI"}',
}


@pytest.mark.parametrize(
    ("time", "expected_day"),
    [
        pytest.param("2024-01-08T23:30:00+00:00", date(2024, 1, 9), id="utc-next-day-in-paris"),
        pytest.param("2024-01-08T22:59:59+00:00", date(2024, 1, 8), id="utc-same-day-in-paris"),
        pytest.param("2024-01-08T23:30:00+01:00", date(2024, 1, 8), id="paris-offset"),
        pytest.param("2024-01-08T19:30:00-05:00", date(2024, 1, 9), id="negative-offset"),
        pytest.param("2024-01-08T23:30:00Z", date(2024, 1, 9), id="zulu"),
        pytest.param("2024-07-08T21:59:00+00:00", date(2024, 7, 8), id="summer-time-same-day"),
        pytest.param("2024-07-08T22:00:00+00:00", date(2024, 7, 9), id="summer-time-next-day"),
        pytest.param("2024-01-08T23:30:00.250+00:00", date(2024, 1, 9), id="fraction"),
    ],
)
def test_counts_named_time_in_configured_zone(time: str, expected_day: date) -> None:
    assert parse_entry({**NAMED, "time": time}, CONTEXT).day == expected_day


@pytest.mark.parametrize(
    ("time_local", "expected_day"),
    [
        pytest.param("08/Jan/2024:23:30:00 +0000", date(2024, 1, 9), id="utc-next-day-in-paris"),
        pytest.param("08/Jan/2024:22:59:59 +0000", date(2024, 1, 8), id="utc-same-day-in-paris"),
        pytest.param("09/Jan/2024:00:30:00 +0100", date(2024, 1, 9), id="paris-offset"),
        pytest.param("08/Jan/2024:19:30:00 -0500", date(2024, 1, 9), id="negative-offset"),
    ],
)
def test_counts_combined_time_local_in_configured_zone(time_local: str, expected_day: date) -> None:
    line = f'192.0.2.10 - - [{time_local}] "GET /datasets HTTP/1.1" 200 512 "-" "curl/8.5.0"'
    assert parse_line(line, CONTEXT).day == expected_day


@pytest.mark.parametrize(
    ("received_at", "expected_day"),
    [
        pytest.param(datetime(2024, 1, 8, 12, 0, tzinfo=UTC), date(2024, 1, 8), id="midday"),
        pytest.param(datetime(2024, 1, 8, 23, 30, tzinfo=UTC), date(2024, 1, 9), id="paris-next"),
    ],
)
def test_counts_line_without_time_on_received_day(
    received_at: datetime, expected_day: date
) -> None:
    context = ParseContext(PARIS, received_at, RULES)
    assert parse_entry(data_fair_line(), context).day == expected_day
    assert parse_entry(NAMED, context).day == expected_day


@pytest.mark.parametrize(
    ("header", "received_at", "expected_day"),
    [
        pytest.param("<190>Nov 24 23:30:00 df: ", datetime(2024, 11, 25, 8, tzinfo=UTC),
                     date(2024, 11, 24), id="same-year"),
        pytest.param("<190>Dec 31 23:59:00 df: ", datetime(2025, 1, 1, 8, tzinfo=UTC),
                     date(2024, 12, 31), id="previous-year"),
        pytest.param("<190>Jan 01 00:01:00 df: ", datetime(2024, 12, 31, 8, tzinfo=UTC),
                     date(2025, 1, 1), id="one-day-ahead-is-next-year"),
        pytest.param("<190>Jan 02 00:01:00 df: ", datetime(2024, 12, 31, 8, tzinfo=UTC),
                     date(2024, 1, 2), id="two-days-ahead-is-last-year"),
        pytest.param("<190>Feb 29 12:00:00 df: ", datetime(2025, 3, 1, 8, tzinfo=UTC),
                     date(2024, 2, 29), id="leap-day-of-last-leap-year"),
        pytest.param("<190>Jan 01 00:01:00 df: ", datetime(2024, 12, 31, 23, 30, tzinfo=UTC),
                     date(2025, 1, 1), id="received-day-taken-in-time-zone"),
        pytest.param("<190>Jan 02 00:01:00 df: ", datetime(2024, 12, 31, 23, 30, tzinfo=UTC),
                     date(2025, 1, 2), id="one-day-after-paris-received-day"),
    ],
)  # fmt: skip
def test_reads_syslog_date_in_year_at_most_one_day_after_reception(
    header: str, received_at: datetime, expected_day: date
) -> None:
    context = ParseContext(PARIS, received_at, RULES)
    assert parse_line(header + json.dumps(data_fair_line()), context).day == expected_day


def test_prefers_named_time_over_syslog_date() -> None:
    line = "<190>Jan  3 10:00:00 df: " + json.dumps({**NAMED, "time": "2024-01-05T10:00:00Z"})
    assert parse_line(line, CONTEXT).day == date(2024, 1, 5)


def test_counts_named_line_without_time_on_syslog_date() -> None:
    assert parse_line("<190>Jan  3 10:00:00 df: " + json.dumps(NAMED), CONTEXT).day == date(
        2024, 1, 3
    )
