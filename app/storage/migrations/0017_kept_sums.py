"""kept_caller_sums and kept_dataset_sums: every group of a ranking's closed days, kept so that a
period ending today ranks them with today's rows (docs/storage.md#periods-that-end-today).
Empty at first: sums are kept as periods ending today are asked for."""

from __future__ import annotations

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


def _id() -> tuple[str, fields.Field[int]]:
    """Each table's id (a new field each: a field belongs to one model)."""
    return "id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)


class Migration(migrations.Migration):
    dependencies = [("models", "0016_kept_answers")]

    initial = False

    operations = [
        ops.CreateModel(
            name="KeptCallerSum",
            fields=[
                _id(),
                ("answer_id", fields.BigIntField()),
                ("grouping_set", fields.SmallIntField()),
                ("group_id", fields.IntField()),
                ("user_group_id", fields.IntField(null=True)),
                ("referer_domain_id", fields.IntField(null=True)),
                ("referer_category_id", fields.IntField(null=True)),
                *(
                    (f"{figure}_{side}", fields.BigIntField())
                    for figure in ("api_calls", "downloads", "downloaded_bytes", "app_opens")
                    for side in (1, 0)
                ),
                ("use", fields.DecimalField(max_digits=20, decimal_places=0)),
                ("used", fields.BooleanField()),
                ("groups", fields.IntField()),
            ],
            options={
                "table": "kept_caller_sums",
                "app": "models",
                "unique_together": (("answer_id", "grouping_set", "group_id"),),
                "indexes": [Index(fields=["answer_id", "grouping_set", "use"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="KeptDatasetSum",
            fields=[
                _id(),
                ("answer_id", fields.BigIntField(db_index=True)),
                ("resource_id", fields.CharField(max_length=200)),
                ("n", fields.DecimalField(max_digits=40, decimal_places=0)),
            ],
            options={"table": "kept_dataset_sums", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
