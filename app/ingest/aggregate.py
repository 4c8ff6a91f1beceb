"""Merge a batch's classified lines into counters per UsageKey, plus what it says of resources."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.ingest.records import Ignored, LogRecord, Owner, Rejection, Resource, UsageKey

# requests, bytes, duration_ms: a list, so that merging adds in place.
Counters = list[int]


@dataclass
class ResourceSeen:
    """What a batch taught us about one resource: its owner, latest title and days seen."""

    owner: Owner
    title: str | None
    first_day: date
    last_day: date


@dataclass
class BatchTotals:
    """A batch reduced to what is stored and what is answered. Keys are unique: one row each."""

    counters: dict[UsageKey, Counters] = field(default_factory=dict)
    resources: dict[tuple[str, str], ResourceSeen] = field(default_factory=dict)
    accepted: int = 0
    ignored: Counter[Ignored] = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)
    _last_resource: dict[UsageKey, Resource | None] = field(default_factory=dict, repr=False)

    def add(self, key: UsageKey, record: LogRecord) -> None:
        self.accepted += 1
        counters = self.counters.get(key)
        if counters is None:
            self.counters[key] = [1, record.bytes, record.duration_ms]
            self._last_resource[key] = record.resource
            self._see_resource(key, record)
            return
        counters[0] += 1
        counters[1] += record.bytes
        counters[2] += record.duration_ms
        # Resources come from a cache on the raw header, so the same header is the same object:
        # only a changed header (a new title) costs more than this identity check.
        if self._last_resource[key] is not record.resource:
            self._last_resource[key] = record.resource
            self._see_resource(key, record)

    def _see_resource(self, key: UsageKey, record: LogRecord) -> None:
        resource = record.resource
        assert resource is not None
        seen = self.resources.get((resource.type, resource.id))
        if seen is None:
            owner = Owner(key.owner_type, key.owner_id)
            self.resources[resource.type, resource.id] = ResourceSeen(
                owner, resource.title, key.day, key.day
            )
            return
        seen.owner = Owner(key.owner_type, key.owner_id)
        if resource.title is not None:
            seen.title = resource.title  # the latest line wins
        seen.first_day = min(seen.first_day, key.day)
        seen.last_day = max(seen.last_day, key.day)

    def answer(self, duplicate: bool = False) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "ignored": sum(self.ignored.values()),
            "ignored_by_reason": {reason.value: self.ignored[reason] for reason in Ignored},
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
            "duplicate": duplicate,
        }

    def rows(self) -> list[tuple[Any, ...]]:
        """usage_daily rows in key order (a stable lock order for concurrent writers)."""
        return [(*key, *counters) for key, counters in sorted(self.counters.items())]
