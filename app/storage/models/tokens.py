"""tokens: API tokens, stored as their sha256 only."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class TokenRow(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    token_sha256 = fields.CharField(max_length=64, unique=True)
    scope = fields.CharField(max_length=300)  # admin | ingest | owner:<type>:<id>
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "tokens"
