"""POST /ingest through the real app: auth, body framing, batch errors, the answer, exactly once."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from app.auth.tokens import create_token
from app.config import Settings
from tests.conftest import with_settings
from tests.helpers import (
    ADMIN,
    INGEST,
    JSON,
    NDJSON,
    TEXT,
    app_client,
    combined_line,
    data_fair_line,
    failing_writes,
    named_line,
    ndjson,
    stored_key,
    table_rows,
    usage_rows,
)

pytestmark = pytest.mark.anyio

API_100 = data_fair_line(bytes_sent=100)
DOWNLOAD_200 = data_fair_line(bytes_sent=200, track="readDataFiles")
NOT_TRACKED = data_fair_line(track=None)
LINES = [API_100, DOWNLOAD_200, NOT_TRACKED]
TWO_COUNTED = {
    "accepted": 2,
    "ignored": 1,
    "ignored_by_reason": {"not_tracked": 1, "no_owner": 0, "no_resource": 0, "unknown_owner": 0},
    "rejected": [],
    "rejected_count": 0,
    "duplicate": False,
}
TEXT_BODY = "\n".join(json.dumps(line) for line in LINES).encode()
GZIP_MEMBERS = gzip.compress(TEXT_BODY[:40]) + gzip.compress(TEXT_BODY[40:])  # cat a.gz b.gz


async def counted() -> list[tuple[str, int, int]]:
    return [(r["operation"], r["requests"], r["bytes"]) for r in await usage_rows()]


def gzip_bomb(mebibytes: int = 10_000) -> bytes:
    """~10 MB of gzip that inflates to `mebibytes` MiB of zeros (10 000 -> ~10 GiB), built in ms."""
    zeros = bytes(1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)  # gzip header + 1 MiB
    # A full flush resets the compressor, so this block inflates to 1 MiB wherever it is repeated.
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    # The trailer's CRC and length cover 2 MiB only: a server stopping at its limit never reads it.
    return head + block * (mebibytes - 2) + deflate.flush()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-known-token"}, {"Authorization": "Basic dXNlcjpwdw=="}],
    ids=["no token", "unknown token", "basic auth"],
)
async def test_rejects_batch_without_a_valid_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    headers = {"Content-Type": "text/plain", **headers}
    response = await client.post("/ingest", content=TEXT_BODY, headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"error", "detail"}
    assert response.json()["error"] == "UNAUTHENTICATED"
    assert await usage_rows() == []


async def test_rejects_owner_token_with_403(client: httpx.AsyncClient) -> None:
    token = await create_token("owner:organization:org1", "owner-dashboard")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
    response = await client.post("/ingest", content=TEXT_BODY, headers=headers)
    assert (response.status_code, response.json()["error"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize("auth", [INGEST, ADMIN], ids=["ingest token", "admin token"])
async def test_accepts_ingest_and_admin_tokens(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    headers = {**auth, "Content-Type": "text/plain"}
    response = await client.post("/ingest", content=TEXT_BODY, headers=headers)
    assert (response.status_code, response.json()) == (200, TWO_COUNTED)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (TEXT, TEXT_BODY),
        (NDJSON, ndjson(*LINES)),
        (NDJSON, ndjson(*(json.dumps(line) for line in LINES))),
        ({**JSON, "Content-Type": "application/json; charset=utf-8"}, json.dumps(LINES).encode()),
        (JSON, json.dumps([json.dumps(line) for line in LINES]).encode()),
        (NDJSON, ndjson({"message": json.dumps(API_100), "host": "proxy-1", "source_type": "file"},
                        {"message": json.dumps(DOWNLOAD_200)}, {"log": json.dumps(NOT_TRACKED)})),
        ({**TEXT, "Content-Encoding": "gzip"}, gzip.compress(TEXT_BODY)),
        ({**TEXT, "Content-Encoding": "gzip"}, GZIP_MEMBERS),
    ],
    ids=["text", "ndjson values", "ndjson strings", "json values", "json strings",
         "vector and fluent bit events", "gzip", "gzip members"],
)  # fmt: skip
async def test_counts_the_same_lines_in_every_body_framing(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes
) -> None:
    response = await client.post("/ingest", content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, TWO_COUNTED)
    assert await counted() == [("api", 1, 100), ("download", 1, 200)]


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [
        ({**INGEST, "Content-Type": "text/csv"}, TEXT_BODY, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({**TEXT, "Content-Encoding": "br"}, TEXT_BODY, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ({**TEXT, "Content-Encoding": "gzip"}, b"this is not gzip", 400, "BAD_REQUEST"),
        ({**TEXT, "Content-Encoding": "gzip"}, gzip.compress(TEXT_BODY)[:-12], 400, "BAD_REQUEST"),
        (JSON, b"[not json", 400, "BAD_REQUEST"),
        (JSON, json.dumps({"lines": LINES}).encode(), 400, "BAD_REQUEST"),
    ],
    ids=["text/csv", "brotli", "bad gzip", "truncated gzip", "json not json", "json not array"],
)
async def test_refuses_a_bad_batch_as_a_whole(
    client: httpx.AsyncClient, headers: dict[str, str], body: bytes, status: int, error: str
) -> None:
    response = await client.post("/ingest", content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert set(response.json()) == {"error", "detail"}
    assert await usage_rows() == []


@pytest.mark.parametrize(
    "key", ["", "k" * 201, "batch\t1", "batch\x01one", "batch\x7f"],
    ids=["empty", "201 chars", "tab", "control char", "DEL"],
)  # fmt: skip
async def test_refuses_a_malformed_idempotency_key(client: httpx.AsyncClient, key: str) -> None:
    headers = {**TEXT, "Idempotency-Key": key}
    response = await client.post("/ingest", content=TEXT_BODY, headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "BAD_REQUEST")
    assert await usage_rows() == []


async def test_accepts_a_200_character_idempotency_key(client: httpx.AsyncClient) -> None:
    headers = {**TEXT, "Idempotency-Key": "k" * 200}
    response = await client.post("/ingest", content=TEXT_BODY, headers=headers)
    assert (response.status_code, response.json()) == (200, TWO_COUNTED)


async def test_answers_counts_and_numbered_rejections_for_a_mixed_batch(
    client: httpx.AsyncClient,
) -> None:
    bad_status = {**named_line(), "status": "teapot"}
    lines = [
        json.dumps(API_100),  # 1
        "",  # 2
        json.dumps(NOT_TRACKED),  # 3
        json.dumps(data_fair_line(owner=None)),  # 4
        "   ",  # 5
        json.dumps(data_fair_line(resource={})),  # 6
        "this is not a log line from 192.0.2.7",  # 7
        json.dumps(API_100[:13]),  # 8
        combined_line("/data-fair/api/v1/datasets/never-seen/lines"),  # 9
        json.dumps(DOWNLOAD_200),  # 10
        '[1, "192.0.2.8"',  # 11
        json.dumps(bad_status),  # 12
    ]
    body = ("\n".join(lines) + "\n").encode()
    response = await client.post("/ingest", content=body, headers=TEXT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert {**answer, "rejected": [r["line"] for r in answer["rejected"]]} == {
        "accepted": 2,
        "ignored": 4,
        "ignored_by_reason": {
            "not_tracked": 1, "no_owner": 1, "no_resource": 1, "unknown_owner": 1,
        },
        "rejected": [7, 8, 11, 12],
        "rejected_count": 4,
        "duplicate": False,
    }  # fmt: skip
    assert [r["code"] for r in answer["rejected"]] == [
        "unknown_format", "wrong_item_count", "bad_json", "bad_status",
    ]  # fmt: skip
    for rejection in answer["rejected"]:
        assert set(rejection) == {"line", "code", "reason"}
        assert isinstance(rejection["reason"], str) and rejection["reason"]
        assert "192.0.2" not in rejection["reason"]
    assert await counted() == [("api", 1, 100), ("download", 1, 200)]


async def test_numbers_json_array_rejections_by_index(client: httpx.AsyncClient) -> None:
    body = json.dumps([API_100, "garbage", None, 42, DOWNLOAD_200]).encode()
    answer = (await client.post("/ingest", content=body, headers=JSON)).json()
    assert (answer["accepted"], [r["line"] for r in answer["rejected"]]) == (2, [2, 4])


async def test_rejects_an_ndjson_line_that_is_not_json(client: httpx.AsyncClient) -> None:
    body = ndjson(API_100) + b"\n\n" + json.dumps(API_100).encode()[:-1] + b"\n" + ndjson(API_100)
    answer = (await client.post("/ingest", content=body, headers=NDJSON)).json()
    assert (answer["accepted"], [r["line"] for r in answer["rejected"]]) == (2, [3])


async def test_reads_bytes_that_are_not_utf8_with_replacement_characters(
    client: httpx.AsyncClient,
) -> None:
    # nginx's escape=json passes non-ASCII bytes through as they came.
    line = json.dumps(data_fair_line(resource={"type": "datasets", "id": "roads", "title": "Rou"}))
    body = line.encode().replace(b"Rou", b"Rou\xfftes")
    response = await client.post("/ingest", content=body, headers=TEXT)
    assert (response.status_code, response.json()["accepted"]) == (200, 1)
    assert [row["title"] for row in await table_rows("resources")] == ["Rou\ufffdtes"]


async def test_keeps_nul_characters_out_of_the_database(client: httpx.AsyncClient) -> None:
    # Found by tests/hostile: PostgreSQL text cannot hold U+0000, so one such line failed the
    # whole batch with 503 on every retry.
    lines = [
        data_fair_line(resource={"type": "datasets", "id": "a\x00b"}),
        data_fair_line(owner={"type": "organization", "id": "\x00"}),
        data_fair_line(resource={"type": "datasets", "id": "roads", "title": "Ro%00ads\x00"}),
        data_fair_line(referer="https://a\x00b.example/"),
        data_fair_line(referer="https://portal.example/data-fair/app/a\x00b/"),
    ]
    response = await client.post("/ingest", content=ndjson(*lines), headers=NDJSON)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (
        3,
        [
            {"line": 1, "code": "bad_field", "reason": "the resource id contains a NUL character"},
            {"line": 2, "code": "bad_field", "reason": "the owner id contains a NUL character"},
        ],
    )
    assert [row["title"] for row in await table_rows("resources")] == ["Roads"]
    assert sorted((r["referer_domain"], r["referer_app"]) for r in await usage_rows()) == [
        ("invalid", ""),
        ("none", ""),
        ("portal.example", "invalid"),  # not an id of the portal's alphabet (docs/security.md)
    ]


@pytest.fixture
async def small_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(with_settings(settings, max_batch_bytes=1024)) as http:
        yield http


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 256):
        yield data[start : start + 256]


OVER_LIMIT = json.dumps(API_100).encode().ljust(1025)


@pytest.mark.parametrize(
    ("encoding", "body", "streamed"),
    [("identity", OVER_LIMIT, False), ("identity", OVER_LIMIT, True),
     ("gzip", gzip.compress(OVER_LIMIT), False)],
    ids=["declared length", "streamed without length", "gzip inflating past the limit"],
)  # fmt: skip
async def test_refuses_a_body_over_max_batch_bytes(
    small_client: httpx.AsyncClient, encoding: str, body: bytes, streamed: bool
) -> None:
    headers = {**TEXT, "Content-Encoding": encoding}
    content = _chunks(body) if streamed else body
    response = await small_client.post("/ingest", content=content, headers=headers)
    assert (response.status_code, response.json()["error"]) == (413, "PAYLOAD_TOO_LARGE")
    assert await usage_rows() == []


async def test_accepts_a_body_of_exactly_max_batch_bytes(small_client: httpx.AsyncClient) -> None:
    body = json.dumps(API_100).encode().ljust(1024)
    response = await small_client.post("/ingest", content=body, headers=TEXT)
    assert (response.status_code, response.json()["accepted"]) == (200, 1)


async def test_refuses_a_gzip_bomb_quickly(client: httpx.AsyncClient) -> None:
    bomb = gzip_bomb()
    assert 10_000_000 < len(bomb) < 11_000_000
    started = time.monotonic()
    headers = {**TEXT, "Content-Encoding": "gzip"}
    response = await client.post("/ingest", content=bomb, headers=headers)
    assert time.monotonic() - started < 5
    assert (response.status_code, response.json()["error"]) == (413, "PAYLOAD_TOO_LARGE")
    assert await usage_rows() == []


async def test_counts_a_replayed_batch_once(client: httpx.AsyncClient) -> None:
    headers = {**TEXT, "Idempotency-Key": "batch-1"}
    first = await client.post("/ingest", content=TEXT_BODY, headers=headers)
    again = await client.post("/ingest", content=TEXT_BODY, headers=headers)
    gzipped = await client.post(
        "/ingest", content=gzip.compress(TEXT_BODY), headers={**headers, "Content-Encoding": "gzip"}
    )
    assert first.json() == TWO_COUNTED
    assert again.json() == gzipped.json() == {**TWO_COUNTED, "duplicate": True}
    assert await counted() == [("api", 1, 100), ("download", 1, 200)]
    assert len(await table_rows("ingest_batches")) == 1


async def test_counts_concurrent_replays_once(client: httpx.AsyncClient) -> None:
    headers = {**TEXT, "Idempotency-Key": "batch-concurrent"}
    responses = await asyncio.gather(
        *(client.post("/ingest", content=TEXT_BODY, headers=headers) for _ in range(8))
    )
    assert [r.status_code for r in responses] == [200] * 8
    answers = sorted((r.json() for r in responses), key=lambda a: a["duplicate"])
    assert answers == [TWO_COUNTED] + [{**TWO_COUNTED, "duplicate": True}] * 7
    assert await counted() == [("api", 1, 100), ("download", 1, 200)]


async def test_refuses_a_key_reused_for_another_body(client: httpx.AsyncClient) -> None:
    headers = {**TEXT, "Idempotency-Key": "batch-2"}
    await client.post("/ingest", content=TEXT_BODY, headers=headers)
    other = await client.post("/ingest", content=TEXT_BODY + b"\n", headers=headers)
    assert (other.status_code, other.json()["error"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert await counted() == [("api", 1, 100), ("download", 1, 200)]


async def test_leaves_nothing_behind_when_the_database_write_fails(
    client: httpx.AsyncClient,
) -> None:
    # "avenues" sorts before "boom": its row is written before the trigger fires.
    lines = [
        data_fair_line(resource={"type": "datasets", "id": name, "title": name})
        for name in ("avenues", "boom")
    ]
    headers = {**NDJSON, "Idempotency-Key": "batch-boom"}
    async with failing_writes():
        failed = await client.post("/ingest", content=ndjson(*lines), headers=headers)
        assert failed.status_code == 503
        assert int(failed.headers["retry-after"]) > 0
        assert (set(failed.json()), failed.json()["error"]) == (
            {"error", "detail"}, "DATABASE_UNAVAILABLE",
        )  # fmt: skip
        assert await usage_rows() == []
        assert await table_rows("resources") == []
        assert await table_rows("ingest_batches") == []
    retried = await client.post("/ingest", content=ndjson(*lines), headers=headers)
    assert (retried.status_code, retried.json()["accepted"], retried.json()["duplicate"]) == (
        200, 2, False,
    )  # fmt: skip
    assert [r["resource_id"] for r in await usage_rows()] == ["avenues", "boom"]


async def test_answers_409_while_the_same_key_is_still_being_written(
    settings: Settings,
) -> None:
    if not settings.database_url.startswith("postgres"):
        pytest.skip("SQLite serialises writers on the file lock: a replay waits, it is never 409")
    import asyncpg

    async with app_client(with_settings(settings, idempotency_wait_ms=200)) as client:
        first = await asyncpg.connect(settings.database_url)
        try:
            # Another request's transaction holds the key's row, not committed yet.
            transaction = first.transaction()
            await transaction.start()
            busy_key = stored_key("busy-key", TEXT["Authorization"].removeprefix("Bearer "))
            await first.execute(
                "INSERT INTO ingest_batches VALUES ($1, 'x', '{}', now())", busy_key
            )
            headers = {**TEXT, "Idempotency-Key": "busy-key"}
            started = time.monotonic()
            busy = await client.post("/ingest", content=TEXT_BODY, headers=headers)
            waited = time.monotonic() - started
            await transaction.rollback()
        finally:
            await first.close()
        assert busy.status_code == 409
        assert busy.json()["error"] == "IDEMPOTENCY_KEY_IN_USE"
        assert busy.headers["Retry-After"] == "5"
        assert 0.2 <= waited < 5
        assert await counted() == []
        again = await client.post("/ingest", content=TEXT_BODY, headers=headers)
        assert again.json() == TWO_COUNTED
        assert sorted(await counted()) == [("api", 1, 100), ("download", 1, 200)]
