"""A data.gouv.fr-shaped portal's year of aggregates, generated at a chosen size (seeded).

Owners get Zipf sizes (3 000 owners: the largest owns ~12 % of the datasets), datasets a Zipf
popularity unrelated to their owner, calling domains a heavy tail (most rows from a few hundred
sites, a long tail seen once); user groups, operations and status classes in the proportions of a
public API. Each day has the same number of distinct usage_daily keys (rows / days); a dataset
keeps at most 200 named domains a day (the ingest's cap; later ones are `other`), so what the
generator counts is what the tables must answer.

The generator keeps the figures the benchmark checks: status-ok API calls and downloads per
dataset over the whole span, per owner and day, per owner and user group, per owner and domain
(for the owners it is asked to follow, and every owner together).
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from app.core.records import Owner, UsageKey

LAST_DAY = date(2026, 11, 30)
ZIPF = 1.0
DOMAIN_ZIPF = 1.15
DOMAINS_PER_DATASET_DAY = 200  # USAGE_METRICS_MAX_DOMAINS_PER_DAY's default
EVERY = Owner("", "")  # the followed figures of every owner together
# (value, weight): a public API's traffic, roughly.
OPERATIONS = (("api", 70), ("download", 25), ("app", 5))
STATUSES = (("ok", 88), ("client_error", 7), ("redirect", 3), ("server_error", 2))
GROUPS = (
    ("ANONYMOUS", 45),
    ("EXTERNAL", 12),
    ("EXTERNAL_API_KEY", 10),
    ("OWNER", 5),
    ("OWNER_API_KEY", 8),
    ("BOT", 20),
)
NO_DOMAIN_SHARE = 0.3  # scripts and direct links: neither Referer nor Origin
_DRAWS = 8192  # random draws made at once (random.choices is cheaper per value in bulk)


@dataclass(frozen=True)
class Dataset:
    id: str
    title: str
    owner: Owner


@dataclass
class Followed:
    """The exact status-ok figures the benchmark's answers are checked against."""

    # dataset id -> [api calls, downloads] over the whole span
    datasets: dict[str, list[int]] = field(default_factory=dict)
    # owner (EVERY for all) -> day -> [api calls, downloads]
    days: dict[Owner, dict[date, list[int]]] = field(default_factory=dict)
    groups: dict[Owner, defaultdict[str, int]] = field(default_factory=dict)  # API calls
    # API calls and downloads per domain
    domains: dict[Owner, defaultdict[str, list[int]]] = field(default_factory=dict)
    requests: dict[Owner, int] = field(default_factory=dict)  # every request, any status


