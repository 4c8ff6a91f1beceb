"""Sign-in and sign-out pages: a token opens a session; failures are slow and vague.

The admin pages (/admin/login) take admin tokens; the dashboard (/login) owner and admin tokens.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.auth.tokens import TokenChecker, hash_token
from app.config import Settings
from app.web.backoff import SignInBackoff, client_address
from app.web.csrf import check_csrf
from app.web.forms import read_form
from app.web.gate import SessionGate
from app.web.links import path_prefix
from app.web.revocations import revoke
from app.web.session import PageSession
from app.web.templating import render

# One message whatever was wrong (unknown, revoked, wrong scope): it tells a guesser nothing.
SIGN_IN_FAILED = "This token does not open the admin pages."
SIGN_IN_THROTTLED = "Too many failed sign-ins from your address: try again in {seconds} s."


@dataclass(frozen=True)
class SignInPages:
    """Where a sign-in lives and leads: its templates, its paths, its failure message."""

    login_template: str
    logout_template: str
    login_path: str
    home_path: str
    failed_message: Callable[[Request], str] = lambda request: SIGN_IN_FAILED
    # The message of a barred address (too many failures), given the seconds left.
    throttled_message: Callable[[Request, int], str] = lambda request, seconds: (
        SIGN_IN_THROTTLED.format(seconds=seconds)
    )
    # Extra template values (the dashboard's language) computed from the request.
    context: Callable[[Request], Mapping[str, Any]] = field(default=lambda request: {})


ADMIN_PAGES = SignInPages(
    "admin/login.html", "admin/logout.html", "/admin/login", "/admin/analytics"
)


def sign_in_backoff(settings: Settings) -> SignInBackoff:
    """One per app, shared by the admin and dashboard forms: a guesser gets one allowance."""
    return SignInBackoff(
        settings.sign_in_free_failures, settings.sign_in_backoff_s, settings.sign_in_backoff_max_s
    )


class SignIn:
    def __init__(
        self,
        settings: Settings,
        tokens: TokenChecker,
        gate: SessionGate,
        pages: SignInPages,
        backoff: SignInBackoff | None = None,
    ) -> None:
        self._settings = settings
        self._backoff = sign_in_backoff(settings) if backoff is None else backoff
        self._tokens = tokens
        self._gate = gate
        self._sessions = gate.sessions
        self._pages = pages

    async def page(self, request: Request) -> Response:
        """The sign-in form; a browser without a session gets one for the form's CSRF token."""
        if await self._gate.session(request) is not None:
            return self._redirect(request, self._pages.home_path)
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
        # The peer's address; X-Forwarded-For only from USAGE_METRICS_TRUSTED_PROXIES (`serve`,
        # which the Procfile runs, turns uvicorn's own reading off: it trusted 127.0.0.1).
        peer = request.client.host if request.client else ""
        forwarded = request.headers.get("x-forwarded-for")
        client = client_address(peer, forwarded, self._settings.trusted_proxies)
        wait = self._backoff.attempt(client)
        if wait:
            return self._throttled(request, session, math.ceil(wait))
        token = form.get("token", "").strip()
        digest = hash_token(token)
        principal = await self._tokens.principal_by_sha256(digest) if token else None
        if principal is None or not self._gate.accepts(principal):
            # Slow, so that guessing is slow; the same delay and message for every failure.
            await asyncio.sleep(self._settings.failed_sign_in_delay_s)
            error = self._pages.failed_message(request)
            return self._form(request, session, error=error, status_code=401)
        self._backoff.succeeded(client)
        response = self._redirect(request, self._pages.home_path)
        self._sessions.write(response, request, self._sessions.new(time.time(), digest))
        return response

    def _throttled(self, request: Request, session: PageSession, seconds: int) -> Response:
        # Answered at once and the token left unchecked: a barred address learns nothing.
        error = self._pages.throttled_message(request, seconds)
        response = self._form(request, session, error=error, status_code=429)
        response.headers["Retry-After"] = str(seconds)
        return response

    async def confirm_sign_out(
        self, request: Request, session: PageSession, form: dict[str, str]
    ) -> Response:
        context = {
            **self._pages.context(request),
            "csrf_token": session.csrf_token,
            "prefix": path_prefix(request, self._settings),
            "signed_in": True,
        }
        return render(request, self._pages.logout_template, context)

    async def sign_out(
        self, request: Request, session: PageSession, form: dict[str, str]
    ) -> Response:
        await revoke(session)  # a copy of the cookie opens nothing either
        response = self._redirect(request, self._pages.login_path)
        self._sessions.clear(response, request)
        return response

    def _form(
        self, request: Request, session: PageSession, error: str | None, status_code: int
    ) -> Response:
        context = {
            **self._pages.context(request),
            "csrf_token": session.csrf_token,
            "error": error,
            "prefix": path_prefix(request, self._settings),
            "signed_in": False,
        }
        return render(request, self._pages.login_template, context, status_code=status_code)

    def _redirect(self, request: Request, path: str) -> Response:
        return RedirectResponse(path_prefix(request, self._settings) + path, status_code=303)
