"""Deadlines for slow clients (docs/security.md): a request head and its body must each arrive in
time, or the connection is closed. uvicorn has neither: its keep-alive timeout runs between
requests only, so a client trickling a head or a body held its connection for as long as it liked.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

import h11
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from app.config import DEFAULT_BODY_TIMEOUT_S, DEFAULT_HEADER_TIMEOUT_S
from app.errors import RequestTimeoutError

logger = logging.getLogger(__name__)


def deadline_protocol(header_timeout: float, body_timeout: float) -> Callable[..., H11Protocol]:
    """The protocol factory for `uvicorn.run(http=...)`, with these deadlines in seconds.

    A partial of the module's class, not a class made here: uvicorn pickles its config into
    each worker of `serve --workers` (a class made at run time cannot be pickled), and calls
    what it is given with the connection's arguments as it would call a class.
    """
    return functools.partial(
        SlowClientProtocol, header_timeout_s=header_timeout, body_timeout_s=body_timeout
    )


class SlowClientProtocol(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request head and each request body.

    The head must be whole within `header_timeout_s` of the connection opening, or of its first
    byte on a kept-alive connection (uvicorn's keep-alive timeout covers the wait before it). The
    body must be whole within `body_timeout_s` of the head: in all, not per chunk, so a client
    sending a byte a second is cut as surely as one sending nothing. Each cut answers 408 when an
    answer can still be sent, then closes the connection. Where the request stands is read from
    h11's state machine after each event, not guessed from the bytes.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S,
        body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.app = _quiet_when_gone(self.app)
        self._head = _Deadline(self.loop, self.header_timeout_s, self._head_too_slow)
        self._body = _Deadline(self.loop, self.body_timeout_s, self._body_too_slow)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head.start()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_request(received=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_request(received=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head.stop()
        self._body.stop()
        super().connection_lost(exc)

    def _follow_request(self, received: bool) -> None:
        """Arms or cancels each deadline for where h11 says the client's request stands."""
        state = None if self.transport.is_closing() else self.conn.their_state
        if state is not h11.IDLE:
            self._head.stop()
        elif received or self.conn.trailing_data[0]:
            # A next head has begun: its bytes just came, or wait in h11's buffer behind the
            # request answered (pipelining). A deadline already running goes on.
            self._head.start()
        if state is h11.SEND_BODY:
            self._body.start()
        else:
            self._body.stop()

    def _head_too_slow(self) -> None:
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:
            logger.warning(
                "A request head was not whole within %g s: connection closed.",
                self.header_timeout_s,
            )
            self._answer(
                RequestTimeoutError(
                    f"the request head did not arrive within {self.header_timeout_s:g} s "
                    "(the server's USAGE_METRICS_HEADER_TIMEOUT)"
                )
            )
        # A connection that sent nothing is closed without a word, as uvicorn closes an idle
        # kept-alive one.
        self.transport.close()

    def _body_too_slow(self) -> None:
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.flow.read_paused:
            # uvicorn stopped reading until the app takes what it holds: the wait is ours.
            self._body.start()
            return
        logger.warning(
            "A request body was not whole within %g s of its head: connection closed.",
            self.body_timeout_s,
        )
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            # The app reads a disconnect instead of waiting for the rest (a batch cut off counts
            # nothing), and cannot answer after us.
            cycle.disconnected = True
            cycle.message_event.set()
            self._answer(
                RequestTimeoutError(
                    f"the request body did not arrive within {self.body_timeout_s:g} s of its "
                    "head (the server's USAGE_METRICS_BODY_TIMEOUT)"
                )
            )
        self.transport.close()

    def _answer(self, error: RequestTimeoutError) -> None:
        """Writes `error` as the app writes its errors: `{"error": code, "detail": message}`."""
        body = {"error": error.code, "detail": error.message}
        response = JSONResponse(body, status_code=error.status_code, headers=dict(error.headers))
        headers = self.server_state.default_headers + response.raw_headers
        try:
            status = h11.Response(
                status_code=error.status_code, headers=headers, reason=b"Request Timeout"
            )
            head = self.conn.send(status)
            data = self.conn.send(h11.Data(data=bytes(response.body)))
            end = self.conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            return  # h11 lets no answer out in this state: the connection just closes
        self.transport.write(head + data + end)


class _Deadline:
    """A timer that calls `expired` once, `seconds` after it starts, unless stopped before."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, seconds: float, expired: Callable[[], None]
    ) -> None:
        self._loop = loop
        self._seconds = seconds
        self._expired = expired
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Starts the timer, unless it runs already."""
        if self._timer is None:
            self._timer = self._loop.call_later(self._seconds, self._expire)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self._expired()


def _quiet_when_gone(app: ASGIApp) -> ASGIApp:
    """`app`, except that a client gone (or cut off) before its body arrived logs no traceback:
    nobody is left to answer, and uvicorn logged each one as an error of the application."""

    async def quiet(scope: Scope, receive: Receive, send: Send) -> None:
        with contextlib.suppress(ClientDisconnect):
            await app(scope, receive, send)

    return quiet
