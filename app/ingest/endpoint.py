"""POST /ingest: token, Idempotency-Key, bounded read, the pure pipeline, one transaction."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.errors import (
    BadRequestError,
    IdempotencyMismatchError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from app.ingest import store
from app.ingest.body import BoundedBody, entries, media_type
from app.ingest.classify import Classifier
from app.ingest.formats import ParseContext
from app.ingest.pipeline import reduce_entries, resolve_pending
from app.ingest.route_rules import DEFAULT_RULES, load_rules, route_matcher
from app.tokens import TokenChecker


class IngestEndpoint:
    """The ASGI handler of POST /ingest for one configuration (its caches live with it)."""

    def __init__(self, settings: Settings, tokens: TokenChecker) -> None:
        self._settings = settings
        self._tokens = tokens
        self._classifier = Classifier(settings.portal_hosts)
        rules = (
            load_rules(settings.route_rules_path) if settings.route_rules_path else DEFAULT_RULES
        )
        self._match_route = route_matcher(rules)

    async def handle(self, request: Request) -> Response:
        await self._tokens.ingester(request.headers.get("authorization"))
        key = _idempotency_key(request.headers.get("idempotency-key"))
        kind = media_type(request.headers.get("content-type"))
        body = await self._read_body(request)
        body_sha256 = hashlib.sha256(body).hexdigest()
        if key is not None:
            stored = await store.find_batch(key)
            if stored is not None:
                return _replay(stored, body_sha256)
        received_at = datetime.now(UTC)
        context = ParseContext(self._settings.timezone, received_at, self._match_route)
        batch = reduce_entries(entries(kind, body), context, self._classifier)
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
            )
        )
        if stored is not None:  # a concurrent request with the same key counted it first
            return _replay(stored, body_sha256)
        return Response(answer, media_type="application/json")

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
