"""The domain cap: per day and dataset, the first N distinct calling domains keep their names.

A flood of forged Referers would otherwise add a usage_daily row (and summary rows) per fake
domain. Past the cap, a batch's new domains of that day and dataset are counted under `other`;
their user group, category and app stay, so those breakdowns stay exact. `none`, `invalid` and
`other` are our own values, a fixed few: they never count towards the cap.

Exact across batches and processes: the counting (app/ingest/counting.py, in a fold pass or in
write_batch) asks for the stored domains only after taking the locks that order the writers of
its datasets until they commit (PostgreSQL), or under SQLite's single write lock; so each batch
sees every domain the batches before it stored. A per-process cache skips that query when the
batch brings no domain it does not already know of, or when the day and dataset are already full.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter

from tortoise.backends.base.client import BaseDBAsyncClient

from app.config import DEFAULT_MAX_APPS_PER_DAY
from app.core.hosts import OTHER_DOMAIN, RESERVED_DOMAINS
from app.core.records import UsageKey
from app.ingest.aggregate import Counters
from app.ingest.classify import OTHER_APP, RESERVED_APPS
from app.storage.database import is_postgres
from app.storage.facts import FACTS, RESOURCE_KEYS, named
from app.storage.upserts import rows_from

Pair = tuple[date, str, str]  # (day, resource_type, resource_id)
# The cache forgets everything past this many domains: it only spares queries, and a
# long-running process sees ever new days.
MAX_CACHED_DOMAINS = 200_000
# Pairs per query on SQLite: three bound values each, under its limit of bound values.
_PAIRS_PER_QUERY = 300


@dataclass(frozen=True)
class CappedBatch:
    """A batch's counters with the domains and apps past their caps under `other`, and, per
    day and dataset it touches, every domain (and app) that keeps its name once committed."""

    counters: dict[UsageKey, Counters]
    named: dict[Pair, set[str]]
    named_apps: dict[Pair, set[str]] = field(default_factory=dict)


class _Cap:
    """The first `limit` distinct values of one column per day and dataset, with the cache of
    those known to be stored."""

    def __init__(self, column: str, reserved: frozenset[str], limit: int) -> None:
        self.column = column
        self.reserved = reserved
        self.limit = limit
        self._value = attrgetter(column)
        self._known: dict[Pair, set[str]] = {}
        self._cached = 0

    async def named(
        self, client: BaseDBAsyncClient, counters: dict[UsageKey, Counters]
    ) -> tuple[dict[Pair, set[str]], bool]:
        """Per pair, the values that keep their names; and whether any is past the cap."""
        wanted = self._values_by_pair(counters)
        unsure = [pair for pair, values in wanted.items() if not self._is_settled(pair, values)]
        stored = await stored_values(client, unsure, self.column, self.reserved) if unsure else {}
        named: dict[Pair, set[str]] = {}
        capped = False
        for pair, values in wanted.items():
            # A settled pair's cached set gains nothing below, so it is shared, not copied.
            names = stored[pair] if pair in stored else self._known[pair]
            for value in values:
                if value in names:
                    continue
                if len(names) < self.limit:
                    names.add(value)
                else:
                    capped = True
            named[pair] = names
        return named, capped

    def remember(self, named: dict[Pair, set[str]]) -> None:
        for pair, names in named.items():
            previous = self._known.get(pair)
            self._cached += len(names) - (len(previous) if previous is not None else 0)
            self._known[pair] = names
        if self._cached > MAX_CACHED_DOMAINS:
            self._known, self._cached = {}, 0

    def _is_settled(self, pair: Pair, values: Iterable[str]) -> bool:
        # A full pair never changes again; below the cap, another process may have added some.
        known = self._known.get(pair)
        if known is None:
            return False
        return len(known) >= self.limit or all(value in known for value in values)

    def _values_by_pair(self, counters: dict[UsageKey, Counters]) -> dict[Pair, dict[str, None]]:
        """Each day and dataset's capped values, in the order the batch first saw them."""
        found: dict[Pair, dict[str, None]] = {}
        value_of = self._value
        for key in counters:
            value: str = value_of(key)
            if value in self.reserved:
                continue
            pair = (key.day, key.resource_type, key.resource_id)
            values = found.get(pair)
            if values is None:
                found[pair] = {value: None}
            else:
                values[value] = None
        return found


