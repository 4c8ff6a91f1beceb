"""The HTML side's shared parts: page sessions, their gate, the sign-in back-off, the admin
sign-in pages and /static; main.py assembles them with the dashboard's and web analytics' pages."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.auth.tokens import TokenChecker
from app.config import Settings
from app.web.backoff import SignInBackoff
from app.web.gate import SessionGate
from app.web.session import SessionCookies
from app.web.signin import ADMIN_PAGES, SignIn, sign_in_backoff
from app.web.templating import STATIC_DIR


@dataclass(frozen=True)
class PageKit:
    """What every signed-in page shares: one gate and one back-off for all sign-in forms."""

    gate: SessionGate
    backoff: SignInBackoff


def page_kit(settings: Settings, tokens: TokenChecker) -> PageKit:
    gate = SessionGate(settings, tokens, SessionCookies(settings))
    return PageKit(gate, sign_in_backoff(settings))


def admin_sign_in_routes(settings: Settings, tokens: TokenChecker, kit: PageKit) -> list[BaseRoute]:
    sign_in = SignIn(settings, tokens, kit.gate, ADMIN_PAGES, kit.backoff)
    return [
        Route("/admin/login", sign_in.page, methods=["GET"]),
        Route("/admin/login", sign_in.submit, methods=["POST"]),
        Route("/admin/logout", kit.gate.admin(sign_in.confirm_sign_out), methods=["GET"]),
        Route("/admin/logout", kit.gate.admin(sign_in.sign_out), methods=["POST"]),
    ]


def static_route() -> BaseRoute:
    return Mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


async def _favicon(request: Request) -> Response:
    # Browsers ask for /favicon.ico on every page, whatever the <link rel="icon">.
    headers = {"Cache-Control": "public, max-age=86400"}
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon", headers=headers)


def favicon_route() -> BaseRoute:
    return Route("/favicon.ico", _favicon, methods=["GET"])
