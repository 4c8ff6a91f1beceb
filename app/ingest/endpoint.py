"""POST /ingest: token, Idempotency-Key, bounded read, the pure pipeline, one transaction."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter as Tally
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import islice
from typing import Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response

from app.auth.tokens import TokenChecker
from app.config import Settings
from app.core.epochs import EpochKeys
from app.core.records import Ignored, Rejected
from app.errors import (
    BadRequestError,
    DatabaseUnavailableError,
    IdempotencyMismatchError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    UsageMetricsError,
)
from app.ingest import store
from app.ingest.body import BoundedBody, Entry, entries, media_type
from app.ingest.classify import Classifier
from app.ingest.domain_cap import DomainCap
from app.ingest.formats import ParseContext
from app.ingest.pipeline import Batch, Reducer, resolve_pending
from app.ingest.route_rules import DEFAULT_RULES, load_rules, route_matcher
from app.storage.database import DATABASE_ERRORS
from app.storage.epochs import EpochKeyring

log = logging.getLogger(__name__)

# Entries parsed between two returns to the event loop: ~5 to 20 ms of work, so that one large
# batch never stalls the others or /healthz (docs/ingest.md).
ENTRIES_PER_PART = 4096
# Bodies past this size are hashed in a thread (sha256 releases the GIL): ~2 ms a MiB.
_HASH_IN_THREAD_BYTES = 1024 * 1024


class IngestMetrics(Protocol):
    """What the endpoint reports of each batch (the app's Prometheus metrics implement it)."""

    def count_batch(
        self, accepted: int, ignored: Tally[Ignored], rejections: Iterable[Rejected], seconds: float
    ) -> None: ...

    def count_duplicate(self, seconds: float) -> None: ...

    def count_failed_batch(self, code: str) -> None: ...


class IngestEndpoint:
    """The ASGI handler of POST /ingest for one configuration (its caches live with it)."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenChecker,
        metrics: IngestMetrics,
        domain_cap: DomainCap | None = None,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._metrics = metrics
        self._classifier = Classifier(settings.portal_hosts)
        self._domain_cap = domain_cap or DomainCap(settings.max_domains_per_day)
        self._keyring = EpochKeyring(settings.consumer_epoch)
        rules = (
            load_rules(settings.route_rules_path) if settings.route_rules_path else DEFAULT_RULES
        )
        self._match_route = route_matcher(rules)

    async def handle(self, request: Request) -> Response:
        """POST /ingest, counted in the metrics: lines by outcome, the batch's result, its time."""
        started = time.perf_counter()
        try:
            return await self._ingest(request, started)
        except UsageMetricsError as exc:
            self._metrics.count_failed_batch(exc.code)
            raise
        except Exception:
            self._metrics.count_failed_batch("")
            raise

    async def _ingest(self, request: Request, started: float) -> Response:
        authorization = request.headers.get("authorization")
        try:
            await self._tokens.ingester(authorization)
        except DatabaseUnavailableError as exc:
            # Said in the shippers' terms: the same key, later.
            raise DatabaseUnavailableError(
                "the database did not answer to check the token; nothing was counted: "
                "retry later with the same Idempotency-Key"
            ) from exc
        sent_key = _idempotency_key(request.headers.get("idempotency-key"))
        key = store.scoped_key(_key_namespace(authorization), sent_key) if sent_key else None
        kind = media_type(request.headers.get("content-type"))
        body = await self._read_body(request)
        body_sha256 = await _sha256(body)
        if key is not None:
            stored = await store.find_batch(key, sent_key)
            if stored is not None:
                return self._duplicate(stored, body_sha256, started)
        received_at = datetime.now(UTC)
        context = ParseContext(self._settings.timezone, received_at, self._match_route)
        keys = await self._epoch_keys(context)
        batch = await _reduce(entries(kind, body), Reducer(context, self._classifier, keys))
        del body  # the entries are read: only the counters are kept from here
        owners = await store.known_owners(batch.owners_to_look_up()) if batch.pending else {}
        totals = resolve_pending(batch, owners, self._classifier)
        answer = orjson.dumps(totals.answer())
        stored = await store.write_batch(
            store.BatchWrite(
                totals,
                key,
                body_sha256,
                answer.decode(),
                received_at,
                self._settings.idempotency_wait_ms,
                self._domain_cap,
                to_ledger=self._settings.fold_interval_s > 0,
                sent_key=sent_key,
            )
        )
        if stored is not None:  # a concurrent request with the same key counted it first
            return self._duplicate(stored, body_sha256, started)
        seconds = time.perf_counter() - started
        self._metrics.count_batch(totals.accepted, totals.ignored, totals.rejections, seconds)
        # Counts only: a line, its reason text or the sender's address never reach the log.
        log.debug(
            "batch counted",
            extra={
                "accepted": totals.accepted,
                "ignored": sum(totals.ignored.values()),
                "rejected": totals.rejections.total(),
                "seconds": round(seconds, 4),
            },
        )
        return Response(answer, media_type="application/json")

    async def _epoch_keys(self, context: ParseContext) -> EpochKeys:
        try:
            return await self._keyring.keys(context.received_day)
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailableError(
                "the database did not answer; nothing was counted: retry later with the same "
                "Idempotency-Key"
            ) from exc

    def _duplicate(self, stored: store.StoredBatch, body_sha256: str, started: float) -> Response:
        response = _replay(stored, body_sha256)
        self._metrics.count_duplicate(time.perf_counter() - started)
        return response

    async def _read_body(self, request: Request) -> bytes:
        limit = self._settings.max_batch_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLargeError(
                f"the request body ({declared} bytes) is larger than the limit of {limit} bytes "
                "(USAGE_METRICS_MAX_BATCH_BYTES): send smaller batches"
            )
        reader = BoundedBody(limit, gzipped=_is_gzip(request.headers.get("content-encoding")))
        async for chunk in request.stream():
            reader.feed(chunk)
        return reader.finish()


async def _reduce(numbered: Iterable[Entry], reducer: Reducer) -> Batch:
    """Read the entries a part at a time, giving the event loop back after each part."""
    iterator = iter(numbered)
    while part := list(islice(iterator, ENTRIES_PER_PART)):
        reducer.read(part)
        await asyncio.sleep(0)
    return reducer.batch


async def _sha256(body: bytes) -> str:
    if len(body) < _HASH_IN_THREAD_BYTES:
        return hashlib.sha256(body).hexdigest()
    return await asyncio.to_thread(lambda: hashlib.sha256(body).hexdigest())


def _key_namespace(authorization: str | None) -> str:
    return store.key_namespace((authorization or "").partition(" ")[2].strip())


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= 200 or not all(" " <= c <= "~" for c in value):
        raise BadRequestError(
            "the Idempotency-Key header must be 1 to 200 printable ASCII characters"
        )
    return value


def _is_gzip(encoding: str | None) -> bool:
    value = (encoding or "identity").strip().lower()
    if value in ("gzip", "x-gzip"):
        return True
    if value == "identity":
        return False
    raise UnsupportedMediaTypeError(
        f"Content-Encoding {value!r} is not accepted: send the body as is or gzip it"
    )


def _replay(stored: store.StoredBatch, body_sha256: str) -> Response:
    if stored.body_sha256 != body_sha256:
        raise IdempotencyMismatchError(
            "this Idempotency-Key was already used for a different batch: "
            "use a new key for new lines"
        )
    answer = orjson.loads(stored.answer)
    answer["duplicate"] = True
    return Response(orjson.dumps(answer), media_type="application/json")
