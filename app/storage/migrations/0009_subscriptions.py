"""subscriptions, deliveries and leases: reports and alerts by e-mail and webhook
(docs/reports-and-alerts.md)."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


def _id() -> fields.BigIntField:
    return fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)


class Migration(migrations.Migration):
    dependencies = [("models", "0008_ip_referers")]

    initial = False

    operations = [
        ops.CreateModel(
            name="SubscriptionRow",
            fields=[
                ("id", _id()),
                ("owner_type", fields.CharField(max_length=32)),
                ("owner_id", fields.CharField(max_length=200)),
                ("channel", fields.CharField(max_length=16)),
                ("target", fields.CharField(max_length=1000)),
                ("secret", fields.CharField(default="", max_length=64)),
                ("weekly", fields.BooleanField(default=False)),
                ("monthly", fields.BooleanField(default=False)),
                ("alerts", fields.BooleanField(default=False)),
                ("lang", fields.CharField(default="en", max_length=2)),
                ("drop_share", fields.FloatField(default=0.6)),
                ("spike_factor", fields.FloatField(default=5.0)),
                ("error_share", fields.FloatField(default=0.05)),
                ("floor", fields.IntField(default=100)),
                ("error_floor", fields.IntField(default=50)),
                ("created_day", fields.DateField()),
            ],
            options={
                "table": "subscriptions",
                "app": "models",
                "unique_together": (("owner_type", "owner_id", "channel", "target"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DeliveryRow",
            fields=[
                ("id", _id()),
                ("subscription_id", fields.BigIntField()),
                ("kind", fields.CharField(max_length=16)),
                ("day", fields.DateField()),
                ("state", fields.CharField(max_length=16)),
                ("attempts", fields.IntField(default=0)),
                ("summary", fields.CharField(default="", max_length=200)),
                ("error", fields.CharField(default="", max_length=500)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "deliveries",
                "app": "models",
                "unique_together": (("subscription_id", "kind", "day"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="LeaseRow",
            fields=[
                (
                    "name",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=32),
                ),
                ("holder", fields.CharField(max_length=64)),
                ("expires_at", fields.BigIntField()),
            ],
            options={"table": "leases", "app": "models", "pk_attr": "name"},
            bases=["Model"],
        ),
    ]
