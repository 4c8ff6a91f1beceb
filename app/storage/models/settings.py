"""settings: small JSON documents by key (the web-analytics configuration)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class SettingRow(Model):
    key = fields.CharField(max_length=64, primary_key=True)
    value = fields.TextField()  # JSON
    updated_at = fields.DatetimeField()

    class Meta:
        table = "settings"
