"""An index on usage_by_dataset by owner: an owner's ranking seeks its own rows of each block
instead of reading every dataset's (docs/storage.md#tables)."""

from __future__ import annotations

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0012_caller_dimensions")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="UsageByDataset",
            index=Index(fields=["resource_type", "span", "day", "owner_type", "owner_id"]),
        ),
    ]
