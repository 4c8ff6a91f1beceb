"""A batch's merged counters as one ledger row's text, and ledger rows merged back (pure).

The ledger holds aggregates only, never a line: per UsageKey its requests, bytes and duration. The
encoding is compact JSON: the key's strings with its day as ISO text, then the three counters;
and per SketchKey the sketch of its consumers, base64 of its stored form (registers only, never a
hash: app/core/sketches.py). Rows written before consumers were counted have no sketches.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import orjson

from app.core.records import UsageKey
from app.core.sketches import Sketch, SketchError, as_sketch
from app.ingest.aggregate import Counters, SketchKey

_VERSION = 1
_KEY_FIELDS = len(UsageKey._fields)
_ROW_FIELDS = _KEY_FIELDS + 3
_DAY = UsageKey._fields.index("day")
_SKETCH_FIELDS = len(SketchKey._fields)


class LedgerRowError(ValueError):
    """A ledger row that cannot be read: not our JSON, an unknown version, or a row whose key is
    not strings or whose counters are not integers from 0 up. Never quotes the row."""


def encode(
    counters: dict[UsageKey, Counters], sketches: dict[SketchKey, bytes] | None = None
) -> str:
    """The text of a ledger row: {"v": 1, "rows": [[key fields..., requests, bytes, ms], ...],
    "sketches": [[sketch key fields..., base64 of the sketch], ...]} (no "sketches": none)."""
    rows = [[*key, *counts] for key, counts in counters.items()]
    data: dict[str, Any] = {"v": _VERSION, "rows": rows}
    if sketches:
        data["sketches"] = [
            [*key, base64.b64encode(sketch).decode()] for key, sketch in sketches.items()
        ]
    return orjson.dumps(data).decode()


def decode(text: str) -> list[list[Any]]:
    """A ledger row's rows, checked by `Merged.add`; LedgerRowError if the text is not ours."""
    return decode_row(text)[0]


def decode_row(text: str) -> tuple[list[list[Any]], list[Any]]:
    """A ledger row's rows and sketches, checked by `Merged.add` and `Merged.add_sketches`."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise LedgerRowError("a ledger row that is not JSON") from exc
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        raise LedgerRowError("a ledger row of an unknown version")
    rows = data.get("rows")
    if not isinstance(rows, list):
        raise LedgerRowError("a ledger row without its list of rows")
    sketches = data.get("sketches", [])
    if not isinstance(sketches, list):
        raise LedgerRowError("a ledger row whose sketches are not a list")
    return rows, sketches


class Merged:
    """Ledger rows' counters added up, in their order: a key keeps its first place, so the
    domain cap names domains in the order the batches brought them (app/ingest/domain_cap.py).

    Sums are Python integers, unbounded: app/ingest/counting.py saturates what it writes.
    """

    def __init__(self) -> None:
        self.counters: dict[UsageKey, Counters] = {}
        # A sketch seen once stays in its stored form (~60 bytes for a few consumers, where its
        # registers take 16 KiB): a 16 MiB batch may bring 100 000 of them.
        self.sketches: dict[SketchKey, Sketch | bytes] = {}
        self._days: dict[str, date] = {}

    def add_sketches(self, rows: Sequence[Any]) -> None:
        """Merge decoded sketches (register max); LedgerRowError on a malformed one."""
        merged = self.sketches
        for row in rows:
            if type(row) is not list or len(row) != _SKETCH_FIELDS + 1:
                raise LedgerRowError("a ledger row holds a sketch of the wrong shape")
            if not all(type(field) is str for field in row):
                raise LedgerRowError("a ledger row holds a sketch field that is not text")
            try:
                data = base64.b64decode(row[-1], validate=True)
                sketch = Sketch.from_bytes(data)  # checked, kept only if its key repeats
            except (binascii.Error, SketchError) as exc:
                raise LedgerRowError("a ledger row holds a sketch that is not one") from exc
            key = SketchKey(self._days.get(row[0]) or self._day(row[0]), *row[1:-1])
            found = merged.get(key)
            if found is None:
                merged[key] = data
            else:
                union = as_sketch(found)
                union.merge(sketch)
                merged[key] = union

    def add(self, rows: Sequence[Any]) -> None:
        """Add decoded rows; LedgerRowError on the first malformed one (the caller then drops
        the whole merge: nothing of it is written)."""
        merged = self.counters
        for row in rows:
            key = self._key(row)
            found = merged.get(key)
            if found is None:
                merged[key] = row[_KEY_FIELDS:]
            else:
                found[0] += row[_KEY_FIELDS]
                found[1] += row[_KEY_FIELDS + 1]
                found[2] += row[_KEY_FIELDS + 2]

    def _key(self, row: Any) -> UsageKey:
        if type(row) is not list or len(row) != _ROW_FIELDS:
            raise LedgerRowError("a ledger row holds a row of the wrong shape")
        requests, sent, ms = row[_KEY_FIELDS:]
        # bool is an int subclass, and a float or a negative count would corrupt the sums.
        if not (type(requests) is int and type(sent) is int and type(ms) is int):
            raise LedgerRowError("a ledger row holds a counter that is not an integer")
        if requests < 0 or sent < 0 or ms < 0:
            raise LedgerRowError("a ledger row holds a negative counter")
        text = row[_DAY]
        day = self._days.get(text) if type(text) is str else None
        if day is None:
            day = self._day(text)
        row[_DAY] = day
        for field in row[:_DAY]:
            if type(field) is not str:
                raise LedgerRowError("a ledger row holds a key field that is not text")
        for field in row[_DAY + 1 : _KEY_FIELDS]:
            if type(field) is not str:
                raise LedgerRowError("a ledger row holds a key field that is not text")
        return UsageKey(*row[:_KEY_FIELDS])

    def _day(self, text: Any) -> date:
        try:
            day = date.fromisoformat(text)
        except (TypeError, ValueError) as exc:
            raise LedgerRowError("a ledger row holds a day that is not an ISO date") from exc
        self._days[text] = day
        return day


def merge(texts: Iterable[str]) -> dict[UsageKey, Counters]:
    """Ledger rows' counters added up, in their order (all at once: for small inputs)."""
    return merge_all(texts).counters


def merge_all(texts: Iterable[str]) -> Merged:
    """Ledger rows' counters added up and sketches merged (all at once: for small inputs)."""
    merged = Merged()
    for text in texts:
        rows, sketches = decode_row(text)
        merged.add(rows)
        merged.add_sketches(sketches)
    return merged
