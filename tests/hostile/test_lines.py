"""Hostile log lines: every line ends accepted, ignored or rejected with a reason, never a 500.

Known good lines are interleaved with mutations of valid lines in every format (truncated, wrong
JSON types, huge fields, NaN text, invalid UTF-8, NUL, CR/LF, odd syslog headers) and arbitrary
bytes. The pure pipeline is checked on many examples, the real app over HTTP on fewer.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.core.records import Owner
from app.ingest.body import JSON, NDJSON, TEXT, entries
from app.ingest.classify import Classifier
from app.ingest.formats import ParseContext
from app.ingest.pipeline import reduce_entries, resolve_pending
from app.ingest.route_rules import DEFAULT_RULES, route_matcher
from app.storage.database import connection
from tests.helpers import (
    INGEST,
    INGEST_TOKEN,
    app_client,
    combined_line,
    data_fair_line,
    dataset,
    named_line,
)

# Reproducible in CI and locally: the same examples every run, no example database on disk.
FAST = settings(max_examples=2000, deadline=None, derandomize=True, database=None)
OVER_HTTP = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Planted in the templates: no rejection reason may ever quote them.
SECRET = "fake-secret-k9Zq3xW7"
IP = "192.0.2.77"
OWNER = {"type": "organization", "id": "hostile-org"}
GOOD, BAD = "good", "bad"  # resource ids: known good lines, and the templates of hostile ones


def _lines(resource_id: str) -> list[Any]:
    """One valid line per format for `resource_id`: Data Fair array, named object, combined."""
    resource = dataset(resource_id, "Roads")
    path = f"/data-fair/api/v1/datasets/{resource_id}/lines?apiKey={SECRET}"
    return [
        data_fair_line(resource=resource, owner=OWNER, api_key=SECRET, referer=f"https://{IP}/"),
        named_line(resource=resource, owner=OWNER, api_key=SECRET, uri=path, bytes_sent=1000),
        combined_line(path, remote_addr=IP, remote_user=SECRET, referer=f"https://{IP}/"),
    ]


KNOWN = _lines(GOOD)
KNOWN_BYTES = 1000 + 1000 + 512
TEMPLATES = _lines(BAD)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


HUGE = "x" * 100_001
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**63, 2**64, -(2**63) - 1, 10**30, 1e308, -1e308, 1.5, 0.0,
    "", "-", "NaN", "Infinity", "1e400", "9" * 5000, HUGE, "\x00", "caf\u00e9", [], {}, [[[]]],
    {"type": {"id": []}}, {"type": "datasets", "id": HUGE}, {"type": "datasets", "id": "a\x00b"},
    '{"type":"datasets","id":"a\\u0000b"}', '{"type":', "[1,2]", '{"track":"readDataAPI"}',
]  # fmt: skip
odd_values = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.sampled_from(["type", "id", "title", "track"]), st.text(max_size=8)),
)
MONTHS = ["Jan", "Feb", "Dec", "Foo", "jan", "", "FEB"]
odd_syslog_headers = st.one_of(
    st.sampled_from(
        [
            "<999>Jan  8 10:00:00 nginx: ",
            "<190>Jan  8 10:00:00 : ",
            "<190>Jan  8 10:00:00 ",
            "<190>Feb 29 10:00:00 host nginx: ",
            "<190>Feb 30 10:00:00 nginx: ",
            "<190>Jan 00 10:00:00 nginx: ",
            "<190>Jan 32 10:00:00 nginx: ",
            "<190>Foo  8 10:00:00 nginx: ",
            "<190>Jan  8 99:99:99 nginx: ",
            "<190>Jan  8 10:00:00 " + "t" * 5000 + ": ",
            "<1234>Jan  8 10:00:00 nginx: ",
            "<>Jan  8 10:00:00 nginx: ",
            "<190>",
            "<",
        ]
    ),
    st.builds(
        "<{}>{} {:>2} {:02d}:00:00 {}: ".format,
        st.integers(0, 9999),
        st.sampled_from(MONTHS),
        st.integers(0, 99),
        st.integers(0, 99),
        st.text(alphabet=st.characters(codec="ascii"), max_size=40),
    ),
)
NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e400", "1e308", "-1e308", "-5", "-0", "1" * 400,
    "9" * 5000, str(2**64), str(2**63), "0x10",
]  # fmt: skip
# Request time, bytes (array and object), status, the named request time, combined's bytes.
NUMBER_FIELDS = ["0.01", "1000", "200", '"0.010"', " 512 "]
INSERTED = [b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\x00", b"\r", b"\n", b"\r\n", b"\xef\xbb\xbf"]


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    text = _text(draw(st.sampled_from(TEMPLATES))).encode()
    return text[: draw(st.integers(0, len(text) - 1))]


@st.composite
def wrong_field(draw: st.DrawFn) -> Any:
    """A template with one field replaced: an array or object, or a combined line's text."""
    template = draw(st.sampled_from(TEMPLATES))
    value = draw(odd_values)
    if isinstance(template, list):
        items = list(template)
        items[draw(st.integers(0, len(items) - 1))] = value
        return items
    if isinstance(template, dict):
        key = draw(st.sampled_from([*template, "time", "message", "log"]))
        return {**template, key: value}
    words = template.split(" ")
    words[draw(st.integers(0, len(words) - 1))] = _text(value)
    return " ".join(words).encode()


