"""Parse, classify and merge a batch's entries (pure: no I/O, no clock, no logging).

The hot path. A line's headers, credentials and referer repeat across lines, its status, size
and duration do not; so the repeating fields form a signature, classified once into a profile
id (Classifier.profile_id), and each line only adds its numbers under (profile, day, status).
A signature that was never seen goes through the full parser (formats.py) and classify(), so
both paths give the same verdicts and the same rejection reasons.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import Any

from app.core.epochs import EpochKeys
from app.core.records import Ignored, LogRecord, Owner, Rejected, Rejection, UserGroup
from app.core.sketches import consumer_hash, encode_hashes
from app.ingest.aggregate import (
    MAX_LISTED_REJECTIONS,
    BatchTotals,
    OwnerSeen,
    ResourceSeen,
    SketchKey,
)
from app.ingest.body import Entry, NotJson
from app.ingest.classify import STATUS_CLASS, Classifier, Profiles, consumer_of, status_class
from app.ingest.formats import (
    DF_API_KEY,
    DF_BYTES_SENT,
    DF_GZIP_RATIO,
    DF_HOST,
    DF_ID_TOKEN,
    DF_ITEM_COUNTS,
    DF_OPERATION,
    DF_OWNER,
    DF_REFERER,
    DF_REQUEST_TIME,
    DF_RESOURCE,
    DF_STATUS,
    LOOKUP_OWNER,
    NO_OPERATION,
    LineError,
    ParseContext,
    duration_ms,
    iso_day,
    parse_combined,
    parse_data_fair,
    parse_entry,
    parse_named,
    read_line,
    read_status,
    read_text,
    sent_bytes,
    unwrap_event,
)

ResourceRef = tuple[str, str]  # (resource type, resource id)
# (profile id, day, status class) -> [requests, bytes, duration_ms, last line number]
LineCounters = dict[tuple[int, date, str], list[int]]
# (profile id, day) -> the keyed hashes of its consumers (in memory only: the ledger and the
# tables get the sketches they make, never the hashes).
LineConsumers = dict[tuple[int, date], set[int]]
_OK = "ok"
_BOT = UserGroup.BOT.value
# A Data Fair line's repeating fields: what its classification depends on.
_DATA_FAIR_SIGNATURE = itemgetter(
    DF_HOST, DF_REFERER, DF_OWNER, DF_ID_TOKEN, DF_API_KEY, DF_RESOURCE, DF_OPERATION
)
# Past this many interned profiles, the caches start again (between batches): hostile input
# with endless distinct referers must not grow the process without bound.
MAX_PROFILES = 200_000


@dataclass
class Batch:
    """A batch being reduced. Route-rule lines wait in `pending` until their owners are known."""

    classifier: Classifier
    profiles: Profiles  # the generation this batch's profile ids index into
    # The open epochs' keys; None: consumers are not counted (tests of counters alone).
    keys: EpochKeys | None = None
    counters: LineCounters = field(default_factory=dict)
    consumers: LineConsumers = field(default_factory=dict)
    # A consumer's lines repeat its fields: their hash per (key, id_token, api_key, address,
    # agent), for this batch only (its hashes are forgotten with it).
    hashed: dict[tuple[bytes, str, str, str, str], int] = field(default_factory=dict)
    pending: list[tuple[int, LogRecord]] = field(default_factory=list)
    accepted: int = 0
    ignored: Counter[Ignored] = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)  # the first MAX_LISTED_REJECTIONS
    rejections: Counter[Rejected] = field(default_factory=Counter)

    def reject(self, number: int, error: LineError) -> None:
        self.rejections[error.code] += 1
        if len(self.rejected) < MAX_LISTED_REJECTIONS:
            self.rejected.append(Rejection(number, error.code, error.reason))

    def owners_to_look_up(self) -> set[ResourceRef]:
        """Resources of pending lines whose owner this batch did not teach us."""
        wanted = {(r.resource.type, r.resource.id) for _, r in self.pending if r.resource}
        return wanted - self.learned_owners().keys()

    def learned_owners(self) -> dict[ResourceRef, Owner]:
        """The owner of every resource this batch counted a line for."""
        profiles = self.profiles.items
        owners = {}
        for pid in {key[0] for key in self.counters}:
            p = profiles[pid]
            owners[p.resource_type, p.resource_id] = Owner(p.owner_type, p.owner_id)
        return owners

    def count(
        self, number: int, pid: int | Ignored, day: date, status: Any, size: int, ms: int
    ) -> str:
        """Count a line; its status class, or "" when it is ignored."""
        sc = STATUS_CLASS.get(status) if type(status) is int else None
        if sc is None:
            sc = status_class(read_status(status))  # raises for what is not a status code
        if type(pid) is not int:
            self.ignored[pid] += 1  # type: ignore[index]
            return ""
        key = (pid, day, sc)
        counters = self.counters.get(key)
        if counters is None:
            self.counters[key] = [1, size, ms, number]
        else:
            counters[0] += 1
            counters[1] += size
            counters[2] += ms
            counters[3] = number
        self.accepted += 1
        return sc

    def meet(
        self, pid: int, day: date, id_token: str, api_key: str, remote_addr: str, agent: str
    ) -> None:
        """Add a counted line's consumer, if it has one, to its profile's day: a line of status
        ok, not a bot's, of a day whose epoch is open (docs/security.md#distinct-consumers)."""
        if self.keys is None or self.profiles.items[pid].user_group == _BOT:
            return
        key = self.keys.key_for(day)
        if key is None:
            return
        fields = (key, id_token, api_key, remote_addr, agent)
        hashed = self.hashed.get(fields)
        if hashed is None:
            consumer = consumer_of(id_token, api_key, remote_addr, agent)
            hashed = self.hashed[fields] = consumer_hash(consumer, key) if consumer else -1
        if hashed < 0:
            return  # no consumer: no account, no address
        hashes = self.consumers.get((pid, day))
        if hashes is None:
            hashes = self.consumers[pid, day] = set()
        hashes.add(hashed)

    def count_record(self, number: int, record: LogRecord) -> None:
        if record.owner is LOOKUP_OWNER:
            self.pending.append((number, record))
            return
        pid = self.classifier.profile_id(record, self.profiles)
        self.count_parsed(number, pid, record)

    def count_parsed(self, number: int, pid: int | Ignored, record: LogRecord) -> None:
        """Count a parsed line and meet its consumer."""
        sc = self.count(number, pid, record.day, record.status, record.bytes, record.duration_ms)
        if sc == _OK:
            assert type(pid) is int
            self.meet(
                pid,
                record.day,
                record.id_token,
                record.api_key,
                record.remote_addr,
                record.user_agent,
            )


