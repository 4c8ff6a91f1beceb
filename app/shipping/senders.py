"""Senders that post batches at once, each on its own connection (`import --jobs N`): handed out
in order, answered in any order; after a stop or a refused batch nothing more is posted, and the
batches in flight are answered before `finish` returns (docs/deploy.md#ship-and-import)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType
from typing import Generic, TypeVar

from app.shipping.answers import IngestAnswer
from app.shipping.batches import Batch
from app.shipping.deliver import Deliverer
from app.shipping.signals import StopSignal

Ticket = TypeVar("Ticket")
# Called in a sender's thread once per batch handed out: the server's answer, or None when the
# batch was not posted (a stop, or another batch refused) or a stop came while it waited to retry.
Answered = Callable[[Ticket, Batch, IngestAnswer | None], None]


class SenderPool(Generic[Ticket]):
    """`jobs` threads, each posting with a Deliverer of its own (one HTTP connection each).

    Signals reach the main thread only: the senders see a stop through `stop.requested`, and a
    batch a sender is posting is answered before the sender looks again. The threads are
    daemons, so that a second Ctrl-C (SystemExit in the main thread) ends the process at once.
    """

    def __init__(
        self,
        jobs: int,
        deliverers: Callable[[], Deliverer],
        stop: StopSignal,
        answered: Answered[Ticket],
    ) -> None:
        self._deliverers = deliverers
        self._stop = stop
        self._answered = answered
        # One batch waiting per sender: the next is cut while they post, memory stays bounded
        # (2 x jobs batches of at most MAX_BATCH_BYTES, plus the one being cut).
        self._queue: queue.Queue[tuple[Ticket, Batch] | None] = queue.Queue(maxsize=jobs)
        self._threads = [
            threading.Thread(target=self._send, name=f"usage-metrics-sender-{n}", daemon=True)
            for n in range(1, jobs + 1)
        ]
        self._lock = threading.Lock()
        self._error: Exception | None = None
        self._abandoned = False
        self._finished = False

    @property
    def halted(self) -> bool:
        """True once nothing more will be posted: a stop, a refusal, the caller's own error."""
        return self._stop.requested or self._error is not None or self._abandoned

    def __enter__(self) -> SenderPool[Ticket]:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is not None and not issubclass(kind, Exception):
            return  # SystemExit (a second Ctrl-C): at once, the batches in flight with it
        self._abandoned = kind is not None
        self.finish(raising=kind is None)

    def send(self, ticket: Ticket, batch: Batch) -> None:
        """Hand `batch` to the next free sender; waits while every sender has one waiting."""
        self._queue.put((ticket, batch))

    def finish(self, *, raising: bool = True) -> None:
        """Wait until every batch handed out was answered or dropped; then raise the error
        that halted a sender (a refused batch), if one did."""
        if not self._finished:
            self._finished = True
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join()
        if raising and self._error is not None:
            raise self._error

    def _send(self) -> None:
        with ExitStack() as stack:
            deliverer = None
            try:
                deliverer = stack.enter_context(self._deliverers())
            except Exception as exc:  # finish() raises it in the main thread
                self._fail(exc)
            while (item := self._queue.get()) is not None:
                ticket, batch = item
                answer = None
                try:
                    if deliverer is not None and not self.halted:
                        answer = deliverer.post(batch)
                except Exception as exc:  # finish() raises it in the main thread
                    self._fail(exc)
                try:
                    self._answered(ticket, batch, answer)  # every batch handed out, once
                except Exception as exc:
                    self._fail(exc)

    def _fail(self, error: Exception) -> None:
        with self._lock:
            if self._error is None:
                self._error = error
