"""kept_answers and kept_days: costly read statements' rows kept until a write touches their
days (docs/storage.md#kept-answers). Empty at first: answers are kept as they are asked for."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0015_status_summary")]

    initial = False

    operations = [
        ops.CreateModel(
            name="KeptAnswer",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("key", fields.CharField(unique=True, max_length=64)),
                ("first_day", fields.DateField()),
                ("last_day", fields.DateField(db_index=True)),
                ("rows", fields.TextField()),
                ("made_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "kept_answers", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="KeptDay",
            fields=[
                ("day", fields.DateField(primary_key=True, unique=True, db_index=True)),
                ("version", fields.BigIntField(default=0)),
                (
                    "written_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={"table": "kept_days", "app": "models", "pk_attr": "day"},
            bases=["Model"],
        ),
    ]