def reduce_entries(
    entries: Iterable[Entry],
    context: ParseContext,
    classifier: Classifier,
    keys: EpochKeys | None = None,
) -> Batch:
    """Every entry ends accepted (counted), ignored (with a reason) or rejected (line + reason)."""
    reducer = Reducer(context, classifier, keys)
    reducer.read(entries)
    return reducer.batch


class Reducer:
    """A batch reduced a part at a time: the endpoint gives the event loop back between parts."""

    def __init__(
        self, context: ParseContext, classifier: Classifier, keys: EpochKeys | None = None
    ) -> None:
        if len(classifier.profiles) > MAX_PROFILES:
            classifier.forget()
        self.batch = Batch(classifier, classifier.profiles, keys)
        self._reader = _Reader(self.batch, context)

    def read(self, entries: Iterable[Entry]) -> None:
        entry, batch = self._reader.entry, self.batch
        for number, value in entries:
            try:
                entry(number, value)
            except LineError as exc:
                batch.reject(number, exc)


def resolve_pending(
    batch: Batch, known: Mapping[ResourceRef, Owner], classifier: Classifier
) -> BatchTotals:
    """Count route-rule lines with owners from this batch or the resources table; then total."""
    learned = batch.learned_owners()
    by_owner = batch.profiles.routes
    for number, record in batch.pending:
        assert record.resource is not None
        ref = (record.resource.type, record.resource.id)
        owner = learned.get(ref) or known.get(ref)
        if owner is None:
            batch.ignored[Ignored.UNKNOWN_OWNER] += 1
            continue
        signature = (
            owner,
            record.resource,
            record.operation,
            record.host,
            record.referer,
            record.user_agent,
            record.id_token,
            record.api_key,
        )
        pid = by_owner.get(signature)
        if pid is None:
            pid = classifier.profile_id(record._replace(owner=owner), batch.profiles)
            by_owner[signature] = pid
        batch.count_parsed(number, pid, record)
    batch.pending.clear()
    return _totals(batch)


