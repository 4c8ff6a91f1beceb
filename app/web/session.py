"""Page sessions (admin pages, dashboard): a signed cookie with a token's sha256 (never the token),
a CSRF token and an expiry."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.web.links import is_https, path_prefix


@dataclass(frozen=True)
class SessionKind:
    """A kind of session: its cookie, its signature's salt, the path the cookie is sent to."""

    cookie: str
    salt: str  # each kind its own: a cookie signed for one kind is worthless as another
    path: str


# Only the admin pages need the admin cookie: the public files and the API never see it.
ADMIN_SESSION = SessionKind("usage_metrics_admin", "usage-metrics admin session", "/admin")
# /login, /logout and /dashboard: the cookie goes to "/" and so also reaches the API, which never
# reads it (the API takes bearer tokens only, so the cookie opens nothing there).
DASHBOARD_SESSION = SessionKind("usage_metrics_dashboard", "usage-metrics dashboard session", "/")
COOKIE = ADMIN_SESSION.cookie


@dataclass(frozen=True)
class PageSession:
    """A browser's session; before sign-in it only carries the sign-in form's CSRF token."""

    csrf_token: str
    expires_at: int  # Unix time
    token_sha256: str | None = None

    @property
    def is_signed_in(self) -> bool:
        return self.token_sha256 is not None


class SessionCookies:
    """Makes, reads and writes the session cookie, signed with USAGE_METRICS_SECRET_KEY.

    The cookie is signed, not encrypted: it holds nothing secret (the hash cannot be used as a
    token), and each request checks that the token still exists, so revoking it ends the session.
    """

    def __init__(self, settings: Settings, kind: SessionKind = ADMIN_SESSION) -> None:
        self._settings = settings
        self.kind = kind
        self._signer = URLSafeSerializer(
            settings.secret_key, salt=kind.salt, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._lifetime_s = settings.admin_session_hours * 3600

    def new(self, now: float, token_sha256: str | None = None) -> PageSession:
        # A fresh CSRF token at sign-in too, so a token seen before it is worth nothing after.
        return PageSession(secrets.token_urlsafe(32), int(now) + self._lifetime_s, token_sha256)

    def read(self, request: Request, now: float) -> PageSession | None:
        """The request's session; None when absent, forged, malformed or expired."""
        value = request.cookies.get(self.kind.cookie)
        if not value:
            return None
        try:
            data = self._signer.loads(value)
        except BadSignature:
            return None
        session = _session(data)
        return session if session is not None and session.expires_at > now else None

    def encode(self, session: PageSession) -> str:
        """The cookie's value: the session, signed."""
        data = {"c": session.csrf_token, "e": session.expires_at, "t": session.token_sha256}
        return self._signer.dumps(data)

    def write(self, response: Response, request: Request, session: PageSession) -> None:
        response.set_cookie(
            self.kind.cookie,
            self.encode(session),
            max_age=self._lifetime_s,
            path=self._path(request),
            secure=is_https(request, self._settings),
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response, request: Request) -> None:
        response.delete_cookie(
            self.kind.cookie,
            path=self._path(request),
            secure=is_https(request, self._settings),
            httponly=True,
            samesite="lax",
        )

    def _path(self, request: Request) -> str:
        return path_prefix(request, self._settings) + self.kind.path.rstrip("/") or "/"


def _session(data: Any) -> PageSession | None:
    if not isinstance(data, dict):
        return None
    csrf, expires, digest = data.get("c"), data.get("e"), data.get("t")
    if not isinstance(csrf, str) or not isinstance(expires, int):
        return None
    if digest is not None and not isinstance(digest, str):
        return None
    return PageSession(csrf, expires, digest)
