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
