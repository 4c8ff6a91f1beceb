"""usage_daily's rows move to usage_facts, which stores each owner, dataset, user group, calling
domain and category as a dimension id (a new dimension, resource_keys, for the datasets), and
usage_daily becomes a view that names them (docs/storage.md#dimensions): ~30 bytes of key a row
instead of ~100, in the table and in its two indexes.

The dimensions get the values the rows have, the rows are copied sorted by the new key (on
PostgreSQL into monthly partitions as 0019 made them, closed months marked packed, the keys built
after the copy), the old table is dropped and the view takes its name, so that ad-hoc SQL and
the readers that name values keep working. At 10⁷ rows this rewrites the table once, in
minutes; `migrate --check` names the migration before it runs.
"""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

_OLD = "usage_daily"
_NEW = "usage_facts"
_COUNTERS = ("requests", "bytes", "duration_ms")
# (dimension table, its columns, the id's column in usage_facts), frozen here.
_DIMENSIONS = (
    ("owner_keys", ("owner_type", "owner_id"), "owner_key"),
    ("resource_keys", ("resource_type", "resource_id"), "resource_key"),
    ("user_groups", ("user_group",), "group_key"),
    ("domains", ("referer_domain",), "domain_key"),
    ("categories", ("referer_category",), "category_key"),
)
# usage_facts' key, each a column of the old table or the alias of a dimension's id.
_KEY = (
    "d0.id",
    "u.day",
    "u.resource_type",
    "d1.id",
    "u.operation",
    "u.status_class",
    "d2.id",
    "d3.id",
    "d4.id",
    "u.referer_app",
)
_STORED_KEY = (
    "owner_key",
    "day",
    "resource_type",
    "resource_key",
    "operation",
    "status_class",
    "group_key",
    "domain_key",
    "category_key",
    "referer_app",
)
VIEW = (
    f"CREATE VIEW {_OLD} AS SELECT u.id, o.owner_type, o.owner_id, u.day, u.resource_type, "  # noqa: S608
    "r.resource_id, u.operation, u.status_class, g.user_group, d.referer_domain, "
    "c.referer_category, u.referer_app, u.requests, u.bytes, u.duration_ms "
    f"FROM {_NEW} u LEFT JOIN owner_keys o ON o.id = u.owner_key "
    "LEFT JOIN resource_keys r ON r.id = u.resource_key "
    "LEFT JOIN user_groups g ON g.id = u.group_key "
    "LEFT JOIN domains d ON d.id = u.domain_key "
    "LEFT JOIN categories c ON c.id = u.category_key"
)


def _fills(postgres: bool) -> list[str]:
    """Each dimension given the values of the old rows that it lacks (the caller dimensions
    already hold the values the summaries had)."""
    found = []
    for table, columns, _ in _DIMENSIONS:
        names = ", ".join(columns)
        same = " AND ".join(f"d.{c} = v.{c}" for c in columns)
        found.append(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM "  # noqa: S608
            f"(SELECT DISTINCT {names} FROM {_OLD}) AS v "
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} d WHERE {same}) ORDER BY {names}"
            + (" ON CONFLICT DO NOTHING" if postgres else "")
        )
    return found


def _copy() -> str:
    joins = " ".join(
        f"JOIN {table} d{n} ON " + " AND ".join(f"d{n}.{c} = u.{c}" for c in columns)
        for n, (table, columns, _) in enumerate(_DIMENSIONS)
    )
    # A row keeps its id (the sequence then starts past them).
    return (
        f"INSERT INTO {_NEW} (id, {', '.join((*_STORED_KEY, *_COUNTERS))}) "  # noqa: S608
        f"SELECT u.id, {', '.join(_KEY)}, {', '.join(f'u.{c}' for c in _COUNTERS)} "
        f"FROM {_OLD} u {joins} ORDER BY {', '.join(_KEY)}"
    )


