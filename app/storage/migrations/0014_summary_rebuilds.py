"""summary_rebuilds: the months whose summary rows `import-data-fair` leaves to one rebuild from
usage_daily at its end (docs/storage.md#summaries-rebuilt-after-an-import)."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0013_dataset_owner_index")]

    initial = False

    operations = [
        ops.CreateModel(
            name="SummaryRebuild",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("resource_type", fields.CharField(max_length=64)),
                ("month", fields.DateField()),
            ],
            options={
                "table": "summary_rebuilds",
                "app": "models",
                "unique_together": (("resource_type", "month"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
