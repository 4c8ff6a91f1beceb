"""revoked_sessions: a signed-out session stays refused until its cookie expires."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0003_ingest_ledger")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RevokedSession",
            fields=[
                (
                    "session_sha256",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64),
                ),
                ("expires_at", fields.BigIntField()),
            ],
            options={"table": "revoked_sessions", "app": "models", "pk_attr": "session_sha256"},
            bases=["Model"],
        ),
    ]
