"""GET /metrics (for Prometheus, behind a token) and GET /readyz (the database answers)."""

from __future__ import annotations

import asyncio
import hmac
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.auth.tokens import TokenChecker, hash_token
from app.config import Settings
from app.errors import DatabaseUnavailableError, ForbiddenError, UnauthenticatedError
from app.observability.http_requests import route_template
from app.observability.metrics import Metrics
from app.storage.database import DATABASE_ERRORS, connection

log = logging.getLogger(__name__)
# A load balancer probes every few seconds: a database slower than this counts as down.
READY_TIMEOUT_S = 2.0


def observability_routes(settings: Settings, tokens: TokenChecker, metrics: Metrics) -> list[Route]:
    return [
        Route("/metrics", MetricsEndpoint(settings, tokens, metrics).handle, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
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


async def readyz(request: Request) -> Response:
    """Ready when the database answers `SELECT 1` within READY_TIMEOUT_S."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await connection().execute_query("SELECT 1")
    except Exception as exc:  # any failure of the probe means "not ready", whatever its kind
        raise DatabaseUnavailableError(
            f"the database did not answer SELECT 1 within {READY_TIMEOUT_S:g} s; "
            "the server log says why"
        ) from exc
    return JSONResponse({"status": "ready"})


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
