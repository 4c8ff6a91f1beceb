"""The deliveries ledger: each report or day's alerts of a subscription goes once.

Before sending, a delivery is claimed (`sending`, one more attempt); after, it is `sent` or
`failed` with the error. A process that dies between sending and recording leaves `sending`:
the next round sends it again, so a crash re-sends at most once and never skips. A failed
delivery is tried again by later rounds, MAX_ATTEMPTS times in all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from tortoise.exceptions import IntegrityError

from app.storage.models import DeliveryRow

MAX_ATTEMPTS = 5
SENDING, SENT, FAILED = "sending", "sent", "failed"
QUIET = "quiet"  # a day without alerts: looked at, nothing to send


class SendError(Exception):
    """A mail or webhook that did not go: the SMTP or HTTP answer, never an address nor a
    secret (it is shown on the dashboard)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent  # a 5xx answer: trying again at once would not change it


@dataclass(frozen=True)
class Delivery:
    subscription_id: int
    kind: str
    day: date
    state: str
    attempts: int
    summary: str
    error: str
    updated_at: datetime


async def claim(subscription_id: int, kind: str, day: date, now: datetime) -> bool:
    """Mark the delivery `sending` unless it was sent or its attempts are spent; True when
    this process is to send it."""
    row = await DeliveryRow.get_or_none(subscription_id=subscription_id, kind=kind, day=day)
    if row is None:
        try:
            await DeliveryRow.create(
                subscription_id=subscription_id,
                kind=kind,
                day=day,
                state=SENDING,
                attempts=1,
                updated_at=now,
            )
        except IntegrityError:
            return False  # another process claimed it first
        return True
    if row.state == SENT or row.attempts >= MAX_ATTEMPTS:
        return False
    # Conditional on the attempts read: of two processes, one updates the row.
    updated = (
        await DeliveryRow.filter(id=row.id, attempts=row.attempts)
        .exclude(state=SENT)
        .update(state=SENDING, attempts=row.attempts + 1, updated_at=now)
    )
    return updated == 1


async def settled(kind: str, day: date) -> set[int]:
    """The subscriptions whose delivery of `kind` and `day` needs nothing more: sent, quiet,
    or out of attempts."""
    rows = await DeliveryRow.filter(kind=kind, day=day).values_list(
        "subscription_id", "state", "attempts"
    )
    return {
        subscription_id
        for subscription_id, state, attempts in rows
        if state in (SENT, QUIET) or attempts >= MAX_ATTEMPTS
    }


async def quiet(subscription_id: int, kind: str, day: date, now: datetime) -> None:
    """Record that a day had no alerts for the subscription, so that no round looks again."""
    with contextlib.suppress(IntegrityError):  # looked at already
        await DeliveryRow.create(
            subscription_id=subscription_id, kind=kind, day=day, state=QUIET, updated_at=now
        )


async def finish(
    subscription_id: int, kind: str, day: date, now: datetime, summary: str, error: str | None
) -> None:
    await DeliveryRow.filter(subscription_id=subscription_id, kind=kind, day=day).update(
        state=SENT if error is None else FAILED,
        summary=summary[:200],
        error=(error or "")[:500],
        updated_at=now,
    )


async def recent(subscription_ids: Sequence[int], limit: int = 20) -> list[Delivery]:
    """The last deliveries of these subscriptions, the latest first."""
    if not subscription_ids:
        return []
    rows = (
        await DeliveryRow.filter(subscription_id__in=list(subscription_ids))
        .exclude(state=QUIET)
        .order_by("-updated_at", "-id")
        .limit(limit)
    )
    return [
        Delivery(
            r.subscription_id, r.kind, r.day, r.state, r.attempts, r.summary, r.error, r.updated_at
        )
        for r in rows
    ]
