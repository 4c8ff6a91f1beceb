"""Fewer summary blocks: usage_by_dataset keeps 1-, 4- and 16-day blocks and months (no longer 2-
and 8-day ones), usage_by_caller days and months (no longer 8-day blocks); the rows of the spans
dropped are deleted (docs/storage.md#summary-tables). Every figure stays exact: the readers cover
a period with the blocks still written. One DELETE per table (~1 min at 10^7 rows on
PostgreSQL); the space freed is reused by later writes, or returned by VACUUM FULL."""

from __future__ import annotations

from tortoise import migrations
from tortoise.migrations import operations as ops

# Frozen here, not read from app/storage/summaries.py: a later change of spans is its own migration.
_DROPPED = {"usage_by_dataset": (2, 8), "usage_by_caller": (8,)}


class Migration(migrations.Migration):
    dependencies = [("models", "0017_kept_sums")]

    initial = False

    operations = [
        ops.RunSQL(
            f"DELETE FROM {table} WHERE span IN ({', '.join(map(str, spans))})"  # noqa: S608
        )
        for table, spans in _DROPPED.items()
    ]
