"""GraphQL over HTTP (docs/graphql.md): the ASGI app at /graphql, its request errors and statuses.

Every refusal is a GraphQL answer, `{"errors": [{"message", "extensions": {"code"}}]}`, so that
clients show its message. Statuses follow the GraphQL-over-HTTP specification: a client that
accepts `application/graphql-response+json` gets 400 for a request that could not run (no
`data`), and 200 once it ran; one that accepts `application/json` only gets 200 for any
well-formed request. A request that is not one (no query, a body that is no JSON object) gets
a 4xx either way.
"""

from __future__ import annotations

import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from app.config import DEFAULT_GRAPHQL_MAX_ANSWER_BYTES
from app.schema.context import Context
from app.schema.cost import answer_json
from app.schema.graphiql import graphiql_page

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
ALLOWED_METHODS = "GET, POST"
_HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
# Strawberry reads the whole body into memory: a public endpoint bounds it. Our largest useful
# request (1 000 dataset ids of 200 characters as variables) is a fifth of this.
MAX_BODY_BYTES = 1024 * 1024
_TOO_LARGE = (
    f"the request body is over {MAX_BODY_BYTES} bytes: send a smaller query or fewer values"
)
_NOT_JSON = 'send the request as JSON: Content-Type: application/json, {"query": "..."}'
# Where process_result leaves, for __call__, whether the answer has no `data` (it did not run).
_DID_NOT_RUN = "usage_metrics.graphql_did_not_run"


def response_type(headers: Headers) -> str:
    """The media type to answer in: graphql-response+json when the client accepts it."""
    return GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in headers.get("accept", "") else JSON


def error_answer(status: int, message: str, media_type: str = JSON) -> Response:
    code = _HTTP_CODES.get(status, "BAD_REQUEST")
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    headers = {"Allow": ALLOWED_METHODS} if status == 405 else None
    return Response(orjson.dumps(body), status, headers=headers, media_type=media_type)


class UsageGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app, with our context, our GraphiQL page and GraphQL-shaped refusals."""

    _max_answer_bytes = DEFAULT_GRAPHQL_MAX_ANSWER_BYTES

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.app.state
        self._max_answer_bytes = state.settings.graphql_max_answer_bytes
        return Context(request=request, tokens=state.tokens, settings=state.settings)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_page()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        media_type = response_type(Headers(scope=scope))
        try:
            _check_media_type(scope)
            request = Request(scope, receive=_bounded(scope, receive))
            response = await self.run(request)
        except HTTPException as exc:
            response = error_answer(exc.status_code, exc.reason, media_type)
        else:
            if response.media_type == JSON or response.headers.get("content-type") == JSON:
                response.headers["content-type"] = media_type
                if media_type == GRAPHQL_RESPONSE and scope.get(_DID_NOT_RUN):
                    response.status_code = 400
        await response(scope, receive, send)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        answer = await super().process_result(request, result)
        if result.data is None and result.errors and not any(_has_path(e) for e in result.errors):
            # It never ran (it did not parse, validate, or coerce its variables): the
            # specification says such an answer has no `data` entry at all.
            answer.pop("data", None)
            request.scope[_DID_NOT_RUN] = True
        return answer

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


def _has_path(error: GraphQLError) -> bool:
    return error.path is not None


def _check_media_type(scope: Scope) -> None:
    if scope["method"] != "POST":
        return
    content_type = Headers(scope=scope).get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != JSON:
        raise HTTPException(415, _NOT_JSON)


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
