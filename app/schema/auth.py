"""The caller's scope in a GraphQL request (rules in app/auth/scope.py), or the error to answer."""

from __future__ import annotations

from app.auth.scope import Scope, scope_of
from app.errors import ForbiddenError
from app.schema.context import Info


async def reader(info: Info) -> Scope:
    """The caller's scope; raises UnauthenticatedError without a known token, ForbiddenError
    for a token that may not read usage. Every field but `analytics` starts here."""
    scope = scope_of(await info.context.principal())
    if scope is None:
        raise ForbiddenError(
            "this token may not read usage: use an owner token (scope owner:<type>:<id>) "
            "or an admin token"
        )
    return scope
