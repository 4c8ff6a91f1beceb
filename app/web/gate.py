"""The admin pages' gate: a live admin session, and the session's CSRF token on every POST."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.config import Settings
from app.tokens import TokenChecker
from app.web.csrf import check_csrf
from app.web.forms import read_form
from app.web.links import path_prefix
from app.web.session import AdminSession, SessionCookies
from app.web.templating import is_htmx

Endpoint = Callable[[Request], Awaitable[Response]]
AdminView = Callable[[Request, AdminSession, dict[str, str]], Awaitable[Response]]


class AdminGate:
    """Lets a request reach an admin view only with a live admin session."""

    def __init__(self, settings: Settings, tokens: TokenChecker, sessions: SessionCookies) -> None:
        self._settings = settings
        self._tokens = tokens
        self._sessions = sessions

    def admin(self, view: AdminView) -> Endpoint:
        """The view behind the gate; it gets the session and the form (the query for a GET)."""

        async def endpoint(request: Request) -> Response:
            session = await self.session(request)
            if session is None:
                return self._to_sign_in(request)
            form = await read_form(request)
            if request.method != "GET":
                check_csrf(request, session, form)
            return await view(request, session, form)

        return endpoint

    async def session(self, request: Request) -> AdminSession | None:
        """The request's signed-in session, if its token is still an admin token."""
        session = self._sessions.read(request, time.time())
        if session is None or session.token_sha256 is None:
            return None
        # Looked up on every request: a revoked token ends its sessions at once.
        principal = await self._tokens.principal_by_sha256(session.token_sha256)
        return session if principal is not None and principal.is_admin else None

    def _to_sign_in(self, request: Request) -> Response:
        sign_in = path_prefix(request, self._settings) + "/admin/login"
        if is_htmx(request):
            # htmx follows HX-Redirect with a full page load instead of swapping a fragment.
            return Response(status_code=401, headers={"HX-Redirect": sign_in})
        return RedirectResponse(sign_in, status_code=303)
