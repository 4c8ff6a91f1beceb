"""Merge a batch's classified lines into counters per UsageKey, plus what it says of resources
and of their owners' names."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from app.core.records import Ignored, Owner, Rejected, Rejection, UsageKey

# requests, bytes, duration_ms: a list, so that merging adds in place.
Counters = list[int]
# The answer lists the first rejections with their line numbers and counts them all: 16 MiB of
# garbage once made a 234 MB answer (docs/ingest.md).
MAX_LISTED_REJECTIONS = 1_000


class SketchKey(NamedTuple):
    """The dimensions of one usage_consumers row, in the table's key order."""

    day: date
    resource_type: str
    resource_id: str
    owner_type: str
    owner_id: str
    user_group: str
    operation: str


@dataclass
class ResourceSeen:
    """What a batch taught us about one resource: its owner, latest title and days seen."""

    owner: Owner
    title: str | None
    first_day: date
    last_day: date


@dataclass
class OwnerSeen:
    """An owner's name as a batch last gave it, and the last day a line gave one."""

    name: str
    last_day: date


@dataclass
class BatchTotals:
    """A batch reduced to what is stored and what is answered. Keys are unique: one row each."""

    counters: dict[UsageKey, Counters] = field(default_factory=dict)
    # Per key, the stored form of its consumers' sketch (app/core/sketches.py).
    sketches: dict[SketchKey, bytes] = field(default_factory=dict)
    resources: dict[tuple[str, str], ResourceSeen] = field(default_factory=dict)
    owners: dict[Owner, OwnerSeen] = field(default_factory=dict)  # only owners a line named
    accepted: int = 0
    ignored: Counter[Ignored] = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)  # the first MAX_LISTED_REJECTIONS
    rejections: Counter[Rejected] = field(default_factory=Counter)  # every one, by code

    def answer(self, duplicate: bool = False) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "ignored": sum(self.ignored.values()),
            "ignored_by_reason": {reason.value: self.ignored[reason] for reason in Ignored},
            "rejected": [
                {"line": r.line, "code": r.code.value, "reason": r.reason} for r in self.rejected
            ],
            "rejected_count": self.rejections.total(),
            "duplicate": duplicate,
        }
