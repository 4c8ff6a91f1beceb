"""Count HTTP requests by route template and status (ASGI middleware)."""

from __future__ import annotations

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.metrics import Metrics

UNMATCHED = "unmatched"  # 404s: their paths are the caller's, never a label


def route_template(scope: Scope) -> str:
    """The template of the route that takes this request (`/dashboard/datasets/{id}`)."""
    partial = None
    for route in scope["app"].routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(route.path)
        if match is Match.PARTIAL and partial is None:  # the path matched, not the method
            partial = str(route.path)
    return partial or UNMATCHED


class RequestMetrics:
    """Counts each HTTP request once its status is known (500 when the app raised)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_status)
        finally:
            self._metrics.count_request(route_template(scope), status)
