"""Request body framing: media types, capped reading and gunzip, numbered entries."""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from app.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from app.ingest.body import JSON, NDJSON, TEXT, BoundedBody, NotJson, entries, media_type

LINES = b"".join(
    b'["portal.example","",0.01,1000,200,"","","","","","","MISS","","",%d]\n' % i
    for i in range(50)
)
TRUNCATED = "the gzip body is truncated: its end was never received"
NOT_GZIP = "the body is declared gzip (Content-Encoding: gzip) but is not valid gzip"
NOT_ARRAY = (
    "an application/json body must be a JSON array of log lines; "
    "for one value per line use application/x-ndjson"
)


def _too_large(what: str, limit: int) -> str:
    return (
        f"{what} is larger than the limit of {limit} bytes (USAGE_METRICS_MAX_BATCH_BYTES): "
        "send smaller batches"
    )


def _read(body: bytes, *, limit: int, gzipped: bool, chunk_size: int) -> bytes:
    bounded = BoundedBody(limit, gzipped)
    for start in range(0, len(body), chunk_size):
        bounded.feed(body[start : start + chunk_size])
    return bounded.finish()


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/plain", TEXT),
        ("text/plain; charset=utf-8", TEXT),
        ("Text/Plain ; charset=UTF-8", TEXT),
        ("application/x-ndjson", NDJSON),
        ("application/ndjson", NDJSON),
        ("application/jsonl", NDJSON),
        ("application/x-jsonlines", NDJSON),
        ("application/json", JSON),
        ("Application/JSON; charset=utf-8", JSON),
    ],
)
def test_reads_media_type_from_content_type(content_type: str, expected: str) -> None:
    assert media_type(content_type) == expected


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        (None, "(none)"),
        ("", "(none)"),
        ("text/csv", "text/csv"),
        ("Application/XML; charset=utf-8", "application/xml"),
        ("multipart/form-data; boundary=x", "multipart/form-data"),
    ],
)
def test_refuses_unsupported_media_type(content_type: str | None, named: str) -> None:
    with pytest.raises(UnsupportedMediaTypeError) as caught:
        media_type(content_type)
    assert caught.value.status_code == 415
    assert caught.value.message == (
        f"Content-Type {named!r} is not accepted: send text/plain (one log line per line), "
        "application/x-ndjson (one JSON value per line) or application/json (an array)"
    )


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, len(LINES)])
@pytest.mark.parametrize(
    ("body", "gzipped"),
    [
        pytest.param(LINES, False, id="plain"),
        pytest.param(gzip.compress(LINES), True, id="gzip"),
        pytest.param(
            gzip.compress(LINES[:1000]) + gzip.compress(LINES[1000:]), True, id="gzip-members"
        ),
        pytest.param(
            gzip.compress(LINES[:1000]) + gzip.compress(b"") + gzip.compress(LINES[1000:]),
            True,
            id="gzip-members-with-empty-one",
        ),
    ],
)
def test_reads_body_in_chunks(body: bytes, gzipped: bool, chunk_size: int) -> None:
    assert _read(body, limit=len(LINES), gzipped=gzipped, chunk_size=chunk_size) == LINES


@pytest.mark.parametrize("chunk_size", [1, 7, 100_000])
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(gzip.compress(LINES)[:-4], id="no-size-trailer"),
        pytest.param(gzip.compress(LINES)[:20], id="cut-in-deflate-data"),
        pytest.param(gzip.compress(LINES)[:5], id="cut-in-header"),
        pytest.param(gzip.compress(LINES[:1000]) + gzip.compress(LINES[1000:])[:-8],
                     id="second-member-cut"),
    ],
)  # fmt: skip
def test_refuses_truncated_gzip(body: bytes, chunk_size: int) -> None:
    with pytest.raises(BadRequestError) as caught:
        _read(body, limit=len(LINES), gzipped=True, chunk_size=chunk_size)
    assert (caught.value.status_code, caught.value.message) == (400, TRUNCATED)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(LINES, id="plain-text"),
        pytest.param(b"\x1f\x8b\x08\x00garbage-after-magic", id="bad-deflate-data"),
        pytest.param(gzip.compress(LINES) + b"trailing garbage", id="trailing-garbage"),
    ],
)
def test_refuses_invalid_gzip(body: bytes) -> None:
    with pytest.raises(BadRequestError) as caught:
        _read(body, limit=len(LINES), gzipped=True, chunk_size=4096)
    assert (caught.value.status_code, caught.value.message) == (400, NOT_GZIP)