@st.composite
def number_text(draw: st.DrawFn) -> bytes:
    """NaN, Infinity, negative or out-of-range numbers where a line has a number."""
    text = _text(draw(st.sampled_from(TEMPLATES)))
    literal = draw(st.sampled_from(NUMBERS))
    field = draw(st.sampled_from([f for f in NUMBER_FIELDS if f in text]))
    return text.replace(field, field.replace(field.strip(' "'), literal), 1).encode()


@st.composite
def inserted_bytes(draw: st.DrawFn) -> bytes:
    """Invalid UTF-8, NUL, CR or LF at any position of a valid line."""
    text = _text(draw(st.sampled_from(TEMPLATES))).encode()
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(st.sampled_from(INSERTED)) + text[at:]


@st.composite
def behind_syslog_header(draw: st.DrawFn) -> bytes:
    line = _text(draw(st.sampled_from(TEMPLATES)))
    return (draw(odd_syslog_headers) + line).encode()


@st.composite
def huge_field(draw: st.DrawFn) -> Any:
    template = dict(TEMPLATES[1])
    key = draw(st.sampled_from(["referer", "user_agent", "resource", "owner", "host", "uri"]))
    if key in ("resource", "owner"):
        field = draw(st.sampled_from(["id", "title", "type"]))
        template[key] = json.dumps({**json.loads(template[key]), field: HUGE})
    else:
        template[key] = HUGE
    return template


NUL_FIELDS = {
    "resource id": ("resource", {"type": "datasets", "id": "a\x00b"}),
    "resource title": ("resource", {"type": "datasets", "id": BAD, "title": "a%00b\x00c"}),
    "owner id": ("owner", {"type": "organization", "id": "a\x00b"}),
    "referer host": ("referer", "https://a\x00b.example/"),
    "referer parameter": ("referer", "https://client.example/?referer=a%00b"),
    "app page": ("referer", "https://portal.example/data-fair/app/a%00b/"),
    "user agent": ("user_agent", "curl\x00/8"),
    "host": ("host", "portal\x00.example"),
}


@st.composite
def nul_in_field(draw: st.DrawFn) -> dict[str, Any]:
    """PostgreSQL text cannot hold U+0000: such a value must never reach a statement."""
    key, value = NUL_FIELDS[draw(st.sampled_from(sorted(NUL_FIELDS)))]
    line = dict(TEMPLATES[1])
    line[key] = json.dumps(value) if isinstance(value, dict) else value
    return line


# A hostile entry: raw bytes of a line, or a JSON array or object to serialise.
hostile_entries = st.one_of(
    nul_in_field(),
    truncated(),
    wrong_field(),
    number_text(),
    inserted_bytes(),
    behind_syslog_header(),
    huge_field(),
    st.binary(max_size=200),
)


def _as_line(entry: Any) -> bytes:
    return entry if isinstance(entry, bytes) else json.dumps(entry).encode()


def _interleave(known: list[Any], hostile: list[Any]) -> list[Any]:
    """Known lines first (their signatures cached, as in a real batch), then mixed in."""
    mixed: list[Any] = [*TEMPLATES]
    for i in range(max(len(known), len(hostile))):
        mixed.extend(known[i : i + 1])
        mixed.extend(hostile[i : i + 1])
    return mixed


def _framed(kind: str, values: list[Any]) -> bytes:
    """The body of `values` in one framing; NDJSON carries raw lines as JSON strings."""
    if kind == JSON:
        return json.dumps([_as_json_value(v) for v in values]).encode()
    if kind == NDJSON:
        return b"\n".join(
            json.dumps(v).encode() if isinstance(v, str) else _as_line(v) for v in values
        )
    return b"\n".join(v.encode() if isinstance(v, str) else _as_line(v) for v in values)


