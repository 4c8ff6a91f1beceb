"""Portal sessions as credentials: a Data Fair (simple-directory) session JWT, checked, and the
owners whose usage it may read.

The session comes as `Authorization: Bearer <JWT>` or as Data Fair's split cookies: `id_token`
(header.payload, readable by the portal's scripts) and `id_token_sign` (the signature, httpOnly).
It must be signed with RS256 by the portal's key and not be expired. Scope (the reference study,
shared/reference/data-fair-metrics.md §3: Data Fair shows the metrics of the active account):
- no `id_token_org` cookie: the user's own account, plus each organisation in which the session
  is `admin` of the whole organisation;
- `id_token_org` names an organisation the session is `admin` of: that organisation alone; one
  it belongs to with another role: refused (Data Fair shows any member the metrics of the active
  organisation; usage is for those who run it); one it does not belong to: the user's own
  account (Data Fair's fallback);
- a department (`id_token_dep`, or a membership of a department only): refused, since usage is
  counted per organisation, not per department, and Data Fair would show that department alone.
Nothing of a token or its payload is logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import jwt

from app.auth.portal_keys import ALGORITHM, JwksKeys, PemKey, PortalKeys
from app.config import Settings
from app.core.records import Owner
from app.errors import ForbiddenError, UnauthenticatedError

SESSION_COOKIE = "id_token"  # header.payload
SIGNATURE_COOKIE = "id_token_sign"
ORGANIZATION_COOKIE = "id_token_org"  # the active organisation's id
DEPARTMENT_COOKIE = "id_token_dep"  # the active department (URI-encoded)
LEEWAY_S = 30  # clocks of the portal and of this service may differ a little
# Three base64url parts, the header a JSON object ('{"' is "eyJ"): never one of our `um_` tokens.
# The signature may be empty, so that an unsigned (`alg: none`) token is told why it is refused.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_SIGN_IN_AGAIN = "sign in to the portal again"


def is_jwt(value: str) -> bool:
    return _JWT.fullmatch(value) is not None


def cookie_jwt(cookies: Mapping[str, str]) -> str | None:
    """The session JWT that the split cookies make up; None when either part is missing."""
    head, signature = cookies.get(SESSION_COOKIE), cookies.get(SIGNATURE_COOKIE)
    return f"{head}.{signature}" if head and signature else None


class PortalSessions:
    """Checks portal session JWTs and tells which owners each may read."""

    def __init__(
        self, keys: PortalKeys, issuer: str | None = None, audience: str | None = None
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience

    @classmethod
    def from_settings(cls, settings: Settings) -> PortalSessions | None:
        """None when neither USAGE_METRICS_JWT_PUBLIC_KEY nor USAGE_METRICS_JWKS_URL is set."""
        keys: PortalKeys
        if settings.jwt_public_key is not None:
            keys = PemKey(settings.jwt_public_key)
        elif settings.jwks_url is not None:
            keys = JwksKeys(settings.jwks_url, settings.jwks_refetch_interval_s)
        else:
            return None
        return cls(keys, settings.jwt_issuer, settings.jwt_audience)

    async def owners(self, token: str, cookies: Mapping[str, str]) -> tuple[Owner, ...]:
        """The owners the session may read; UnauthenticatedError for a token we cannot trust,
        ForbiddenError for an active account we cannot scope."""
        payload = await self.verify(token)
        department = cookies.get(DEPARTMENT_COOKIE)
        return session_owners(
            payload,
            cookies.get(ORGANIZATION_COOKIE) or None,
            unquote(department) if department else None,
        )

    async def verify(self, token: str) -> dict[str, Any]:
        """The payload of a token signed by the portal (RS256 only) and not expired."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError(
                f"the portal session is not a readable JWT: {_SIGN_IN_AGAIN}"
            ) from exc
        if header.get("alg") != ALGORITHM:
            # Before any key is looked up: `none` and HS256 (the public key as an HMAC secret)
            # are refused here, and again by jwt.decode's algorithm list.
            raise UnauthenticatedError(
                f"the portal session is not signed with {ALGORITHM}: it cannot be trusted; "
                f"{_SIGN_IN_AGAIN}"
            )
        kid = header.get("kid")
        key = await self._keys.key_for(kid if isinstance(kid, str) else None)
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_S,
                options={"require": ["exp"], "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError(_refusal(exc)) from exc
        if payload.get("temporary"):
            raise UnauthenticatedError(
                "this is the portal's short-lived exchange token, not a session: "
                "send the session (the id_token cookies, or the token the portal keeps)"
            )
        return payload


def _refusal(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return f"the portal session has expired: {_SIGN_IN_AGAIN}"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the portal session has no `{exc.claim}` claim: it cannot be trusted"
    if isinstance(exc, jwt.InvalidSignatureError):
        return (
            "the portal session's signature does not match the portal's key (altered, or "
            f"signed by another portal): {_SIGN_IN_AGAIN}"
        )
    if isinstance(exc, jwt.InvalidIssuerError | jwt.InvalidAudienceError):
        return (
            "the portal session was issued by another portal or for another service "
            "(USAGE_METRICS_JWT_ISSUER, USAGE_METRICS_JWT_AUDIENCE)"
        )
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "the portal session is not valid yet: check the clocks of the portal and server"
    return f"the portal session is not a valid JWT: {_SIGN_IN_AGAIN}"


def session_owners(
    payload: Mapping[str, Any], active_organization: str | None, active_department: str | None
) -> tuple[Owner, ...]:
    """The owners a verified session may read, sorted (rules in the module docstring)."""
    user_id = payload.get("id")
    if not isinstance(user_id, str) or not user_id:
        raise UnauthenticatedError("the portal session names no user (`id`): it cannot be used")
    user = Owner("user", user_id)
    memberships = [
        member
        for member in payload.get("organizations") or ()
        if isinstance(member, Mapping) and isinstance(member.get("id"), str) and member["id"]
    ]
    if active_organization is not None:
        return _active_account(user, memberships, active_organization, active_department)
    admin_of = {
        Owner("organization", member["id"])
        for member in memberships
        if member.get("role") == "admin" and not member.get("department")
    }
    return tuple(sorted({user, *admin_of}))


def _active_account(
    user: Owner,
    memberships: list[Mapping[str, Any]],
    organization: str,
    department: str | None,
) -> tuple[Owner, ...]:
    of_it = [member for member in memberships if member["id"] == organization]
    whole = [member for member in of_it if not member.get("department")]
    if department is None and whole:
        if any(member.get("role") == "admin" for member in whole):
            return (Owner("organization", organization),)
        raise ForbiddenError(
            f"only the admins of the organisation {organization} read its usage: switch the "
            "portal to your own account, or ask an admin of the organisation"
        )
    in_department = [member for member in of_it if member.get("department") == department]
    if of_it and (department is None or in_department):
        raise ForbiddenError(
            "usage is counted per organisation, not per department: switch the portal to the "
            "whole organisation or to your own account to read usage"
        )
    return (user,)  # not a member of the active account: Data Fair falls back to the user's
