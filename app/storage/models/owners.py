"""owners: the name each owner of datasets last had in the portal's logs (X-Owner's `name`)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OwnerRow(Model):
    # The portal's public metadata about an account that owns datasets, like resources' titles:
    # nothing of the people whose requests are counted (docs/security.md).
    id = fields.BigIntField(primary_key=True)
    owner_type = fields.CharField(max_length=32)
    owner_id = fields.CharField(max_length=200)
    name = fields.TextField()
    last_day = fields.DateField()  # the last day a line gave the owner a name

    class Meta:
        table = "owners"
        unique_together = (("owner_type", "owner_id"),)