def _totals(batch: Batch) -> BatchTotals:
    """(profile, day, status) counters -> one row per UsageKey, and what they say of resources."""
    totals = BatchTotals(
        accepted=batch.accepted,
        ignored=batch.ignored,
        rejected=batch.rejected,
        rejections=batch.rejections,
    )
    profiles = batch.profiles.items
    rows = totals.counters
    spans: dict[int, list[Any]] = {}  # profile id -> [first day, last day, last line]
    for (pid, day, sc), (requests, size, ms, last) in batch.counters.items():
        key = profiles[pid].key(day, sc)
        row = rows.get(key)
        if row is None:
            rows[key] = [requests, size, ms]
        else:  # two titles of one resource in one batch: same row
            row[0] += requests
            row[1] += size
            row[2] += ms
        span = spans.get(pid)
        if span is None:
            spans[pid] = [day, day, last]
        else:
            span[0], span[1], span[2] = min(span[0], day), max(span[1], day), max(span[2], last)
    _sketch(batch, totals)
    titled_at: dict[ResourceRef, int] = {}
    named_at: dict[Owner, int] = {}
    for pid, (first, latest, last) in spans.items():
        profile = profiles[pid]
        ref = (profile.resource_type, profile.resource_id)
        owner = Owner(profile.owner_type, profile.owner_id)
        seen = totals.resources.get(ref)
        if seen is None:
            seen = totals.resources[ref] = ResourceSeen(owner, None, first, latest)
        seen.first_day, seen.last_day = min(seen.first_day, first), max(seen.last_day, latest)
        # The title of the batch's latest line that carried one wins; so does its owner's name.
        if profile.title is not None and last > titled_at.get(ref, 0):
            titled_at[ref] = last
            seen.title = profile.title
        if profile.owner_name is not None:
            _name_owner(totals.owners, named_at, owner, profile.owner_name, latest, last)
    return totals


def _sketch(batch: Batch, totals: BatchTotals) -> None:
    """The consumers' hashes -> one sketch per SketchKey (profiles that differ only by referer
    share one); the hashes stay here."""
    profiles = batch.profiles.items
    union: dict[SketchKey, set[int]] = {}
    for (pid, day), hashes in batch.consumers.items():
        p = profiles[pid]
        key = SketchKey(
            day, p.resource_type, p.resource_id, p.owner_type, p.owner_id, p.user_group, p.operation
        )
        found = union.get(key)
        if found is None:
            union[key] = hashes
        else:
            found |= hashes
    totals.sketches = {key: encode_hashes(hashes) for key, hashes in union.items()}
    # The hashes, and the memo of the fields they came from, go now rather than with the batch.
    batch.consumers.clear()
    batch.hashed.clear()


def _name_owner(
    owners: dict[Owner, OwnerSeen],
    named_at: dict[Owner, int],
    owner: Owner,
    name: str,
    day: date,
    line: int,
) -> None:
    """Keep the name of the owner's latest line that had one; widen the last day named."""
    seen = owners.get(owner)
    if seen is None:
        owners[owner] = OwnerSeen(name, day)
        named_at[owner] = line
        return
    seen.last_day = max(seen.last_day, day)
    if line > named_at[owner]:
        named_at[owner] = line
        seen.name = name


