"""owners: each owner's name as the portal's logs last gave it (X-Owner), for the pages to show."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_resources_title_folded")]

    initial = False

    operations = [
        ops.CreateModel(
            name="OwnerRow",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("owner_type", fields.CharField(max_length=32)),
                ("owner_id", fields.CharField(max_length=200)),
                ("name", fields.TextField(unique=False)),
                ("last_day", fields.DateField()),
            ],
            options={
                "table": "owners",
                "app": "models",
                "unique_together": (("owner_type", "owner_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
