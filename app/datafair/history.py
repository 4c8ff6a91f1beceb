"""Read a mongoexport of `daily-api-metrics` and count it, exactly once per file and chunk
(docs/coming-from-data-fair.md).

A file is read as JSON lines or as one JSON array (`--jsonArray`, pretty or not), document by
document, never whole. Every CHUNK_DOCUMENTS documents go through the ingest's own write
(app/ingest/store.py: key row, usage_daily, summaries, resources in one transaction) under the
key `data-fair:<sha256 of the file>:<chunk size>:<chunk number>`: importing a file again, or
after a crash, counts only the chunks not counted yet.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from app.core.records import Owner
from app.datafair.documents import Imported, Skipped, read_document
from app.errors import DatabaseUnavailableError
from app.ingest.aggregate import BatchTotals, OwnerSeen, ResourceSeen
from app.ingest.store import BatchWrite, find_batch, write_batch

CHUNK_DOCUMENTS = 5_000
READ_BYTES = 1 << 20
_DECODER = json.JSONDecoder()
_BETWEEN = " \t\r\n,"  # what separates the documents of an array


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class FileReport:
    """What the import did with one file: documents counted, already counted, skipped."""

    path: str
    imported: int = 0
    duplicate: int = 0  # in chunks counted by an earlier import of the same file
    skipped: Counter[Skipped] = field(default_factory=Counter)
    first_skips: list[tuple[int, Skipped]] = field(default_factory=list)  # (document number, why)

    def skip(self, number: int, reason: Skipped) -> None:
        self.skipped[reason] += 1
        if len(self.first_skips) < 10:
            self.first_skips.append((number, reason))

    def answer(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "duplicate": self.duplicate,
            "skipped": {reason.value: count for reason, count in sorted(self.skipped.items())},
        }


def file_key(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def documents(stream: Readable) -> Iterator[Any]:
    """Each document of a mongoexport, JSON lines or a JSON array; Skipped.BAD_JSON for what
    cannot be read (the rest of an array cannot be read past it)."""
    head = stream.read(READ_BYTES)
    if head.lstrip()[:1] == b"[":
        yield from _array(head, stream)
        return
    buffer = head
    while True:
        lines = buffer.split(b"\n")
        more = stream.read(READ_BYTES)
        buffer = lines.pop() + more if more else b""
        for line in lines:
            if line.strip():
                yield _loads(line)
        if not more:
            return


def _loads(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return Skipped.BAD_JSON


def _array(head: bytes, stream: Readable) -> Iterator[Any]:
    # raw_decode on text: one document at a time, read in blocks (years of history do not fit
    # in memory as one list). The incremental decoder keeps a character cut by a block.
    decoder = codecs.getincrementaldecoder("utf-8")()
    text = decoder.decode(head)
    position = text.index("[") + 1
    eof = False

    def fill() -> None:
        nonlocal text, position, eof
        more = stream.read(READ_BYTES)
        eof = not more
        text = text[position:] + decoder.decode(more, final=eof)
        position = 0

    while True:
        position = _skip(text, position)
        if position >= len(text):
            if eof:
                return
            fill()
            continue
        if text[position] == "]":
            return
        try:
            value, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            if eof:
                yield Skipped.BAD_JSON
                return
            fill()
            continue
        if end == len(text) and not eof:
            fill()  # a number at the end of a block may go on in the next one
            continue
        position = end
        yield value


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _BETWEEN:
        position += 1
    return position


async def import_file(
    path: Path,
    advance: Callable[[int], None] = lambda _: None,
    chunk_documents: int = CHUNK_DOCUMENTS,
) -> FileReport:
    """Count the documents of one file; `advance` is told how many bytes were read. A chunk
    the database refuses stops the import (DatabaseUnavailableError): run it again."""
    report = FileReport(str(path))
    key = file_key(path)
    chunk: list[Imported] = []
    number = 0
    index = 0
    with path.open("rb") as stream:
        for raw in documents(_Counting(stream, advance)):
            number += 1
            found = raw if isinstance(raw, Skipped) else read_document(raw)
            if isinstance(found, Skipped):
                report.skip(number, found)
                continue
            chunk.append(found)
            if len(chunk) == chunk_documents:
                await _write(chunk, f"data-fair:{key}:{chunk_documents}:{index}", report)
                chunk, index = [], index + 1
    if chunk:
        await _write(chunk, f"data-fair:{key}:{chunk_documents}:{index}", report)
    return report


async def _write(chunk: list[Imported], key: str, report: FileReport) -> None:
    if await find_batch(key) is not None:  # counted by an earlier import: nothing to add up
        report.duplicate += len(chunk)
        return
    totals = totals_of(chunk)
    answer = orjson.dumps({"imported": len(chunk)}).decode()
    digest = hashlib.sha256(key.encode()).hexdigest()
    try:
        stored = await write_batch(BatchWrite(totals, key, digest, answer, datetime.now(UTC)))
    except DatabaseUnavailableError as exc:
        raise DatabaseUnavailableError(
            f"the database did not take a chunk of {len(chunk)} documents of {report.path}, "
            f"after {report.imported + report.duplicate} were counted (nothing of that chunk "
            "was): run the import again, it goes on where it stopped"
        ) from exc
    if stored is None:
        report.imported += len(chunk)
    else:
        report.duplicate += len(chunk)


def totals_of(chunk: list[Imported]) -> BatchTotals:
    """Documents -> one BatchTotals: those that make one of our rows are added up (departments
    folded, processing classes, Data Fair's `other`); a resource keeps its latest title, an
    owner its latest name."""
    totals = BatchTotals(accepted=len(chunk))
    for found in chunk:
        counters = totals.counters.setdefault(found.key, [0, 0, 0])
        counters[0] += found.requests
        counters[1] += found.bytes
        counters[2] += found.duration_ms
        key = found.key
        if found.owner_name is not None:
            _name_owner(totals, Owner(key.owner_type, key.owner_id), found.owner_name, key.day)
        ref = (key.resource_type, key.resource_id)
        seen = totals.resources.get(ref)
        if seen is None:
            owner = Owner(key.owner_type, key.owner_id)
            totals.resources[ref] = ResourceSeen(owner, found.title, key.day, key.day)
            continue
        if key.day >= seen.last_day:
            seen.owner = Owner(key.owner_type, key.owner_id)
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