class _Reader:
    """Reads one batch's entries into its counters, through the classifier's signature caches."""

    def __init__(self, batch: Batch, context: ParseContext) -> None:
        self.batch = batch
        self.context = context
        self.day = context.received_day
        self.signatures: dict[Hashable, int | Ignored] = batch.profiles.signatures

    def entry(self, number: int, value: Any) -> None:
        if type(value) is dict:
            value = unwrap_event(value)
        kind = type(value)
        if kind is str:
            self.line(number, value)
        elif kind is list:
            self.data_fair(number, value, self.day)
        elif kind is dict:
            self.named(number, value, self.day)
        elif kind is NotJson:
            raise LineError(Rejected.BAD_JSON)
        else:
            parse_entry(value, self.context)  # raises why this value is no log line

    def line(self, number: int, line: str) -> None:
        day, value = read_line(line, self.context)
        if type(value) is list:
            self.data_fair(number, value, day)
        elif type(value) is dict:
            self.named(number, value, day)
        else:
            self.batch.count_record(number, parse_combined(value, self.context))

    def data_fair(self, number: int, items: list[Any], day: date) -> None:
        size = len(items)
        if size not in DF_ITEM_COUNTS:
            parse_data_fair(items, day)  # raises the reason
        signature = _DATA_FAIR_SIGNATURE(items)
        try:
            pid = self.signatures.get(signature)
        except TypeError:  # an array or object where a string belongs
            pid = None
        if pid is None:
            record = parse_data_fair(items, day)
            pid = self.batch.classifier.profile_id(record, self.batch.profiles)
            self._remember(signature, pid)
        ratio = items[DF_GZIP_RATIO] if size > DF_GZIP_RATIO else None
        sc = self.batch.count(
            number,
            pid,
            day,
            items[DF_STATUS],
            sent_bytes(items[DF_BYTES_SENT], ratio),
            duration_ms(items[DF_REQUEST_TIME]),
        )
        token, key = items[DF_ID_TOKEN], items[DF_API_KEY]
        if sc == _OK and (token or key):  # credentials only: an array has no address
            self.batch.meet(pid, day, token or "", key or "", "", "")  # type: ignore[arg-type]

    def named(self, number: int, fields: dict[str, Any], day: date) -> None:
        get = fields.get
        operation = get("operation")
        if operation in NO_OPERATION:  # route rules apply: the owner comes from the lookup
            self.batch.count_record(number, parse_named(fields, self.context, day))
            return
        signature = (
            operation,
            get("host"),
            get("referer"),
            get("origin"),
            get("user_agent"),
            get("owner"),
            get("resource"),
            get("id_token"),
            get("api_key"),
        )
        try:
            pid = self.signatures.get(signature)
        except TypeError:  # headers logged as embedded objects: not cached
            pid = None
        if pid is None:
            record = parse_named(fields, self.context, day)
            pid = self.batch.classifier.profile_id(record, self.batch.profiles)
            self._remember(signature, pid)
            self.batch.count_parsed(number, pid, record)
            return
        time = get("time")
        if time:
            day = iso_day(time, self.context.timezone)
        address = get("remote_addr") or ""
        if type(address) is not str:
            address = read_text(address, "remote_addr")  # raises: not a string
        sc = self.batch.count(
            number,
            pid,
            day,
            get("status"),
            sent_bytes(get("bytes", 0), get("gzip_ratio")),
            duration_ms(get("request_time", 0)),
        )
        if sc == _OK:
            # The signature's fields were read as text when it was first parsed.
            self.batch.meet(
                pid,  # type: ignore[arg-type]
                day,
                get("id_token") or "",
                get("api_key") or "",
                address if address != "-" else "",
                get("user_agent") or "",
            )

    def _remember(self, signature: tuple[Any, ...], pid: int | Ignored) -> None:
        # Unhashable signatures (headers logged as embedded objects) are classified each time.
        with contextlib.suppress(TypeError):
            self.signatures[signature] = pid
