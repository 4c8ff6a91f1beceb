"""A database lease: one process at a time holds a name until it gives it back or its time runs
out (a process that died leaves it to the others after `seconds`)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.storage.database import connection, placeholders

NOTIFY = "notify"
# Polls of a command waiting for the lease: it is held for a round's sending, seconds usually.
_POLL_S = 0.5


async def take(name: str, holder: str, seconds: float) -> bool:
    """Hold `name` for `seconds` (again, when held already by `holder`); False when another
    holder's lease has not run out."""
    client = connection()
    now = int(time.time())
    marks = placeholders(client, 4)
    first, second, third, fourth = (m.strip() for m in marks.split(","))
    await client.execute_query(
        f"INSERT INTO leases (name, holder, expires_at) VALUES ({first}, {second}, {third}) "  # noqa: S608
        "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
        f"expires_at = excluded.expires_at WHERE leases.expires_at < {fourth} "
        "OR leases.holder = excluded.holder",
        [name, holder, now + int(seconds) + 1, now],
    )
    one = placeholders(client, 1)
    rows = await client.execute_query_dict(f"SELECT holder FROM leases WHERE name = {one}", [name])  # noqa: S608
    return bool(rows) and rows[0]["holder"] == holder


async def give_back(name: str, holder: str) -> None:
    client = connection()
    marks = [m.strip() for m in placeholders(client, 2).split(",")]
    await client.execute_query(
        f"DELETE FROM leases WHERE name = {marks[0]} AND holder = {marks[1]}",  # noqa: S608
        [name, holder],
    )


class Lease:
    """A lease this process tried to take; `held` while it is ours."""

    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds
        self.holder = secrets.token_hex(16)
        self.held = False

    async def renew(self) -> bool:
        """Take it, or hold it `seconds` more; False when another process holds it (ours ran
        out): the work it guards stops."""
        self.held = await take(self.name, self.holder, self.seconds)
        return self.held


@asynccontextmanager
async def held(name: str, seconds: float, wait_s: float = 0.0) -> AsyncIterator[Lease]:
    """Inside: the lease, `held` when this process took it within `wait_s`. Given back on the
    way out."""
    lease = Lease(name, seconds)
    deadline = time.monotonic() + wait_s
    while not await lease.renew():
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(_POLL_S)  # another process's round: nothing here to wait on
    try:
        yield lease
    finally:
        if lease.held:
            await give_back(name, lease.holder)
