"""Line formats of docs/ingest.md: Data Fair arrays, named JSON, nginx combined, shipper events."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.core.records import LogRecord, Operation, Owner, Resource
from app.ingest.classify import status_class
from app.ingest.formats import LOOKUP_OWNER, ParseContext, parse_entry, parse_line
from app.ingest.route_rules import DEFAULT_RULES, route_matcher
from tests.helpers import data_fair_line

PARIS = ZoneInfo("Europe/Paris")
# 2024-01-08 at 13:00 in Paris: a line without its own time counts on 2024-01-08.
CONTEXT = ParseContext(PARIS, datetime(2024, 1, 8, 12, 0, tzinfo=UTC), route_matcher(DEFAULT_RULES))
RECEIVED_DAY = date(2024, 1, 8)
ORG1 = Owner("organization", "org1")
ROADS = Resource("datasets", "roads", "Roads")
ROADS_FROM_ROUTE = Resource("datasets", "roads", None)
FAKE_ID_TOKEN = "ZmFrZS1oZWFkZXI.ZmFrZS1wYXlsb2Fk"
FAKE_API_KEY = "ZmFrZS1hcGkta2V5"

# What data_fair_line() gives with its defaults.
DATA_FAIR = LogRecord(
    day=RECEIVED_DAY,
    host="portal.example",
    referer="",
    user_agent="",
    status=200,
    bytes=1000,
    duration_ms=10,
    owner=ORG1,
    owner_name=None,
    resource=ROADS,
    operation=Operation.API,
    id_token="",
    api_key="",
)

NAMED_FIELDS: dict[str, Any] = {
    "time": "2024-01-08T23:30:00+00:00",
    "host": "portal.example",
    "method": "GET",
    "uri": "/data-fair/api/v1/datasets/roads/lines?size=10",
    "status": 200,
    "bytes": 2000,
    "request_time": 0.125,
    "referer": "https://client.example/page",
    "origin": "https://other.example",
    "user_agent": "curl/8.5.0",
    "gzip_ratio": "1.50",
    "owner": '{"type":"organization","id":"org1"}',
    "resource": '{"type":"datasets","id":"roads","title":"Roads"}',
    "operation": '{"class":"read","id":"readLines","track":"readDataFiles"}',
    "id_token": FAKE_ID_TOKEN,
    "id_token_org": "org1",
    "api_key": FAKE_API_KEY,
}
NAMED = LogRecord(
    day=date(2024, 1, 9),  # 23:30 UTC is 00:30 the next day in Paris
    host="portal.example",
    referer="https://client.example/page",
    user_agent="curl/8.5.0",
    status=200,
    bytes=3000,
    duration_ms=125,
    owner=ORG1,
    owner_name=None,
    resource=ROADS,
    operation=Operation.DOWNLOAD,
    id_token=FAKE_ID_TOKEN,
    api_key=FAKE_API_KEY,
)

COMBINED_PREFIX = '192.0.2.10 - - [08/Jan/2024:23:30:00 +0000] "GET '
COMBINED_SUFFIX = ' HTTP/1.1" 200 1234 "https://client.example/page" "curl/8.5.0"'
COMBINED = LogRecord(
    day=date(2024, 1, 9),
    host="",
    referer="https://client.example/page",
    user_agent="curl/8.5.0",
    status=200,
    bytes=1234,
    duration_ms=0,
    owner=LOOKUP_OWNER,
    owner_name=None,
    resource=ROADS_FROM_ROUTE,
    operation=Operation.API,
    id_token="",
    api_key="",
    remote_addr="192.0.2.10",
)


def _combined(path: str) -> str:
    return f"{COMBINED_PREFIX}{path}{COMBINED_SUFFIX}"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param(data_fair_line(), DATA_FAIR, id="15-items"),
        pytest.param(data_fair_line(gzip_ratio=None), DATA_FAIR, id="14-items-no-gzip-ratio"),
        pytest.param(data_fair_line(gzip_ratio="3.5"), DATA_FAIR._replace(bytes=3500), id="gzip"),
        pytest.param(data_fair_line(gzip_ratio="-"), DATA_FAIR, id="gzip-dash"),
        pytest.param(data_fair_line(gzip_ratio=""), DATA_FAIR, id="gzip-empty"),
        pytest.param(
            data_fair_line(
                resource={"type": "datasets", "id": "roads", "title": "Mon%20jeu%20%C3%A9t%C3%A9"}
            ),
            DATA_FAIR._replace(resource=Resource("datasets", "roads", "Mon jeu été")),
            id="title-uri-decoded",
        ),
        pytest.param(
            data_fair_line(owner={"type": "organization", "id": "org1", "department": "dep"}),
            DATA_FAIR,
            id="owner-department-dropped",
        ),
        pytest.param(
            data_fair_line(owner={"type": "organization", "id": "org1", "name": "M%C3%A9tropole"}),
            DATA_FAIR._replace(owner_name="Métropole"),
            id="owner-name-uri-decoded",
        ),
        pytest.param(
            data_fair_line(owner={"type": "organization", "id": "org1", "name": "Métropole"}),
            DATA_FAIR._replace(owner_name="Métropole"),
            id="owner-name-as-is",
        ),
        pytest.param(
            data_fair_line(
                referer="https://client.example/page",
                status=404,
                track="readDataFiles",
                id_token=FAKE_ID_TOKEN,
                id_token_org="org1",
                api_key=FAKE_API_KEY,
            ),
            DATA_FAIR._replace(
                referer="https://client.example/page",
                status=404,
                operation=Operation.DOWNLOAD,
                id_token=FAKE_ID_TOKEN,
                api_key=FAKE_API_KEY,
            ),
            id="credentials-and-referer",
        ),
        pytest.param(
            data_fair_line(owner=None, resource={}, track=None),
            DATA_FAIR._replace(owner=None, resource=None, operation=None),
            id="no-upstream-headers",
        ),
    ],
)
def test_reads_data_fair_array(items: list[Any], expected: LogRecord) -> None:
    assert parse_entry(items, CONTEXT) == expected
    assert parse_line(json.dumps(items), CONTEXT) == expected


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("<190>Jan  7 23:30:00 df: ", id="tag"),
        pytest.param("<190>Jan  7 23:30:00 web-1 df: ", id="hostname-and-tag"),
        pytest.param("<190>Jan  7 23:30:00 web-1 nginx[123]: ", id="tag-with-pid"),
    ],
)
def test_reads_data_fair_array_behind_syslog_header(header: str) -> None:
    line = header + json.dumps(data_fair_line())
    assert parse_line(line, CONTEXT) == DATA_FAIR._replace(day=date(2024, 1, 7))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(NAMED_FIELDS, NAMED, id="every-key"),
        pytest.param(
            {**NAMED_FIELDS, "request_id": 7, "extra": {"a": 1}},
            NAMED,
            id="unknown-keys-ignored",
        ),
        pytest.param(
            {**NAMED_FIELDS, "remote_addr": "192.0.2.7"},
            NAMED._replace(remote_addr="192.0.2.7"),
            id="remote-addr",
        ),
        pytest.param(
            {
                **NAMED_FIELDS,
                "owner": {"type": "organization", "id": "org1"},
                "resource": {"type": "datasets", "id": "roads", "title": "Roads"},
                "operation": {"class": "read", "id": "readLines", "track": "readDataFiles"},
            },
            NAMED,
            id="embedded-objects",
        ),
        pytest.param(
            {**NAMED_FIELDS, "resource": {"type": "datasets", "id": "roads", "title": "R%C3%A9"}},
            NAMED._replace(resource=Resource("datasets", "roads", "Ré")),
            id="embedded-title-uri-decoded",
        ),
        pytest.param(
            {**NAMED_FIELDS, "owner": {"type": "organization", "id": "org1", "name": "Lyon"}},
            NAMED._replace(owner_name="Lyon"),
            id="embedded-owner-name",
        ),
        pytest.param(
            {**NAMED_FIELDS, "referer": ""},
            NAMED._replace(referer="https://other.example"),
            id="origin-without-referer",
        ),
        pytest.param(
            {**NAMED_FIELDS, "status": "304", "bytes": "2000", "request_time": "0.125"},
            NAMED._replace(status=304),
            id="numbers-as-strings",
        ),
        pytest.param(
            {**NAMED_FIELDS, "gzip_ratio": "-"}, NAMED._replace(bytes=2000), id="gzip-dash"
        ),
        pytest.param(
            {k: v for k, v in NAMED_FIELDS.items() if k != "time"},
            NAMED._replace(day=RECEIVED_DAY),
            id="no-time-received-day",
        ),
        pytest.param(
            {**NAMED_FIELDS, "owner": "", "resource": "", "operation": ""},
            NAMED._replace(owner=LOOKUP_OWNER, resource=ROADS_FROM_ROUTE, operation=Operation.API),
            id="no-headers-route-rules",
        ),
        pytest.param(
            {**NAMED_FIELDS, "owner": '{"type":"user","id":"bob","name":"Bob"}', "operation": ""},
            NAMED._replace(owner=LOOKUP_OWNER, resource=ROADS_FROM_ROUTE, operation=Operation.API),
            id="route-rules-ignore-the-owner-name",
        ),
    ],
)
def test_reads_named_json_object(fields: dict[str, Any], expected: LogRecord) -> None:
    assert parse_entry(fields, CONTEXT) == expected
    assert parse_line(json.dumps(fields), CONTEXT) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            _combined("/data-fair/api/v1/datasets/roads/lines?size=10&q=x"), COMBINED, id="lines"
        ),
        pytest.param(
            _combined("/data-fair/api/v1/datasets/roads/full"),
            COMBINED._replace(operation=Operation.DOWNLOAD),
            id="full",
        ),
        pytest.param(
            _combined("/datasets/roads"),
            COMBINED._replace(owner=None, resource=None, operation=None),
            id="unknown-path",
        ),
        pytest.param(
            '192.0.2.10 - frank [08/Jan/2024:22:59:59 +0000] "GET '
            '/data-fair/api/v1/datasets/roads/lines HTTP/1.1" 200 - "https://client.example/page" '
            '"curl/8.5.0"',
            COMBINED._replace(day=RECEIVED_DAY, bytes=0),
            id="remote-user-and-no-bytes",
        ),
        pytest.param(
            '192.0.2.10 - - [08/Jan/2024:23:30:00 +0000] "GET '
            '/data-fair/api/v1/datasets/roads/lines HTTP/1.1" 200 1234 "-" "-"',
            COMBINED._replace(referer="", user_agent=""),
            id="dash-for-no-referer-and-agent",
        ),
    ],
)
def test_reads_nginx_combined_line(line: str, expected: LogRecord) -> None:
    assert parse_line(line, CONTEXT) == expected


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            {"message": _combined("/data-fair/api/v1/datasets/roads/lines"), "host": "vector-1"},
            COMBINED,
            id="vector-raw-line",
        ),
        pytest.param(
            {"log": json.dumps(data_fair_line()), "stream": "stdout", "time": "2020-01-01T00:00Z"},
            DATA_FAIR,
            id="fluent-bit-raw-line",
        ),
        pytest.param({"message": data_fair_line()}, DATA_FAIR, id="vector-parsed-array"),
        pytest.param({"log": NAMED_FIELDS}, NAMED, id="fluent-bit-parsed-object"),
    ],
)
def test_unwraps_shipper_event(event: dict[str, Any], expected: LogRecord) -> None:
    assert parse_entry(event, CONTEXT) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [(199, "info"), (200, "ok"), (299, "ok"), (304, "redirect"), (404, "client_error"),
     (500, "server_error")],
)  # fmt: skip
def test_classes_parsed_status(status: int, expected: str) -> None:
    record = parse_entry(data_fair_line(status=status), CONTEXT)
    assert (record.status, status_class(record.status)) == (status, expected)
