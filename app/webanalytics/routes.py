"""Web analytics' routes: the admin form (/admin/analytics) and what portals load (/analytics/)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.config import Settings
from app.web.gate import SessionGate
from app.web.links import path_prefix
from app.web.session import PageSession
from app.webanalytics.admin_pages import AnalyticsViews
from app.webanalytics.public import PublicAnalytics


def analytics_routes(settings: Settings, gate: SessionGate) -> list[BaseRoute]:
    analytics = AnalyticsViews(settings)
    public = PublicAnalytics(settings)

    async def home(request: Request, session: PageSession, form: dict[str, str]) -> Response:
        # The form is the only admin page: /admin opens it.
        return RedirectResponse(path_prefix(request, settings) + "/admin/analytics", 303)

    return [
        Route("/admin", gate.admin(home), methods=["GET"]),
        Route("/admin/analytics", gate.admin(analytics.page), methods=["GET"]),
        Route("/admin/analytics", gate.admin(analytics.save), methods=["POST"]),
        Route("/admin/analytics/fields", gate.admin(analytics.fields), methods=["GET"]),
        Route("/admin/analytics/preview", gate.admin(analytics.preview), methods=["POST"]),
        Route("/analytics/config.json", public.config_json, methods=["GET"]),
        Route("/analytics/tracker.js", public.tracker_js, methods=["GET"]),
    ]