@dataclass
class Portal:
    datasets: list[Dataset]
    owners: list[Owner]  # largest first
    sizes: dict[Owner, int]
    days: list[date]
    rows_per_day: int
    domain_count: int
    followed: Followed = field(default_factory=Followed)

    @property
    def largest(self) -> Owner:
        return self.owners[0]

    @property
    def median(self) -> Owner:
        """The owner in the middle of those with more than one dataset."""
        several = [owner for owner in self.owners if self.sizes[owner] > 1]
        return several[len(several) // 2]

    def owned(self, owner: Owner) -> list[Dataset]:
        return [item for item in self.datasets if owner in (EVERY, item.owner)]


def build_portal(
    seed: int, rows: int, datasets: int, owners: int, domains: int, days: int
) -> Portal:
    rng = random.Random(seed)
    owner_list = [Owner("organization", f"org{n:05}") for n in range(owners)]
    weights = list(itertools.accumulate(1 / (rank + 1) ** ZIPF for rank in range(owners)))
    picked = rng.choices(range(owners), cum_weights=weights, k=datasets)
    items = [
        Dataset(f"ds{n:06}", f"Jeu de données {rng.randrange(10**6):06} n°{n}", owner_list[o])
        for n, o in enumerate(picked)
    ]
    sizes: dict[Owner, int] = defaultdict(int)
    for item in items:
        sizes[item.owner] += 1
    ranked = sorted(sizes, key=lambda owner: (-sizes[owner], owner))
    rng.shuffle(items)  # popularity (the list's order) unrelated to ids, titles and owners
    last = LAST_DAY
    day_list = [last - timedelta(days=i) for i in reversed(range(days))]
    return Portal(items, ranked, dict(sizes), day_list, max(1, rows // days), domains)


def follow(portal: Portal, owners: Sequence[Owner]) -> None:
    """Start keeping the checked figures of `owners` (and of every owner, EVERY)."""
    kept = portal.followed
    kept.datasets = {item.id: [0, 0] for item in portal.datasets}
    for owner in (*owners, EVERY):
        kept.days[owner] = {}
        kept.groups[owner] = defaultdict(int)
        kept.domains[owner] = defaultdict(lambda: [0, 0])
        kept.requests[owner] = 0


def generate(portal: Portal, seed: int) -> Iterator[tuple[date, dict[UsageKey, list[int]]]]:
    """Each day's distinct keys with their counters (requests, bytes, duration in ms)."""
    rng = random.Random(seed + 1)
    datasets = portal.datasets
    popularity = list(itertools.accumulate(1 / (n + 1) ** ZIPF for n in range(len(datasets))))
    domain_weights = list(
        itertools.accumulate(1 / (n + 1) ** DOMAIN_ZIPF for n in range(portal.domain_count))
    )
    domain_names = [f"site{n:06}.example" for n in range(portal.domain_count)]
    requests_table = [min(100_000, int(rng.paretovariate(1.1))) for _ in range(4096)]
    for day in portal.days:
        yield day, _day(rng, portal, day, popularity, domain_weights, domain_names, requests_table)


def _day(
    rng: random.Random,
    portal: Portal,
    day: date,
    popularity: list[float],
    domain_weights: list[float],
    domain_names: list[str],
    requests_table: list[int],
) -> dict[UsageKey, list[int]]:
    counters: dict[UsageKey, list[int]] = {}
    named: dict[str, set[str]] = defaultdict(set)  # dataset id -> domains named today
    datasets = portal.datasets
    target = portal.rows_per_day
    while len(counters) < target:
        picks = zip(
            rng.choices(range(len(datasets)), cum_weights=popularity, k=_DRAWS),
            _draw(rng, OPERATIONS),
            _draw(rng, STATUSES),
            _draw(rng, GROUPS),
            rng.choices(range(len(domain_names)), cum_weights=domain_weights, k=_DRAWS),
            [rng.random() for _ in range(_DRAWS)],
            rng.choices(requests_table, k=_DRAWS),
            strict=True,
        )
        for index, operation, status, group, domain_index, chance, requests in picks:
            item = datasets[index]
            if chance < NO_DOMAIN_SHARE:
                domain, category = "none", "none"
            else:
                domain, category = domain_names[domain_index], "external"
                seen = named[item.id]
                if domain not in seen:
                    if len(seen) >= DOMAINS_PER_DATASET_DAY:
                        domain = "other"
                    else:
                        seen.add(domain)
            app = f"app{domain_index % 50:02}" if operation == "app" else ""
            key = UsageKey(
                item.owner.type, item.owner.id, day, "datasets", item.id, operation, status,
                group, domain, category, app,
            )  # fmt: skip
            found = counters.get(key)
            if found is None:
                if len(counters) >= target:
                    continue  # the day is full: only existing keys may grow
                counters[key] = [requests, requests * 4096, requests * 35]
            else:
                found[0] += requests
                found[1] += requests * 4096
                found[2] += requests * 35
    _keep(portal.followed, counters)
    return counters


def _draw(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> list[str]:
    values = [value for value, _ in choices]
    return rng.choices(values, weights=[weight for _, weight in choices], k=_DRAWS)


def _keep(kept: Followed, counters: dict[UsageKey, list[int]]) -> None:
    if not kept.days:
        return
    for key, (requests, _, _) in counters.items():
        owner = Owner(key.owner_type, key.owner_id)
        for who in (owner, EVERY):
            if who in kept.requests:
                kept.requests[who] += requests
        if key.status_class != "ok" or key.operation == "app":
            continue
        slot = 0 if key.operation == "api" else 1
        kept.datasets[key.resource_id][slot] += requests
        for who in (owner, EVERY):
            days = kept.days.get(who)
            if days is None:
                continue
            days.setdefault(key.day, [0, 0])[slot] += requests
            kept.domains[who][key.referer_domain][slot] += requests
            if slot == 0:
                kept.groups[who][key.user_group] += requests


def top(values: dict[str, int], n: int) -> list[int]:
    """The n largest values, largest first."""
    return sorted(values.values(), reverse=True)[:n]


def most_used(domains: dict[str, list[int]], n: int) -> list[tuple[str, int]]:
    """(domain, API calls) of the n domains with the most API calls and downloads, as
    GraphQL's breakdown lists them (then by key)."""
    used = sorted((k, v) for k, v in domains.items() if any(v))
    used.sort(key=lambda item: -(item[1][0] + item[1][1]))
    return [(k, v[0]) for k, v in used[:n]]
