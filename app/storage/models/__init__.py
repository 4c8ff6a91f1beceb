"""Tortoise models: only aggregates (counters, consumer sketches), resources and owners, the
dimensions' ids, batch keys, ledger and quarantine, hashed tokens, consumer epoch keys,
settings, subscriptions, deliveries and leases, kept answers (and their sums) and the days'
versions."""

from app.storage.models.batches import IngestBatch
from app.storage.models.consumers import (
    ConsumerEpoch,
    UsageConsumers,
    UsageConsumersByOwner,
)
from app.storage.models.dimensions import (
    CategoryKey,
    DomainKey,
    OwnerKey,
    ResourceKey,
    UserGroupKey,
)
from app.storage.models.kept import KeptAnswer, KeptCallerSum, KeptDatasetSum, KeptDay
from app.storage.models.ledger import LedgerRow
from app.storage.models.owners import OwnerRow
from app.storage.models.quarantine import QuarantineRow
from app.storage.models.resources import ResourceRow
from app.storage.models.sessions import RevokedSession
from app.storage.models.settings import SettingRow
from app.storage.models.subscriptions import DeliveryRow, LeaseRow, SubscriptionRow
from app.storage.models.summaries import (
    SummaryRebuild,
    UsageByCaller,
    UsageByDataset,
    UsageByOwner,
    UsageByStatus,
)
from app.storage.models.tokens import TokenRow
from app.storage.models.usage import UsageDaily

__all__ = [
    "CategoryKey",
    "ConsumerEpoch",
    "DeliveryRow",
    "DomainKey",
    "IngestBatch",
    "KeptAnswer",
    "KeptCallerSum",
    "KeptDatasetSum",
    "KeptDay",
    "LeaseRow",
    "LedgerRow",
    "OwnerKey",
    "OwnerRow",
    "QuarantineRow",
    "ResourceKey",
    "ResourceRow",
    "RevokedSession",
    "SettingRow",
    "SubscriptionRow",
    "SummaryRebuild",
    "TokenRow",
    "UsageByCaller",
    "UsageByDataset",
    "UsageByOwner",
    "UsageByStatus",
    "UsageConsumers",
    "UsageConsumersByOwner",
    "UsageDaily",
    "UserGroupKey",
]
