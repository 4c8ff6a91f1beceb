"""CORS for /graphql (docs/graphql.md): listed origins call it with credentials, any other
origin reads only what needs none.

A portal's front end on another origin sends the portal's cookies or a token, so its origin must
be listed (USAGE_METRICS_CORS_ORIGINS) and gets `Access-Control-Allow-Credentials`. Any other
origin gets `*`: browsers then send no cookies and, as its preflight does not allow
`Authorization`, no token either, so all it can read is the public `analytics` field.
"""

from __future__ import annotations

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PATH = "/graphql"
METHODS = "GET, POST"
# A preflight answer is cached this long (Chromium caps it at 2 hours).
MAX_AGE_S = 7200
CREDENTIAL_HEADERS = frozenset({"accept", "content-type", "authorization"})
PUBLIC_HEADERS = frozenset({"accept", "content-type"})
CORS_REJECTED = "CORS_REJECTED"


class GraphQLCors:
    """ASGI middleware answering preflights to PATH and adding CORS headers to its answers."""

    def __init__(self, app: ASGIApp, origins: frozenset[str]) -> None:
        self._app = app
        self._origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:  # not a browser's cross-origin request
            await self._app(scope, receive, send)
            return
        listed = origin in self._origins
        asked_method = headers.get("access-control-request-method")
        if scope["method"] == "OPTIONS" and asked_method is not None:
            await self._preflight(send, origin, listed, asked_method, headers)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                for name, value in _allowed(origin, listed).items():
                    answer[name] = value
                answer.add_vary_header("Origin")
            await send(message)

        await self._app(scope, receive, with_cors)

    async def _preflight(
        self, send: Send, origin: str, listed: bool, method: str, headers: Headers
    ) -> None:
        asked = {
            h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",")
        }
        asked.discard("")
        allowed = CREDENTIAL_HEADERS if listed else PUBLIC_HEADERS
        refused = sorted(asked - allowed)
        if method not in ("GET", "POST"):
            message = f"{method} is not allowed on {PATH}: send GET or POST"
        elif refused:
            message = (
                f"the origin {origin[:100]} may not send {', '.join(refused)}: it is not in "
                "USAGE_METRICS_CORS_ORIGINS, so it may only read what needs no credentials "
                "(the analytics field)"
                if not listed and "authorization" in refused
                else f"{PATH} does not read the headers {', '.join(refused)}: leave them out"
            )
        else:
            cors = {
                **_allowed(origin, listed),
                "Access-Control-Allow-Methods": METHODS,
                "Access-Control-Allow-Headers": ", ".join(sorted(allowed)),
                "Access-Control-Max-Age": str(MAX_AGE_S),
                "Vary": "Origin",
            }
            await _send(send, 204, b"", cors)
            return
        # A browser only says the preflight failed; the message is for whoever reads the answer.
        body = orjson.dumps(
            {"errors": [{"message": message, "extensions": {"code": CORS_REJECTED}}]}
        )
        await _send(send, 403, body, {"Content-Type": "application/json", "Vary": "Origin"})


def _allowed(origin: str, listed: bool) -> dict[str, str]:
    if listed:
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true"}
    return {"Access-Control-Allow-Origin": "*"}


async def _send(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
