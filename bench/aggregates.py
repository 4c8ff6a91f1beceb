"""A seeded year of usage_daily aggregates, written with the ingest's own store (same upsert).

Datasets get a Zipf popularity and a home domain; every dataset has rows on every day (API calls
from anonymous visitors of its home domain), popular ones more rows (other user groups, domains,
downloads, failed requests). The generator also keeps the exact figures the benchmark's
queries must answer for a few datasets and owners, so that a fast but wrong answer shows.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from app.core.records import Owner, UsageKey
from app.ingest.aggregate import BatchTotals, ResourceSeen
from app.ingest.store import BatchWrite, write_batch
from app.storage.database import database, is_postgres

LAST_DAY = date(2024, 12, 31)
DOMAINS = tuple(f"site{n:03}.example" for n in range(300))
GROUPS = ("OWNER", "OWNER_API_KEY", "EXTERNAL", "EXTERNAL_API_KEY", "BOT")
ZIPF_EXPONENT = 1.1


@dataclass(frozen=True)
class Dataset:
    id: str
    title: str
    owner: Owner
    weight: float  # relative popularity, 1.0 for the most used
    home: str  # the domain most of its calls come from


@dataclass
class World:
    datasets: list[Dataset]
    days: list[date]
    # Exact status-ok API calls per day, kept for the checked datasets and owners only.
    dataset_calls: dict[str, dict[date, int]] = field(default_factory=dict)
    owner_calls: dict[Owner, dict[date, int]] = field(default_factory=dict)
    all_calls: dict[date, int] = field(default_factory=dict)  # every owner's, summed
    rows: int = 0

    def owners_by_size(self) -> list[Owner]:
        sizes: defaultdict[Owner, int] = defaultdict(int)
        for item in self.datasets:
            sizes[item.owner] += 1
        return sorted(sizes, key=lambda owner: (-sizes[owner], owner))


def build_world(seed: int, dataset_count: int, owner_count: int, day_count: int) -> World:
    rng = random.Random(seed)
    owners = [Owner("organization", f"org{n:04}") for n in range(owner_count)]
    owner_weights = [1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(owner_count)]
    datasets = [
        Dataset(
            id=f"ds{n:05}",
            title=f"Dataset {rng.randrange(10**6):06} {n}",
            owner=rng.choices(owners, owner_weights)[0],
            weight=1 / (n + 1) ** ZIPF_EXPONENT,
            home=rng.choice(DOMAINS),
        )
        for n in range(dataset_count)
    ]
    rng.shuffle(datasets)  # popularity unrelated to ids and titles
    days = [LAST_DAY - timedelta(days=i) for i in reversed(range(day_count))]
    return World(datasets, days)


def day_counters(rng: random.Random, world: World, day: date) -> dict[UsageKey, list[int]]:
    """One day of every dataset: ~2.5 rows per dataset on average, more for popular ones."""
    counters: dict[UsageKey, list[int]] = {}

    def add(item: Dataset, operation: str, status: str, group: str, domain: str, n: int) -> None:
        category = "external" if domain != "none" else "none"
        key = UsageKey(
            item.owner.type, item.owner.id, day, "datasets", item.id, operation, status,
            group, domain, category, "",
        )  # fmt: skip
        counters[key] = [n, n * 2048, n * 15]

    for item in world.datasets:
        scale = 1 + int(item.weight * 5000 * rng.random())
        add(item, "api", "ok", "ANONYMOUS", item.home, scale)
        if rng.random() < 0.3 + item.weight:
            add(item, "api", "ok", rng.choice(GROUPS), rng.choice(DOMAINS), 1 + scale // 3)
        if rng.random() < 0.5:
            add(item, "download", "ok", "ANONYMOUS", "none", 1 + scale // 10)
        if rng.random() < 0.2:
            add(item, "api", "client_error", "ANONYMOUS", item.home, 1 + scale // 20)
        if rng.random() < 0.2 + item.weight:
            add(item, "api", "ok", "EXTERNAL", rng.choice(DOMAINS), 1 + scale // 5)
    return counters


def _remember(world: World, checked: set[str], counters: dict[UsageKey, list[int]]) -> None:
    for key, (requests, _, _) in counters.items():
        if key.operation != "api" or key.status_class != "ok":
            continue
        world.all_calls[key.day] = world.all_calls.get(key.day, 0) + requests
        owner = Owner(key.owner_type, key.owner_id)
        if owner in world.owner_calls:
            days = world.owner_calls[owner]
            days[key.day] = days.get(key.day, 0) + requests
        if key.resource_id in checked:
            days = world.dataset_calls[key.resource_id]
            days[key.day] = days.get(key.day, 0) + requests


def generate(world: World, seed: int, checked: list[str]) -> Iterator[tuple[date, BatchTotals]]:
    """The year day by day, one batch per day; keeps the checked figures in `world` meanwhile."""
    rng = random.Random(seed + 1)
    world.rows = 0
    world.dataset_calls = {dataset_id: {} for dataset_id in checked}
    world.owner_calls = {owner: {} for owner in world.owners_by_size()[:3]}
    world.all_calls = {}
    for number, day in enumerate(world.days):
        totals = BatchTotals()
        totals.counters = day_counters(rng, world, day)
        if number == 0:
            totals.resources = {
                ("datasets", item.id): ResourceSeen(item.owner, item.title, day, day)
                for item in world.datasets
            }
        _remember(world, set(checked), totals.counters)
        world.rows += len(totals.counters)
        yield day, totals


async def fill(database_url: str, world: World, seed: int, checked: list[str]) -> None:
    """Write the year day by day, one ingest transaction per day, as a shipper's batches would."""
    async with database(database_url) as client:
        for day, totals in generate(world, seed, checked):
            received = datetime.combine(day, datetime.min.time(), UTC)
            await write_batch(BatchWrite(totals, None, "bench", "{}", received))
        if is_postgres(client):
            # What autovacuum does soon after a bulk load in production: the planner's statistics.
            await client.execute_script("ANALYZE")


async def stored_rows(database_url: str) -> int:
    """usage_daily rows already in the database (0 for a new one)."""
    async with database(database_url) as client:
        rows = await client.execute_query_dict("SELECT COUNT(*) AS n FROM usage_daily")
    return int(rows[0]["n"])


def calls(days: dict[date, int], start: date, end: date) -> int:
    return sum(n for day, n in days.items() if start <= day <= end)
