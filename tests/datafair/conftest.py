"""The Data Fair history these tests import, written as mongoexport writes it."""

from __future__ import annotations

import functools
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from app.datafair.chunks import is_boundary
from tests.datafair.reference import extended_json, history

# One document in this many opens a chunk in the tests' exports (one in ~1 000 in a real one),
# so that 600 documents make whole chunks, pieces and the cuts between them.
BOUNDARY_EVERY = 40


@pytest.fixture(scope="session")
def documents() -> list[dict[str, Any]]:
    return history(600)


def write_export(
    path: Path, documents: list[dict[str, Any]], *, array: bool = False, pretty: bool = False
) -> Path:
    """JSON lines, or one JSON array (`--jsonArray`, `--pretty`), in Extended JSON, each
    document with its `_id` (object_id(position))."""
    rng = random.Random(len(documents))
    exported = [
        {**extended_json(document, rng), "_id": {"$oid": object_id(i)}}
        for i, document in enumerate(documents)
    ]
    if array:
        text = json.dumps(exported, ensure_ascii=False, indent="\t" if pretty else None)
    else:
        text = "\n".join(json.dumps(d, ensure_ascii=False) for d in exported) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


@functools.cache
def object_id(position: int) -> str:
    """The `_id` of the document at `position`: one that opens a chunk at every BOUNDARY_EVERY
    positions from 0, one that does not elsewhere."""
    wanted = position % BOUNDARY_EVERY == 0
    for suffix in itertools.count():
        found = f"{position:012x}{suffix:012x}"
        if is_boundary(found) == wanted:
            return found
    raise AssertionError("unreachable")
