"""The query planner's statistics, refreshed after migrations and after each purge round.

PostgreSQL plans from statistics that only ANALYZE (or autovacuum, later) gathers: on a
database just migrated and filled, a breakdown took ~450 ms from plans made for empty tables,
18 ms once analyzed (docs/operations.md). SQLite's `PRAGMA optimize` runs ANALYZE where
its own heuristics say the statistics are worth it.
"""

from __future__ import annotations

import logging

from tortoise.backends.base.client import BaseDBAsyncClient

log = logging.getLogger(__name__)


async def refresh_statistics(client: BaseDBAsyncClient) -> None:
    """ANALYZE every table (PostgreSQL; it samples, and takes no lock that blocks writes), or
    PRAGMA optimize (SQLite)."""
    if client.capabilities.dialect == "postgres":
        await client.execute_script("ANALYZE")
    else:
        await client.execute_script("PRAGMA optimize")
    log.debug("planner statistics refreshed")
