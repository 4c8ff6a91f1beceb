"""Posting a batch: retries with a capped, jittered backoff and Retry-After; refusals stop."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import httpx
import pytest

from app.shipping.answers import IngestAnswer
from app.shipping.batches import Batch
from app.shipping.deliver import Backoff, Deliverer, DeliveryRefusedError, retry_after_seconds
from app.shipping.signals import StopSignal

OK = {
    "accepted": 2,
    "ignored": 1,
    "ignored_by_reason": {"not_tracked": 1},
    "rejected": [{"line": 3, "reason": "not a log line"}],
    "duplicate": False,
}
BATCH = Batch(b'{"a": 1}\n{"b": 2}\n', 2, 0, 18, "um-ship-1.2.abc.0.0-18")
TOKEN = "um_secret-ingest-token"


class RecordingStop(StopSignal):
    """Records the waits instead of sleeping; asks to stop after `stop_after` of them."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.waits: list[float] = []
        self._stop_after = stop_after

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.requested = len(self.waits) == self._stop_after
        return self.requested


def deliverer(
    answers: list[httpx.Response | Exception], stop: StopSignal
) -> tuple[Deliverer, list[httpx.Request]]:
    """A Deliverer on a stand-in server giving `answers` in turn; the requests it received."""
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sender = Deliverer(
        "http://ingest.test/ingest",
        TOKEN,
        stop,
        lambda message: None,
        Backoff(draw=lambda low, high: high),
        transport=httpx.MockTransport(handle),
    )
    return sender, requests


def error(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": code, "detail": "why"}, headers=headers)


def test_retries_with_the_same_key_and_body_until_answered() -> None:
    stop = RecordingStop()
    sender, sent = deliverer(
        [
            httpx.ConnectError("refused"),
            error(503, "DATABASE_UNAVAILABLE", **{"Retry-After": "10"}),
            error(409, "IDEMPOTENCY_KEY_IN_USE"),
            error(429, "TOO_MANY_REQUESTS"),
            httpx.Response(502, text="bad gateway"),
            httpx.Response(200, json=OK),
        ],
        stop,
    )
    assert sender.post(BATCH) == IngestAnswer(2, 1, 1, "line 3: not a log line", False)
    assert stop.waits == [0.5, 10.0, 2.0, 4.0, 8.0]  # Retry-After is a floor over the backoff
    assert {r.headers["Idempotency-Key"] for r in sent} == {BATCH.key}
    assert {gzip.decompress(r.content) for r in sent} == {BATCH.body}
    assert sent[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent[0].headers["Content-Encoding"] == "gzip"
    assert sent[0].headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "BAD_REQUEST"),
        (401, "UNAUTHENTICATED"),
        (403, "FORBIDDEN"),
        (413, "PAYLOAD_TOO_LARGE"),
        (415, "UNSUPPORTED_MEDIA_TYPE"),
        (422, "IDEMPOTENCY_KEY_REUSED"),
    ],
)
def test_stops_on_a_refusal_and_shows_the_servers_error(status: int, code: str) -> None:
    stop = RecordingStop()
    with pytest.raises(DeliveryRefusedError) as refused:
        deliverer([error(status, code)], stop)[0].post(BATCH)
    assert f"HTTP {status} " in refused.value.message
    assert json.dumps({"error": code, "detail": "why"}) in refused.value.message
    assert TOKEN not in refused.value.message
    assert stop.waits == []


def test_gives_up_waiting_when_asked_to_stop() -> None:
    stop = RecordingStop(stop_after=2)
    sender, sent = deliverer([httpx.ConnectError("refused")] * 2, stop)
    assert sender.post(BATCH) is None
    assert len(sent) == 2


def test_a_200_that_is_not_an_ingest_answer_is_a_refusal() -> None:
    with pytest.raises(DeliveryRefusedError, match="is --url the service's /ingest endpoint"):
        deliverer([httpx.Response(200, text="<html>")], RecordingStop())[0].post(BATCH)


@pytest.mark.parametrize(
    ("attempt", "retry_after", "low", "high"),
    [
        (0, None, 0.25, 0.5),
        (3, None, 2.0, 4.0),
        (10, None, 15.0, 30.0),  # capped
        (500, None, 15.0, 30.0),  # no overflow
        (0, 7.0, 7.0, 7.0),  # the server's Retry-After is a floor
        (0, 86400.0, 300.0, 300.0),  # ... capped too
    ],
)
def test_backoff_is_exponential_capped_and_jittered(
    attempt: int, retry_after: float | None, low: float, high: float
) -> None:
    shortest = Backoff(draw=lambda a, b: a).delay(attempt, retry_after)
    longest = Backoff(draw=lambda a, b: b).delay(attempt, retry_after)
    assert (shortest, longest) == (low, high)


NOW = datetime(2024, 1, 9, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("Tue, 09 Jan 2024 12:00:30 GMT", 30.0),
        ("Tue, 09 Jan 2024 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_reads_retry_after_as_seconds_or_a_date(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds
