"""What is due, sent under the lease: each server's periodic round, and the commands' one.

A weekly report is due from Monday for the week before, a monthly one from the 1st for the
month before, a day's alerts the day after; none for a period that ended before the
subscription was made. The deliveries ledger (app/notify/deliveries.py) makes each go once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from app import reports
from app.config import Settings
from app.core.periods import Period
from app.core.records import Owner
from app.notify import alerts, deliveries, lease, mail, webhooks
from app.notify.deliveries import SendError
from app.notify.messages import Message, alerts_message, report_message
from app.notify.reports import Report, read_report, report_period
from app.notify.signing import unsubscribe_token
from app.notify.subscriptions import Channel, Kind, Subscription, has_webhooks, subscriptions

log = logging.getLogger(__name__)

# A round holds the lease this long at most; a process that died frees it after that.
LEASE_S = 600.0
# The days whose alerts a round sends if not sent yet: yesterday, and the two days before for
# servers that were all down the day after.
ALERT_DAYS = 3


@dataclass(frozen=True)
class Done:
    """What a round did: deliveries sent and failed; `held` False when another process held
    the lease (it sends instead)."""

    sent: int = 0
    failed: int = 0
    held: bool = True


@dataclass(frozen=True)
class Due:
    """What a round looks at: the report periods (None: not this time) and the alerts' days."""

    weekly: Period | None
    monthly: Period | None
    alert_days: tuple[date, ...]
    # Asked for by a command: due to every subscription, whenever it was made.
    asked: bool = False

    def periods(self, kind: Kind) -> list[Period]:
        """The periods of `kind` due: a report's, or one day per alerts' day."""
        if kind is Kind.ALERTS:
            return [Period(day, day) for day in self.alert_days]
        period = self.weekly if kind is Kind.WEEKLY else self.monthly
        return [period] if period is not None else []