class DomainCap:
    """The caps of one server process: calling domains (`limit`) and referer apps
    (`max_apps`), per day and dataset, with their caches of values known to be stored."""

    def __init__(self, limit: int, max_apps: int = DEFAULT_MAX_APPS_PER_DAY) -> None:
        self.limit = limit
        self.max_apps = max_apps
        self._domains = _Cap("referer_domain", RESERVED_DOMAINS, limit)
        self._apps = _Cap("referer_app", RESERVED_APPS, max_apps)

    async def apply(
        self, client: BaseDBAsyncClient, counters: dict[UsageKey, Counters]
    ) -> CappedBatch:
        """Decide, inside the batch's transaction, which domains and apps keep their names."""
        named, capped_domains = await self._domains.named(client, counters)
        named_apps, capped_apps = await self._apps.named(client, counters)
        if capped_domains or capped_apps:
            counters = _rename(
                counters, named if capped_domains else None, named_apps if capped_apps else None
            )
        return CappedBatch(counters, named, named_apps)

    def remember(self, batch: CappedBatch) -> None:
        """After the batch's commit: its domains and apps are stored now."""
        self._domains.remember(batch.named)
        self._apps.remember(batch.named_apps)


async def stored_domains(client: BaseDBAsyncClient, pairs: list[Pair]) -> dict[Pair, set[str]]:
    """The distinct capped domains usage_daily holds for these days and datasets."""
    return await stored_values(client, pairs, "referer_domain", RESERVED_DOMAINS)


async def stored_values(
    client: BaseDBAsyncClient, pairs: list[Pair], column: str, reserved: frozenset[str]
) -> dict[Pair, set[str]]:
    """The distinct values of `column` (one of our own constant names) but `reserved` that
    usage_daily holds for these days and datasets (one query per few hundred pairs, through
    usage_facts' (resource_key, day) index)."""
    found: dict[Pair, set[str]] = {pair: set() for pair in pairs}
    kept = ", ".join(f"'{value}'" for value in sorted(reserved))
    columns, names = named("u", (column,))
    value = columns[column]
    where = f"{value} NOT IN ({kept})"
    select = f"SELECT DISTINCT p.day, p.resource_type, p.resource_id, {value} AS value FROM "  # noqa: S608
    # Each dataset's id, then its facts of the day through usage_facts' (resource_key, day).
    join = (
        f"JOIN {RESOURCE_KEYS.table} r ON r.resource_type = p.resource_type "
        f"AND r.resource_id = p.resource_id JOIN {FACTS} u ON u.resource_key = r.id "
        f"AND u.day = p.day{names}"
    )
    if is_postgres(client):
        # A pass of 20 000 new datasets asks for as many pairs: staged then, as large writes are
        # (with them in arrays, such a pass's longest event-loop lateness was 192 ms, 96 without).
        types = ("date", "varchar", "varchar")
        async with rows_from(client, f"{column}_pairs", types, pairs, (0, 1, 2)) as (p, arguments):
            sql = f"{select}{p} AS p(day, resource_type, resource_id) {join} WHERE {where}"
            _, rows = await client.execute_query(sql, arguments)
    else:
        rows = []
        for start in range(0, len(pairs), _PAIRS_PER_QUERY):
            part = pairs[start : start + _PAIRS_PER_QUERY]
            values = ", ".join("(?, ?, ?)" for _ in part)
            sql = (
                f"WITH p(day, resource_type, resource_id) AS (VALUES {values}) "
                f"{select}p {join} WHERE {where}"
            )
            params = [v for day, rtype, rid in part for v in (day.isoformat(), rtype, rid)]
            rows.extend((await client.execute_query(sql, params))[1])
    for row in rows:
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
        found[day, row["resource_type"], row["resource_id"]].add(row["value"])
    return found


def _rename(
    counters: dict[UsageKey, Counters],
    domains: dict[Pair, set[str]] | None,
    apps: dict[Pair, set[str]] | None,
) -> dict[UsageKey, Counters]:
    """The counters with every domain and app past its cap under `other`, added up (None:
    that cap took nothing)."""
    renamed: dict[UsageKey, Counters] = {}
    for key, counts in counters.items():
        pair = (key.day, key.resource_type, key.resource_id)
        new = key
        if domains is not None and (
            key.referer_domain not in RESERVED_DOMAINS and key.referer_domain not in domains[pair]
        ):
            new = new._replace(referer_domain=OTHER_DOMAIN)
        if apps is not None and (
            key.referer_app not in RESERVED_APPS and key.referer_app not in apps[pair]
        ):
            new = new._replace(referer_app=OTHER_APP)
        if new is not key:
            found = renamed.get(new)
            if found is not None:
                found[0] += counts[0]
                found[1] += counts[1]
                found[2] += counts[2]
                continue
            counts = list(counts)  # the batch's own lists stay as they were
        renamed[new] = counts
    return renamed
