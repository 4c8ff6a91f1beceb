"""Documents cut into chunks at boundaries their ids decide, so that the same history is cut
the same way whatever its form, file name or split (docs/coming-from-data-fair.md). Pure.

A document whose id hashes to 0 modulo BOUNDARY_EVERY opens a chunk, which runs to the next
such document. A file cut anywhere still holds the same whole chunks; only the documents
before its first boundary (a chunk's end: `closed_by` known) and after its last one (a chunk's
start: `opened_by` known) are pieces of a chunk. A run of MAX_RUN documents without a boundary,
which only chosen ids make, is cut into loose pieces (neither known), so memory stays bounded.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from app.datafair.documents import Imported

# About one document in BOUNDARY_EVERY opens a chunk: a file of 20 000 documents holds a
# boundary but for a chance of 3 in a billion. Keys are kept per chunk, so this is also how many
# documents one key stands for.
BOUNDARY_EVERY = 1024
MAX_RUN = 16_384  # documents of one chunk held at most (a run 2^14 long: e^-16 by chance)


class Chunk(NamedTuple):
    """Documents between two boundaries, or a piece of them cut by the file's start, end or a
    run too long: `opened_by` is the boundary document that opens it, `closed_by` the one after
    it, each None where the piece was cut."""

    opened_by: str | None
    closed_by: str | None
    documents: list[Imported]

    @property
    def is_whole(self) -> bool:
        return self.opened_by is not None and self.closed_by is not None


def is_boundary(document_id: str) -> bool:
    return zlib.crc32(document_id.encode()) % BOUNDARY_EVERY == 0


def chunks(documents: Iterable[Imported]) -> Iterator[Chunk]:
    """The chunks of one file's documents, in their order."""
    opened_by: str | None = None  # the boundary that opened `run`; None before the first
    run: list[Imported] = []
    loose = False  # `run` follows a piece cut for length: its place in its chunk is unknown
    for document in documents:
        if is_boundary(document.document_id):
            if run:
                yield Chunk(None if loose else opened_by, document.document_id, run)
            opened_by, run, loose = document.document_id, [document], False
            continue
        run.append(document)
        if len(run) == MAX_RUN:
            yield Chunk(None, None, run)
            run, loose = [], True
    if run:
        yield Chunk(None if loose else opened_by, None, run)