class Notifier:
    """Each server's reports and alerts, and the commands' (docs/reports-and-alerts.md)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def today(self) -> date:
        return self._settings.today or datetime.now(self._settings.timezone).date()

    def due_now(self) -> Due:
        today = self.today()
        weekly, monthly = report_period(Kind.WEEKLY, today), report_period(Kind.MONTHLY, today)
        yesterday = today - timedelta(days=1)
        days = tuple(yesterday - timedelta(days=n) for n in reversed(range(ALERT_DAYS)))
        return Due(weekly, monthly, days)

    async def is_on(self) -> bool:
        """Off without an SMTP server nor any webhook: nothing could be sent."""
        return self._settings.smtp_url is not None or await has_webhooks()

    async def send_due(self, due: Due, wait_s: float = 0.0) -> Done:
        """Send what is due of `due` under the lease, waiting for it at most `wait_s`."""
        async with lease.held(lease.NOTIFY, LEASE_S, wait_s) as taken:
            if not taken.held:
                return Done(held=False)
            sending = _Round(self._settings, due, taken)
            try:
                await sending.run()
            except LeaseLostError:
                log.warning("reports and alerts: the lease ran out in a round; another sends")
            return Done(sending.sent, sending.failed)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Rounds every notify interval while the app runs (none with an interval of 0)."""
        if self._settings.notify_interval_s <= 0:
            yield
            return
        stop = asyncio.Event()
        task = asyncio.create_task(self._every_interval(stop))
        try:
            yield
        finally:
            stop.set()
            await task

    async def _every_interval(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # The first round waits an interval: a starting server's first requests go first.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.notify_interval_s)
            if stop.is_set():
                return
            await self.round()

    async def round(self) -> Done:
        done = Done()
        try:
            if await self.is_on():
                done = await self.send_due(self.due_now())
        except Exception as exc:
            # One line, no traceback: it could quote a statement's values.
            log.error(
                "reports and alerts: the round failed (%s); tried again next round",
                type(exc).__name__,
            )
        if done.sent or done.failed:
            log.info("reports and alerts: %s sent, %s failed", done.sent, done.failed)
            if self._settings.secret_key_is_random:
                log.warning(
                    "USAGE_METRICS_SECRET_KEY is not set: the unsubscribe links just sent stop "
                    "working when this process ends"
                )
        log.debug("reports and alerts: round over (the lease %s)", "held" if done.held else "busy")
        return done


class LeaseLostError(Exception):
    """Another process holds the sending lease: this round stops."""


class _Round:
    """One round's sending: each report read once per owner, each day's uses once."""

    def __init__(self, settings: Settings, due: Due, taken: lease.Lease) -> None:
        self._settings = settings
        self._due = due
        self._lease = taken
        self._reports: dict[tuple[Kind, Owner | None], Report] = {}
        self._uses: dict[date, list[alerts.DayUse]] = {}
        self._titles: dict[str, str | None] = {}
        self.sent = self.failed = 0

    async def run(self) -> None:
        found = await subscriptions()
        for kind in Kind:
            for period in self._due.periods(kind):
                settled = await deliveries.settled(kind.value, period.start)
                for subscription in found:
                    if kind in subscription.wanted.kinds() and subscription.id not in settled:
                        await self._deliver(subscription, kind, period)

    async def _deliver(self, subscription: Subscription, kind: Kind, period: Period) -> None:
        # Nothing of a period that ended before the subscription was made.
        if not self._due.asked and period.end < subscription.created_day - timedelta(days=1):
            return
        # Held again before each delivery: a long round keeps it, and one that lost it (a
        # pause past LEASE_S) stops before sending what another process now sends.
        if not await self._lease.renew():
            raise LeaseLostError
        now = datetime.now(UTC)
        message = await self._message(subscription, kind, period)
        if message is None:
            await deliveries.quiet(subscription.id, kind.value, period.start, now)
            return
        if not await deliveries.claim(subscription.id, kind.value, period.start, now):
            return
        try:
            await self._send(subscription, message)
        except SendError as exc:
            error: str | None = exc.message
            self.failed += 1
        else:
            error = None
            self.sent += 1
        await deliveries.finish(
            subscription.id, kind.value, period.start, datetime.now(UTC), message.subject, error
        )

    async def _message(
        self, subscription: Subscription, kind: Kind, period: Period
    ) -> Message | None:
        """The report, or the day's alerts (None when there is none)."""
        lang, owner = subscription.wanted.lang, subscription.owner
        link = self.unsubscribe_link(subscription)
        if kind is not Kind.ALERTS:
            report = self._reports.get((kind, owner))
            if report is None:
                settings = self._settings
                report = await read_report(
                    kind, period, owner, settings.public_url, settings.consumers_min
                )
                self._reports[(kind, owner)] = report
            return report_message(report, lang, link)
        day = period.start
        if day not in self._uses:
            self._uses[day] = await alerts.day_uses(day)
        found = alerts.alerts_of(day, self._uses[day], owner, subscription.thresholds)
        if not found:
            return None
        missing = sorted({a.dataset_id for a in found} - self._titles.keys())
        if missing:
            rows = await reports.datasets_by_id(missing)
            self._titles |= {i: getattr(rows.get(i), "title", None) for i in missing}
        return alerts_message(found, owner, lang, self._titles, link)

    def unsubscribe_link(self, subscription: Subscription) -> str:
        token = unsubscribe_token(self._settings.secret_key, subscription.id)
        return f"{self._settings.public_url or ''}/unsubscribe/{token}"

    async def _send(self, subscription: Subscription, message: Message) -> None:
        settings = self._settings
        if subscription.channel is Channel.WEBHOOK:
            await webhooks.post(
                subscription.target,
                subscription.secret,
                message.data,
                allow_private=settings.webhook_allow_private,
                delays=settings.notify_retry_delays_s,
            )
            return
        if settings.smtp_url is None:
            raise SendError("USAGE_METRICS_SMTP_URL is not set: no mail can be sent")
        server = mail.smtp_server(settings.smtp_url)
        link = self.unsubscribe_link(subscription)
        built = mail.build_mail(
            message, settings.mail_from, subscription.target, link if settings.public_url else None
        )
        error: SendError | None = None
        for pause in (*settings.notify_retry_delays_s, None):
            try:
                await mail.send_mail(server, built, subscription.target)
                return
            except SendError as exc:
                error = exc
                if exc.permanent:
                    break  # the next round tries again, up to the delivery's attempts
            if pause is not None:
                await asyncio.sleep(pause)
        assert error is not None
        raise error
