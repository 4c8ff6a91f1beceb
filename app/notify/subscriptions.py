"""Subscriptions: an address or a webhook URL, one owner's (or every owner's) reports and alerts.

An address is the owner's own contact: it is kept in the subscriptions table alone, and never
logged nor shown in a message (docs/security.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from app.auth.scope import Scope
from app.core.records import OWNER_TYPES, Owner, OwnerFilter
from app.errors import BadUserInputError, ForbiddenError
from app.notify.signing import new_webhook_secret
from app.storage.models import DeliveryRow, SubscriptionRow

EVERY_OWNER = ""  # owner_type and owner_id of an admin's subscription to every owner
LANGS = ("en", "fr")
MAX_ADDRESS = 254  # RFC 5321's longest path
MAX_URL = 1000
_ADDRESS = re.compile(r"[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+")


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class Kind(StrEnum):
    """What a delivery holds: a report of the week or month before, or one day's alerts."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    ALERTS = "alerts"


@dataclass(frozen=True)
class Thresholds:
    """When a dataset's day alerts (docs/reports-and-alerts.md#alerts)."""

    drop_share: float = 0.6  # below (1 - drop_share) × the baseline
    spike_factor: float = 5.0  # above spike_factor × the baseline (at least `floor`)
    error_share: float = 0.05  # server errors above this share of the day's requests
    floor: int = 100  # the least baseline a drop is told of, a day
    error_floor: int = 50  # the least requests of a day whose errors are told of


@dataclass(frozen=True)
class Wanted:
    """What a subscription receives, and in which language."""

    weekly: bool = False
    monthly: bool = False
    alerts: bool = False
    lang: str = "en"

    def kinds(self) -> tuple[Kind, ...]:
        chosen = ((Kind.WEEKLY, self.weekly), (Kind.MONTHLY, self.monthly))
        return (*(k for k, on in chosen if on), *((Kind.ALERTS,) if self.alerts else ()))


@dataclass(frozen=True)
class Subscription:
    id: int
    owner: Owner | None  # None: every owner
    channel: Channel
    target: str = field(repr=False)  # an address: never in a log
    secret: str = field(repr=False)
    wanted: Wanted
    thresholds: Thresholds
    created_day: date

    @property
    def owner_filter(self) -> OwnerFilter:
        return self.owner

    @property
    def owner_text(self) -> str:
        return "all" if self.owner is None else f"{self.owner.type}:{self.owner.id}"


def check_target(channel: Channel, target: str) -> str:
    """The address or URL as kept; BadUserInputError for one we cannot send to."""
    target = target.strip()
    if channel is Channel.EMAIL:
        if len(target) > MAX_ADDRESS or _ADDRESS.fullmatch(target) is None:
            raise BadUserInputError("the e-mail address is not name@domain.example")
        return target
    parts = urlsplit(target)
    if len(target) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadUserInputError(f"the webhook URL is not http(s)://host/path (at most {MAX_URL})")
    return target


def check_thresholds(limits: Thresholds) -> Thresholds:
    """The thresholds, or BadUserInputError naming the one that cannot alert sensibly."""
    if not 0 < limits.drop_share < 1:
        raise BadUserInputError("the drop is a share of the baseline above 0 and below 1 (0.6)")
    if not 1 < limits.spike_factor <= 1000:
        raise BadUserInputError("the spike is a factor of the baseline above 1, at most 1000 (5)")
    if not 0 < limits.error_share < 1:
        raise BadUserInputError("the server errors are a share above 0 and below 1 (0.05)")
    if not 1 <= limits.floor <= 10**9 or not 1 <= limits.error_floor <= 10**9:
        raise BadUserInputError("the floors are whole numbers of requests a day from 1 (100, 50)")
    return limits


def check_owner(scope: Scope, owner: Owner | None) -> None:
    """ForbiddenError unless the caller reads that owner (every owner: admins only)."""
    if owner is None and not scope.is_every_owner:
        raise ForbiddenError("only an admin subscribes to every owner's reports: name an owner")
    if owner is not None and not scope.can_see(owner):
        raise ForbiddenError(f"you do not read the datasets of {owner.type} {owner.id}")


def read_owner(text: str) -> Owner:
    owner_type, _, owner_id = text.partition(":")
    if owner_type not in OWNER_TYPES or not owner_id:
        raise BadUserInputError(f"{text!r} is not user:<id> or organization:<id>")
    return Owner(owner_type, owner_id)


async def subscribe(
    owner: Owner | None,
    channel: Channel,
    target: str,
    wanted: Wanted,
    today: date,
    thresholds: Thresholds | None = None,
) -> tuple[Subscription, bool]:
    """The owner's subscription of `target`, made or given `wanted`; True when made (its
    webhook secret is then new: shown once)."""
    target = check_target(channel, target)
    if wanted.lang not in LANGS:
        raise BadUserInputError(f"the language is one of {', '.join(LANGS)}")
    if not wanted.kinds():
        raise BadUserInputError("choose a weekly or monthly report, or alerts")
    owner_type, owner_id = owner if owner is not None else (EVERY_OWNER, EVERY_OWNER)
    values = {
        "weekly": wanted.weekly,
        "monthly": wanted.monthly,
        "alerts": wanted.alerts,
        "lang": wanted.lang,
    }
    if thresholds is not None:
        values |= vars(check_thresholds(thresholds))
    async with in_transaction():
        row, made = await SubscriptionRow.get_or_create(
            owner_type=owner_type,
            owner_id=owner_id,
            channel=channel.value,
            target=target,
            defaults={
                **values,
                "created_day": today,
                "secret": new_webhook_secret() if channel is Channel.WEBHOOK else "",
            },
        )
        if not made:
            await row.update_from_dict(values).save()
    return _subscription(row), made


async def unsubscribe(subscription_id: int) -> bool:
    """End one subscription (its deliveries' record too); False when there was none."""
    async with in_transaction():
        deleted = await SubscriptionRow.filter(id=subscription_id).delete()
        await DeliveryRow.filter(subscription_id=subscription_id).delete()
    return deleted > 0


async def subscription(subscription_id: int) -> Subscription | None:
    row = await SubscriptionRow.get_or_none(id=subscription_id)
    return _subscription(row) if row is not None else None


async def subscriptions(scope: Scope | None = None) -> list[Subscription]:
    """Every subscription the scope sees (None or an admin's: all), in the order made."""
    rows = await SubscriptionRow.all().order_by("id")
    found = [_subscription(row) for row in rows]
    if scope is None or scope.is_every_owner:
        return found
    return [s for s in found if s.owner is not None and scope.can_see(s.owner)]


async def has_webhooks() -> bool:
    return await SubscriptionRow.filter(channel=Channel.WEBHOOK.value).exists()


def _subscription(row: SubscriptionRow) -> Subscription:
    owner = Owner(row.owner_type, row.owner_id) if row.owner_type != EVERY_OWNER else None
    return Subscription(
        id=row.id,
        owner=owner,
        channel=Channel(row.channel),
        target=row.target,
        secret=row.secret,
        wanted=Wanted(row.weekly, row.monthly, row.alerts, row.lang),
        thresholds=Thresholds(
            row.drop_share, row.spike_factor, row.error_share, row.floor, row.error_floor
        ),
        created_day=row.created_day,
    )
