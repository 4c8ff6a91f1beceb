"""The per-request GraphQL context: request, token checker, loaders, the caller found lazily."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import strawberry
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app.config import Settings
from app.schema.loaders import Loaders
from app.tokens import Principal, TokenChecker


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
            authorization = self.request.headers.get("authorization")
            self._principal = asyncio.ensure_future(self.tokens.principal(authorization))
        return await self._principal


Info = strawberry.Info[Context, None]


class UsageGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app, with our context built for each request."""

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.app.state
        return Context(request=request, tokens=state.tokens, settings=state.settings)
