"""usage_by_status: usage_daily's counters per owner, day, resource type, operation and status
class, for Data Fair's `_agg` (docs/storage.md#usage_by_status-for-data-fairs-_agg), filled from
the usage_daily rows already stored: one grouped read of the table (19 s at 10^7 rows on
PostgreSQL, the ANALYZE after the migrations included)."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

from app.storage.database import is_postgres
from app.storage.sql import capped_sum, sum_parts

_KEY = ("owner_type", "owner_id", "day", "resource_type", "operation", "status_class")
_COUNTERS = ("requests", "bytes", "duration_ms")
_FILLFACTOR = 70  # as the other summaries' (0001_initial)
_GROUPED = "status_fill"  # a temporary table: usage_daily grouped once


class FillStatusSummary(ops.TortoiseOperation):
    """Gives the table room on its pages for updates, as 0001_initial gave the other summaries
    (PostgreSQL: each batch updates its days' rows), and adds up the usage_daily rows already
    stored into it, every owner given its id in owner_keys first. It reduces to the fill
    factor's SQL: an empty database has nothing to add up."""

    reduces_to_sql = True

    def describe(self) -> str:
        return "Set usage_by_status's fill factor (PostgreSQL) and fill it from usage_daily"

    def state_forward(self, app_label: str, state: State) -> None:
        return None

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if state_editor is None:
            return
        if state_editor.DIALECT == "postgres":
            await state_editor._run_sql(
                f"ALTER TABLE usage_by_status SET (fillfactor = {_FILLFACTOR})"
            )
        if not state_editor.collect_sql:
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
    key = ", ".join(_KEY)
    sums = ", ".join(part for c in _COUNTERS for part in sum_parts(c, c, postgres))
    await client.execute_script(
        f"CREATE TEMP TABLE {_GROUPED} AS SELECT {key}, {sums} "  # noqa: S608
        f"FROM usage_daily GROUP BY {key}"
    )
    same = "o.owner_type = g.owner_type AND o.owner_id = g.owner_id"
    await client.execute_script(
        "INSERT INTO owner_keys (owner_type, owner_id) SELECT DISTINCT owner_type, owner_id "  # noqa: S608
        f"FROM {_GROUPED} g WHERE NOT EXISTS (SELECT 1 FROM owner_keys o WHERE {same}) "
        "ORDER BY owner_type, owner_id"
    )
    capped = ", ".join(capped_sum(f"g.{c}", postgres) for c in _COUNTERS)
    kept = ", ".join(f"g.{c}" for c in _KEY[2:])
    await client.execute_script(
        f"INSERT INTO usage_by_status (owner_key, {', '.join(_KEY[2:])}, {', '.join(_COUNTERS)}) "  # noqa: S608
        f"SELECT o.id, {kept}, {capped} FROM {_GROUPED} g JOIN owner_keys o ON {same} "
        f"ORDER BY o.id, {kept}"
    )
    await client.execute_script(f"DROP TABLE {_GROUPED}")


class Migration(migrations.Migration):
    dependencies = [("models", "0014_summary_rebuilds")]

    initial = False

    operations = [
        ops.CreateModel(
            name="UsageByStatus",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("owner_key", fields.IntField()),
                ("day", fields.DateField()),
                ("resource_type", fields.CharField(max_length=64)),
                ("operation", fields.CharField(max_length=16)),
                ("status_class", fields.CharField(max_length=16)),
                ("requests", fields.BigIntField(default=0)),
                ("bytes", fields.BigIntField(default=0)),
                ("duration_ms", fields.BigIntField(default=0)),
            ],
            options={
                "table": "usage_by_status",
                "app": "models",
                "unique_together": (
                    ("owner_key", "day", "resource_type", "operation", "status_class"),
                ),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        FillStatusSummary(),
    ]
