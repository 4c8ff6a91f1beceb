"""The requests of deploy/vector and deploy/fluent-bit, posted to /ingest as the shippers send them.

Neither shipper runs here: each body is built as its documentation and source say it is (Vector's
http sink with the json codec and newline_delimited framing; Fluent Bit's http output with
`Format json_lines` or `json`), from the settings read out of the shipped example files, so
that changing an example without changing what it is tested against fails.
"""

from __future__ import annotations

import gzip
import json
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import (
    INGEST_TOKEN,
    api_key,
    data_fair_line,
    graphql_data,
    id_token,
    named_line,
)

pytestmark = pytest.mark.anyio

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
LOG_FILE = "/var/log/nginx/usage-metrics.log"
DAY = "2024-01-08"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))  # as nginx's escape=json writes a line


# Real lines of both formats, as nginx writes them: the named JSON object (with its time) and
# Data Fair's positional array (no time: counted on the day it is received).
MEMBER = id_token({"id": "carol", "organizations": [{"id": "org1"}]})
LINES = [
    _compact(named_line(time=f"{DAY}T10:00:00+00:00")),  # API call, ANONYMOUS
    _compact(  # download with the owner's API key, 5000 bytes
        named_line(
            time=f"{DAY}T10:00:01+00:00",
            track="readDataFiles",
            bytes_sent=5000,
            api_key=api_key("o:org1:r4nd"),
        )
    ),
    _compact(data_fair_line(referer="https://client.example/map")),  # API call, ANONYMOUS
    _compact(data_fair_line(track="readDataFiles", id_token=MEMBER)),  # download, OWNER, 1000 B
    _compact(named_line(time=f"{DAY}T10:00:02+00:00", track=None)),  # logged, not tracked
    '{"time":"2024-01-08T10:00:03+00:00","host":"portal.ex',  # cut short: rejected
]
ANSWER = {
    "accepted": 4,
    "ignored": 1,
    "ignored_by_reason": {"not_tracked": 1, "no_owner": 0, "no_resource": 0, "unknown_owner": 0},
    "rejected": [
        {
            "line": 6,
            "code": "bad_json",
            "reason": "the line is not valid JSON (unexpected end of data at character 53)",
        }
    ],
    "rejected_count": 1,
    "duplicate": False,
}
FIGURES = """query($period: PeriodInput!) {
  usage(period: $period, datasets: ["roads"]) {
    apiCalls { current }
    downloads { current }
    downloadedBytes { current }
    breakdown(by: USER_GROUP) { edges { node { key apiCalls { current } downloads { current } } } }
  }
}"""


def vector_sink() -> dict[str, Any]:
    config = tomllib.loads((DEPLOY / "vector" / "usage-metrics.toml").read_text())
    sink: dict[str, Any] = config["sinks"]["usage_metrics"]
    return sink


def fluent_bit_output() -> list[tuple[str, str]]:
    """The (key, value) settings of the classic-format file's [OUTPUT] section, in order."""
    settings: list[tuple[str, str]] = []
    section = ""
    for raw in (DEPLOY / "fluent-bit" / "usage-metrics.conf").read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif line and not line.startswith("#") and section == "[OUTPUT]":
            key, _, value = line.partition(" ")
            settings.append((key.lower(), value.strip()))
    return settings


def vector_request(lines: list[str]) -> tuple[dict[str, str], bytes]:
    """Headers and body of one Vector batch: an event per line, `message` holding the line."""
    sink = vector_sink()
    # Vector picks the Content-Type from the codec and framing, and sets no other for them.
    assert (sink["encoding"], sink["framing"]) == (
        {"codec": "json"},
        {"method": "newline_delimited"},
    )
    assert sink["compression"] == "gzip" and "request" in sink
    assert "headers" not in sink["request"]
    assert sink["auth"] == {"strategy": "bearer", "token": "${USAGE_METRICS_TOKEN}"}
    events = [
        {  # a `file` source event: its fields in Vector's (sorted) order
            "file": LOG_FILE,
            "host": "proxy-1",
            "message": line,
            "source_type": "file",
            "timestamp": f"2024-01-08T10:00:0{n}.123456789Z",
        }
        for n, line in enumerate(lines)
    ]
    # newline_delimited: one event per line; Vector drops the last newline.
    body = "\n".join(_compact(event) for event in events).encode()
    headers = {
        "Authorization": f"Bearer {INGEST_TOKEN}",
        "Content-Type": "application/x-ndjson",
        "Content-Encoding": "gzip",
    }
    return headers, gzip.compress(body)


