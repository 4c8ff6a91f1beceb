"""Parse, classify and merge a batch's entries (pure: no I/O, no clock, no logging)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.ingest.aggregate import BatchTotals
from app.ingest.body import Entry, NotJson
from app.ingest.classify import Classifier
from app.ingest.formats import LOOKUP_OWNER, LineError, ParseContext, parse_entry
from app.ingest.records import Ignored, LogRecord, Owner, Rejection, UsageKey

ResourceRef = tuple[str, str]  # (resource type, resource id)


@dataclass
class Batch:
    """A batch being reduced. Route-rule lines wait in `pending` until their owners are known."""

    totals: BatchTotals = field(default_factory=BatchTotals)
    pending: list[LogRecord] = field(default_factory=list)

    def owners_to_look_up(self) -> set[ResourceRef]:
        """Resources of pending lines whose owner this batch did not teach us."""
        wanted = {(r.resource.type, r.resource.id) for r in self.pending if r.resource}
        return wanted - self.totals.resources.keys()


def reduce_entries(
    entries: Iterable[Entry], context: ParseContext, classifier: Classifier
) -> Batch:
    """Every entry ends accepted (counted), ignored (with a reason) or rejected (line + reason)."""
    batch = Batch()
    totals = batch.totals
    classify = classifier.classify
    for number, value in entries:
        if type(value) is NotJson:
            totals.rejected.append(Rejection(number, "the line is not valid JSON"))
            continue
        try:
            record = parse_entry(value, context)
        except LineError as exc:
            totals.rejected.append(Rejection(number, exc.reason))
            continue
        if record.owner is LOOKUP_OWNER:
            batch.pending.append(record)
            continue
        outcome = classify(record)
        if type(outcome) is UsageKey:
            totals.add(outcome, record)
        else:
            totals.ignored[outcome] += 1  # type: ignore[index]
    return batch


def resolve_pending(
    batch: Batch, known: Mapping[ResourceRef, Owner], classifier: Classifier
) -> BatchTotals:
    """Classify route-rule lines with owners from this batch or the resources table."""
    totals = batch.totals
    for record in batch.pending:
        assert record.resource is not None
        ref = (record.resource.type, record.resource.id)
        seen = totals.resources.get(ref)
        owner = seen.owner if seen is not None else known.get(ref)
        if owner is None:
            totals.ignored[Ignored.UNKNOWN_OWNER] += 1
            continue
        outcome = classifier.classify(record._replace(owner=owner))
        if type(outcome) is UsageKey:
            totals.add(outcome, record)
        else:
            totals.ignored[outcome] += 1  # type: ignore[index]
    batch.pending.clear()
    return totals
