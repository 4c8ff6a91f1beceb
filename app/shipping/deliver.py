"""POST a batch to /ingest: gzip, bearer token, Idempotency-Key, retries with a capped backoff."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpx

from app.errors import UsageMetricsError
from app.shipping.answers import IngestAnswer
from app.shipping.batches import Batch
from app.shipping.signals import StopSignal

# 409: the same key is still being processed; 408/425/429 and 5xx: try again later, same key.
RETRY_STATUSES = frozenset({408, 409, 425, 429})
TIMEOUT = httpx.Timeout(120.0, connect=10.0)  # a big batch may wait for a busy database
HINTS = {
    401: "check the token in the environment variable given to --token-env",
    403: "the token must have the ingest or admin scope",
    413: "send smaller batches (--batch-lines) or raise USAGE_METRICS_MAX_BATCH_BYTES",
    422: "the server counted other lines under this key: import a file again with the "
    "--batch-lines of its first import; for ship, was the log rewritten in place?",
}


class DeliveryRefusedError(UsageMetricsError):
    """The server refused a batch for a reason that sending it again would not fix."""


@dataclass(frozen=True)
class Backoff:
    """Exponential, capped, with jitter; a server's Retry-After is a floor (capped too)."""

    first_s: float = 0.5
    cap_s: float = 30.0
    retry_after_cap_s: float = 300.0
    draw: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        ceiling = min(self.cap_s, self.first_s * 2 ** min(attempt, 30))
        # "Equal jitter": shippers restarted together spread out, and none retries at once.
        delay = self.draw(ceiling / 2, ceiling)
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.retry_after_cap_s))
        return delay


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# The server refused these lines themselves: this batch will never pass, the next ones may.
BATCH_REFUSALS = frozenset({400, 413, 422})


class BatchRefusedError(DeliveryRefusedError):
    """The server refused a batch's content (400, 413, 422); other batches may still pass."""


@dataclass(frozen=True)
class RetryLater:
    """The server was unreachable or answered 408/409/425/429/5xx: same batch, same key, later."""

    problem: str
    retry_after_s: float | None


def ingest_client(
    token: str, timeout: httpx.Timeout, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An HTTP client that posts gzipped text batches with the bearer token."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Encoding": "gzip",
    }
    return httpx.Client(headers=headers, timeout=timeout, transport=transport)


def post_once(
    client: httpx.Client, url: str, key: str, body_gz: bytes
) -> IngestAnswer | RetryLater:
    """One POST of a gzipped batch. Raises BatchRefusedError for a batch the server refuses,
    DeliveryRefusedError when no batch can pass (a wrong token or URL)."""
    try:
        response = client.post(url, content=body_gz, headers={"Idempotency-Key": key})
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise DeliveryRefusedError(f"cannot post to {url}: {exc}") from exc
    except httpx.TransportError as exc:
        return RetryLater(f"{type(exc).__name__}: {exc}", None)
    status = response.status_code
    if status == 200:
        return read_answer(response)
    if status in RETRY_STATUSES or status >= 500:
        retry_after = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
        return RetryLater(f"HTTP {status} {error_code(response)}".rstrip(), retry_after)
    refused = BatchRefusedError if status in BATCH_REFUSALS else DeliveryRefusedError
    raise refused(refusal(response))


class Deliverer:
    """Posts batches to one ingest URL with one token, until each is answered 200."""

    def __init__(
        self,
        url: str,
        token: str,
        stop: StopSignal,
        notify: Callable[[str], None],
        backoff: Backoff | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self._stop = stop
        self._notify = notify
        self._backoff = backoff or Backoff()
        self._client = ingest_client(token, TIMEOUT, transport)

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._client.close()

    def post(self, batch: Batch) -> IngestAnswer | None:
        """The server's answer; None if a stop was asked for while waiting to retry."""
        body = gzip.compress(batch.body, compresslevel=5, mtime=0)
        attempt = 0
        while True:
            outcome = post_once(self._client, self._url, batch.key, body)
            if not isinstance(outcome, RetryLater):
                return outcome
            delay = self._backoff.delay(attempt, outcome.retry_after_s)
            self._notify(f"{outcome.problem}; retrying in {delay:.1f} s")
            if self._stop.wait(delay):
                return None
            attempt += 1


def read_answer(response: httpx.Response) -> IngestAnswer:
    try:
        return IngestAnswer.from_json(response.json())
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise DeliveryRefusedError(
            f"{response.url} answered 200 with something else than an ingest answer: "
            "is --url the service's /ingest endpoint?"
        ) from exc


def error_code(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (KeyError, TypeError, ValueError):
        return ""


def refusal(response: httpx.Response) -> str:
    try:
        shown = json.dumps(response.json(), ensure_ascii=False)
    except ValueError:
        shown = repr(response.text[:200])
    message = f"the server refused the batch: HTTP {response.status_code} {shown}"
    hint = HINTS.get(response.status_code)
    return f"{message} ({hint})" if hint else message
