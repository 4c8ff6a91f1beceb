"""A batch's merged counters as one ledger row's text, and many rows merged back (pure).

The ledger holds aggregates only, never a line: per UsageKey its requests, bytes and duration. The
encoding is compact JSON: the key's strings with its day as ISO text, then the three counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import orjson

from app.core.records import UsageKey
from app.ingest.aggregate import Counters

_VERSION = 1
_KEY_FIELDS = len(UsageKey._fields)
_DAY = UsageKey._fields.index("day")


def encode(counters: dict[UsageKey, Counters]) -> str:
    """The text of a ledger row: {"v": 1, "rows": [[key fields..., requests, bytes, ms], ...]}."""
    rows = [[*key, *counts] for key, counts in counters.items()]
    return orjson.dumps({"v": _VERSION, "rows": rows}).decode()


def merge(texts: Iterable[str]) -> dict[UsageKey, Counters]:
    """Ledger rows' counters added up, in their order: a key keeps its first place, so the
    domain cap names domains in the order the batches brought them (app/ingest/domain_cap.py)."""
    merged: dict[UsageKey, Counters] = {}
    days: dict[str, date] = {}
    for text in texts:
        data = orjson.loads(text)
        if data.get("v") != _VERSION:
            raise ValueError(f"a ledger row of unknown version {data.get('v')!r}")
        for row in data["rows"]:
            day = days.get(row[_DAY])
            if day is None:
                day = days[row[_DAY]] = date.fromisoformat(row[_DAY])
            row[_DAY] = day
            key = UsageKey(*row[:_KEY_FIELDS])
            found = merged.get(key)
            if found is None:
                merged[key] = row[_KEY_FIELDS:]
            else:
                found[0] += row[_KEY_FIELDS]
                found[1] += row[_KEY_FIELDS + 1]
                found[2] += row[_KEY_FIELDS + 2]
    return merged
