"""The Data Fair history these tests import, written as mongoexport writes it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from tests.datafair.reference import extended_json, history


@pytest.fixture(scope="session")
def documents() -> list[dict[str, Any]]:
    return history(600)


def write_export(path: Path, documents: list[dict[str, Any]], *, array: bool = False) -> Path:
    """JSON lines, or one JSON array (`--jsonArray`), in Extended JSON."""
    rng = random.Random(len(documents))
    exported = [extended_json(document, rng) for document in documents]
    if array:
        path.write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")
    else:
        text = "\n".join(json.dumps(d, ensure_ascii=False) for d in exported) + "\n"
        path.write_text(text, encoding="utf-8")
    return path
