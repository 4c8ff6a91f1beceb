"""usage_consumers_by_owner: the unions of usage_consumers' sketches per owner (and every owner),
user group, day and month (docs/storage.md), filled from the sketches usage_consumers already
holds (none, where both migrations come in the same release)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tortoise import fields, migrations
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

from app.core.sketches import Sketch, Union
from app.storage.database import is_postgres
from app.storage.models.summaries import MONTH_SPAN
from app.storage.summaries import EVERY_OWNER

_TABLE = "usage_consumers_by_owner"
_DATASETS = "datasets"  # the unions hold datasets' consumers only, as the reads count
_PAGE = 2_000  # sketches read at a time (~60 bytes to ~7 KiB each)


class FillConsumerUnions(ops.TortoiseOperation):
    """Fills the unions from the sketches already in usage_consumers (a database that applied
    0010 before this release). Month by month, owner by owner: a few hundred unions in memory
    at most. It reduces to no SQL: an empty database has no sketch to union."""

    reduces_to_sql = True

    def describe(self) -> str:
        return "Fill usage_consumers_by_owner from usage_consumers"

    def state_forward(self, app_label: str, state: State) -> None:
        return None

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if state_editor is None or state_editor.collect_sql:
            return
        await fill(state_editor.client)

    async def database_backward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        return None


async def fill(client: BaseDBAsyncClient) -> None:
    postgres = is_postgres(client)
    marks = [f"${n}" if postgres else "?" for n in range(1, 7)]
    bounds = await client.execute_query_dict(
        f"SELECT MIN(day) AS first_day, MAX(day) AS last_day FROM usage_consumers "  # noqa: S608
        f"WHERE resource_type = {marks[0]}",
        [_DATASETS],
    )
    if bounds[0]["first_day"] is None:
        return
    month, last = as_day(bounds[0]["first_day"]).replace(day=1), as_day(bounds[0]["last_day"])
    while month <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        await _fill_month(client, month, following, postgres, marks)
        month = following


async def _fill_month(
    client: BaseDBAsyncClient, month: date, following: date, postgres: bool, marks: list[str]
) -> None:
    def day_value(day: date) -> Any:
        return day if postgres else day.isoformat()

    span = [day_value(month), day_value(following)]
    owners = await client.execute_query_dict(
        "SELECT DISTINCT owner_type, owner_id FROM usage_consumers "  # noqa: S608
        f"WHERE day >= {marks[0]} AND day < {marks[1]} AND resource_type = {marks[2]} "
        "ORDER BY owner_type, owner_id",
        [*span, _DATASETS],
    )
    everyone: dict[tuple[int, date, str], Union] = {}
    insert = (
        f"INSERT INTO {_TABLE} (span, day, owner_type, owner_id, user_group, sketch) "  # noqa: S608
        f"VALUES ({', '.join(marks)})"
    )
    for owner in owners:
        unions: dict[tuple[int, date, str], Union] = {}
        after = 0
        while True:  # pages by id: an owner's month may hold ~10⁵ sketches
            rows = await client.execute_query_dict(
                "SELECT id, day, user_group, sketch FROM usage_consumers "  # noqa: S608
                f"WHERE owner_type = {marks[0]} AND owner_id = {marks[1]} AND day >= {marks[2]} "
                f"AND day < {marks[3]} AND resource_type = {marks[4]} AND id > {marks[5]} "
                f"ORDER BY id LIMIT {_PAGE}",
                [owner["owner_type"], owner["owner_id"], *span, _DATASETS, after],
            )
            for row in rows:
                sketch = Sketch.from_bytes(bytes(row["sketch"]))
                for block in ((1, as_day(row["day"])), (MONTH_SPAN, month)):
                    for found in (unions, everyone):
                        key = (*block, str(row["user_group"]))
                        if key not in found:
                            found[key] = Union()
                        found[key].add(sketch)
            if len(rows) < _PAGE:
                break
            after = int(rows[-1]["id"])
        for (span_of, first, group), union in sorted(unions.items()):
            await client.execute_query(
                insert,
                [
                    span_of,
                    day_value(first),
                    owner["owner_type"],
                    owner["owner_id"],
                    group,
                    union.sketch().to_bytes(),
                ],
            )
    for (span_of, first, group), union in sorted(everyone.items()):
        await client.execute_query(
            insert, [span_of, day_value(first), *EVERY_OWNER, group, union.sketch().to_bytes()]
        )


def as_day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class Migration(migrations.Migration):
    dependencies = [("models", "0010_consumer_sketches")]

    initial = False

    operations = [
        ops.CreateModel(
            name="UsageConsumersByOwner",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("span", fields.SmallIntField()),
                ("day", fields.DateField()),
                ("owner_type", fields.CharField(max_length=32)),
                ("owner_id", fields.CharField(max_length=200)),
                ("user_group", fields.CharField(max_length=32)),
                ("sketch", fields.BinaryField()),
            ],
            options={
                "table": "usage_consumers_by_owner",
                "app": "models",
                "unique_together": (("span", "day", "owner_type", "owner_id", "user_group"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        FillConsumerUnions(),
    ]
