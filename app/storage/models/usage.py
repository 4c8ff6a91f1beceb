"""usage_facts: one row per day and dimension combination, with additive counters, its owner,
dataset, user group, domain and category stored as dimension ids; the view usage_daily names
them (docs/storage.md#dimensions)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

# A row's key as the view usage_daily shows it, in the order of UsageKey.
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
# The key as usage_facts stores it (app/storage/facts.py): owner, then day, so that "an owner
# over a day range" reads a prefix of it; each dimension's values as its id.
STORED_KEY = (
    "owner_key",
    "day",
    "resource_type",
    "resource_key",
    "operation",
    "status_class",
    "group_key",
    "domain_key",
    "category_key",
    "referer_app",
)


class UsageDaily(Model):
    id = fields.BigIntField(primary_key=True)
    owner_key = fields.IntField()
    day = fields.DateField()
    resource_type = fields.CharField(max_length=64)
    resource_key = fields.IntField()
    operation = fields.CharField(max_length=16)
    status_class = fields.CharField(max_length=16)
    group_key = fields.IntField()
    domain_key = fields.IntField()
    category_key = fields.IntField()
    referer_app = fields.CharField(max_length=200, default="")
    requests = fields.BigIntField(default=0)
    bytes = fields.BigIntField(default=0)
    duration_ms = fields.BigIntField(default=0)

    class Meta:
        table = "usage_facts"
        unique_together = (STORED_KEY,)
        # "A dataset (or a page of datasets) over a day range" reads this index; "an owner over a
        # day range" reads the unique key's prefix.
        indexes = (("resource_key", "day"),)