# On PostgreSQL usage_facts becomes partitioned by month as 0019 made usage_daily (a partition
# per month of the old rows, closed ones marked packed, a default one), the rows copied, then
# the keys and indexes tortoise gave the table built once, under their names.
_PARTITIONED_COPY = f"""DO $facts$
DECLARE
  aside text := '{_NEW}_unpartitioned';
  part text;
  closed boolean;
  month date;
  keys text[];
  indexes text[];
  statement text;
BEGIN
  keys := ARRAY(SELECT format('ALTER TABLE {_NEW} ADD CONSTRAINT %I %s', conname,
                              pg_get_constraintdef(oid))
                FROM pg_constraint WHERE conrelid = '{_NEW}'::regclass AND contype = 'u'
                ORDER BY conname);
  indexes := ARRAY(SELECT indexdef FROM pg_indexes i
                   WHERE i.tablename = '{_NEW}' AND i.schemaname = current_schema()
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
                   ORDER BY indexname);
  EXECUTE format('ALTER TABLE {_NEW} RENAME TO %I', aside);
  EXECUTE format('CREATE TABLE {_NEW} (LIKE %I INCLUDING DEFAULTS) PARTITION BY RANGE (day)',
                 aside);
  EXECUTE format('ALTER SEQUENCE %s OWNED BY {_NEW}.id', pg_get_serial_sequence(aside, 'id'));
  EXECUTE format('DROP TABLE %I', aside);
  CREATE TABLE {_NEW}_default PARTITION OF {_NEW} DEFAULT WITH (fillfactor = 100);
  FOR month IN SELECT DISTINCT date_trunc('month', day)::date FROM {_OLD} LOOP
    part := '{_NEW}_' || to_char(month, 'YYYYMM');
    closed := (month + interval '1 month')::date + 1 <= (now() AT TIME ZONE 'UTC')::date;
    EXECUTE format('CREATE TABLE %I PARTITION OF {_NEW} FOR VALUES FROM (%L) TO (%L) '
                   'WITH (fillfactor = 100)', part, month, (month + interval '1 month')::date);
    IF closed THEN
      EXECUTE format('COMMENT ON TABLE %I IS %L', part, 'packed');
    END IF;
  END LOOP;
  EXECUTE $copy${_copy()}$copy$;
  PERFORM setval(pg_get_serial_sequence('{_NEW}', 'id'), max(id)) FROM {_NEW} HAVING count(*) > 0;
  FOREACH statement IN ARRAY keys || indexes LOOP
    EXECUTE statement;
  END LOOP;
END
$facts$"""  # noqa: S608 (constant names)


class SetAsideDaily(ops.DeleteModel):
    """Removes the model of text keys from the state; its table stays until the copy."""

    def __init__(self) -> None:
        super().__init__("UsageDaily")

    def describe(self) -> str:
        return f"Keep {_OLD} until its rows are copied"

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        return None


class CopyToFacts(ops.TortoiseOperation):
    """Fills the dimensions, copies the rows with ids, drops the old table, makes the view."""

    reduces_to_sql = True

    def describe(self) -> str:
        return f"Copy {_OLD} into {_NEW} with dimension ids; {_OLD} becomes a view"

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
        postgres = state_editor.DIALECT == "postgres"
        for statement in (
            *_fills(postgres),
            _PARTITIONED_COPY if postgres else _copy(),
            f"DROP TABLE {_OLD}",
            VIEW,
        ):
            await state_editor._run_sql(statement)

    async def database_backward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        return None


def _id() -> tuple[str, fields.Field[int]]:
    return ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True))


class Migration(migrations.Migration):
    dependencies = [("models", "0019_monthly_partitions")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ResourceKey",
            fields=[
                _id(),
                ("resource_type", fields.CharField(max_length=64)),
                ("resource_id", fields.CharField(max_length=200)),
            ],
            options={
                "table": "resource_keys",
                "app": "models",
                "unique_together": (("resource_type", "resource_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        SetAsideDaily(),
        ops.CreateModel(
            name="UsageDaily",
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
                ("resource_key", fields.IntField()),
                ("operation", fields.CharField(max_length=16)),
                ("status_class", fields.CharField(max_length=16)),
                ("group_key", fields.IntField()),
                ("domain_key", fields.IntField()),
                ("category_key", fields.IntField()),
                ("referer_app", fields.CharField(default="", max_length=200)),
                ("requests", fields.BigIntField(default=0)),
                ("bytes", fields.BigIntField(default=0)),
                ("duration_ms", fields.BigIntField(default=0)),
            ],
            options={
                "table": _NEW,
                "app": "models",
                "unique_together": (_STORED_KEY,),
                "indexes": [Index(fields=["resource_key", "day"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        CopyToFacts(),
    ]
