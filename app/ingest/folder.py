"""The folder of a server process: fold rounds every interval, with their health, metrics and log.

No batch stops it: a row that cannot be folded is set aside (app/ingest/fold.py). While the
database is away every pass fails: that logs one line when it starts (and one per other kind of
failure), one when folding works again, never a traceback per interval; after
max(30 s, 3 intervals) of failing passes /readyz answers 503 (docs/operations.md#probes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from app.core.records import FoldFailure
from app.ingest import quarantine
from app.ingest.domain_cap import DomainCap
from app.ingest.failures import classify, describe
from app.ingest.fold import KEYS_PER_PASS, Folded, FoldError, fold_pass
from app.ingest.rebuilds import rebuild

log = logging.getLogger(__name__)

# Every pass failing this long, and at least STALLED_INTERVALS intervals, is a stalled folder.
STALLED_AFTER_S = 30.0
STALLED_INTERVALS = 3
# With USAGE_METRICS_FOLD_INTERVAL=0 the folder only empties the ledger at start, retrying this
# often while it fails.
_START_RETRY_S = 1.0


class FoldMetrics(Protocol):
    """What the folder tells /metrics (app/observability/metrics.py)."""

    def count_fold_failure(self, failure: str) -> None: ...

    def count_saturated(self, table: str, rows: int) -> None: ...

    def set_quarantined(self, batches: int) -> None: ...


@dataclass(frozen=True)
class Stall:
    """A folder whose every pass has failed for `seconds`, the last time with `failure`."""

    failure: str
    seconds: float


class Folder:
    """Folds what waits every `interval_s` seconds while the app runs (0: once, at start, for
    rows left by a process that counted in the ledger; the requests fold their own)."""

    def __init__(
        self,
        interval_s: float,
        cap: DomainCap,
        metrics: FoldMetrics | None = None,
        keys: int = KEYS_PER_PASS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.stalled_after_s = max(STALLED_AFTER_S, STALLED_INTERVALS * interval_s)
        self._cap = cap
        self._metrics = metrics
        self._keys = keys
        self._clock = clock
        self._failing_since: float | None = None  # the first failed pass since one worked
        self._failure: FoldFailure | None = None
        self._logged: set[FoldFailure] = set()  # the kinds this run of failures has logged
        self._failed_passes = 0
        # Set once the round at start is over, whatever it did: from then on a long interval
        # leaves the ledger to whoever else folds (the tests, `usage-metrics fold`).
        self.started = asyncio.Event()

    def stall(self) -> Stall | None:
        """Set when every pass has failed for longer than `stalled_after_s` (for /readyz)."""
        if self._failing_since is None or self._failure is None:
            return None
        seconds = self._clock() - self._failing_since
        return Stall(self._failure.value, seconds) if seconds > self.stalled_after_s else None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(self._fold_until(stop))
        try:
            yield
        finally:
            stop.set()  # a pass in progress ends with its commit, never cut in the middle
            await task

    async def fold_round(self, stop: asyncio.Event) -> bool:
        """Passes until nothing waits (or `stop`); False when one failed (logged, counted)."""
        try:
            folded = Folded()
            while not stop.is_set():
                # Pass by pass, so that a stop waits for one pass's commit, not a whole backlog.
                done = await fold_pass(self._cap, keys=self._keys)
                self._worked(done)
                folded += done
                if not done.batches and not done.set_aside:
                    break
            if self._metrics is not None:  # after the passes: an idle round's first query is theirs
                self._metrics.set_quarantined(await quarantine.count())
        except Exception as exc:
            self._failed(exc)
            return False
        if folded.batches:
            log.debug("folded", extra={"batches": folded.batches, "keys": folded.keys})
        return True

    async def _fold_until(self, stop: asyncio.Event) -> None:
        try:  # months a stopped import left without their summaries (app/ingest/rebuilds.py)
            if months := await rebuild():
                count = len({month for _, month in months})
                log.info("rebuilt the summaries of %s months a stopped import left", count)
        except Exception:
            log.exception("rebuilding the summaries a stopped import left failed")
        while not stop.is_set():
            worked = await self.fold_round(stop)
            self.started.set()
            if self.interval_s <= 0 and worked:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s or _START_RETRY_S)

    def _worked(self, folded: Folded) -> None:
        if self._metrics is not None:
            for failure in folded.set_aside:
                self._metrics.count_fold_failure(failure.value)
            for table, rows in folded.saturated.items():
                self._metrics.count_saturated(table, rows)
        if self._failing_since is not None:
            log.info(
                "folding the ledger works again after %.0f s and %s failed passes",
                self._clock() - self._failing_since,
                self._failed_passes,
            )
        self._failing_since, self._failure, self._failed_passes = None, None, 0
        self._logged.clear()

    def _failed(self, exc: Exception) -> None:
        failure = exc.failure if isinstance(exc, FoldError) else classify(exc)
        if self._failing_since is None:
            self._failing_since = self._clock()
        self._failure = failure
        self._failed_passes += 1
        if self._metrics is not None:
            self._metrics.count_fold_failure(failure.value)
        if failure in self._logged:
            return
        # One line per kind of failure until folding works again: no traceback (it would quote
        # the statement's values), the cause's type and SQLSTATE say what it was.
        self._logged.add(failure)
        log.error(
            "folding the ledger fails (%s: %s); the batches wait in the ledger, tried again "
            "every %g s",
            failure.value,
            describe(exc),
            self.interval_s or _START_RETRY_S,
            extra={"reason": failure.value},
        )
