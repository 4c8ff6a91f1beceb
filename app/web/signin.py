"""/admin/login and /admin/logout: an admin token opens a session; failures are slow and vague."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.config import Settings
from app.tokens import TokenChecker, hash_token
from app.web.csrf import check_csrf
from app.web.forms import read_form
from app.web.gate import AdminGate
from app.web.links import path_prefix
from app.web.session import AdminSession, SessionCookies
from app.web.templating import render

# One message whatever was wrong (unknown, revoked, not an admin token): it tells a guesser nothing.
SIGN_IN_FAILED = "This token does not open the admin pages."


class SignIn:
    def __init__(
        self, settings: Settings, tokens: TokenChecker, sessions: SessionCookies, gate: AdminGate
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._sessions = sessions
        self._gate = gate

    async def page(self, request: Request) -> Response:
        """The sign-in form; a browser without a session gets one for the form's CSRF token."""
        if await self._gate.session(request) is not None:
            return self._redirect(request, "/admin/analytics")
        session = self._sessions.read(request, time.time())
        fresh = session is None
        session = session or self._sessions.new(time.time())
        response = self._form(request, session, error=None, status_code=200)
        if fresh:
            self._sessions.write(response, request, session)
        return response

    async def submit(self, request: Request) -> Response:
        session = self._sessions.read(request, time.time())
        form = await read_form(request)
        check_csrf(request, session, form)
        assert session is not None  # check_csrf refuses a request without one
        token = form.get("token", "").strip()
        digest = hash_token(token)
        principal = await self._tokens.principal_by_sha256(digest) if token else None
        if principal is None or not principal.is_admin:
            # Slow, so that guessing is slow; the same delay and message for every failure.
            await asyncio.sleep(self._settings.failed_sign_in_delay_s)
            return self._form(request, session, error=SIGN_IN_FAILED, status_code=401)
        response = self._redirect(request, "/admin/analytics")
        self._sessions.write(response, request, self._sessions.new(time.time(), digest))
        return response

    async def confirm_sign_out(
        self, request: Request, session: AdminSession, form: dict[str, str]
    ) -> Response:
        context = {
            "csrf_token": session.csrf_token,
            "prefix": path_prefix(request, self._settings),
            "signed_in": True,
        }
        return render(request, "admin/logout.html", context)

    async def sign_out(
        self, request: Request, session: AdminSession, form: dict[str, str]
    ) -> Response:
        response = self._redirect(request, "/admin/login")
        self._sessions.clear(response, request)
        return response

    def _form(
        self, request: Request, session: AdminSession, error: str | None, status_code: int
    ) -> Response:
        context = {
            "csrf_token": session.csrf_token,
            "error": error,
            "prefix": path_prefix(request, self._settings),
            "signed_in": False,
        }
        return render(request, "admin/login.html", context, status_code=status_code)

    def _redirect(self, request: Request, path: str) -> Response:
        return RedirectResponse(path_prefix(request, self._settings) + path, status_code=303)
