"""Server-side sign-out: a signed-out session is refused even if its cookie was copied before.

A session cookie is signed, so it stays valid until it expires; signing out deletes it from the
browser, and records the session here so that a copy of it opens nothing either. Sessions are
told apart by their CSRF token, random and new at each sign-in; only its sha256 is stored.
"""

from __future__ import annotations

import hashlib
import time

from app.errors import DatabaseUnavailableError
from app.storage.database import DATABASE_ERRORS
from app.storage.models import RevokedSession
from app.web.session import PageSession


def _session_id(session: PageSession) -> str:
    return hashlib.sha256(session.csrf_token.encode()).hexdigest()


async def revoke(session: PageSession) -> None:
    """Refuse this session from now on; forget revocations whose cookies have expired."""
    try:
        await RevokedSession.filter(expires_at__lt=int(time.time())).delete()
        await RevokedSession.update_or_create(
            session_sha256=_session_id(session), defaults={"expires_at": session.expires_at}
        )
    except DATABASE_ERRORS as exc:
        raise DatabaseUnavailableError(
            "the database did not answer: the session was not signed out, try again"
        ) from exc


async def is_revoked(session: PageSession) -> bool:
    try:
        return await RevokedSession.exists(session_sha256=_session_id(session))
    except DATABASE_ERRORS as exc:
        raise DatabaseUnavailableError(
            "the database did not answer to check the session; try again"
        ) from exc
