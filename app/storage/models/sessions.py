"""revoked_sessions: page sessions signed out before their cookie expires (docs/security.md)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class RevokedSession(Model):
    # The sha256 of the session's random CSRF token, which is new at each sign-in: the session's
    # id, never the token that opened it.
    session_sha256 = fields.CharField(max_length=64, primary_key=True)
    expires_at = fields.BigIntField()  # Unix time; past it the cookie is refused anyway

    class Meta:
        table = "revoked_sessions"
