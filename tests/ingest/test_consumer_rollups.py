"""usage_consumers_by_owner: the owners' (and every owner's) unions of the daily sketches by day
and month. Reads without a datasets filter answer from them exactly what the daily sketches
give, in one statement and without the daily sketches' cap."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from app.core.intervals import Interval
from app.core.periods import Period
from app.core.records import Owner
from app.core.sketches import Sketch, consumer_hash, encode_hashes
from app.errors import BadUserInputError
from app.ingest.aggregate import SketchKey
from app.ingest.sketching import add_sketches
from app.reports.consumers import (
    Consumers,
    consumer_overview,
    consumer_series,
    consumers,
    shown,
)
from app.reports.rows import TOTAL, UsageFilter
from app.storage.database import connection, is_postgres, migrate_database
from tests.helpers import (
    CALLER_DIMENSIONS,
    DAILY_DIMENSIONS,
    FEWER_BLOCKS,
    FIXED_EPOCH_KEY,
    KEPT_ANSWERS,
    KEPT_SUMS,
    MONTHLY_PARTITIONS,
    OWNER_INDEX,
    STATUS_SUMMARY,
    SUMMARY_REBUILDS,
    table_rows,
    undo_caller_dimensions,
)
from tests.schema.test_loaders import counted_statements

pytestmark = pytest.mark.anyio

ORG1 = Owner("organization", "org1")
ALICE = Owner("user", "alice")
DATASETS = {ORG1: ("parks", "roads"), ALICE: ("rivers",)}
GROUPS = ("public", "staff")
OPERATIONS = ("api", "download")
# A whole month (February) with days before and after it; its previous period starts in December.
PERIOD = Period(date(2024, 1, 25), date(2024, 3, 5))
WRITTEN = Period(date(2023, 12, 10), date(2024, 3, 10))  # a few days outside both periods too


def hashed(consumer: int) -> int:
    return consumer_hash(f"consumer-{consumer}", FIXED_EPOCH_KEY)


def consumers_of(day: date, dataset: str, group: str, operation: str) -> set[int]:
    """Two consumers of that day alone (so that every day of a period counts) and one that
    comes back on other days, datasets, groups and operations."""
    base = (day - WRITTEN.start).days * 2
    other = len(dataset) * 3 + GROUPS.index(group) * 5 + OPERATIONS.index(operation) * 7
    return {base, base + 1, 1_000 + (base + other) % 60}


def generated() -> dict[SketchKey, set[int]]:
    found: dict[SketchKey, set[int]] = {}
    for day in WRITTEN.each_day():
        for owner, datasets in DATASETS.items():
            for dataset in datasets:
                for group in GROUPS:
                    for operation in OPERATIONS:
                        key = SketchKey(
                            day, "datasets", dataset, owner.type, owner.id, group, operation
                        )
                        found[key] = consumers_of(day, dataset, group, operation)
        # Not a dataset: the reads count datasets only, so the unions leave it out.
        found[SketchKey(day, "applications", "app1", *ORG1, "public", "app")] = {2_000}
    return found


async def write(sketches: dict[SketchKey, set[int]]) -> None:
    async with in_transaction() as tx:
        await add_sketches(
            tx, {key: Sketch.of_hashes(map(hashed, found)) for key, found in sketches.items()}
        )


def expected(
    sketches: dict[SketchKey, set[int]],
    period: Period,
    owners: tuple[Owner, ...] | None,
    group: str | None = None,
) -> int:
    """The estimate of the union of the consumers themselves: a union of sketches is exactly
    the sketch of the union (register maxima)."""
    union: set[int] = set()
    for key, found in sketches.items():
        if key.resource_type != "datasets" or not period.start <= key.day <= period.end:
            continue
        if owners is not None and Owner(key.owner_type, key.owner_id) not in owners:
            continue
        if group is None or key.user_group == group:
            union |= found
    estimate = Sketch.of_hashes(map(hashed, union)).estimate()
    assert abs(estimate - len(union)) <= 3  # linear counting, a few hundred consumers
    return estimate


@pytest.fixture
async def sketches(app: Starlette) -> dict[SketchKey, set[int]]:
    found = generated()
    await write(found)
    return found


@pytest.mark.parametrize(
    "owner", [ORG1, ALICE, (ORG1, ALICE), None], ids=["org1", "alice", "both", "every"]
)
async def test_an_owners_consumers_are_the_union_of_their_datasets_sketches(
    sketches: dict[SketchKey, set[int]], owner: Owner | tuple[Owner, ...] | None
) -> None:
    owners = None if owner is None else (owner,) if isinstance(owner, Owner) else owner
    usage = UsageFilter(owner=owner)
    with counted_statements() as statements:
        found = await consumers(usage, PERIOD, 0, by_group=True)
    assert len(statements) == 1, statements
    assert found == {
        (TOTAL, group): Consumers(
            expected(sketches, PERIOD, owners, group),
            expected(sketches, PERIOD.previous(), owners, group),
        )
        for group in GROUPS
    }
    total = await consumers(usage, PERIOD, 0)
    assert total == {
        (TOTAL, TOTAL): Consumers(
            expected(sketches, PERIOD, owners), expected(sketches, PERIOD.previous(), owners)
        )
    }
    staff = await consumers(replace_groups(usage, ("staff",)), PERIOD, 0)
    assert staff == {
        (TOTAL, TOTAL): Consumers(
            expected(sketches, PERIOD, owners, "staff"),
            expected(sketches, PERIOD.previous(), owners, "staff"),
        )
    }
    # The same answers from the daily sketches, read with a datasets filter.
    datasets = tuple(sorted(d for o in (owners or tuple(DATASETS)) for d in DATASETS[o]))
    daily = UsageFilter(owner=owner, dataset_ids=datasets)
    assert await consumers(daily, PERIOD, 0) == total
    assert await consumers(daily, PERIOD, 0, by_group=True) == found


def replace_groups(usage: UsageFilter, groups: tuple[str, ...]) -> UsageFilter:
    return UsageFilter(owner=usage.owner, user_groups=groups)


@pytest.mark.parametrize("interval", list(Interval))
async def test_buckets_and_the_overview_read_the_unions_as_the_daily_sketches(
    sketches: dict[SketchKey, set[int]], interval: Interval
) -> None:
    daily = UsageFilter(owner=ORG1, dataset_ids=DATASETS[ORG1])
    for usage in (UsageFilter(owner=ORG1), UsageFilter()):
        with counted_statements() as statements:
            series = await consumer_series(usage, PERIOD, interval)
        assert len(statements) == 1, statements
        reference = daily if usage.owner is not None else UsageFilter(dataset_ids=all_datasets())
        assert series == await consumer_series(reference, PERIOD, interval)
        first = series[TOTAL][0]
        assert first.current is not None and first.current > 0
        odd = Period(date(2023, 10, 1), date(2023, 11, 10))  # compared, not the previous
        for compared in (PERIOD.previous(), None, odd):
            with counted_statements() as statements:
                overview = await consumer_overview(usage, PERIOD, interval, compared)
            assert len(statements) == (2 if compared is odd else 1), statements
            assert overview == await consumer_overview(reference, PERIOD, interval, compared)
    whole = await consumer_overview(UsageFilter(owner=ORG1), PERIOD, interval, PERIOD.previous())
    assert whole is not None
    assert (whole.current, whole.compared) == (
        expected(sketches, PERIOD, (ORG1,)),
        expected(sketches, PERIOD.previous(), (ORG1,)),
    )


def all_datasets() -> tuple[str, ...]:
    return tuple(sorted(d for found in DATASETS.values() for d in found))


async def test_the_unions_hold_a_row_per_owner_group_day_and_month(
    sketches: dict[SketchKey, set[int]],
) -> None:
    rows = await table_rows("usage_consumers_by_owner")
    days, months = WRITTEN.days, 4  # December to March
    owners = len(DATASETS) + 1  # and every owner
    assert sorted(int(row["span"]) for row in rows) == sorted(
        [0] * (months * owners * len(GROUPS)) + [1] * (days * owners * len(GROUPS))
    )


async def test_replays_change_no_union(sketches: dict[SketchKey, set[int]]) -> None:
    before = await _stored()
    await write(sketches)  # the same sketches again, as a replayed or refolded batch
    some = {key: found for key, found in sketches.items() if key.day.day % 3 == 0}
    await write(some)
    assert await _stored() == before
    assert await consumers(UsageFilter(), PERIOD, 0) == {
        (TOTAL, TOTAL): Consumers(
            expected(sketches, PERIOD, None), expected(sketches, PERIOD.previous(), None)
        )
    }


async def test_migration_0011_fills_the_unions_from_the_stored_sketches(
    sketches: dict[SketchKey, set[int]],
) -> None:
    """A database that applied 0010 before 0011 came: its sketches get their unions."""
    written = await _stored()
    await undo_caller_dimensions()
    mark = "$1" if is_postgres(connection()) else "?"
    await connection().execute_query(
        f"DELETE FROM tortoise_migrations WHERE name = {mark}",  # noqa: S608
        ["0011_consumer_rollups"],
    )
    await connection().execute_script("DROP TABLE usage_consumers_by_owner")
    assert await migrate_database() == [
        "0011_consumer_rollups",
        CALLER_DIMENSIONS,
        OWNER_INDEX[0],
        SUMMARY_REBUILDS[0],
        STATUS_SUMMARY[0],
        KEPT_ANSWERS[0],
        KEPT_SUMS[0],
        FEWER_BLOCKS[0],
        MONTHLY_PARTITIONS[0],
        DAILY_DIMENSIONS[0],
    ]
    assert await _stored() == written


async def _stored() -> dict[tuple[Any, ...], bytes]:
    rows = await table_rows("usage_consumers_by_owner")
    return {
        (
            row["span"],
            str(row["day"]),
            row["owner_type"],
            row["owner_id"],
            row["user_group"],
        ): bytes(row["sketch"])
        for row in rows
    }


async def test_a_year_of_30_000_daily_sketches_answers_in_one_statement(app: Starlette) -> None:
    year = Period(date(2023, 1, 1), date(2023, 12, 31))
    datasets = [f"dataset-{n}" for n in range(83)]  # 83 x 365 = 30 295 daily sketches
    everyone = set()
    for start in range(0, year.days, 30):
        batch: dict[SketchKey, bytes] = {}
        for day in Period(year.start + timedelta(days=start), year.end).each_day():
            if (day - year.start).days >= start + 30:
                break
            for number, dataset in enumerate(datasets):
                consumer = ((day - year.start).days * 83 + number) % 500
                everyone.add(consumer)
                key = SketchKey(day, "datasets", dataset, *ORG1, "public", "api")
                batch[key] = encode_hashes([hashed(consumer)])
        async with in_transaction() as tx:
            await add_sketches(tx, batch)
    assert len(await table_rows("usage_consumers")) == 30_295
    answer = Sketch.of_hashes(map(hashed, everyone)).estimate()
    for usage in (UsageFilter(owner=ORG1), UsageFilter()):
        with counted_statements() as statements:
            found = await consumers(usage, year, 0)
        assert len(statements) == 1, statements
        assert found == {(TOTAL, TOTAL): shown(answer, 0, 0)}
    # The daily sketches stay capped.
    with pytest.raises(BadUserInputError, match="more than 20000 daily sketches"):
        await consumers(UsageFilter(owner=ORG1, dataset_ids=tuple(datasets)), year, 0)
