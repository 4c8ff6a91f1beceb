"""Lines that cannot be read: the exact reason, which never quotes the line's IP or token."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.records import Rejected
from app.ingest.formats import LineError, ParseContext, parse_entry, parse_line
from app.ingest.route_rules import DEFAULT_RULES, route_matcher
from tests.helpers import data_fair_line

CONTEXT = ParseContext(
    ZoneInfo("Europe/Paris"), datetime(2024, 1, 8, 12, 0, tzinfo=UTC), route_matcher(DEFAULT_RULES)
)
IP = "192.0.2.44"
TOKEN = "fake-token-c2VjcmV0"
NAMED = {
    "time": "2024-01-08T10:00:00+00:00",
    "host": "portal.example",
    "status": 200,
    "bytes": 1000,
    "request_time": 0.01,
    "remote_addr": IP,
    "id_token": TOKEN,
    "api_key": TOKEN,
    "owner": '{"type":"organization","id":"org1"}',
    "resource": '{"type":"datasets","id":"roads","title":"Roads"}',
    "operation": '{"class":"read","id":"readLines","track":"readDataAPI"}',
}
NO_FORMAT = "the line is in no known format (Data Fair array, named JSON object, nginx combined)"
NO_SYSLOG = "the line starts with '<' but has no syslog header '<PRI>Mmm dd hh:mm:ss tag: '"
CLF_TIME = "the time is not nginx's $time_local (10/Oct/2000:13:55:36 -0700)"
BYTES_RANGE = "the bytes sent (x gzip ratio) must be from 0 to 1099511627776"
TIME_RANGE = "the request time must be from 0 to 1000000 seconds"


def _combined(time_local: str = "08/Jan/2024:10:00:00 +0000", status: str = "200") -> str:
    return (
        f'{IP} - {TOKEN} [{time_local}] "GET /data-fair/api/v1/datasets/roads/lines?apiKey={TOKEN} '
        f'HTTP/1.1" {status} 512 "https://client.example/" "curl/8.5.0"'
    )


def _data_fair(**changes: Any) -> list[Any]:
    items = data_fair_line(id_token=TOKEN, api_key=TOKEN, referer=f"http://{IP}/")
    for index, value in changes.items():
        items[int(index.removeprefix("at"))] = value
    return items


ENTRY_REJECTIONS = [
    pytest.param(
        _data_fair()[:13],
        Rejected.WRONG_ITEM_COUNT,
        "a Data Fair log line has 14 or 15 items, this one has 13",
        id="13-items",
    ),
    pytest.param(
        [*_data_fair(), "extra"],
        Rejected.WRONG_ITEM_COUNT,
        "a Data Fair log line has 14 or 15 items, this one has 16",
        id="16-items",
    ),
    pytest.param(
        [],
        Rejected.WRONG_ITEM_COUNT,
        "a Data Fair log line has 14 or 15 items, this one has 0",
        id="empty-array",
    ),
    pytest.param(
        _data_fair(at4="OK"),
        Rejected.BAD_STATUS,
        "the status must be an HTTP status code, not a string",
        id="data-fair-status-text",
    ),
    pytest.param(
        _data_fair(at4=42),
        Rejected.BAD_STATUS,
        "the status 42 is not an HTTP status code",
        id="data-fair-status-out-of-range",
    ),
    pytest.param(
        _data_fair(at3="many"),
        Rejected.BAD_NUMBER,
        "the bytes sent and gzip ratio must be numbers",
        id="bytes-text",
    ),
    pytest.param(
        _data_fair(at14="high"),
        Rejected.BAD_NUMBER,
        "the bytes sent and gzip ratio must be numbers",
        id="gzip-ratio-text",
    ),
    pytest.param(
        _data_fair(at2="slow"),
        Rejected.BAD_NUMBER,
        "the request time must be a number of seconds",
        id="request-time-text",
    ),
    pytest.param(
        _data_fair(at0=7),
        Rejected.BAD_FIELD,
        "the field 'host' must be a string, not a number",
        id="host-number",
    ),
    pytest.param(
        _data_fair(at5="{" + TOKEN),
        Rejected.BAD_HEADER,
        "the owner header is not valid JSON",
        id="owner-not-json",
    ),
    pytest.param(
        _data_fair(at12="[1]"),
        Rejected.BAD_HEADER,
        "the resource header must be a JSON object, not an array",
        id="resource-not-object",
    ),
    pytest.param(
        _data_fair(at13="{"),
        Rejected.BAD_HEADER,
        "the operation header is not valid JSON",
        id="operation-not-json",
    ),
    pytest.param(
        _data_fair(at5=json.dumps({"type": "user", "id": "u" * 201})),
        Rejected.TOO_LONG,
        "the owner id is longer than 200 characters",
        id="owner-id-too-long",
    ),
    pytest.param(
        {**NAMED, "status": "OK"},
        Rejected.BAD_STATUS,
        "the status must be an HTTP status code, not a string",
        id="named-status-text",
    ),
    pytest.param(
        {**NAMED, "status": None},
        Rejected.BAD_STATUS,
        "the status must be an HTTP status code, not null",
        id="named-status-missing",
    ),
    pytest.param(
        {**NAMED, "status": 1000},
        Rejected.BAD_STATUS,
        "the status 1000 is not an HTTP status code",
        id="named-status-out-of-range",
    ),
    pytest.param(
        {**NAMED, "time": "yesterday"},
        Rejected.BAD_TIME,
        "the time is not an ISO 8601 date and time",
        id="time-not-iso",
    ),
    pytest.param(
        {**NAMED, "time": "2024-01-08T10:00:00"},
        Rejected.BAD_TIME,
        "the time has no UTC offset (use nginx's $time_iso8601)",
        id="time-no-offset",
    ),
    pytest.param(
        {**NAMED, "time": 1704708000},
        Rejected.BAD_TIME,
        "the time must be an ISO 8601 string, not a number",
        id="time-number",
    ),
    pytest.param(
        {**NAMED, "user_agent": ["curl"]},
        Rejected.BAD_FIELD,
        "the field 'user_agent' must be a string, not an array",
        id="agent-array",
    ),
    # Found by tests/hostile: each of these used to reach the database and fail the batch.
    pytest.param(_data_fair(at3=2**64), Rejected.BAD_NUMBER, BYTES_RANGE, id="bytes-past-64-bits"),
    pytest.param(_data_fair(at3=-5), Rejected.BAD_NUMBER, BYTES_RANGE, id="bytes-negative"),
    pytest.param(_data_fair(at3=1e308), Rejected.BAD_NUMBER, BYTES_RANGE, id="bytes-huge-float"),
    pytest.param(
        _data_fair(at3="9" * 5000),
        Rejected.BAD_NUMBER,
        "the bytes sent and gzip ratio must be numbers",
        id="bytes-past-int-digit-limit",
    ),
    pytest.param(_data_fair(at14="1e300"), Rejected.BAD_NUMBER, BYTES_RANGE, id="gzip-ratio-huge"),
    pytest.param(
        _data_fair(at2=1e308), Rejected.BAD_NUMBER, TIME_RANGE, id="request-time-infinite-in-ms"
    ),
    pytest.param(_data_fair(at2=-0.5), Rejected.BAD_NUMBER, TIME_RANGE, id="request-time-negative"),
    pytest.param(
        {**NAMED, "request_time": "nan"}, Rejected.BAD_NUMBER, TIME_RANGE, id="request-time-nan"
    ),
    pytest.param(
        _data_fair(at12=json.dumps({"type": "datasets", "id": "a\x00b"})),
        Rejected.BAD_FIELD,
        "the resource id contains a NUL character",
        id="resource-id-nul",
    ),
    pytest.param(
        _data_fair(at5=json.dumps({"type": "user", "id": "\x00"})),
        Rejected.BAD_FIELD,
        "the owner id contains a NUL character",
        id="owner-id-nul",
    ),
    pytest.param(
        42,
        Rejected.NOT_A_LINE,
        "a log line must be a string, an array or an object, not a number",
        id="number",
    ),
    pytest.param(
        None,
        Rejected.NOT_A_LINE,
        "a log line must be a string, an array or an object, not null",
        id="null",
    ),
    pytest.param(
        True,
        Rejected.NOT_A_LINE,
        "a log line must be a string, an array or an object, not a boolean",
        id="boolean",
    ),
]

LINE_REJECTIONS = [
    pytest.param(
        f'["{IP}", "{TOKEN}",',
        Rejected.BAD_JSON,
        "the line is not valid JSON (unexpected end of data at character 37)",
        id="truncated-array",
    ),
    pytest.param(
        f'{{"remote_addr": "{IP}" "id_token": "{TOKEN}"}}',
        Rejected.BAD_JSON,
        "the line is not valid JSON (unexpected character, expected ',' or '}' at character 29)",
        id="object-missing-comma",
    ),
    pytest.param(f"<190>{IP} {TOKEN}", Rejected.UNKNOWN_FORMAT, NO_SYSLOG, id="bad-syslog-header"),
    pytest.param(
        "<190>Foo 24 23:30:00 df: []",
        Rejected.BAD_TIME,
        "the syslog header's month 'Foo' is not a month",
        id="syslog-month",
    ),
    pytest.param(
        "<190>Feb 31 23:30:00 df: []",
        Rejected.BAD_TIME,
        "the syslog header's date Feb 31 is not a date",
        id="syslog-date",
    ),
    pytest.param(
        f'<190>Jan  7 23:30:00 df: "{TOKEN}"',
        Rejected.UNKNOWN_FORMAT,
        NO_FORMAT,
        id="syslog-json-string",
    ),
    pytest.param(f"{IP} {TOKEN} hello", Rejected.UNKNOWN_FORMAT, NO_FORMAT, id="free-text"),
    pytest.param(
        _combined(time_local="99/Foo/2024:10:00:00 +0000"),
        Rejected.BAD_TIME,
        CLF_TIME,
        id="combined-time",
    ),
    pytest.param(
        _combined(status="OK!"), Rejected.UNKNOWN_FORMAT, NO_FORMAT, id="combined-status-text"
    ),
    pytest.param(
        _combined(status="099"),
        Rejected.BAD_STATUS,
        "the status 99 is not an HTTP status code",
        id="combined-status-out-of-range",
    ),
    pytest.param(
        _combined().replace(" 512 ", " " + "9" * 5000 + " "),
        Rejected.BAD_NUMBER,
        "the bytes sent and gzip ratio must be numbers",
        id="combined-bytes-5000-digits",
    ),
    pytest.param(
        _combined().replace(" 512 ", f" {2**40 + 1} "),
        Rejected.BAD_NUMBER,
        BYTES_RANGE,
        id="combined-bytes-past-1-tib",
    ),
    # syslog cuts long lines: a line cut inside its referer or user agent is not a shorter line
    pytest.param(
        _combined().rsplit('" "', 1)[0][:-6],
        Rejected.UNKNOWN_FORMAT,
        NO_FORMAT,
        id="combined-cut-in-referer",
    ),
    pytest.param(
        _combined()[:-3], Rejected.UNKNOWN_FORMAT, NO_FORMAT, id="combined-cut-in-user-agent"
    ),
    pytest.param(
        json.dumps([IP, TOKEN]),
        Rejected.WRONG_ITEM_COUNT,
        "a Data Fair log line has 14 or 15 items, this one has 2",
        id="short-array-line",
    ),
    pytest.param(
        json.dumps({**NAMED, "time": "yesterday"}),
        Rejected.BAD_TIME,
        "the time is not an ISO 8601 date and time",
        id="named-line-time",
    ),
]


@pytest.mark.parametrize(("value", "code", "reason"), ENTRY_REJECTIONS)
def test_rejects_entry_with_code_and_reason(value: Any, code: Rejected, reason: str) -> None:
    with pytest.raises(LineError) as caught:
        parse_entry(value, CONTEXT)
    assert caught.value.code is code
    assert caught.value.reason == reason
    assert IP not in caught.value.reason
    assert TOKEN not in caught.value.reason


@pytest.mark.parametrize(("line", "code", "reason"), LINE_REJECTIONS)
def test_rejects_line_with_code_and_reason(line: str, code: Rejected, reason: str) -> None:
    with pytest.raises(LineError) as caught:
        parse_line(line, CONTEXT)
    assert caught.value.code is code
    assert caught.value.reason == reason
    assert IP not in caught.value.reason
    assert TOKEN not in caught.value.reason


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"message": f"{IP} {TOKEN} hello"}, id="vector"),
        pytest.param({"log": f"{IP} {TOKEN} hello"}, id="fluent-bit"),
    ],
)
def test_rejects_unreadable_line_inside_shipper_event(event: dict[str, str]) -> None:
    with pytest.raises(LineError) as caught:
        parse_entry(event, CONTEXT)
    assert caught.value.reason == NO_FORMAT