def fluent_bit_records(lines: list[str]) -> list[dict[str, Any]]:
    # json_date_key `date` in json_date_format `double` (the defaults), then the tail record.
    return [{"date": 1704708000.123456 + n, "log": line} for n, line in enumerate(lines)]


def fluent_bit_headers(content_type: str) -> dict[str, str]:
    output = fluent_bit_output()
    assert ("compress", "gzip") in output
    assert ("header", "Authorization Bearer ${USAGE_METRICS_TOKEN}") in output
    return {
        "Authorization": f"Bearer {INGEST_TOKEN}",
        "Content-Type": content_type,
        "Content-Encoding": "gzip",
    }


def fluent_bit_json_lines(lines: list[str]) -> tuple[dict[str, str], bytes]:
    output = fluent_bit_output()
    assert ("format", "json_lines") in output
    # Fluent Bit sends application/json; the file replaces it (allow_duplicated_headers false:
    # the last value set wins) with the NDJSON type.
    assert ("header", "Content-Type application/x-ndjson") in output
    assert ("allow_duplicated_headers", "false") in output
    body = "".join(_compact(record) + "\n" for record in fluent_bit_records(lines)).encode()
    return fluent_bit_headers("application/x-ndjson"), gzip.compress(body)


def fluent_bit_json_array(lines: list[str]) -> tuple[dict[str, str], bytes]:
    """`Format json`, the alternative the file mentions: one array, sent as application/json."""
    body = _compact(fluent_bit_records(lines)).encode()
    return fluent_bit_headers("application/json"), gzip.compress(body)


async def assert_figures(client: httpx.AsyncClient, batches: int = 1) -> None:
    """The figures of LINES sent `batches` times: the named lines on DAY, the others today."""
    # From before DAY to tomorrow: the Data Fair lines count on today's date (UTC), whatever it is.
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    data = await graphql_data(client, FIGURES, period={"start": "2024-01-01", "end": tomorrow})

    def group(key: str, api_calls: int, downloads: int) -> dict[str, Any]:
        figures = {"apiCalls": {"current": api_calls}, "downloads": {"current": downloads}}
        return {"node": {"key": key, **figures}}

    edges = [
        group("ANONYMOUS", 2 * batches, 0),
        group("OWNER", 0, batches),
        group("OWNER_API_KEY", 0, batches),
    ]
    assert data == {
        "usage": {
            "apiCalls": {"current": 2 * batches},
            "downloads": {"current": 2 * batches},
            "downloadedBytes": {"current": 6000 * batches},
            "breakdown": {"edges": edges if batches else []},
        }
    }


async def post(client: httpx.AsyncClient, request: tuple[dict[str, str], bytes]) -> httpx.Response:
    headers, body = request
    return await client.post("/ingest", content=body, headers=headers)


async def test_counts_a_vector_batch(client: httpx.AsyncClient) -> None:
    response = await post(client, vector_request(LINES))
    assert (response.status_code, response.json()) == (200, ANSWER)
    await assert_figures(client)


async def test_counts_a_retried_vector_batch_twice(client: httpx.AsyncClient) -> None:
    # The documented limit: without an Idempotency-Key, /ingest cannot tell a retry from new lines.
    request = vector_request(LINES)
    first, retry = await post(client, request), await post(client, request)
    assert [first.json(), retry.json()] == [ANSWER, ANSWER]
    await assert_figures(client, batches=2)


async def test_counts_a_fluent_bit_json_lines_batch(client: httpx.AsyncClient) -> None:
    response = await post(client, fluent_bit_json_lines(LINES))
    assert (response.status_code, response.json()) == (200, ANSWER)
    await assert_figures(client)


async def test_counts_a_fluent_bit_json_array_batch(client: httpx.AsyncClient) -> None:
    response = await post(client, fluent_bit_json_array(LINES))
    assert (response.status_code, response.json()) == (200, ANSWER)
    await assert_figures(client)


async def test_refuses_json_lines_under_fluent_bits_own_content_type(
    client: httpx.AsyncClient,
) -> None:
    # Why the example replaces the header: json_lines labelled application/json is not one array.
    headers, body = fluent_bit_json_lines(LINES)
    response = await post(client, ({**headers, "Content-Type": "application/json"}, body))
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "BAD_REQUEST",
            "detail": "an application/json body must be a JSON array of log lines; "
            "for one value per line use application/x-ndjson",
        },
    )
    await assert_figures(client, batches=0)
