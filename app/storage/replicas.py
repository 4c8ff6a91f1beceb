"""Read replicas: PostgreSQL standbys of the primary, taken in turn by the read side, each one
skipped while it lags past the bound or does not answer (docs/deploy.md#past-one-machine).

A replica is a pool of its own beside tortoise's single connection (app/storage/database.py),
never registered with tortoise: `in_transaction()` and the models keep one database, the
primary, so nothing that writes or checks a credential can reach a replica. Nothing connects at
start: a replica that is down when the server starts costs nothing but its skips.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from tortoise.backends.asyncpg.client import AsyncpgDBClient

from app.errors import ConfigError
from app.storage.database import DATABASE_ERRORS, tortoise_config

log = logging.getLogger(__name__)

# What the read side's connections are called in pg_stat_activity (a URL's own
# application_name wins): an operator sees which sessions of a replica are ours.
APPLICATION_NAME = "usage-metrics read"
# The primary stands by: a request waits at most this long for a replica that does not answer
# (a stopped one refuses at once), instead of the primary's 10 s.
CONNECT_TIMEOUT_S = 2.0
# A replica that failed is left alone this long: requests meanwhile go to the next one (or the
# primary) at once instead of each waiting for it to fail again.
REST_S = 5.0
# Up to where a standby has replayed the primary's commits. Streaming and caught up (nothing
# received is left to replay) it holds everything the primary sent; else it stands at its last
# replayed commit, and is taken to lag since then. Without a WAL receiver (cut off from the
# primary, or fed from an archive) it cannot know what it misses, so it is never taken as caught
# up: it serves until its last commit is older than the bound. pg_stat_wal_receiver shows a row
# while a receiver runs, to any role (its details only to pg_read_all_stats). Not in recovery
# (a promoted standby, or the primary itself): it holds everything.
_STANDING = (
    "SELECT pg_is_in_recovery() AS standby, "
    "EXISTS (SELECT 1 FROM pg_stat_wal_receiver) AS streaming, "
    "pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() AS caught_up, "
    "pg_last_xact_replay_timestamp() AS replayed_at, "
    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8 AS lag"
)


class Skip(StrEnum):
    """Why a request did not read from a replica (the metric's `reason`)."""

    LAGGING = "lagging"  # further behind than USAGE_METRICS_MAX_REPLICA_LAG, or unknown
    UNAVAILABLE = "unavailable"  # it did not answer, or failed a statement


class ReplicaEvents(Protocol):
    """Where the replicas report (the app's metrics): storage imports no observability."""

    def replica_skipped(self, rank: int, reason: Skip) -> None: ...

    def replica_lag(self, rank: int, seconds: float) -> None: ...


@dataclass(frozen=True)
class Source:
    """Where one request reads: a replica (its rank from 1, its client) or the primary."""

    rank: int = 0  # 0: the primary
    client: AsyncpgDBClient | None = None
    holds_until: datetime | None = None  # its last replayed commit; None: everything


PRIMARY = Source()


@dataclass(frozen=True)
class _Standing:
    lag_s: float
    holds_until: datetime | None


class Replica:
    """One standby: its own pool, opened at its first statement, and its rest after a failure."""

    def __init__(self, rank: int, url: str) -> None:
        self.rank = rank
        self.client = AsyncpgDBClient(connection_name=f"replica_{rank}", **_credentials(rank, url))
        self._rests_until = 0.0  # time.monotonic()

    def is_resting(self) -> bool:
        return time.monotonic() < self._rests_until

    def rest(self) -> None:
        if not self.is_resting():
            log.warning(
                "read replica %d failed: reading from the next one or the primary, "
                "trying it again in %g s",
                self.rank,
                REST_S,
            )
        self._rests_until = time.monotonic() + REST_S

    async def standing(self) -> _Standing:
        rows = await self.client.execute_query_dict(_STANDING)
        row = rows[0]
        if not row["standby"] or (row["streaming"] and row["caught_up"]):
            return _Standing(0.0, None)
        if row["lag"] is None:  # nothing replayed since it started, and WAL waits: unknown
            return _Standing(float("inf"), None)
        return _Standing(max(0.0, float(row["lag"])), row["replayed_at"])


class ReadReplicas:
    """The replicas in turn: each request takes the next one that answers within the lag bound,
    else the primary."""

    def __init__(self, urls: Sequence[str], max_lag_s: float, events: ReplicaEvents) -> None:
        self.replicas = [Replica(rank, url) for rank, url in enumerate(urls, start=1)]
        self._max_lag_s = max_lag_s
        self._events = events
        self._turn = 0
        self._lagging: set[int] = set()  # ranks past the bound at their last check, for the log

    async def choose(self) -> Source:
        """The next replica fit to read from, or the primary; one statement on each tried."""
        for _ in self.replicas:
            replica = self.replicas[self._turn]
            self._turn = (self._turn + 1) % len(self.replicas)
            source = await self._try(replica)
            if source is not None:
                return source
        return PRIMARY

    def failed(self, source: Source) -> None:
        """A statement failed on `source`'s replica: it rests, and the request goes on from the
        primary."""
        replica = self.replicas[source.rank - 1]
        replica.rest()
        self._events.replica_skipped(replica.rank, Skip.UNAVAILABLE)

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.client.close()

    async def _try(self, replica: Replica) -> Source | None:
        if replica.is_resting():
            self._events.replica_skipped(replica.rank, Skip.UNAVAILABLE)
            return None
        try:
            standing = await replica.standing()
        except DATABASE_ERRORS:
            replica.rest()
            self._events.replica_skipped(replica.rank, Skip.UNAVAILABLE)
            return None
        self._events.replica_lag(replica.rank, standing.lag_s)
        if standing.lag_s > self._max_lag_s:
            self._note_lagging(replica.rank, True)
            self._events.replica_skipped(replica.rank, Skip.LAGGING)
            return None
        self._note_lagging(replica.rank, False)
        return Source(replica.rank, replica.client, standing.holds_until)

    def _note_lagging(self, rank: int, lagging: bool) -> None:
        # Logged when it changes, not at every request.
        if lagging and rank not in self._lagging:
            log.warning(
                "read replica %d lags more than %g s: reading from the next one or the primary",
                rank,
                self._max_lag_s,
            )
            self._lagging.add(rank)
        elif not lagging and rank in self._lagging:
            log.info("read replica %d is within %g s again", rank, self._max_lag_s)
            self._lagging.discard(rank)


def _credentials(rank: int, url: str) -> dict[str, Any]:
    """The pool settings the primary gets (no JIT, a plan per run: app/storage/database.py),
    with the read side's application_name and a shorter connect timeout."""
    try:
        connections = tortoise_config(url)["connections"]
    except ConfigError:
        connections = {}
    if "postgres" not in connections:
        # Never the URL itself: it may hold a password.
        raise ConfigError(
            f"USAGE_METRICS_READ_DATABASE_URL: URL {rank} is not a PostgreSQL URL we can open "
            "(postgres://user:password@host:5432/db)"
        )
    credentials: dict[str, Any] = connections["postgres"]["credentials"]
    credentials.setdefault("application_name", APPLICATION_NAME)
    credentials["timeout"] = CONNECT_TIMEOUT_S
    return credentials
