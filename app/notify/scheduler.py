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


@dataclass(frozen=True)
class Done:
    """What a round did: deliveries sent and failed; `held` False when another process held
    the lease (it sends instead)."""

    sent: int = 0
    failed: int = 0
    held: bool = True


@dataclass(frozen=True)
class Due:
    """What a round looks at: the report periods and the alerts' day (None: not this time)."""

    weekly: Period | None
    monthly: Period | None
    alert_day: date | None
    # Asked for by a command: due to every subscription, whenever it was made.
    asked: bool = False


class Notifier:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.rounds = 0  # rounds done, for the tests to wait on `round_done`
        self.round_done = asyncio.Condition()

    def today(self) -> date:
        return self._settings.today or datetime.now(self._settings.timezone).date()

    def due_now(self) -> Due:
        today = self.today()
        weekly, monthly = report_period(Kind.WEEKLY, today), report_period(Kind.MONTHLY, today)
        return Due(weekly, monthly, today - timedelta(days=1))

    async def is_on(self) -> bool:
        """Off without an SMTP server nor any webhook: nothing could be sent."""
        return self._settings.smtp_url is not None or await has_webhooks()

    async def send_due(self, due: Due, wait_s: float = 0.0) -> Done:
        """Send what is due of `due` under the lease, waiting for it at most `wait_s`."""
        async with lease.held(lease.NOTIFY, LEASE_S, wait_s) as taken:
            if not taken:
                return Done(held=False)
            return await _Round(self._settings, due).run()

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
        log.debug("reports and alerts: round over (the lease %s)", "held" if done.held else "busy")
        async with self.round_done:
            self.rounds += 1
            self.round_done.notify_all()
        return done


class _Round:
    """One round's sending: reports read once per owner, the day's uses once."""

    def __init__(self, settings: Settings, due: Due) -> None:
        self._settings = settings
        self._due = due
        self._reports: dict[tuple[Kind, Owner | None], Report] = {}
        self._uses: list[alerts.DayUse] | None = None
        self._titles: dict[str, str | None] = {}
        self.sent = self.failed = 0

    async def run(self) -> Done:
        for subscription in await subscriptions():
            for kind in subscription.wanted.kinds():
                await self._deliver(subscription, kind)
        return Done(self.sent, self.failed)

    async def _deliver(self, subscription: Subscription, kind: Kind) -> None:
        day = self._day(kind)
        # Nothing of a period that ended before the subscription was made.
        if day is None:
            return
        if not self._due.asked and self._end(kind, day) < subscription.created_day - timedelta(
            days=1
        ):
            return
        message = await self._message(subscription, kind, day)
        if message is None:
            return
        now = datetime.now(UTC)
        if not await deliveries.claim(subscription.id, kind.value, day, now):
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
            subscription.id, kind.value, day, datetime.now(UTC), message.subject, error
        )

    def _day(self, kind: Kind) -> date | None:
        if kind is Kind.ALERTS:
            return self._due.alert_day
        period = self._due.weekly if kind is Kind.WEEKLY else self._due.monthly
        return period.start if period is not None else None

    def _end(self, kind: Kind, day: date) -> date:
        if kind is Kind.ALERTS:
            return day
        period = self._due.weekly if kind is Kind.WEEKLY else self._due.monthly
        assert period is not None
        return period.end

    async def _message(self, subscription: Subscription, kind: Kind, day: date) -> Message | None:
        lang = subscription.wanted.lang
        link = self.unsubscribe_link(subscription)
        if kind is not Kind.ALERTS:
            report = self._reports.get((kind, subscription.owner))
            if report is None:
                period = self._due.weekly if kind is Kind.WEEKLY else self._due.monthly
                assert period is not None
                report = await read_report(
                    kind, period, subscription.owner, self._settings.public_url
                )
                self._reports[(kind, subscription.owner)] = report
            return report_message(report, lang, link)
        if self._uses is None:
            self._uses = await alerts.day_uses(day)
        found = alerts.alerts_of(day, self._uses, subscription.owner, subscription.thresholds)
        if not found:
            return None
        missing = sorted({a.dataset_id for a in found} - self._titles.keys())
        if missing:
            rows = await reports.datasets_by_id(missing)
            self._titles |= {i: getattr(rows.get(i), "title", None) for i in missing}
        return alerts_message(found, subscription.owner, lang, self._titles, link)

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
            if pause is not None:
                await asyncio.sleep(pause)
        assert error is not None
        raise error
