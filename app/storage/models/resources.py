"""resources: what we know of each resource (title, owner), learned from lines or registered."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ResourceRow(Model):
    id = fields.BigIntField(primary_key=True)
    resource_type = fields.CharField(max_length=64)
    resource_id = fields.CharField(max_length=200)
    title = fields.TextField(null=True)
    owner_type = fields.CharField(max_length=32)
    owner_id = fields.CharField(max_length=200, db_index=False)
    first_day = fields.DateField()
    last_day = fields.DateField()
    # The title folded by app/core/titles.py (accents, case): what ordering and search compare.
    # Last, where migration 0005 added the column.
    title_folded = fields.TextField(null=True)

    class Meta:
        table = "resources"
        unique_together = (("resource_type", "resource_id"),)
        indexes = (("owner_type", "owner_id"),)
