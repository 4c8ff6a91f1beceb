"""Owners' names from Data Fair's API, since its X-Owner header names no one
(docs/coming-from-data-fair.md#4-name-the-owners).

Every answer has a deadline of its own (from the request to the answer's last byte: a server
that sends a byte every few seconds never trips a per-read timeout) and the run has one; each
name is stored as soon as it is known, so a run cut short keeps what it learnt. Whatever an
answer holds (nesting, size, bytes that are not UTF-8, another owner), it ends as a reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import httpx
import orjson
from tortoise.transactions import in_transaction

from app.core.records import Owner
from app.core.titles import shown_text
from app.errors import DatabaseUnavailableError
from app.ingest.store import upsert_owner_names
from app.reports.owners import dataset_owners
from app.storage.database import DATABASE_ERRORS

# An answer of one dataset is a few hundred bytes; a slow or hostile server gets no more.
ANSWER_WITHIN_S = 10.0
RUN_WITHIN_S = 300.0
CONNECT_WITHIN_S = 5.0
MAX_ANSWER_BYTES = 1024 * 1024
CONCURRENCY = 4  # requests at once: a portal's API is shared with its readers
API_KEY_HEADER = "x-apiKey"  # Data Fair's header for API keys
# Said beside a status that usually means a wrong setting rather than a passing fault.
_HINTS = {
    401: "check the API key",
    403: "check the API key's rights",
    404: "is the URL Data Fair's base URL, like https://portal.example/data-fair?",
}

Store = Callable[[Owner, str], Awaitable[None]]


class Outcome(StrEnum):
    NAMED = "named"
    NOT_FOUND = "not found"
    FAILED = "failed"


@dataclass(frozen=True)
class Lookup:
    """What Data Fair's API said of one owner: its name, no dataset, or why it said nothing."""

    owner: Owner
    outcome: Outcome
    detail: str = ""  # the name when named, the problem in words when failed


@dataclass(frozen=True)
class Deadlines:
    """Seconds for each answer, whole, and for the whole run."""

    answer: float = ANSWER_WITHIN_S
    run: float = RUN_WITHIN_S


async def owners_to_name(every: bool) -> list[Owner]:
    """The owners of datasets still without a name (all of them with `every`), by type and id."""
    return [named.owner for named in await dataset_owners() if every or named.name is None]


async def look_up_names(
    base_url: str,
    owners: Sequence[Owner],
    api_key: str | None,
    store: Store,
    deadlines: Deadlines | None = None,
) -> list[Lookup]:
    """Ask Data Fair's API for one dataset of each owner, CONCURRENCY at a time, and `store`
    each name found at once; the lookups in the owners' order, those the run's deadline cut
    short failed."""
    deadlines = deadlines or Deadlines()
    headers = {API_KEY_HEADER: api_key} if api_key else {}
    gate = asyncio.Semaphore(CONCURRENCY)
    url = f"{base_url.rstrip('/')}/api/v1/datasets"
    started: set[Owner] = set()
    # No redirects: a redirect elsewhere would carry the API key there (httpx drops only
    # Authorization on another origin, not x-apiKey).
    async with httpx.AsyncClient(
        headers=headers,
        timeout=httpx.Timeout(deadlines.answer, connect=min(CONNECT_WITHIN_S, deadlines.answer)),
        limits=httpx.Limits(max_connections=CONCURRENCY),
        follow_redirects=False,
    ) as client:

        async def one(owner: Owner) -> Lookup:
            async with gate:
                started.add(owner)
                return await _look_up_and_store(client, url, owner, store, deadlines.answer)

        tasks = [asyncio.create_task(one(owner)) for owner in owners]
        if tasks:
            await asyncio.wait(tasks, timeout=deadlines.run)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [
        task.result() if not task.cancelled() else _cut_short(owner, owner in started, deadlines)
        for owner, task in zip(owners, tasks, strict=True)
    ]


