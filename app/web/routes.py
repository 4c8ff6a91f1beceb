"""The HTML side's routes: /admin pages, the public /analytics files, /static (vendored htmx)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.config import Settings
from app.dashboard.pages import DashboardPages
from app.tokens import TokenChecker
from app.web.gate import SessionGate
from app.web.links import path_prefix
from app.web.public import PublicAnalytics
from app.web.session import PageSession, SessionCookies
from app.web.signin import ADMIN_PAGES, SignIn, sign_in_backoff
from app.web.templating import STATIC_DIR
from app.web.views import AnalyticsViews


def web_routes(settings: Settings, tokens: TokenChecker) -> list[BaseRoute]:
    sessions = SessionCookies(settings)
    gate = SessionGate(settings, tokens, sessions)
    backoff = sign_in_backoff(settings)
    sign_in = SignIn(settings, tokens, gate, ADMIN_PAGES, backoff)
    analytics = AnalyticsViews(settings)
    public = PublicAnalytics(settings)

    async def home(request: Request, session: PageSession, form: dict[str, str]) -> Response:
        return RedirectResponse(path_prefix(request, settings) + "/admin/analytics", 303)

    return [
        Route("/admin", gate.admin(home), methods=["GET"]),
        Route("/admin/login", sign_in.page, methods=["GET"]),
        Route("/admin/login", sign_in.submit, methods=["POST"]),
        Route("/admin/logout", gate.admin(sign_in.confirm_sign_out), methods=["GET"]),
        Route("/admin/logout", gate.admin(sign_in.sign_out), methods=["POST"]),
        Route("/admin/analytics", gate.admin(analytics.page), methods=["GET"]),
        Route("/admin/analytics", gate.admin(analytics.save), methods=["POST"]),
        Route("/admin/analytics/fields", gate.admin(analytics.fields), methods=["GET"]),
        Route("/admin/analytics/preview", gate.admin(analytics.preview), methods=["POST"]),
        Route("/analytics/config.json", public.config_json, methods=["GET"]),
        Route("/analytics/tracker.js", public.tracker_js, methods=["GET"]),
        *DashboardPages(settings, tokens, backoff).routes(),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
