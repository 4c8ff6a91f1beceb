"""Summary tables: status-ok usage_daily figures added up over fewer dimensions, kept by the ingest.

Each row covers a block of days that starts on `day` and lasts `span` days (1: that day alone), or
the calendar month that starts on `day` when `span` is MONTH_SPAN. The key starts with the block, so
that a list of blocks (one query) reads a few contiguous key ranges.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

MONTH_SPAN = 0  # a calendar month, whatever its length
FIGURE_COLUMNS = ("api_calls", "downloads", "downloaded_bytes", "app_opens")
# The resource id before the owner: a page of datasets is read by id, not knowing their owners.
DATASET_KEY = ("resource_type", "span", "day", "resource_id", "owner_type", "owner_id")
OWNER_KEY = ("resource_type", "span", "day", "owner_type", "owner_id")
CALLER_KEY = (*OWNER_KEY, "user_group", "referer_domain", "referer_category")
# What usage_by_caller stores of CALLER_KEY: the owner, user group, domain and category as
# dimension ids (app/storage/models/dimensions.py), ~25 bytes of key instead of ~70.
CALLER_STORED_KEY = (
    "resource_type",
    "span",
    "day",
    "owner_key",
    "group_key",
    "domain_key",
    "category_key",
)


class UsageByDataset(Model):
    """Per dataset (and owner): what ranks datasets and gives each its figures and days."""

    id = fields.BigIntField(primary_key=True)
    resource_type = fields.CharField(max_length=64)
    span = fields.SmallIntField()
    day = fields.DateField()
    resource_id = fields.CharField(max_length=200)
    owner_type = fields.CharField(max_length=32)
    owner_id = fields.CharField(max_length=200)
    api_calls = fields.BigIntField(default=0)
    downloads = fields.BigIntField(default=0)
    downloaded_bytes = fields.BigIntField(default=0)
    app_opens = fields.BigIntField(default=0)

    class Meta:
        table = "usage_by_dataset"
        unique_together = (DATASET_KEY,)
        # An owner's rows of a block, without reading every dataset's (the unique key orders
        # datasets first): the median owner's year ranked in ~2 ms instead of ~230 at 10⁷ rows.
        indexes = (("resource_type", "span", "day", "owner_type", "owner_id"),)


class UsageByOwner(Model):
    """Per owner, every dataset added up: an owner's (or everyone's) totals and days."""

    id = fields.BigIntField(primary_key=True)
    resource_type = fields.CharField(max_length=64)
    span = fields.SmallIntField()
    day = fields.DateField()
    owner_type = fields.CharField(max_length=32)
    owner_id = fields.CharField(max_length=200)
    api_calls = fields.BigIntField(default=0)
    downloads = fields.BigIntField(default=0)
    downloaded_bytes = fields.BigIntField(default=0)
    app_opens = fields.BigIntField(default=0)

    class Meta:
        table = "usage_by_owner"
        unique_together = (OWNER_KEY,)


class UsageByCaller(Model):
    """Per owner and caller (user group, calling domain, category): breakdowns and their filters.
    The owner, user group, domain and category are dimension ids."""

    id = fields.BigIntField(primary_key=True)
    resource_type = fields.CharField(max_length=64)
    span = fields.SmallIntField()
    day = fields.DateField()
    owner_key = fields.IntField()
    group_key = fields.IntField()
    domain_key = fields.IntField()
    category_key = fields.IntField()
    api_calls = fields.BigIntField(default=0)
    downloads = fields.BigIntField(default=0)
    downloaded_bytes = fields.BigIntField(default=0)
    app_opens = fields.BigIntField(default=0)

    class Meta:
        table = "usage_by_caller"
        unique_together = (CALLER_STORED_KEY,)


# usage_by_status: usage_daily's counters per owner, day, resource type, operation and status
# class, every status; the owner as its dimension id. Owner first: an owner's days are one range.
STATUS_KEY = ("owner_type", "owner_id", "day", "resource_type", "operation", "status_class")
STATUS_STORED_KEY = ("owner_key", *STATUS_KEY[2:])


class UsageByStatus(Model):
    """What Data Fair's `_agg` asks most (an owner's days, by operation or status, every status
    by default) without reading every dataset and caller of the owner's days in usage_daily: a
    large owner's year is ~4 000 rows here, ~1.4 M there. Written with usage_daily by every
    writer, import units included (app/storage/status_days.py)."""

    id = fields.BigIntField(primary_key=True)
    owner_key = fields.IntField()
    day = fields.DateField()
    resource_type = fields.CharField(max_length=64)
    operation = fields.CharField(max_length=16)
    status_class = fields.CharField(max_length=16)
    requests = fields.BigIntField(default=0)
    bytes = fields.BigIntField(default=0)
    duration_ms = fields.BigIntField(default=0)

    class Meta:
        table = "usage_by_status"
        unique_together = (STATUS_STORED_KEY,)


class SummaryRebuild(Model):
    """A month of one resource type whose summary rows are owed a rebuild from usage_daily: a
    writer that leaves the summaries to one rebuild at its end (`import-data-fair`) notes the
    months it wrote, in the transaction of its usage_daily rows; the rebuild deletes them."""

    id = fields.BigIntField(primary_key=True)
    resource_type = fields.CharField(max_length=64)
    month = fields.DateField()  # its first day

    class Meta:
        table = "summary_rebuilds"
        unique_together = (("resource_type", "month"),)