@pytest.mark.parametrize("chunk_size", [1, 6, 11])
def test_refuses_plain_body_past_limit(chunk_size: int) -> None:
    assert _read(b"x" * 10, limit=10, gzipped=False, chunk_size=chunk_size) == b"x" * 10
    with pytest.raises(PayloadTooLargeError) as caught:
        _read(b"x" * 11, limit=10, gzipped=False, chunk_size=chunk_size)
    assert caught.value.status_code == 413
    assert caught.value.message == _too_large("the request body", 10)


@pytest.mark.parametrize("chunk_size", [7, 4096])
@pytest.mark.parametrize(
    ("body", "limit"),
    [
        pytest.param(gzip.compress(LINES), len(LINES) - 1, id="one-byte-over"),
        pytest.param(gzip.compress(b"a" * 5_000_000), 10_000, id="gzip-bomb"),
        pytest.param(
            gzip.compress(LINES) + gzip.compress(LINES), len(LINES) + 1, id="second-member-over"
        ),
    ],
)
def test_refuses_gzip_whose_output_passes_limit(body: bytes, limit: int, chunk_size: int) -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        _read(body, limit=limit, gzipped=True, chunk_size=chunk_size)
    assert caught.value.status_code == 413
    assert caught.value.message == _too_large("the decompressed body", limit)


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        pytest.param(TEXT, b"a\n\nb\r\n  \nc\n", [(1, "a"), (3, "b"), (5, "c")],
                     id="text-blank-lines-counted"),
        pytest.param(TEXT, b"\n\n<190>Jan  7 23:30:00 df: []", [(3, "<190>Jan  7 23:30:00 df: []")],
                     id="text-leading-blank-lines"),
        pytest.param(TEXT, b"", [], id="text-empty"),
        pytest.param(NDJSON, b'"raw line"\n\n{"a": 1}\r\n[1, 2]\n',
                     [(1, "raw line"), (3, {"a": 1}), (4, [1, 2])], id="ndjson"),
        pytest.param(JSON, b'["a", "", null, {"b": 1}, [2]]', [(1, "a"), (4, {"b": 1}), (5, [2])],
                     id="json-array-index"),
        pytest.param(JSON, b'[\n"a",\n\n"b"\n]', [(1, "a"), (2, "b")],
                     id="json-array-index-not-physical-line"),
        pytest.param(JSON, b"[]", [], id="json-empty-array"),
        pytest.param(TEXT, b"caf\xe9 line\n", [(1, "caf\ufffd line")], id="text-invalid-utf8"),
        pytest.param(NDJSON, b'"caf\xe9"\n', [(1, "caf\ufffd")], id="ndjson-invalid-utf8"),
        pytest.param(JSON, b'["caf\xe9"]', [(1, "caf\ufffd")], id="json-invalid-utf8"),
    ],
)  # fmt: skip
def test_numbers_entries(kind: str, body: bytes, expected: list[tuple[int, Any]]) -> None:
    assert list(entries(kind, body)) == expected


def test_marks_ndjson_line_that_is_not_json() -> None:
    numbered = list(entries(NDJSON, b'"ok"\n\nnot json 192.0.2.1\n{"a": 1}\n'))
    assert numbered == [(1, "ok"), (3, "not json 192.0.2.1"), (4, {"a": 1})]
    assert [type(value) for _, value in numbered] == [str, NotJson, dict]


@pytest.mark.parametrize("body", [b'{"message": "x"}', b'"a raw line"', b"42", b"null"])
def test_refuses_json_body_that_is_not_an_array(body: bytes) -> None:
    with pytest.raises(BadRequestError) as caught:
        list(entries(JSON, body))
    assert (caught.value.status_code, caught.value.message) == (400, NOT_ARRAY)


def test_refuses_json_body_that_is_not_json() -> None:
    with pytest.raises(BadRequestError) as caught:
        list(entries(JSON, b'["a", "b"'))
    assert caught.value.message == (
        "the body is declared application/json but is not valid JSON (unexpected end of data "
        "after item 2 at character 9); send one JSON array of log lines"
    )
