"""Import a mongoexport of `daily-api-metrics`: each document counted once, recognised by its
`_id` whatever the export's form, file name or split (docs/coming-from-data-fair.md).

The file is read document by document (app/datafair/mongoexport.py), each document checked
(documents.py) and the documents cut into chunks at boundaries their ids decide (chunks.py).
About UNIT_DOCUMENTS documents of whole chunks make a unit, decided and written in one
transaction: the keys that say what is counted already (imported.py), then the ingest's own
write of what is not (app/ingest/store.py: usage_daily, resources, owners), noting the months
it wrote. The summary rows of those months are rebuilt from usage_daily once, at the file's end
or, for the command, after its last file (app/ingest/rebuilds.py). A crash or a refusal loses
nothing and counts nothing twice: run the import again (its end rebuilds what a stopped run
left).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.core.records import Owner
from app.core.titles import shown_text
from app.datafair.chunks import MAX_RUN, Chunk, chunks
from app.datafair.documents import MAX_COUNTER, Imported, read_document
from app.datafair.imported import (
    Decision,
    decide,
    earlier_release_key,
    keys_to_look_up,
    store_keys,
    stored_keys,
    take_turn,
)
from app.datafair.mongoexport import READ_BYTES, Readable, documents
from app.datafair.skips import Skipped
from app.errors import BadUserInputError, DatabaseUnavailableError
from app.ingest.aggregate import BatchTotals, OwnerSeen, ResourceSeen
from app.ingest.rebuilds import defer, rebuild
from app.ingest.store import BatchWrite, find_batch, write_batch
from app.storage.database import DATABASE_ERRORS, connection
from app.storage.partitions import place

# As large as the bound below allows: a unit's summary rows are written once for all of its
# documents, and 16 000 documents make ~30 % fewer rows (and 30 % less time) than 5 000 did
# (docs/benchmarks.md#data-fair-import-and-api).
UNIT_DOCUMENTS = 16_000
# A unit adds up within a 64-bit column: its documents' figures are bounded each.
assert (UNIT_DOCUMENTS + MAX_RUN) * MAX_COUNTER < 2**63
# What a refused write raises: the database's errors, and values a driver would not bind.
_REFUSALS = (DatabaseUnavailableError, IntegrityError, *DATABASE_ERRORS, ValueError, OverflowError)


@dataclass
class FileReport:
    """What the import did with one file: documents counted, already counted, skipped."""

    path: str
    imported: int = 0
    duplicate: int = 0  # counted by an earlier import (of this file, or of another form of it)
    skipped: Counter[Skipped] = field(default_factory=Counter)
    first_skips: list[tuple[int, Skipped]] = field(default_factory=list)  # (document number, why)

    def skip(self, number: int, reason: Skipped) -> None:
        self.skipped[reason] += 1
        # In the file's order: a unit's skips (other_export) are known after the next unit's.
        if len(self.first_skips) < 10 or number < self.first_skips[-1][0]:
            bisect.insort(self.first_skips, (number, reason))
            del self.first_skips[10:]

    def answer(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicate": self.duplicate,
            "skipped": {reason.value: count for reason, count in sorted(self.skipped.items())},
        }


async def import_file(
    path: Path,
    advance: Callable[[int], None] = lambda _: None,
    unit_documents: int = UNIT_DOCUMENTS,
    *,
    summaries: bool = True,
) -> FileReport:
    """Count the documents of one file; `advance` is told how many bytes were read. A unit
    the database refuses stops the import (DatabaseUnavailableError, naming the document when
    the database refuses one alone): run it again, it goes on where it stopped. With
    `summaries` False the months written are left to the caller's `rebuild_summaries()` (one
    rebuild for many files)."""
    report = FileReport(str(path))
    try:
        counted = await find_batch(earlier_release_key(_file_sha256(path))) is not None
    except DatabaseUnavailableError as exc:
        raise DatabaseUnavailableError(
            f"{path}: the database did not answer ({_reason(exc)}); nothing of it was counted: "
            "run the import again"
        ) from exc
    # One unit is written while the next is read: the database works while we parse. Units are
    # still decided and written one after the other, in the file's order.
    writing: asyncio.Task[None] | None = None
    try:
        with path.open("rb") as stream:
            units = _units(_documents(_Counting(stream, advance), report), unit_documents)
            async with aclosing(units):
                async for unit in units:
                    if writing is not None:
                        await writing
                    writing = asyncio.create_task(_write(unit, report, counted))
        if writing is not None:
            await writing
        if summaries:
            await rebuild_summaries(report.path)
    finally:
        if writing is not None and not writing.done():
            writing.cancel()  # reading failed: the unit under way rolls back
            await asyncio.gather(writing, return_exceptions=True)
    return report


async def rebuild_summaries(imported: str) -> None:
    """The summaries of the months the import wrote (and any a stopped import left);
    `imported` names the file or files in an error."""
    try:
        await rebuild()
    except DATABASE_ERRORS as exc:
        raise DatabaseUnavailableError(
            f"{imported}: the documents are counted, but the database did not take the "
            f"rebuild of their months' summaries ({_reason(exc)}): run the import again, it "
            "counts nothing twice and rebuilds them"
        ) from exc


async def _units(documents: Iterator[Imported], size: int) -> AsyncGenerator[list[Chunk], None]:
    """Whole chunks, `size` documents or a chunk more; the rest at the end."""
    unit: list[Chunk] = []
    held = 0
    for chunk in chunks(documents):
        unit.append(chunk)
        held += len(chunk.documents)
        if held >= size:
            yield unit
            unit, held = [], 0
        # Between chunks (about a thousand documents), the unit being written goes on: its
        # statements run in the database while the next unit is read.
        await asyncio.sleep(0)
    if unit:
        yield unit


def _documents(stream: Readable, report: FileReport) -> Iterator[Imported]:
    for number, found in enumerate(documents(stream), start=1):
        document = found if isinstance(found, Skipped) else read_document(number, *found)
        if isinstance(document, Skipped):
            report.skip(number, document)
        else:
            yield document


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


async def _write(unit: Sequence[Chunk], report: FileReport, counted: bool) -> None:
    all_documents = [document for chunk in unit for document in chunk.documents]
    totals = totals_of(all_documents)  # added up before the transaction: it holds a lock
    try:
        # The months' partitions first (PostgreSQL), outside the unit's transaction: a history
        # lands in its months, not in the default partitions.
        await place(connection(), {key.day for key in totals.counters})
        decision = await _count(unit, totals, counted)
    except _REFUSALS as exc:
        raise await _refused(all_documents, report, exc) from exc
    report.imported += len(decision.counted)
    report.duplicate += decision.duplicate
    for document in decision.other_export:
        report.skip(document.number, Skipped.OTHER_EXPORT)


async def _count(unit: Sequence[Chunk], totals: BatchTotals, counted: bool) -> Decision:
    keys = keys_to_look_up(unit)
    now = datetime.now(UTC)
    async with in_transaction() as client:
        await take_turn(client)
        decision = decide(unit, await stored_keys(client, keys), counted)
        await store_keys(client, decision.rows, now)
        if decision.counted:
            if len(decision.counted) < totals.accepted:
                totals = totals_of(decision.counted)
            await defer(client, {(k.resource_type, k.day.replace(day=1)) for k in totals.counters})
            await write_batch(BatchWrite(totals, None, "", "", now, summaries=False))
    return decision


async def _refused(
    documents: list[Imported], report: FileReport, exc: BaseException
) -> DatabaseUnavailableError | BadUserInputError:
    """Say which document the database refuses, found by trying halves (rolled back)."""
    span = f"documents {documents[0].number}-{documents[-1].number}"
    before = report.imported + report.duplicate
    culprit = await _refused_alone(documents)
    if culprit is None:
        return DatabaseUnavailableError(
            f"{report.path}: the database did not take {span} ({_reason(exc)}); none of them "
            f"was counted, the {before} counted before them were: run the import again, it "
            "goes on where it stopped"
        )
    document, refusal = culprit
    # The document, not the database, is what to fix: exit status 1, as for a skip.
    return BadUserInputError(
        f"{report.path}: the database refuses document {document.number} (_id "
        f"{document.document_id}): {_reason(refusal)}; nothing of {span} was counted, the "
        f"{before} counted before them were. Remove that document (or fix what the database "
        "says) and run the import again: nothing is counted twice"
    )


async def _refused_alone(
    documents: list[Imported],
) -> tuple[Imported, BaseException] | None:
    if not await _reachable() or (refusal := await _trial(documents)) is None:
        return None  # the database is away, or took the documents this time
    while len(documents) > 1:
        half = len(documents) // 2
        if (found := await _trial(documents[:half])) is not None:
            documents, refusal = documents[:half], found
        elif (found := await _trial(documents[half:])) is not None:
            documents, refusal = documents[half:], found
        else:
            return None  # refused together, never alone
    return documents[0], refusal


class _TrialOver(Exception):
    """Ends a trial write: its transaction rolls back."""


async def _trial(documents: list[Imported]) -> BaseException | None:
    """What the database says of these documents' counters, written then rolled back."""
    try:
        async with in_transaction():
            totals = totals_of(documents)
            await write_batch(BatchWrite(totals, None, "", "", datetime.now(UTC), summaries=False))
            raise _TrialOver
    except _TrialOver:
        return None
    except _REFUSALS as exc:
        return exc


