"""ingest_ledger: batches counted in the request, waiting for the folder (docs/ingest.md)."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0002_ingest_batches_received_at")]

    initial = False

    operations = [
        ops.CreateModel(
            name="LedgerRow",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("received_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("lines", fields.IntField()),
                ("counters", fields.TextField(unique=False)),
            ],
            options={"table": "ingest_ledger", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
