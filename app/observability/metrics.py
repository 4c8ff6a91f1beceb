"""The service's Prometheus metrics, on a registry of each app's own.

Labels only take values from closed sets: a rejected line's code (app/core/records.py), an
error's code, a request's route template.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

from app import errors
from app.core.records import FoldFailure, Ignored, Rejected
from app.storage.replicas import Skip
from app.storage.status_days import STATUS_TABLE
from app.storage.summaries import SUMMARIES

# Without it each counter and histogram comes with a `_created` gauge series: twice the lines
# for a figure Prometheus' text format has no use for. A process-wide switch of the library,
# which leaves it unannotated.
disable_created_metrics()  # type: ignore[no-untyped-call]

# An ingest batch (1 000 to 5 000 lines) takes tens of milliseconds; a big or slow one seconds.
INGEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A dashboard query answers in milliseconds; past a second something is wrong.
GRAPHQL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COUNTED = "counted"
DUPLICATE = "duplicate"
INTERNAL_ERROR = "internal_error"  # an error we did not expect (answered 500)


def _error_codes() -> list[str]:
    """The lower-cased codes of the error classes of app/errors.py: a closed set."""
    return [
        value.code.lower()
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.UsageMetricsError)
    ]


BATCH_RESULTS = tuple(dict.fromkeys((COUNTED, DUPLICATE, *_error_codes(), INTERNAL_ERROR)))
OPERATION_TYPES = ("query", "mutation", "subscription", "invalid")
COUNTER_TABLES = ("usage_daily", STATUS_TABLE, *(summary.table for summary in SUMMARIES))


class Metrics:
    """Every metric of one app. Its own registry: a test process builds many apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # memory, CPU, open files of this process
        PlatformCollector(registry=self.registry)
        self._lines = Counter(
            "usage_metrics_lines",
            "Ingested lines by outcome (accepted, ignored, rejected) and reason.",
            ["outcome", "reason"],
            registry=self.registry,
        )
        self._batches = Counter(
            "usage_metrics_batches",
            "POST /ingest requests by result: counted, duplicate, or the error code answered.",
            ["result"],
            registry=self.registry,
        )
        self._ingest_seconds = Histogram(
            "usage_metrics_ingest_seconds",
            "Time to answer a counted or duplicate batch, from its headers to its answer.",
            buckets=INGEST_BUCKETS,
            registry=self.registry,
        )
        self._database_errors = Counter(
            "usage_metrics_database_errors",
            "Requests that failed because the database was unreachable or refused a statement.",
            registry=self.registry,
        )
        self._graphql_seconds = Histogram(
            "usage_metrics_graphql_seconds",
            "Time to parse, validate and execute a GraphQL request.",
            ["operation_type"],
            buckets=GRAPHQL_BUCKETS,
            registry=self.registry,
        )
        self._requests = Counter(
            "usage_metrics_http_requests",
            "HTTP requests by route template and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        # Read replicas by rank in USAGE_METRICS_READ_DATABASE_URL (from 1), never by address.
        self._replica_skips = Counter(
            "usage_metrics_replica_skips",
            "Requests that did not read from a read replica: lagging (past "
            "USAGE_METRICS_MAX_REPLICA_LAG) or unavailable (it did not answer).",
            ["replica", "reason"],
            registry=self.registry,
        )
        self._replica_lag = Gauge(
            "usage_metrics_replica_lag_seconds",
            "How far a read replica was behind the primary when a request last checked it.",
            ["replica"],
            registry=self.registry,
        )
        self._quarantined = Gauge(
            "usage_metrics_fold_quarantined_batches",
            "Ledger rows set aside because they cannot be folded, as this process's folder last "
            "counted them: they wait for `usage-metrics fold --retry-quarantined`.",
            registry=self.registry,
        )
        self._fold_failures = Counter(
            "usage_metrics_fold_failures",
            "Failed fold passes (database_unavailable) and rows set aside, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self._saturated = Counter(
            "usage_metrics_saturated_rows",
            "Rows written with a counter at its ceiling (2^63 - 1): what passed it was dropped.",
            ["table"],
            registry=self.registry,
        )
        # Every series of a closed set exists from the start: rate() needs a 0 to start from.
        self._accepted = self._lines.labels("accepted", "")
        self._ignored = {reason: self._lines.labels("ignored", reason.value) for reason in Ignored}
        self._rejected = {code: self._lines.labels("rejected", code.value) for code in Rejected}
        self._results = {result: self._batches.labels(result) for result in BATCH_RESULTS}
        for operation_type in OPERATION_TYPES:
            self._graphql_seconds.labels(operation_type)
        self._failure_kinds = {
            kind.value: self._fold_failures.labels(kind.value) for kind in FoldFailure
        }
        self._tables = {table: self._saturated.labels(table) for table in COUNTER_TABLES}

    def count_batch(
        self, accepted: int, ignored: Tally[Ignored], rejections: Iterable[Rejected], seconds: float
    ) -> None:
        """A batch counted for the first time: its lines, by outcome and reason."""
        self._results[COUNTED].inc()
        self._ingest_seconds.observe(seconds)
        self._accepted.inc(accepted)
        for reason, count in ignored.items():
            self._ignored[reason].inc(count)
        for code, count in Tally(rejections).items():
            self._rejected[code].inc(count)

    def count_duplicate(self, seconds: float) -> None:
        """A replayed batch: answered again, its lines not counted again."""
        self._results[DUPLICATE].inc()
        self._ingest_seconds.observe(seconds)

    def count_failed_batch(self, code: str) -> None:
        """A batch refused or lost as a whole; `code` is an app/errors.py code or ''."""
        result = code.lower()
        self._results[result if result in self._results else INTERNAL_ERROR].inc()

    def count_database_error(self) -> None:
        self._database_errors.inc()

    def count_fold_failure(self, failure: str) -> None:
        """A failed fold pass, or a row set aside; `failure` is a FoldFailure code."""
        self._failure_kinds[failure].inc()

    def count_saturated(self, table: str, rows: int) -> None:
        """`rows` of `table` (a counter table) written at a counter's ceiling."""
        self._tables[table].inc(rows)

    def set_quarantined(self, batches: int) -> None:
        self._quarantined.set(batches)

    def observe_graphql(self, operation_type: str, seconds: float) -> None:
        label = operation_type if operation_type in OPERATION_TYPES else "invalid"
        self._graphql_seconds.labels(label).observe(seconds)

    def count_request(self, route: str, status: int) -> None:
        """`route` is a route template (or 'unmatched'), never a path with ids in it."""
        self._requests.labels(route, str(status)).inc()

    def declare_replicas(self, count: int) -> None:
        """The series of `count` read replicas, at 0."""
        for rank in range(1, count + 1):
            for reason in Skip:
                self._replica_skips.labels(str(rank), reason.value)

    def replica_skipped(self, rank: int, reason: Skip) -> None:
        self._replica_skips.labels(str(rank), reason.value).inc()

    def replica_lag(self, rank: int, seconds: float) -> None:
        self._replica_lag.labels(str(rank)).set(seconds)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry in the format the scraper asks for (Prometheus text or OpenMetrics)."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type
