"""kept_answers: the rows of costly read statements, kept until a write touches their days;
kept_days: a version per day, which every writer of counters raises for the days it writes
(docs/storage.md#kept-answers)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class KeptAnswer(Model):
    """A statement's rows (aggregates and dimension values only, as the tables hold them), found
    by the sha256 of the statement and its values; deleted by any write to a day of
    first_day..last_day, and by the purge once old."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)
    first_day = fields.DateField()
    last_day = fields.DateField(db_index=True)  # a write of today finds the few that reach it
    rows = fields.TextField()  # JSON
    made_at = fields.DatetimeField()

    class Meta:
        table = "kept_answers"


class KeptDay(Model):
    """A day's version, raised by every write of its counters (never deleted: a few hundred
    rows a year), and when it was last written (null: not since kept answers exist)."""

    day = fields.DateField(primary_key=True)
    version = fields.BigIntField(default=0)
    written_at = fields.DatetimeField(null=True)

    class Meta:
        table = "kept_days"


class KeptCallerSum(Model):
    """One group of a breakdown's closed days, as its grouped statement added it up: every
    group, not only the first ones, so that a period ending today ranks them with today's
    caller rows (docs/storage.md#periods-that-end-today). Dimension ids, never values."""

    id = fields.BigIntField(primary_key=True)
    answer_id = fields.BigIntField()  # its kept_answers row; deleted with it
    grouping_set = fields.SmallIntField()  # which breakdown (GROUPING()), or the total
    group_id = fields.IntField()  # the id of the breakdown's own column (0: the total)
    user_group_id = fields.IntField(null=True)
    referer_domain_id = fields.IntField(null=True)
    referer_category_id = fields.IntField(null=True)
    api_calls_1 = fields.BigIntField()  # _1: the period's closed days, _0: the compared period
    api_calls_0 = fields.BigIntField()
    downloads_1 = fields.BigIntField()
    downloads_0 = fields.BigIntField()
    downloaded_bytes_1 = fields.BigIntField()
    downloaded_bytes_0 = fields.BigIntField()
    app_opens_1 = fields.BigIntField()
    app_opens_0 = fields.BigIntField()
    use = fields.DecimalField(max_digits=20, decimal_places=0)  # api_calls_1 + downloads_1
    used = fields.BooleanField()  # ranked: API calls or downloads in either period, or the total
    groups = fields.IntField()  # the breakdown's used groups over these days

    class Meta:
        table = "kept_caller_sums"
        # A live group's kept row; a breakdown's groups by use, most first (read backwards).
        unique_together = (("answer_id", "grouping_set", "group_id"),)
        indexes = (("answer_id", "grouping_set", "use"),)


class KeptDatasetSum(Model):
    """One dataset's sum of a figure over a ranking's closed days (the same use)."""

    id = fields.BigIntField(primary_key=True)
    answer_id = fields.BigIntField(db_index=True)
    resource_id = fields.CharField(max_length=200)
    n = fields.DecimalField(max_digits=40, decimal_places=0)  # a sum of bigints

    class Meta:
        table = "kept_dataset_sums"