async def _look_up_and_store(
    client: httpx.AsyncClient, url: str, owner: Owner, store: Store, within: float
) -> Lookup:
    try:
        async with asyncio.timeout(within):
            lookup = await look_up(client, url, owner)
    except TimeoutError:
        return _failed(owner, f"Data Fair did not answer within {within:g} s")
    if lookup.outcome is Outcome.NAMED:
        try:
            await store(owner, lookup.detail)
        except DatabaseUnavailableError as exc:
            return _failed(owner, exc.message)
    return lookup


def _cut_short(owner: Owner, started: bool, deadlines: Deadlines) -> Lookup:
    if started:
        return _failed(owner, f"no answer before the run's deadline ({deadlines.run:g} s)")
    return _failed(owner, f"not asked: the run's deadline ({deadlines.run:g} s) came first")


async def look_up(client: httpx.AsyncClient, url: str, owner: Owner) -> Lookup:
    """GET <url>?owner=<type>:<id>&size=1&select=id,owner: the owner object of one dataset."""
    params = {"owner": f"{owner.type}:{owner.id}", "size": "1", "select": "id,owner"}
    try:
        async with client.stream("GET", url, params=params) as response:
            if response.status_code != 200:
                return _failed(owner, _status_problem(response))
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    return _failed(owner, "the answer is longer than 1 MiB")
    except httpx.ConnectTimeout:
        return _failed(owner, "could not connect to Data Fair in time")
    except httpx.TimeoutException:
        return _failed(owner, "Data Fair stopped sending its answer")
    except httpx.ConnectError as exc:
        return _failed(owner, f"could not connect to Data Fair ({shown_text(str(exc))})")
    except httpx.HTTPError as exc:
        return _failed(owner, f"the exchange with Data Fair broke off ({type(exc).__name__})")
    return read_answer(owner, bytes(body))


def read_answer(owner: Owner, body: bytes) -> Lookup:
    """`{"count": N, "results": [{"id": ..., "owner": {type, id, name, ...}}]}` -> a Lookup."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return _failed(owner, "the answer is not UTF-8, as JSON must be")
    try:
        answer: Any = orjson.loads(body)  # no recursion: nesting past 1 024 levels is an error
    except orjson.JSONDecodeError as exc:
        return _failed(owner, f"the answer is not JSON ({exc.msg})")
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        return _failed(owner, "the answer has no list of results: is the URL Data Fair's?")
    if not results:
        return Lookup(owner, Outcome.NOT_FOUND)
    found = results[0].get("owner") if isinstance(results[0], dict) else None
    if not isinstance(found, dict) or [found.get("type"), found.get("id")] != list(owner):
        # An API that ignored ?owner= would otherwise give every owner the same name.
        return _failed(owner, "the dataset in the answer belongs to another owner")
    name = found.get("name")
    # As the ingest reads a name: shown only; of the wrong type, or blank, it is no name.
    name = shown_text(name) if isinstance(name, str) else ""
    if not name.strip():
        return _failed(owner, "the answer gives the owner no name")
    return Lookup(owner, Outcome.NAMED, name)


async def store_names(names: Sequence[tuple[Owner, str]], today: date) -> None:
    """Write names as the ingest does, in one short transaction."""
    rows = sorted((owner.type, owner.id, name, today) for owner, name in names)
    if not rows:
        return
    try:
        async with in_transaction() as client:
            await upsert_owner_names(client, rows)
    except DATABASE_ERRORS as exc:
        raise DatabaseUnavailableError(
            "the database did not take the name; it was not stored: run the command again"
        ) from exc


def _status_problem(response: httpx.Response) -> str:
    status = response.status_code
    said = f"Data Fair answered HTTP {status} {shown_text(response.reason_phrase)}".rstrip()
    if 300 <= status < 400:
        return f"{said} (redirects are not followed: give the URL it leads to)"
    hint = _HINTS.get(status)
    return f"{said} ({hint})" if hint else said


def _failed(owner: Owner, problem: str) -> Lookup:
    return Lookup(owner, Outcome.FAILED, problem)
