"""Whose metrics a Data Fair API request reads: the caller's active account, within our scope
rule (docs/coming-from-data-fair.md).

Data Fair reads the session's active account. A portal session here reads what
app/auth/portal_sessions.py grants it: its active organisation alone when `id_token_org` names
one it administers, else its own account (Data Fair's active account then) or, with `owner=`,
one of the organisations it administers. An owner token reads its owner; an admin token names
the owner with `owner=`. Another owner is refused (403).
"""

from __future__ import annotations

from starlette.requests import Request

from app.auth.scope import scope_of
from app.auth.tokens import TokenChecker
from app.core.records import Owner
from app.errors import BadUserInputError, ForbiddenError


async def account_of(request: Request, tokens: TokenChecker, requested: Owner | None) -> Owner:
    """The one owner this request reads; 401 without credentials, 403 outside the scope."""
    principal = await tokens.principal(request.headers.get("authorization"), request.cookies)
    scope = scope_of(principal)
    if scope is None:
        raise ForbiddenError("this token may not read usage: use an owner or admin token")
    found = scope.owner_filter(requested)
    if found is None:
        raise BadUserInputError(
            "an admin token reads every owner: name one with owner=organization:<id> "
            "or owner=user:<id>"
        )
    if isinstance(found, Owner):
        return found
    # Several owners and none named: a session's own account, as Data Fair's active account.
    return next((owner for owner in found if owner.type == "user"), found[0])
