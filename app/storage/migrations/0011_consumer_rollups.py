"""usage_consumers_by_owner: the unions of usage_consumers' sketches per owner (and every owner),
user group, day and month (docs/storage.md). No backfill: it ships in the release that brings
usage_consumers (0010), so no database holds sketches without their unions."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0010_consumer_sketches")]

    initial = False

    operations = [
        ops.CreateModel(
            name="UsageConsumersByOwner",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("span", fields.SmallIntField()),
                ("day", fields.DateField()),
                ("owner_type", fields.CharField(max_length=32)),
                ("owner_id", fields.CharField(max_length=200)),
                ("user_group", fields.CharField(max_length=32)),
                ("sketch", fields.BinaryField()),
            ],
            options={
                "table": "usage_consumers_by_owner",
                "app": "models",
                "unique_together": (("span", "day", "owner_type", "owner_id", "user_group"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
