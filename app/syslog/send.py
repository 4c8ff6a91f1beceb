"""The sender thread: posts the spool's batches oldest first, each under its own Idempotency-Key,
and waits (with a capped backoff) while the server is away, so the receiver never does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

import httpx

from app.shipping.answers import Tally
from app.shipping.deliver import (
    Backoff,
    BatchRefusedError,
    DeliveryRefusedError,
    RetryLater,
    ingest_client,
    post_once,
)
from app.shipping.signals import StopSignal
from app.syslog.spool import Spool, SpooledBatch

# Shorter than ship's, and a stop tries the batches left for FINISH_WITHIN_S at most (one try
# each), well within systemd's TimeoutStopSec; the rest waits in the spool for the next start.
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
FINISH_WITHIN_S = 20.0


class Sender:
    """Delivers the spool in a thread until finish(); then one last try of what is left."""

    def __init__(
        self,
        url: str,
        token: str,
        spool: Spool,
        stop: StopSignal,
        notify: Callable[[str], None],
        backoff: Backoff | None = None,
    ) -> None:
        self._url = url
        self._spool = spool
        self._stop = stop
        self._notify = notify
        self._backoff = backoff or Backoff()
        self._client = ingest_client(token, TIMEOUT)
        self._wake = threading.Event()
        self._finishing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="syslog-sender", daemon=True)
        self.tally = Tally()
        self.fatal: str | None = None  # why no batch can be delivered; the receiver stopped

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.finish()
        self._client.close()

    def wake(self) -> None:
        """A batch was spooled."""
        self._wake.set()

    def finish(self) -> None:
        """Try the batches left once each, in order, for FINISH_WITHIN_S at most; what is not
        delivered stays in the spool for the next start."""
        self._finishing.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            self._deliver_until_finishing()
            self._deliver_what_is_left()
        except DeliveryRefusedError as exc:
            self._give_up(exc.message)
        except Exception as exc:  # a thread's exception would leave the receiver spooling alone
            self._give_up(f"the sender stopped on an unexpected {type(exc).__name__}: {exc}")
            raise

    def _give_up(self, message: str) -> None:
        self.fatal = f"{message}; {self._spool.describe()}, sent at the next start"
        self._stop.requested = True  # the receiver stops too: running on would only fill the spool

    def _deliver_until_finishing(self) -> None:
        failures = 0
        while not self._finishing.is_set():
            self._wake.clear()  # before looking: a batch spooled from now on wakes us
            batch = self._spool.oldest()
            if batch is None:
                self._wake.wait()
                continue
            failure = self._deliver(batch)
            if failure is None:
                if failures:
                    self._notify(f"delivering again after {failures} failed attempt(s)")
                failures = 0
                continue
            self._spool.release()
            delay = self._backoff.delay(failures, failure.retry_after_s)
            failures += 1
            self._notify(
                f"cannot deliver ({failure.problem}); {self._spool.describe()}; "
                f"retrying in {delay:.1f} s"
            )
            self._finishing.wait(delay)

    def _deliver_what_is_left(self) -> None:
        deadline = time.monotonic() + FINISH_WITHIN_S
        while time.monotonic() < deadline and (batch := self._spool.oldest()) is not None:
            failure = self._deliver(batch)
            if failure is not None:
                self._notify(f"cannot deliver ({failure.problem})")
                break
        self._spool.release()
        if self._spool.batches:
            self._notify(f"{self._spool.describe()}: sent at the next start")

    def _deliver(self, batch: SpooledBatch) -> RetryLater | None:
        """None once the batch left the spool: answered, refused for good, or dropped."""
        try:
            body = self._spool.read(batch)
        except FileNotFoundError:
            self._spool.remove(batch)  # dropped by the bound meanwhile; it warned
            return None
        try:
            outcome = post_once(self._client, self._url, batch.key, body)
        except BatchRefusedError as exc:
            self._spool.remove(batch)
            self._notify(f"error: dropped a batch of {batch.lines} lines: {exc.message}")
            return None
        if isinstance(outcome, RetryLater):
            return outcome
        self._spool.remove(batch)
        self.tally.add(batch.lines, outcome)
        if outcome.rejected:
            self._notify(f"a batch of {batch.lines} lines: {outcome.describe()}")
        return None
