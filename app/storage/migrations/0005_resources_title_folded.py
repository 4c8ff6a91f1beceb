"""resources.title_folded: each title folded (app/core/titles.py) for ordering and search that
ignore accents and case on both databases; existing titles are folded here."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

from app.core.titles import fold

_PAGE = 1000  # resources read and updated per round trip


class FoldTitles(ops.TortoiseOperation):
    """Fills title_folded from title. It reduces to no SQL: the SQL of a migration is only run
    on an empty database (app/storage/migrator.py), which has no title to fold."""

    reduces_to_sql = True

    def describe(self) -> str:
        return "Fold the titles of existing resources"

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
        client = state_editor.client
        mark = "$" if client.capabilities.dialect == "postgres" else "?"
        after = -1
        while True:
            rows = await client.execute_query_dict(
                f"SELECT id, title FROM resources WHERE id > {mark}1 AND title IS NOT NULL "  # noqa: S608
                f"ORDER BY id LIMIT {_PAGE}",
                [after],
            )
            if not rows:
                return
            await client.execute_many(
                f"UPDATE resources SET title_folded = {mark}1 WHERE id = {mark}2",  # noqa: S608
                [[fold(row["title"]), row["id"]] for row in rows],
            )
            after = rows[-1]["id"]

    async def database_backward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        return None  # the column goes with RemoveField


class Migration(migrations.Migration):
    dependencies = [("models", "0004_revoked_sessions")]

    initial = False

    operations = [
        ops.AddField(
            model_name="ResourceRow",
            name="title_folded",
            field=fields.TextField(null=True, unique=False, db_index=False),
        ),
        FoldTitles(),
    ]
