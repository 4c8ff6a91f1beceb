"""The gate of pages behind a sign-in: a live session whose token the page accepts (or, where
allowed, the portal's session cookies), and the session's CSRF token on every POST."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.auth.tokens import Principal, TokenChecker
from app.config import Settings
from app.errors import ForbiddenError, UnauthenticatedError
from app.web.csrf import check_csrf
from app.web.forms import read_form
from app.web.links import path_prefix
from app.web.revocations import is_revoked
from app.web.session import PageSession, SessionCookies
from app.web.templating import is_htmx

Endpoint = Callable[[Request], Awaitable[Response]]
AdminView = Callable[[Request, PageSession, dict[str, str]], Awaitable[Response]]
SignedInView = Callable[[Request, PageSession, Principal], Awaitable[Response]]
FormView = Callable[[Request, PageSession, Principal, dict[str, str]], Awaitable[Response]]


# The sign-in page's query when the browser's portal session was refused: it says why.
PORTAL_REFUSED = "portal=refused"


def is_admin(principal: Principal) -> bool:
    return principal.is_admin


class SessionGate:
    """Lets a request reach a view only with a live session of a token that `accepts` takes."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenChecker,
        sessions: SessionCookies,
        *,
        accepts: Callable[[Principal], bool] = is_admin,
        sign_in_path: str = "/admin/login",
        portal_sessions: bool = False,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self.sessions = sessions
        self.accepts = accepts
        self._sign_in_path = sign_in_path
        # The dashboard opens to the portal's cookies; the admin pages never do.
        self._portal_sessions = portal_sessions

    def admin(self, view: AdminView) -> Endpoint:
        """The view behind the gate; it gets the session and the form (the query for a GET)."""

        async def endpoint(request: Request) -> Response:
            session = await self.session(request)
            if session is None or not session.is_signed_in:
                # A portal session has no form to post here (its CSRF token is not kept).
                return self._to_sign_in(request)
            form = await read_form(request)
            if request.method != "GET":
                check_csrf(request, session, form)
            return await view(request, session, form)

        return endpoint

    def signed_in(self, view: SignedInView) -> Endpoint:
        """A GET view behind the gate; it gets the session and the caller."""

        async def endpoint(request: Request) -> Response:
            found = await self.caller(request)
            if found is None:
                return self._to_sign_in(request)
            return await view(request, *found)

        return endpoint

    def signed_in_form(self, view: FormView) -> Endpoint:
        """A POST view behind the gate for a signed-in session (a portal session keeps no CSRF
        token, so it posts nothing): it gets the session, the caller and the checked form."""

        async def endpoint(request: Request) -> Response:
            found = await self.caller(request)
            if found is None or not found[0].is_signed_in:
                return self._to_sign_in(request)
            form = await read_form(request)
            check_csrf(request, found[0], form)
            return await view(request, *found, form)

        return endpoint

    async def session(self, request: Request) -> PageSession | None:
        """The request's signed-in session, if its token is still one the gate accepts."""
        found = await self.caller(request)
        return found[0] if found is not None else None

    async def caller(self, request: Request) -> tuple[PageSession, Principal] | None:
        """The signed-in session and its token's caller; else, where allowed, the portal
        session of the request's cookies (with a session that is not signed in)."""
        session = self.sessions.read(request, time.time())
        if session is not None and session.token_sha256 is not None:
            # Looked up on every request: a revoked token, or a signed-out session (a copy of
            # its cookie), ends at once.
            principal = await self._tokens.principal_by_sha256(session.token_sha256)
            if principal is not None and self.accepts(principal) and not await is_revoked(session):
                return session, principal
        if not self._portal_sessions:
            return None
        try:
            principal = await self._tokens.portal_principal(request.cookies)
        except (UnauthenticatedError, ForbiddenError):
            # Expired, untrusted or out of scope: the token sign-in is still there, and says so.
            request.state.portal_session_refused = True
            return None
        if principal is None or not self.accepts(principal):
            return None
        if session is None or session.is_signed_in:
            session = self.sessions.new(time.time())  # not kept: only GET pages are open to it
        return session, principal

    def _to_sign_in(self, request: Request) -> Response:
        sign_in = path_prefix(request, self._settings) + self._sign_in_path
        if getattr(request.state, "portal_session_refused", False):
            sign_in += f"?{PORTAL_REFUSED}"
        if is_htmx(request):
            # htmx follows HX-Redirect with a full page load instead of swapping a fragment.
            return Response(status_code=401, headers={"HX-Redirect": sign_in})
        return RedirectResponse(sign_in, status_code=303)
