"""An index on ingest_batches.received_at: the retention purge deletes old keys by date."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

# The name generate_schemas gives the index of IngestBatch.received_at (db_index=True).
INDEX = "idx_ingest_batc_receive_1a62e3"


class IndexField(ops.AlterField):
    """AlterField's change of state, and in the database only the CREATE INDEX: tortoise's SQLite
    editor would copy the table into a new one (every row) and leave the index out."""

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if state_editor is not None:
            await state_editor._run_sql(
                f'CREATE INDEX "{INDEX}" ON "ingest_batches" ("received_at")'
            )

    async def database_backward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if state_editor is not None:
            await state_editor._run_sql(f'DROP INDEX "{INDEX}"')


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        IndexField(
            model_name="IngestBatch",
            name="received_at",
            field=fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
        ),
    ]
