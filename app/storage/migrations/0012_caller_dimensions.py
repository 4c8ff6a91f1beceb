"""usage_by_caller stores its owner, user group, calling domain and category as integer ids of
four dimension tables, owner_keys, user_groups, domains and categories
(docs/storage.md#dimensions): ~25 bytes of key a row instead of ~70, in the table and in its
unique index.

The table of text keys is set aside (renamed, its constraints dropped), the dimensions are
filled from its distinct values, its rows are copied in the new key's order (a block's rows
then sit together, which the reads of a block scan), and it is dropped. At 10⁷ usage_daily
rows (~4 × 10⁷ caller rows) this rewrites the table once, in minutes; `migrate --check`
names the migration before it runs.
"""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

_TABLE = "usage_by_caller"
_ASIDE = "usage_by_caller_text_keys"
_FIGURES = ("api_calls", "downloads", "downloaded_bytes", "app_opens")
_UNIQUE = "uid_usage_by_ca_resourc_f69045"
_FILLFACTOR = 70  # as 0001 set on the summary tables: room for HOT updates of a block's rows


class SetAsideTextKeys(ops.DeleteModel):
    """Removes the old model from the state, and renames its table instead of dropping it; its
    unique constraint, primary key and sequence go, so that the new table can have theirs."""

    def __init__(self) -> None:
        super().__init__("UsageByCaller")

    def describe(self) -> str:
        return f"Set {_TABLE} aside as {_ASIDE}"

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
            # The names 0001 (and release 0.1.0) gave them.
            for constraint in (f"{_TABLE}_pkey", _UNIQUE):
                await state_editor._run_sql(
                    f'ALTER TABLE {_TABLE} DROP CONSTRAINT IF EXISTS "{constraint}"'
                )
            await state_editor._run_sql(f"ALTER TABLE {_TABLE} ALTER COLUMN id DROP DEFAULT")
            await state_editor._run_sql(f"DROP SEQUENCE IF EXISTS {_TABLE}_id_seq")
        await state_editor._run_sql(f"ALTER TABLE {_TABLE} RENAME TO {_ASIDE}")


class CopyToIds(ops.TortoiseOperation):
    """Fills the dimensions from the set-aside rows, copies them with ids, drops them."""

    reduces_to_sql = True

    def describe(self) -> str:
        return f"Copy {_ASIDE} into {_TABLE} with dimension ids"

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
        for statement in _copy(state_editor.DIALECT == "postgres"):
            await state_editor._run_sql(statement)

    async def database_backward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        return None


# (dimension table, its columns) in the order of the new key.
_DIMENSIONS = (
    ("owner_keys", ("owner_type", "owner_id")),
    ("user_groups", ("user_group",)),
    ("domains", ("referer_domain",)),
    ("categories", ("referer_category",)),
)


def _copy(postgres: bool) -> list[str]:
    """Plain SQL, so that an empty database runs it as its script (app/storage/migrator.py)."""
    figures = ", ".join(_FIGURES)
    fills = [
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT DISTINCT {', '.join(columns)} "  # noqa: S608 (constant names)
        f"FROM {_ASIDE} ORDER BY {', '.join(columns)}"
        for table, columns in _DIMENSIONS
    ]
    joins = " ".join(
        f"JOIN {table} d{n} ON " + " AND ".join(f"d{n}.{c} = t.{c}" for c in columns)
        for n, (table, columns) in enumerate(_DIMENSIONS)
    )
    ids = ", ".join(f"d{n}.id" for n in range(len(_DIMENSIONS)))
    return [
        *fills,
        f"INSERT INTO {_TABLE} (id, resource_type, span, day, owner_key, group_key, "  # noqa: S608
        f"domain_key, category_key, {figures}) SELECT t.id, t.resource_type, t.span, t.day, "
        f"{ids}, {', '.join(f't.{f}' for f in _FIGURES)} FROM {_ASIDE} t {joins} "
        f"ORDER BY t.resource_type, t.span, t.day, {ids}",
        f"DROP TABLE {_ASIDE}",
        # After the copy: past days' rows are seldom updated, so their pages are filled; new
        # rows get the room for HOT updates that 0001 set on the summary tables.
        *([f"ALTER TABLE {_TABLE} SET (fillfactor = {_FILLFACTOR})"] if postgres else []),
        # The ids were kept (a row keeps its id): the new sequence starts past them.
        *(
            [
                f"SELECT setval(pg_get_serial_sequence('{_TABLE}', 'id'), max(id)) "  # noqa: S608
                f"FROM {_TABLE} HAVING count(*) > 0"
            ]
            if postgres
            else []
        ),
    ]


def _dimension(name: str, table: str, column: str, length: int) -> ops.CreateModel:
    return ops.CreateModel(
        name=name,
        fields=[
            ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
            (column, fields.CharField(max_length=length, unique=True)),
        ],
        options={"table": table, "app": "models", "pk_attr": "id"},
        bases=["Model"],
    )


class Migration(migrations.Migration):
    dependencies = [("models", "0011_consumer_rollups")]

    initial = False

    operations = [
        ops.CreateModel(
            name="OwnerKey",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("owner_type", fields.CharField(max_length=32)),
                ("owner_id", fields.CharField(max_length=200)),
            ],
            options={
                "table": "owner_keys",
                "app": "models",
                "unique_together": (("owner_type", "owner_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        _dimension("UserGroupKey", "user_groups", "user_group", 32),
        _dimension("DomainKey", "domains", "referer_domain", 253),
        _dimension("CategoryKey", "categories", "referer_category", 16),
        SetAsideTextKeys(),
        ops.CreateModel(
            name="UsageByCaller",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("resource_type", fields.CharField(max_length=64)),
                ("span", fields.SmallIntField()),
                ("day", fields.DateField()),
                ("owner_key", fields.IntField()),
                ("group_key", fields.IntField()),
                ("domain_key", fields.IntField()),
                ("category_key", fields.IntField()),
                ("api_calls", fields.BigIntField(default=0)),
                ("downloads", fields.BigIntField(default=0)),
                ("downloaded_bytes", fields.BigIntField(default=0)),
                ("app_opens", fields.BigIntField(default=0)),
            ],
            options={
                "table": "usage_by_caller",
                "app": "models",
                "unique_together": (
                    (
                        "resource_type",
                        "span",
                        "day",
                        "owner_key",
                        "group_key",
                        "domain_key",
                        "category_key",
                    ),
                ),
                "pk_attr": "id",
                "table_description": "Per owner and caller (user group, calling domain, category): breakdowns and their filters.\nThe owner, user group, domain and category are dimension ids.",
            },
            bases=["Model"],
        ),
        CopyToIds(),
    ]