async def _reachable() -> bool:
    try:
        await connection().execute_query("SELECT 1")
    except DATABASE_ERRORS:
        return False
    return True


def _reason(exc: BaseException) -> str:
    """The database's own words: the first line of the innermost error, without the values a
    driver quotes from the statement's arguments."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().partition("\n")[0] or type(exc).__name__
    if "query argument" in text:  # asyncpg: `invalid input for query argument $3: [...] (why)`
        text = text.rpartition("(")[2].rstrip(")")
    return shown_text(text)[:200]


def totals_of(documents: Sequence[Imported]) -> BatchTotals:
    """Documents -> one BatchTotals: those that make one of our rows are added up (departments
    folded, processing classes, Data Fair's `other`); a resource keeps its latest title, an
    owner its latest name."""
    totals = BatchTotals(accepted=len(documents))
    for found in documents:
        key = found.key
        counters = totals.counters.get(key)
        if counters is None:
            totals.counters[key] = [found.requests, found.bytes, found.duration_ms]
        else:
            counters[0] += found.requests
            counters[1] += found.bytes
            counters[2] += found.duration_ms
        owner = Owner(key.owner_type, key.owner_id)
        if found.owner_name is not None:
            _name_owner(totals, owner, found.owner_name, key.day)
        ref = (key.resource_type, key.resource_id)
        seen = totals.resources.get(ref)
        if seen is None:
            totals.resources[ref] = ResourceSeen(owner, found.title, key.day, key.day)
            continue
        if key.day >= seen.last_day:
            seen.owner = owner
            seen.title = found.title if found.title is not None else seen.title
            seen.last_day = key.day
        elif seen.title is None:
            seen.title = found.title
        seen.first_day = min(seen.first_day, key.day)
    return totals


def _name_owner(totals: BatchTotals, owner: Owner, name: str, day: date) -> None:
    # As titles here: documents come in no order, so the latest day's name wins (on one day,
    # the later document's).
    seen = totals.owners.get(owner)
    if seen is None:
        totals.owners[owner] = OwnerSeen(name, day)
    elif day >= seen.last_day:
        seen.name, seen.last_day = name, day


class _Counting:
    """A binary stream that reports the bytes read, for the progress bar."""

    def __init__(self, stream: Readable, advance: Callable[[int], None]) -> None:
        self._stream = stream
        self._advance = advance

    def read(self, size: int = -1, /) -> bytes:
        block = self._stream.read(size)
        self._advance(len(block))
        return block
