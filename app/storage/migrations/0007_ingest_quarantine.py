"""ingest_quarantine: ledger rows the folder set aside, kept until put back (docs/ingest.md)."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0006_owners")]

    initial = False

    operations = [
        ops.CreateModel(
            name="QuarantineRow",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=False, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("lines", fields.IntField()),
                ("counters", fields.TextField(unique=False)),
                ("reason", fields.CharField(max_length=32)),
                ("quarantined_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "ingest_quarantine", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
