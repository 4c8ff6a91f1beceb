"""API tokens: created once and shown once, stored as sha256, checked on every request."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from app.auth.portal_sessions import PortalSessions, cookie_jwt, is_jwt
from app.config import Settings
from app.core.records import Owner
from app.errors import (
    BadRequestError,
    DatabaseUnavailableError,
    ForbiddenError,
    UnauthenticatedError,
)
from app.storage.database import DATABASE_ERRORS
from app.storage.models import TokenRow

TOKEN_PREFIX = "um_"  # noqa: S105 (a prefix that makes leaked tokens easy to scan for)
_SCOPE = re.compile(r"admin|ingest|owner:(?P<type>user|organization):(?P<id>[^\s:]{1,200})")
_LAST_USED_EVERY_S = 60  # write last_used_at at most once a minute per token
PORTAL_SESSION = "portal session"  # the name and scope of a portal session's Principal


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name and scope (never the token itself), or a portal session
    and the owners it may read (never its user's id as a name)."""

    name: str
    scope: str
    # a portal session's owners (app/auth/portal_sessions.py); () for tokens
    owners: tuple[Owner, ...] = ()

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    @property
    def can_ingest(self) -> bool:
        return self.scope in ("admin", "ingest")

    @property
    def owner(self) -> Owner | None:
        found = _SCOPE.fullmatch(self.scope)
        return Owner(found["type"], found["id"]) if found and found["type"] else None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_scope(scope: str) -> str:
    if not _SCOPE.fullmatch(scope):
        raise BadRequestError(
            f"the scope {scope!r} is not one of admin, ingest, owner:user:<id>, "
            "owner:organization:<id>"
        )
    return scope


async def create_token(scope: str, name: str) -> str:
    """Store a new token's hash and return the token: the only time it is ever seen."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await TokenRow.create(
        name=name, token_sha256=hash_token(token), scope=check_scope(scope), created_at=_now()
    )
    return token


async def revoke_token(name_or_id: str) -> int:
    """Delete tokens by id or by name; returns how many went."""
    rows = (
        TokenRow.filter(id=int(name_or_id))
        if name_or_id.isdigit()
        else TokenRow.filter(name=name_or_id)
    )
    return await rows.delete()


class TokenChecker:
    """Resolves `Authorization: Bearer ...` to a Principal, from the tokens table or the env, or
    from a portal session (a Bearer JWT, or the portal's cookies) when one is configured."""

    def __init__(self, settings: Settings) -> None:
        self._bootstrap = {
            hash_token(token): Principal(name, scope)
            for token, name, scope in (
                (settings.admin_token, "USAGE_METRICS_ADMIN_TOKEN", "admin"),
                (settings.ingest_token, "USAGE_METRICS_INGEST_TOKEN", "ingest"),
            )
            if token
        }
        self._last_written: dict[int, float] = {}
        self._portal = PortalSessions.from_settings(settings)

    async def principal(
        self, authorization: str | None, cookies: Mapping[str, str] | None = None
    ) -> Principal:
        """The caller; the Authorization header wins over the portal's cookies."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        cookies = cookies or {}
        if self._portal is not None and scheme.lower() == "bearer" and is_jwt(token):
            return await self._portal_principal(self._portal, token, cookies)
        if not authorization:
            found = await self.portal_principal(cookies)
            if found is not None:
                return found
        if scheme.lower() != "bearer" or not token:
            raise UnauthenticatedError(
                "this endpoint needs a token: send the header 'Authorization: Bearer <token>'"
            )
        principal = await self.principal_by_sha256(hash_token(token))
        if principal is None:
            raise UnauthenticatedError("the token is unknown or was revoked")
        return principal

    async def principal_by_sha256(self, digest: str) -> Principal | None:
        """The token with this sha256, bootstrap ones included; None once it is revoked."""
        for known, principal in self._bootstrap.items():
            if hmac.compare_digest(known, digest):
                return principal
        try:
            row = await TokenRow.get_or_none(token_sha256=digest)
            if row is None:
                return None
            await self._touch(row)
        except DATABASE_ERRORS as exc:
            # Not the caller's fault: a 503 that clients retry, not a 500 or "unknown token".
            raise DatabaseUnavailableError(
                "the database did not answer to check the token: retry shortly"
            ) from exc
        return Principal(row.name, row.scope)

    async def portal_principal(self, cookies: Mapping[str, str]) -> Principal | None:
        """The portal session of the split cookies; None without them (or without portal
        settings). A session we cannot trust raises UnauthenticatedError."""
        token = cookie_jwt(cookies)
        if self._portal is None or token is None:
            return None
        return await self._portal_principal(self._portal, token, cookies)

    @staticmethod
    async def _portal_principal(
        portal: PortalSessions, token: str, cookies: Mapping[str, str]
    ) -> Principal:
        owners = await portal.owners(token, cookies)
        return Principal(PORTAL_SESSION, PORTAL_SESSION, owners)

    async def ingester(self, authorization: str | None) -> Principal:
        principal = await self.principal(authorization)
        if not principal.can_ingest:
            raise ForbiddenError("this token may not ingest: use an ingest or admin token")
        return principal

    async def _touch(self, row: TokenRow) -> None:
        now = time.monotonic()
        if now - self._last_written.get(row.id, -_LAST_USED_EVERY_S) >= _LAST_USED_EVERY_S:
            self._last_written[row.id] = now
            await TokenRow.filter(id=row.id).update(last_used_at=_now())


def _now() -> datetime:
    return datetime.now(UTC)
