"""usage_daily: one row per day and dimension combination, with additive counters."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

# The unique key's column order is the order of UsageKey: owner, then day, so that "an owner
# over a day range" reads a prefix of it.
KEY_COLUMNS = (
    "owner_type",
    "owner_id",
    "day",
    "resource_type",
    "resource_id",
    "operation",
    "status_class",
    "user_group",
    "referer_domain",
    "referer_category",
    "referer_app",
)
COUNTER_COLUMNS = ("requests", "bytes", "duration_ms")


class UsageDaily(Model):
    id = fields.BigIntField(primary_key=True)
    owner_type = fields.CharField(max_length=32)
    owner_id = fields.CharField(max_length=200)
    day = fields.DateField()
    resource_type = fields.CharField(max_length=64)
    resource_id = fields.CharField(max_length=200)
    operation = fields.CharField(max_length=16)
    status_class = fields.CharField(max_length=16)
    user_group = fields.CharField(max_length=32)
    referer_domain = fields.CharField(max_length=253)
    referer_category = fields.CharField(max_length=16)
    referer_app = fields.CharField(max_length=200, default="")
    requests = fields.BigIntField(default=0)
    bytes = fields.BigIntField(default=0)
    duration_ms = fields.BigIntField(default=0)

    class Meta:
        table = "usage_daily"
        unique_together = (KEY_COLUMNS,)
        # "A dataset (or a page of datasets) over a day range" reads this index; "an owner over a
        # day range" reads the unique key's prefix.
        indexes = (("resource_type", "resource_id", "day"),)