def _as_json_value(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _line_count(kind: str, body: bytes) -> int:
    """How many entries the answer must account for: docs/ingest.md skips blank lines only."""
    if kind == JSON:
        return sum(1 for v in json.loads(body) if v is not None and v != "")
    text = body.decode("utf-8", "replace")
    return sum(1 for line in text.split("\n") if line and not line.isspace())


def _check_reasons(rejected: list[tuple[int, str]], body: bytes) -> None:
    numbers = [line for line, _ in rejected]
    assert len(numbers) == len(set(numbers)), "a line was rejected twice"
    text = body.decode("utf-8", "replace")
    lines = text.split("\n")
    for number, reason in rejected:
        assert isinstance(reason, str) and " " in reason.strip(), reason
        assert SECRET not in reason and IP not in reason, reason
        assert HUGE[:100] not in reason, "the reason quotes a field"
        if len(lines) >= number and len(lines[number - 1].strip()) >= 12:
            assert lines[number - 1].strip() not in reason


CONTEXT = ParseContext(
    ZoneInfo("UTC"), datetime(2024, 1, 8, 12, tzinfo=UTC), route_matcher(DEFAULT_RULES)
)
KNOWN_OWNERS = {("datasets", GOOD): Owner(**OWNER), ("datasets", BAD): Owner(**OWNER)}


@FAST
@given(
    kind=st.sampled_from([TEXT, NDJSON]),
    hostile=st.lists(hostile_entries, min_size=1, max_size=4),
)
def test_every_line_ends_accepted_ignored_or_rejected(kind: str, hostile: list[Any]) -> None:
    body = _framed(kind, _interleave(KNOWN, hostile))
    classifier = Classifier()
    batch = reduce_entries(entries(kind, body), CONTEXT, classifier)
    totals = resolve_pending(batch, KNOWN_OWNERS, classifier)

    outcomes = totals.accepted + sum(totals.ignored.values()) + len(totals.rejected)
    assert outcomes == _line_count(kind, body)
    _check_reasons([(r.line, r.reason) for r in totals.rejected], body)
    good = [c for key, c in totals.counters.items() if key.resource_id == GOOD]
    assert [sum(c[0] for c in good), sum(c[1] for c in good)] == [len(KNOWN), KNOWN_BYTES]


async def _sums() -> dict[str, tuple[int, int]]:
    rows = await connection().execute_query_dict(
        "SELECT resource_id, SUM(requests) AS requests, SUM(bytes) AS bytes "
        "FROM usage_daily GROUP BY resource_id"
    )
    return {row["resource_id"]: (int(row["requests"]), int(row["bytes"])) for row in rows}


def _added(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, int]:
    return {
        rid: after[rid][0] - before.get(rid, (0, 0))[0]
        for rid in after
        if after[rid] != before.get(rid)
    }


pytestmark = pytest.mark.anyio


@OVER_HTTP
@given(
    kind=st.sampled_from([TEXT, NDJSON, JSON]),
    gzipped=st.booleans(),
    hostile=st.lists(hostile_entries, min_size=1, max_size=4),
)
async def test_hostile_lines_never_spoil_a_batch(
    client: httpx.AsyncClient, kind: str, gzipped: bool, hostile: list[Any]
) -> None:
    body = _framed(kind, _interleave(KNOWN, hostile))
    headers = {**INGEST, "Content-Type": kind}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    before = await _sums()

    answer = await client.post(
        "/ingest", content=gzip.compress(body) if gzipped else body, headers=headers
    )

    assert answer.status_code == 200, answer.text
    counts = answer.json()
    assert counts["ignored"] == sum(counts["ignored_by_reason"].values())
    total = counts["accepted"] + counts["ignored"] + len(counts["rejected"])
    assert total == _line_count(kind, body)
    _check_reasons([(r["line"], r["reason"]) for r in counts["rejected"]], body)
    after = await _sums()
    added = _added(before, after)
    assert added[GOOD] == len(KNOWN)
    assert after[GOOD][1] - before.get(GOOD, (0, 0))[1] == KNOWN_BYTES
    assert sum(added.values()) == counts["accepted"]  # every accepted line is stored once


@pytest.fixture
async def sqlite_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=f"sqlite://{tmp_path / 'metrics.sqlite3'}",
        ingest_token=INGEST_TOKEN,
        secret_key="test-secret-key",
        max_batch_bytes=4096,
        fold_interval_s=0,  # counted in the request: read right after
    )
    async with app_client(settings) as client:
        yield client


CONTENT_TYPES = [TEXT, NDJSON, JSON, "application/ndjson", "text/html", "", "application/json; x"]
BODY_LEVEL = {400: "BAD_REQUEST", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


@OVER_HTTP
@given(
    body=st.one_of(
        st.binary(max_size=6000),
        st.binary(max_size=300).map(lambda b: gzip.compress(b)[: len(b) // 2 + 5]),
        st.binary(max_size=300).map(gzip.compress),
        st.just(gzip.compress(b"\n" * 100_000)),  # a small bomb: 100 kB from ~150 bytes
    ),
    content_type=st.sampled_from(CONTENT_TYPES),
    encoding=st.sampled_from([None, "gzip", "x-gzip", "br", "identity", "gzip, gzip"]),
)
async def test_body_level_garbage_is_a_whole_batch_error(
    sqlite_client: httpx.AsyncClient, body: bytes, content_type: str, encoding: str | None
) -> None:
    headers = {**INGEST, "Content-Type": content_type}
    if encoding is not None:
        headers["Content-Encoding"] = encoding

    answer = await sqlite_client.post("/ingest", content=body, headers=headers)

    if answer.status_code == 200:
        assert set(answer.json()) >= {"accepted", "ignored", "rejected"}
    else:
        assert answer.status_code in BODY_LEVEL, answer.text
        error = answer.json()
        assert error["error"] == BODY_LEVEL[answer.status_code]
        assert error["detail"].strip()
