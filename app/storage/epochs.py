"""The consumer epochs' keys in consumer_epochs: created once, shared, deleted after their grace.

Every server process hashes a consumer under the same key (docs/security.md#distinct-consumers):
the first process to need an epoch's key inserts a random one and any other insert does nothing,
then each reads back the one stored. A process keeps the keys it read (a key never changes while
it lives); the retention purge deletes the keys of epochs whose grace is over (`delete_expired`).
"""

from __future__ import annotations

import secrets
from datetime import date

from tortoise.backends.base.client import BaseDBAsyncClient

from app.core.epochs import EpochKeys, is_expired, open_epochs
from app.core.sketches import KEY_BYTES
from app.storage.database import connection, is_postgres, placeholders


class EpochKeyring:
    """The keys of the open epochs, read from the database once per epoch and process."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self._known: dict[date, bytes] = {}

    async def keys(self, today: date) -> EpochKeys:
        """The keys of the epochs open `today` (created if none is stored yet)."""
        wanted = open_epochs(today, self.unit)
        missing = [start for start in wanted if start not in self._known]
        if missing:
            self._known.update(await _stored_keys(connection(), missing))
            for start in list(self._known):
                if start not in wanted:
                    del self._known[start]  # its grace is over: never hash with it again
        return EpochKeys(self.unit, {start: self._known[start] for start in wanted})


async def _stored_keys(client: BaseDBAsyncClient, starts: list[date]) -> dict[date, bytes]:
    """Insert a fresh key for each epoch (only the first insert of an epoch's key is kept) and
    read back the stored ones. A key never reaches a log: on PostgreSQL it goes through the
    driver's connection, not the ORM (whose DEBUG log prints statements with their values); on
    SQLite, whose driver logs every call's values at DEBUG too, the database draws it."""
    async with client.acquire_connection() as raw:
        if is_postgres(client):
            fresh = [secrets.token_bytes(KEY_BYTES) for _ in starts]
            await raw.execute(
                "INSERT INTO consumer_epochs (first_day, epoch_key) "
                "SELECT * FROM unnest($1::date[], $2::bytea[]) ORDER BY 1 "
                "ON CONFLICT (first_day) DO NOTHING",
                starts,
                fresh,
            )
            rows = await raw.fetch(
                "SELECT first_day, epoch_key FROM consumer_epochs WHERE first_day = ANY($1)",
                starts,
            )
        else:
            days = [start.isoformat() for start in starts]
            await raw.executemany(
                "INSERT INTO consumer_epochs (first_day, epoch_key) "  # noqa: S608
                f"VALUES (?, randomblob({KEY_BYTES})) ON CONFLICT (first_day) DO NOTHING",
                [(day,) for day in days],
            )
            marks = ", ".join("?" * len(days))
            rows = await raw.execute_fetchall(
                f"SELECT first_day, epoch_key FROM consumer_epochs WHERE first_day IN ({marks})",  # noqa: S608
                days,
            )
    return {_day(row["first_day"]): bytes(row["epoch_key"]) for row in rows}


async def delete_expired(client: BaseDBAsyncClient, unit: str, today: date) -> int:
    """Delete the keys of epochs whose grace is over; how many went."""
    rows = await client.execute_query_dict("SELECT id, first_day FROM consumer_epochs")
    expired = [row["id"] for row in rows if is_expired(_day(row["first_day"]), unit, today)]
    if not expired:
        return 0
    marks = placeholders(client, len(expired))
    await client.execute_query(f"DELETE FROM consumer_epochs WHERE id IN ({marks})", expired)  # noqa: S608
    return len(expired)


async def count_expired(client: BaseDBAsyncClient, unit: str, today: date) -> int:
    rows = await client.execute_query_dict("SELECT first_day FROM consumer_epochs")
    return sum(is_expired(_day(row["first_day"]), unit, today) for row in rows)


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
