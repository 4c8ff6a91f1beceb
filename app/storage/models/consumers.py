"""usage_consumers: distinct consumers as sketches; usage_consumers_by_owner: their unions per
owner (and every owner) by day and month; consumer_epochs: the keys that hash them."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

# The key of a sketch: a dataset's consumers of one day, user group and operation.
SKETCH_KEY_COLUMNS = (
    "day",
    "resource_type",
    "resource_id",
    "owner_type",
    "owner_id",
    "user_group",
    "operation",
)


class UsageConsumers(Model):
    """A HyperLogLog of the day's consumers (app/core/sketches.py): registers only, never a
    hash, an address or an id (docs/security.md#distinct-consumers)."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    resource_type = fields.CharField(max_length=64)
    resource_id = fields.CharField(max_length=200)
    owner_type = fields.CharField(max_length=32)
    owner_id = fields.CharField(max_length=200)
    user_group = fields.CharField(max_length=32)
    operation = fields.CharField(max_length=16)
    sketch = fields.BinaryField()

    class Meta:
        table = "usage_consumers"
        unique_together = (SKETCH_KEY_COLUMNS,)
        # "An owner over a day range" (the unique key reads datasets over a day range).
        indexes = (("owner_type", "owner_id", "day"),)


# The key of a summary sketch: the union of an owner's datasets' sketches (every operation) over a
# block of days, span 1 (that day) or MONTH_SPAN (the calendar month starting on `day`); owner
# ('', '') is every owner. Datasets only: the reads count nothing else.
OWNER_SKETCH_KEY_COLUMNS = ("span", "day", "owner_type", "owner_id", "user_group")


class UsageConsumersByOwner(Model):
    """An owner's (or every owner's) consumers of a day or a month, in one user group: the
    union of usage_consumers' sketches, so that a year reads ~12 rows a group, not every
    dataset's days (docs/storage.md)."""

    id = fields.BigIntField(primary_key=True)
    span = fields.SmallIntField()
    day = fields.DateField()
    owner_type = fields.CharField(max_length=32)
    owner_id = fields.CharField(max_length=200)
    user_group = fields.CharField(max_length=32)
    sketch = fields.BinaryField()

    class Meta:
        table = "usage_consumers_by_owner"
        unique_together = (OWNER_SKETCH_KEY_COLUMNS,)


class ConsumerEpoch(Model):
    """The random key that hashes consumers during one epoch, deleted when its grace ends."""

    id = fields.BigIntField(primary_key=True)
    first_day = fields.DateField(unique=True)
    epoch_key = fields.BinaryField()

    class Meta:
        table = "consumer_epochs"
