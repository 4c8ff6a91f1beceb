"""Monthly partitions of the usage tables on PostgreSQL (docs/storage.md#monthly-partitions):
usage_daily, usage_by_dataset, usage_by_owner, usage_by_caller and usage_by_status become
partitioned by range of `day`, a partition per month of their rows and a default partition, with
the same columns, unique keys and indexes under the same names, and without the surrogate id's
primary key (a partitioned table's keys must hold `day`; PostgreSQL reads no row by its id). The
rows are copied sorted by key, closed months' partitions full (fill factor 100) and marked packed,
the indexes built once after the copy: at 10^7 rows, several minutes (`migrate --check` lists it
first). SQLite keeps single tables: nothing to do there."""

from __future__ import annotations

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.schema_editor.base import BaseSchemaEditor
from tortoise.migrations.schema_generator.state import State

# One block run by the server, on an empty database as on a full one (the migrator runs a new
# database's migrations as one script). Frozen here: later changes are their own migrations.
PARTITION = """DO $partition$
DECLARE
  t text;
  fill int;
  old text;
  part text;
  closed boolean;
  month date;
  keys text[];
  indexes text[];
  statement text;
  sort text;
BEGIN
  FOREACH t IN ARRAY ARRAY['usage_daily', 'usage_by_dataset', 'usage_by_owner',
                           'usage_by_caller', 'usage_by_status'] LOOP
    -- Already partitioned (a test applying the migrations again): nothing to do.
    CONTINUE WHEN (SELECT relkind FROM pg_class WHERE oid = t::regclass) = 'p';
    fill := CASE WHEN t = 'usage_daily' THEN 100 ELSE 70 END;
    old := t || '_unpartitioned';
    keys := ARRAY(SELECT format('ALTER TABLE %I ADD CONSTRAINT %I %s', t, conname,
                                pg_get_constraintdef(oid))
                  FROM pg_constraint WHERE conrelid = t::regclass AND contype = 'u'
                  ORDER BY conname);
    sort := (SELECT substring(pg_get_constraintdef(oid) FROM '\\((.*)\\)') FROM pg_constraint
             WHERE conrelid = t::regclass AND contype = 'u' ORDER BY conname LIMIT 1);
    indexes := ARRAY(SELECT indexdef FROM pg_indexes i
                     WHERE i.tablename = t AND i.schemaname = current_schema()
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
                     ORDER BY indexname);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', t, old);
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS) PARTITION BY RANGE (day)', t, old);
    EXECUTE format('ALTER SEQUENCE %s OWNED BY %I.id', pg_get_serial_sequence(old, 'id'), t);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT WITH (fillfactor = %s)',
                   t || '_default', t, fill);
    FOR month IN EXECUTE format('SELECT DISTINCT date_trunc(''month'', day)::date FROM %I', old)
    LOOP
      part := t || '_' || to_char(month, 'YYYYMM');
      -- Closed: its last day is neither today nor yesterday (UTC).
      closed := (month + interval '1 month')::date + 1 <= (now() AT TIME ZONE 'UTC')::date;
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L) '
                     'WITH (fillfactor = %s)', part, t, month,
                     (month + interval '1 month')::date, CASE WHEN closed THEN 100 ELSE fill END);
      IF closed THEN
        EXECUTE format('COMMENT ON TABLE %I IS %L', part, 'packed');
      END IF;
    END LOOP;
    EXECUTE format('INSERT INTO %I SELECT * FROM %I ORDER BY %s', t, old, coalesce(sort, 'day'));
    EXECUTE format('DROP TABLE %I', old);
    FOREACH statement IN ARRAY keys || indexes LOOP
      EXECUTE statement;
    END LOOP;
  END LOOP;
END
$partition$"""


class PartitionByMonth(ops.TortoiseOperation):
    """PARTITION on PostgreSQL; nothing on SQLite."""

    reduces_to_sql = True

    def describe(self) -> str:
        return "Partition the usage tables by month (PostgreSQL)"

    def state_forward(self, app_label: str, state: State) -> None:
        return None

    async def database_forward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        if state_editor is not None and state_editor.DIALECT == "postgres":
            await state_editor._run_sql(PARTITION)

    async def database_backward(
        self,
        app_label: str,
        old_state: State,
        new_state: State,
        state_editor: BaseSchemaEditor | None = None,
    ) -> None:
        return None


class Migration(migrations.Migration):
    dependencies = [("models", "0018_fewer_blocks")]

    initial = False

    operations = [PartitionByMonth()]
