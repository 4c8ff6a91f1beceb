"""Dimension tables: an integer id for each owner, dataset, user group, calling domain and
category that usage_facts and the caller summary count, so that their rows and indexes hold
integers, not the text they stand for (a star schema's dimensions, docs/storage.md#dimensions).
Rows are added by the writer and never purged: their number follows the owners, the datasets
and the callers the domain cap lets through, not the days kept."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OwnerKey(Model):
    # The portal's public metadata about an account that owns datasets (docs/security.md);
    # ('', '') stands for every owner, as in the summaries.
    id = fields.IntField(primary_key=True)
    owner_type = fields.CharField(max_length=32)
    owner_id = fields.CharField(max_length=200)

    class Meta:
        table = "owner_keys"
        unique_together = (("owner_type", "owner_id"),)


class ResourceKey(Model):
    # A dataset's (or application's) id, as the portal's logs name it.
    id = fields.IntField(primary_key=True)
    resource_type = fields.CharField(max_length=64)
    resource_id = fields.CharField(max_length=200)

    class Meta:
        table = "resource_keys"
        unique_together = (("resource_type", "resource_id"),)


class UserGroupKey(Model):
    id = fields.IntField(primary_key=True)
    user_group = fields.CharField(max_length=32, unique=True)

    class Meta:
        table = "user_groups"


class DomainKey(Model):
    id = fields.IntField(primary_key=True)
    referer_domain = fields.CharField(max_length=253, unique=True)

    class Meta:
        table = "domains"


class CategoryKey(Model):
    id = fields.IntField(primary_key=True)
    referer_category = fields.CharField(max_length=16, unique=True)

    class Meta:
        table = "categories"
