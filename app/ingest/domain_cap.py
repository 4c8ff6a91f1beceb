"""The domain cap: per day and dataset, the first N distinct calling domains keep their names.

A flood of forged Referers would otherwise add a usage_daily row (and summary rows) per fake
domain. Past the cap, a batch's new domains of that day and dataset are counted under `other`;
their user group, category and app stay, so those breakdowns stay exact. `none`, `invalid` and
`other` are our own values, a fixed few: they never count towards the cap.

Exact across batches and processes: write_batch asks for the stored domains only after it has
upserted the batch's resources rows, whose row locks every batch counting that dataset takes
until it commits (PostgreSQL), or under SQLite's single write lock; so each batch sees every
domain the batches before it stored. A per-process cache skips that query when the batch brings
no domain it does not already know of, or when the day and dataset are already full.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from tortoise.backends.base.client import BaseDBAsyncClient

from app.core.hosts import OTHER_DOMAIN, RESERVED_DOMAINS
from app.core.records import UsageKey
from app.ingest.aggregate import Counters
from app.storage.database import is_postgres

Pair = tuple[date, str, str]  # (day, resource_type, resource_id)
# The cache forgets everything past this many domains: it only spares queries, and a
# long-running process sees ever new days.
MAX_CACHED_DOMAINS = 200_000
# Pairs per query on SQLite: three bound values each, under its limit of bound values.
_PAIRS_PER_QUERY = 300
_RESERVED_SQL = ", ".join(f"'{domain}'" for domain in sorted(RESERVED_DOMAINS))


@dataclass(frozen=True)
class CappedBatch:
    """A batch's counters with the domains past the cap under `other`, and, per day and
    dataset it touches, every domain that keeps its name once it is committed."""

    counters: dict[UsageKey, Counters]
    named: dict[Pair, set[str]]


class DomainCap:
    """The cap for one server process, with its cache of domains known to be stored."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: dict[Pair, set[str]] = {}
        self._cached = 0

    async def apply(
        self, client: BaseDBAsyncClient, counters: dict[UsageKey, Counters]
    ) -> CappedBatch:
        """Decide, inside the batch's transaction, which domains keep their names."""
        wanted = _domains_by_pair(counters)
        unsure = [pair for pair, domains in wanted.items() if not self._is_settled(pair, domains)]
        stored = await stored_domains(client, unsure) if unsure else {}
        named: dict[Pair, set[str]] = {}
        capped = False
        for pair, domains in wanted.items():
            # A settled pair's cached set gains nothing below, so it is shared, not copied.
            names = stored[pair] if pair in stored else self._known[pair]
            for domain in domains:
                if domain in names:
                    continue
                if len(names) < self.limit:
                    names.add(domain)
                else:
                    capped = True
            named[pair] = names
        return CappedBatch(_rename(counters, named) if capped else counters, named)

    def remember(self, batch: CappedBatch) -> None:
        """After the batch's commit: its domains are stored now."""
        for pair, names in batch.named.items():
            previous = self._known.get(pair)
            self._cached += len(names) - (len(previous) if previous is not None else 0)
            self._known[pair] = names
        if self._cached > MAX_CACHED_DOMAINS:
            self._known, self._cached = {}, 0

    def _is_settled(self, pair: Pair, domains: Iterable[str]) -> bool:
        # A full pair never changes again; below the cap, another process may have added some.
        known = self._known.get(pair)
        if known is None:
            return False
        return len(known) >= self.limit or all(domain in known for domain in domains)


async def stored_domains(client: BaseDBAsyncClient, pairs: list[Pair]) -> dict[Pair, set[str]]:
    """The distinct capped domains usage_daily holds for these days and datasets (one query
    per few hundred pairs, through the (resource_type, resource_id, day) index)."""
    found: dict[Pair, set[str]] = {pair: set() for pair in pairs}
    where = f"u.referer_domain NOT IN ({_RESERVED_SQL})"
    select = "SELECT DISTINCT u.day, u.resource_type, u.resource_id, u.referer_domain FROM "
    join = (
        "JOIN usage_daily u ON u.resource_type = p.resource_type "
        "AND u.resource_id = p.resource_id AND u.day = p.day"
    )
    if is_postgres(client):
        columns = [list(column) for column in zip(*pairs, strict=True)]
        sql = (
            f"{select}unnest($1::date[], $2::varchar[], $3::varchar[]) "
            f"AS p(day, resource_type, resource_id) {join} WHERE {where}"
        )
        _, rows = await client.execute_query(sql, columns)
    else:
        rows = []
        for start in range(0, len(pairs), _PAIRS_PER_QUERY):
            part = pairs[start : start + _PAIRS_PER_QUERY]
            values = ", ".join("(?, ?, ?)" for _ in part)
            sql = (
                f"WITH p(day, resource_type, resource_id) AS (VALUES {values}) "
                f"{select}p {join} WHERE {where}"
            )
            params = [value for day, rtype, rid in part for value in (day.isoformat(), rtype, rid)]
            rows.extend((await client.execute_query(sql, params))[1])
    for row in rows:
        day = row["day"] if isinstance(row["day"], date) else date.fromisoformat(row["day"])
        found[day, row["resource_type"], row["resource_id"]].add(row["referer_domain"])
    return found


def _domains_by_pair(counters: dict[UsageKey, Counters]) -> dict[Pair, dict[str, None]]:
    """Each day and dataset's capped domains, in the order the batch first saw them."""
    found: dict[Pair, dict[str, None]] = {}
    for key in counters:
        domain = key.referer_domain
        if domain in RESERVED_DOMAINS:
            continue
        pair = (key.day, key.resource_type, key.resource_id)
        domains = found.get(pair)
        if domains is None:
            found[pair] = {domain: None}
        else:
            domains[domain] = None
    return found


def _rename(
    counters: dict[UsageKey, Counters], named: dict[Pair, set[str]]
) -> dict[UsageKey, Counters]:
    """The counters with every domain past the cap under `other`, added up."""
    renamed: dict[UsageKey, Counters] = {}
    for key, counts in counters.items():
        domain = key.referer_domain
        if (
            domain not in RESERVED_DOMAINS
            and domain not in named[key.day, key.resource_type, key.resource_id]
        ):
            key = key._replace(referer_domain=OTHER_DOMAIN)
            found = renamed.get(key)
            if found is not None:
                found[0] += counts[0]
                found[1] += counts[1]
                found[2] += counts[2]
                continue
            counts = list(counts)  # the batch's own lists stay as they were
        renamed[key] = counts
    return renamed
