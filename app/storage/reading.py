"""Where the read side's statements run: one source per request, a replica or the primary.

Without read replicas every statement runs on the primary (`connection()`). With them, a
request's first read chooses its source (app/storage/replicas.py), and every later read of the
request, its DataLoaders' and concurrent statements' included, uses the same one: its figures
and its freshness come from one position of one database. A statement that fails on a replica
runs again on the primary, which the rest of the request then reads too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from app.storage.database import DATABASE_ERRORS, connection
from app.storage.replicas import PRIMARY, ReadReplicas, ReplicaEvents, Source

_replicas: ReadReplicas | None = None  # set by open_replicas()


class _RequestReads:
    """The source of one request: chosen once, at its first read; the primary after a failure."""

    def __init__(self, replicas: ReadReplicas) -> None:
        self._replicas = replicas
        self._source: Source | None = None
        self._choosing = asyncio.Lock()  # the request's first statements may start together

    async def source(self) -> Source:
        if self._source is None:
            async with self._choosing:
                if self._source is None:
                    self._source = await self._replicas.choose()
        return self._source

    def fall_back(self, failed: Source) -> None:
        if self._source is failed:
            self._source = PRIMARY
            self._replicas.failed(failed)


# A mutable holder per request: the tasks the request starts copy the context, so they share
# this object and see a fallback at once.
_request: ContextVar[_RequestReads | None] = ContextVar("usage_metrics_reads", default=None)


def open_replicas(urls: Sequence[str], max_lag_s: float, events: ReplicaEvents) -> None:
    """Let the read side use these replicas (none: the primary only); nothing connects yet."""
    global _replicas
    _replicas = ReadReplicas(urls, max_lag_s, events) if urls else None


async def close_replicas() -> None:
    global _replicas
    if _replicas is not None:
        replicas, _replicas = _replicas, None
        await replicas.close()


async def read_rows(statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """A read statement's rows, from the request's source; DATABASE_ERRORS from the primary."""
    reads = _reads()
    source = PRIMARY if reads is None else await reads.source()
    rows: list[dict[str, Any]]
    if source.client is not None and reads is not None:
        try:
            rows = await source.client.execute_query_dict(statement, list(params))
            return rows
        except DATABASE_ERRORS:
            reads.fall_back(source)
    rows = await connection().execute_query_dict(statement, list(params))
    return rows


async def read_position(now: datetime) -> datetime:
    """Up to when the request's source holds the primary's commits: `now` for the primary or a
    replica caught up, else the time of the last commit the replica replayed."""
    reads = _request.get()
    if reads is None:
        return now
    source = await reads.source()
    return now if source.holds_until is None else min(now, source.holds_until)


def _reads() -> _RequestReads | None:
    if _replicas is None:
        return None
    # Outside a request (a command, a background task) each statement chooses on its own.
    return _request.get() or _RequestReads(_replicas)


@contextmanager
def one_read_source() -> Iterator[None]:
    """The block's reads share one source (one request's)."""
    if _replicas is None:
        yield
        return
    token = _request.set(_RequestReads(_replicas))
    try:
        yield
    finally:
        _request.reset(token)


class OneReadSource:
    """ASGI middleware: each HTTP request reads from one source (`one_read_source`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with one_read_source():
            await self.app(scope, receive, send)
