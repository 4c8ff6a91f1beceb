"""Tortoise models: only aggregates, resources, batch keys, hashed tokens and settings."""

from app.models.batches import IngestBatch
from app.models.resources import ResourceRow
from app.models.settings import SettingRow
from app.models.summaries import UsageByCaller, UsageByDataset, UsageByOwner
from app.models.tokens import TokenRow
from app.models.usage import UsageDaily

__all__ = [
    "IngestBatch",
    "ResourceRow",
    "SettingRow",
    "TokenRow",
    "UsageByCaller",
    "UsageByDataset",
    "UsageByOwner",
    "UsageDaily",
]
