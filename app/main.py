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
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.auth.tokens import TokenChecker
from app.config import Settings, load_settings
from app.dashboard.pages import DashboardPages
from app.datafair.routes import DataFairApi
from app.errors import DatabaseUnavailableError, UsageMetricsError
from app.ingest.domain_cap import DomainCap
from app.ingest.endpoint import IngestEndpoint
from app.ingest.folder import Folder
from app.notify.scheduler import Notifier
from app.observability.endpoints import note_database_error, observability_routes
from app.observability.http_requests import RequestMetrics
from app.observability.logs import configure_logging
from app.observability.metrics import Metrics
from app.schema import graphql_app
from app.schema.cors import GraphQLCors
from app.storage.database import close_database, open_database
from app.storage.reading import OneReadSource, close_replicas, open_replicas
from app.storage.retention import purging_periodically
from app.web.links import path_prefix
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
    metrics.declare_replicas(len(settings.read_database_urls))
    folder = Folder(settings.fold_interval_s, domain_cap, metrics)
    notifier = Notifier(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await open_database(settings.database_url)
        try:
            # The read side's replicas, if any (docs/deploy.md#past-one-machine).
            open_replicas(settings.read_database_urls, settings.max_replica_lag_s, metrics)
            freeze_start_up_objects()
            async with (
                purging_periodically(settings),  # retention, without a cron job
                folder.running(),  # the ingest ledger
                notifier.running(),  # reports and alerts (docs/reports-and-alerts.md)
            ):
                yield
        finally:
            await close_replicas()
            await close_database()

    app = Starlette(
        routes=[
            front_door(settings),
            Route("/ingest", ingest.handle, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            *observability_routes(settings, tokens, metrics, folder),
            Route("/graphql", graphql_app()),  # every method: it answers 405 as GraphQL does
            *DataFairApi(settings, tokens).routes(),
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
            Middleware(OneReadSource),  # a request reads from one database: docs/deploy.md
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.metrics = metrics
    app.state.folder = folder
    app.state.notifier = notifier
    return app


def freeze_start_up_objects() -> None:
    # What start-up built (modules, the GraphQL schema, the ORM) lives as long as the process.
    # Frozen, it is skipped by the collector's full passes, which otherwise stopped one request
    # in six for ~25 ms (the p95 of a page of 100 datasets). Once per process: a test session
    # builds many apps.
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
    # A young collection every 10 000 new objects rather than 700: a whole portal's year of
    # breakdowns builds ~10⁶ objects (~10⁵ groups), and the default's ~1 400 collections, whose
    # older passes walk the growing answer, took ~40 % of its Python time (docs/benchmarks.md).
    gc.set_threshold(_YOUNG_OBJECTS, *gc.get_threshold()[1:])


_YOUNG_OBJECTS = 10_000


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


# What `GET /` lists for a JSON client (docs/architecture.md#routes).
FRONT_DOOR = {
    "dashboard": "/dashboard",
    "graphql": "/graphql",
    "ingest": "/ingest",
    "dailyApiMetrics": "/api/daily-api-metrics",
}


def front_door(settings: Settings) -> BaseRoute:
    """`GET /`: a browser (or any client that does not prefer JSON) goes to the dashboard; a
    client that prefers JSON gets the index of our entry points. Paths, never the Host."""

    async def answer(request: Request) -> Response:
        prefix = path_prefix(request, settings)
        if prefers_json(request.headers.get("accept", "")):
            return JSONResponse({name: prefix + path for name, path in FRONT_DOOR.items()})
        return RedirectResponse(prefix + "/dashboard", status_code=303)

    return Route("/", answer, methods=["GET"])


def prefers_json(accept: str) -> bool:
    """Whether an Accept header weighs application/json above text/html (RFC 9110, 12.5.1)."""
    weights: dict[str, float] = {}
    for item in accept.lower().split(","):
        media, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media] = max(weight, weights.get(media, 0.0))
    return weights.get("application/json", 0.0) > weights.get("text/html", 0.0)


async def healthz(request: Request) -> Response:
    # The process answers: no database access (that is /readyz).
    return JSONResponse({"status": "ok"})


def create_worker_app(settings: Settings) -> Starlette:
    """The app of one process of `usage-metrics serve --workers N`, in that process: uvicorn
    starts each worker afresh (spawn), so our log format is set there again. The workers share
    the parent's Settings, its secret key included (a random one too): a session opened on one
    is valid on the others."""
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)


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
