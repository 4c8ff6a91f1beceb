"""subscriptions, deliveries, leases: who gets reports and alerts, what was sent, who sends."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class SubscriptionRow(Model):
    """An address or a webhook URL subscribed to one owner's reports and alerts (owner "" and
    "": every owner, an admin's). The address is the owner's own contact, kept here alone and
    never logged (docs/security.md)."""

    id = fields.BigIntField(primary_key=True)
    owner_type = fields.CharField(max_length=32)
    owner_id = fields.CharField(max_length=200)
    channel = fields.CharField(max_length=16)  # email | webhook
    target = fields.CharField(max_length=1000)  # the address or the URL
    # The webhook's HMAC key, shown once by `subscriptions add`; kept as is since it must sign.
    secret = fields.CharField(max_length=64, default="")
    weekly = fields.BooleanField(default=False)
    monthly = fields.BooleanField(default=False)
    alerts = fields.BooleanField(default=False)
    lang = fields.CharField(max_length=2, default="en")
    # Alert thresholds (docs/reports-and-alerts.md#alerts).
    drop_share = fields.FloatField(default=0.6)
    spike_factor = fields.FloatField(default=5.0)
    error_share = fields.FloatField(default=0.05)
    floor = fields.IntField(default=100)
    error_floor = fields.IntField(default=50)
    created_day = fields.DateField()  # nothing is due for a period that ended before it

    class Meta:
        table = "subscriptions"
        unique_together = (("owner_type", "owner_id", "channel", "target"),)


class DeliveryRow(Model):
    """One report (kind weekly or monthly, `day` its first day) or one day's alerts (kind
    alerts) for one subscription: claimed as `sending` before it goes, `sent` after, so that
    it goes once; a crash in between sends it again, once."""

    id = fields.BigIntField(primary_key=True)
    subscription_id = fields.BigIntField()
    kind = fields.CharField(max_length=16)
    day = fields.DateField()
    state = fields.CharField(max_length=16)  # sending | sent | failed
    attempts = fields.IntField(default=0)
    summary = fields.CharField(max_length=200, default="")  # what went: never an address
    error = fields.CharField(max_length=500, default="")  # the SMTP or HTTP error, never a value
    updated_at = fields.DatetimeField()

    class Meta:
        table = "deliveries"
        unique_together = (("subscription_id", "kind", "day"),)


class LeaseRow(Model):
    """A named lease: one process at a time does its work (the notify scheduler's sending)."""

    name = fields.CharField(max_length=32, primary_key=True)
    holder = fields.CharField(max_length=64)  # a random id of the process
    expires_at = fields.BigIntField()  # Unix time; past it another process may take it

    class Meta:
        table = "leases"
