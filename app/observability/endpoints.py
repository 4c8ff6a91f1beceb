"""GET /metrics (for Prometheus, behind a token) and GET /readyz (the database answers and the
folder folds)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.auth.tokens import TokenChecker, hash_token
from app.config import Settings
from app.errors import (
    DatabaseUnavailableError,
    FolderStalledError,
    ForbiddenError,
    UnauthenticatedError,
)
from app.observability.http_requests import route_template
from app.observability.metrics import Metrics
from app.storage.database import DATABASE_ERRORS, connection

log = logging.getLogger(__name__)
# A load balancer probes every few seconds: a database slower than this counts as down.
READY_TIMEOUT_S = 2.0


class FoldStall(Protocol):
    @property
    def failure(self) -> str: ...  # a FoldFailure code

    @property
    def seconds(self) -> float: ...


class FoldHealth(Protocol):
    """The folder of this process (app/ingest/folder.py), as /readyz sees it."""

    def stall(self) -> FoldStall | None:
        """Set when every fold pass has failed for longer than the folder allows."""
        ...


def observability_routes(
    settings: Settings, tokens: TokenChecker, metrics: Metrics, folder: FoldHealth | None = None
) -> list[Route]:
    return [
        Route("/metrics", MetricsEndpoint(settings, tokens, metrics).handle, methods=["GET"]),
        Route("/readyz", Readiness(folder).handle, methods=["GET"]),
    ]


class MetricsEndpoint:
    """The app's metrics for a caller with the metrics token or an admin token."""

    def __init__(self, settings: Settings, tokens: TokenChecker, metrics: Metrics) -> None:
        self._tokens = tokens
        self._metrics = metrics
        # Compared as sha256 digests: constant time, whatever the length of what is sent.
        self._metrics_token = hash_token(settings.metrics_token) if settings.metrics_token else None

    async def handle(self, request: Request) -> Response:
        await self._check(request.headers.get("authorization"))
        body, content_type = self._metrics.exposition(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    async def _check(self, authorization: str | None) -> None:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise UnauthenticatedError(
                "GET /metrics needs 'Authorization: Bearer <token>' with the metrics token "
                "(USAGE_METRICS_METRICS_TOKEN) or an admin token"
            )
        if self._metrics_token is not None and hmac.compare_digest(
            hash_token(token), self._metrics_token
        ):
            return  # no database needed: scrapes go on while it is down
        try:
            principal = await self._tokens.principal(authorization)
        except DATABASE_ERRORS as exc:
            raise DatabaseUnavailableError(
                "the database could not check this token: scrape with USAGE_METRICS_METRICS_TOKEN, "
                "which needs no database"
            ) from exc
        if not principal.is_admin:
            raise ForbiddenError("GET /metrics needs the metrics token or an admin token")


class Readiness:
    """Ready when the database answers within READY_TIMEOUT_S and the folder folds.

    Rows in the quarantine do not make a server unready (it still takes batches; refusing
    traffic would fix nothing): the answer counts them (docs/operations.md#probes).
    """

    def __init__(self, folder: FoldHealth | None) -> None:
        self._folder = folder

    async def handle(self, request: Request) -> Response:
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                _, rows = await connection().execute_query(
                    "SELECT COUNT(*) AS n FROM ingest_quarantine"
                )
        except Exception as exc:  # any failure of the probe means "not ready", whatever its kind
            raise DatabaseUnavailableError(
                f"the database did not answer within {READY_TIMEOUT_S:g} s; the server log says why"
            ) from exc
        stall = self._folder.stall() if self._folder is not None else None
        if stall is not None:
            raise FolderStalledError(
                f"every fold of the ingest ledger has failed for {stall.seconds:.0f} s "
                f"({stall.failure}): batches are taken but wait in the ledger; the server log "
                "says why"
            )
        return JSONResponse({"status": "ready", "quarantined_batches": int(rows[0]["n"])})


def note_database_error(request: Request, exc: DatabaseUnavailableError) -> None:
    """Count and log a request answered 503 because of the database (not the cause's text)."""
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.count_database_error()
    cause = exc.__cause__
    log.warning(
        "database unavailable on %s %s (%s)",
        request.method,
        route_template(request.scope),
        type(cause).__name__ if cause is not None else "no cause",
    )
