"""The ASGI application: routes, the database's lifespan, error translation."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.auth.tokens import TokenChecker
from app.config import Settings, load_settings
from app.dashboard.pages import DashboardPages
from app.datafair.routes import DataFairApi
from app.errors import DatabaseUnavailableError, UsageMetricsError
from app.ingest.domain_cap import DomainCap
from app.ingest.endpoint import IngestEndpoint
from app.ingest.folder import Folder
from app.observability.endpoints import note_database_error, observability_routes
from app.observability.http_requests import RequestMetrics
from app.observability.logs import configure_logging
from app.observability.metrics import Metrics
from app.schema import graphql_app
from app.schema.cors import GraphQLCors
from app.storage.database import close_database, open_database
from app.storage.retention import purging_periodically
from app.web.routes import admin_sign_in_routes, favicon_route, page_kit, static_route
from app.webanalytics.routes import analytics_routes

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings(os.environ)
    if settings.secret_key_is_random:
        log.warning(
            "USAGE_METRICS_SECRET_KEY is not set: a random key is used, "
            "so admin sessions end when the server restarts"
        )
    tokens = TokenChecker(settings)
    metrics = Metrics()
    pages = page_kit(settings, tokens)
    # One cache of stored domains per process, for the requests' counting and the folder's.
    domain_cap = DomainCap(settings.max_domains_per_day, settings.max_apps_per_day)
    ingest = IngestEndpoint(settings, tokens, metrics, domain_cap)
    folder = Folder(settings.fold_interval_s, domain_cap, metrics)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await open_database(settings.database_url)
        _freeze_start_up_objects()
        try:
            async with (
                purging_periodically(settings),  # retention, without a cron job
                folder.running(),  # the ingest ledger
            ):
                yield
        finally:
            await close_database()

    app = Starlette(
        routes=[
            Route("/ingest", ingest.handle, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            *observability_routes(settings, tokens, metrics, folder),
            Route("/graphql", graphql_app()),  # every method: it answers 405 as GraphQL does
            *DataFairApi(tokens).routes(),
            *admin_sign_in_routes(settings, tokens, pages),
            *analytics_routes(settings, pages.gate),
            *DashboardPages(settings, tokens, pages.backoff).routes(),
            static_route(),
            favicon_route(),
        ],
        exception_handlers={UsageMetricsError: render_error, 404: not_found, 405: not_allowed},
        middleware=[
            Middleware(RequestMetrics, metrics=metrics),
            Middleware(GraphQLCors, origins=settings.cors_origins),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.metrics = metrics
    app.state.folder = folder
    return app


def _freeze_start_up_objects() -> None:
    # What start-up built (modules, the GraphQL schema, the ORM) lives as long as the process.
    # Frozen, it is skipped by the collector's full passes, which otherwise stopped one request
    # in six for ~25 ms (the p95 of a page of 100 datasets). Once per process: a test session
    # builds many apps.
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


async def render_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UsageMetricsError)
    if isinstance(exc, DatabaseUnavailableError):
        note_database_error(request, exc)
    body = {"error": exc.code, "detail": exc.message}
    return JSONResponse(body, status_code=exc.status_code, headers=dict(exc.headers))


async def not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "NOT_FOUND", "detail": "no such endpoint"}, status_code=404)


async def not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error": "METHOD_NOT_ALLOWED", "detail": f"{request.method} is not allowed here"},
        status_code=405,
    )


async def healthz(request: Request) -> Response:
    # The process answers: no database access (that is /readyz).
    return JSONResponse({"status": "ok"})


def __getattr__(name: str) -> Starlette:
    # `app.main:app` is built on first access, so that importing this module reads no environment.
    if name == "app":
        settings = load_settings(os.environ)
        # Run by uvicorn itself (uvicorn app.main:app): our log format replaces uvicorn's.
        configure_logging(settings.log_format, settings.log_level)
        application = create_app(settings)
        globals()["app"] = application
        return application
    raise AttributeError(name)
