"""usage_consumers (a sketch of distinct consumers per day, dataset, user group and operation)
and consumer_epochs (the key of each epoch, deleted when it ends): docs/security.md#distinct-consumers."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0009_subscriptions")]

    initial = False

    operations = [
        ops.CreateModel(
            name="UsageConsumers",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("day", fields.DateField()),
                ("resource_type", fields.CharField(max_length=64)),
                ("resource_id", fields.CharField(max_length=200)),
                ("owner_type", fields.CharField(max_length=32)),
                ("owner_id", fields.CharField(max_length=200)),
                ("user_group", fields.CharField(max_length=32)),
                ("operation", fields.CharField(max_length=16)),
                ("sketch", fields.BinaryField()),
            ],
            options={
                "table": "usage_consumers",
                "app": "models",
                "unique_together": (
                    (
                        "day",
                        "resource_type",
                        "resource_id",
                        "owner_type",
                        "owner_id",
                        "user_group",
                        "operation",
                    ),
                ),
                "indexes": [Index(fields=["owner_type", "owner_id", "day"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ConsumerEpoch",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("first_day", fields.DateField(unique=True)),
                ("epoch_key", fields.BinaryField()),
            ],
            options={"table": "consumer_epochs", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
