"""The per-request GraphQL context: request, token checker, loaders, the caller found lazily."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson
import strawberry
from cross_web import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app.auth.tokens import Principal, TokenChecker
from app.config import DEFAULT_GRAPHQL_MAX_ANSWER_BYTES, Settings
from app.schema.cost import answer_json
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
_HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
}
# Strawberry reads the whole body into memory: a public endpoint bounds it. Our largest useful
# request (1 000 dataset ids of 200 characters as variables) is a fifth of this.
MAX_BODY_BYTES = 1024 * 1024
_TOO_LARGE = (
    f"the request body is over {MAX_BODY_BYTES} bytes: send a smaller query or fewer values"
)


class UsageGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app, with our context built for each request."""

    _max_answer_bytes = DEFAULT_GRAPHQL_MAX_ANSWER_BYTES

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.app.state
        self._max_answer_bytes = state.settings.graphql_max_answer_bytes
        return Context(request=request, tokens=state.tokens, settings=state.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry's, but a request it cannot read gets our JSON error, not plain text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive=_bounded(scope, receive)))
        except HTTPException as exc:
            code = _HTTP_CODES.get(exc.status_code, "BAD_REQUEST")
            response = JSONResponse(
                {"error": code, "detail": exc.reason}, status_code=exc.status_code
            )
        await response(scope, receive, send)

    def encode_json(self, data: object) -> bytes:
        # orjson: several times faster than json on a page of 100 datasets, which kept the
        # event loop ~60 ms per MB; an answer past the cap is replaced (docs/security.md).
        return answer_json(data, self._max_answer_bytes)

    def decode_json(self, data: str | bytes) -> object:
        # orjson, not json: it refuses invalid UTF-8 and nesting past 1024 levels with a
        # JSONDecodeError (400), where json raised UnicodeDecodeError or RecursionError (500).
        value = orjson.loads(data)
        if not isinstance(value, dict | list):
            # Strawberry reads the body with .get(): any other JSON value failed there.
            raise HTTPException(400, 'the body must be a JSON object: {"query": "..."}')
        return value


def _bounded(scope: Scope, receive: Receive) -> Receive:
    """`receive`, refusing (413) a body over MAX_BODY_BYTES: by its Content-Length before
    anything is read, else as soon as the bytes read pass the limit."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            raise HTTPException(413, _TOO_LARGE)
    read = 0

    async def bounded() -> Message:
        nonlocal read
        message = await receive()
        read += len(message.get("body", b""))
        if read > MAX_BODY_BYTES:
            raise HTTPException(413, _TOO_LARGE)
        return message

    return bounded
