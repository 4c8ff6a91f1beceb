"""The per-request GraphQL context: request, token checker, loaders, the caller found lazily."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import strawberry
from starlette.requests import HTTPConnection

from app.auth.tokens import Principal, TokenChecker
from app.config import Settings
from app.schema.loaders import Loaders


@dataclass
class Context:
    request: HTTPConnection
    tokens: TokenChecker
    settings: Settings
    loaders: Loaders = field(default_factory=Loaders)
    _principal: asyncio.Task[Principal] | None = field(default=None, repr=False)

    async def principal(self) -> Principal:
        """The caller; looked up once per request, on the first field that needs it."""
        if self._principal is None:
            # A task, so that fields resolved concurrently share one lookup (and its error).
            # Cookies: a portal session (Data Fair's id_token cookies) when there is no header.
            authorization = self.request.headers.get("authorization")
            found = self.tokens.principal(authorization, self.request.cookies)
            self._principal = asyncio.ensure_future(found)
        return await self._principal


Info = strawberry.Info[Context, None]
