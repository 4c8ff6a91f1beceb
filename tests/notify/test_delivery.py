"""Delivery: an SMTP server that refuses or is down is tried again and its error shown; a
webhook's signature verifies and a private address is refused; two senders send once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from starlette.applications import Starlette

from app.config import Settings
from app.core.records import Owner
from app.notify.deliveries import MAX_ATTEMPTS, claim
from app.notify.scheduler import Done, Notifier
from app.notify.subscriptions import Channel, Wanted, subscribe
from app.storage.models import DeliveryRow
from tests.dashboard.pages import ingest_known_data, open_dashboard, org1_token
from tests.notify.conftest import MONDAY, Mailbox, Receiver
from tests.server_processes import free_port, server_log, servers, wait_until

pytestmark = pytest.mark.anyio

ORG1 = Owner("organization", "org1")
WEEKLY = Wanted(weekly=True)


def deliveries_shown(page: str) -> list[str]:
    return [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r"<tr data-delivery=.*?</tr>", page, re.S)
    ]


async def test_a_refusing_or_absent_smtp_server_is_tried_again_and_its_error_shown(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox, settings: Settings
) -> None:
    await ingest_known_data(client)
    await subscribe(ORG1, Channel.EMAIL, "owner@org1.example", WEEKLY, MONDAY)
    await open_dashboard(client, await org1_token())

    mailbox.refusing = True
    assert await Notifier(settings).round() == Done(failed=1)
    assert mailbox.tries == 3  # a 4xx is tried again at once, twice
    [shown] = deliveries_shown((await client.get("/dashboard/subscriptions")).text)
    assert shown.endswith(
        "Weekly report 2024-01-08 – 2024-01-14 (organization:org1) "
        "error: SMTP 451: 4.3.0 mailbox busy, try later"
    )
    down = f"smtp://127.0.0.1:{free_port()}"
    assert await Notifier(replace(settings, smtp_url=down)).round() == Done(failed=1)
    [shown] = deliveries_shown((await client.get("/dashboard/subscriptions")).text)
    assert "owner@org1.example" not in shown
    assert shown.endswith("error: SMTP server: Connection refused")

    mailbox.refusing = False
    assert await Notifier(settings).round() == Done(sent=1)
    [shown] = deliveries_shown((await client.get("/dashboard/subscriptions")).text)
    assert shown.endswith("(organization:org1) ok")
    assert len(mailbox.mails) == 1
    row = await DeliveryRow.get()
    assert (row.state, row.attempts, row.error) == ("sent", 3, "")


async def test_a_permanent_refusal_is_tried_again_next_round_only(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox, settings: Settings
) -> None:
    await ingest_known_data(client)
    await subscribe(ORG1, Channel.EMAIL, "owner@org1.example", WEEKLY, MONDAY)
    mailbox.refusing, mailbox.refusal = True, "550 5.2.1 mailbox disabled"
    assert await Notifier(settings).round() == Done(failed=1)
    assert mailbox.tries == 1
    row = await DeliveryRow.get()
    assert (row.state, row.attempts, row.error) == (
        "failed",
        1,
        "SMTP 550: 5.2.1 mailbox disabled",
    )


async def test_a_delivery_is_given_up_after_its_attempts(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox, settings: Settings
) -> None:
    await ingest_known_data(client)
    await subscribe(ORG1, Channel.EMAIL, "owner@org1.example", WEEKLY, MONDAY)
    mailbox.refusing = True
    for _ in range(MAX_ATTEMPTS):
        assert await Notifier(settings).round() == Done(failed=1)
    assert await Notifier(settings).round() == Done()


async def test_a_webhook_is_signed_tried_again_and_verifies(
    app: Starlette, client: httpx.AsyncClient, receiver: Receiver, settings: Settings
) -> None:
    await ingest_known_data(client)
    found, made = await subscribe(ORG1, Channel.WEBHOOK, receiver.url, WEEKLY, MONDAY)
    assert made and re.fullmatch(r"[0-9a-f]{64}", found.secret)
    receiver.statuses = [503]

    assert await Notifier(replace(settings, smtp_url=None)).round() == Done(sent=1)

    first, second = receiver.received
    assert first.body == second.body and second.path == "/hook"
    expected = hmac.new(found.secret.encode(), second.body, hashlib.sha256).hexdigest()
    assert second.headers["X-Usage-Metrics-Signature"] == f"sha256={expected}"
    body = json.loads(second.body)
    assert (body["type"], body["kind"], body["period"]) == (
        "report",
        "weekly",
        {"start": "2024-01-08", "end": "2024-01-14"},
    )
    assert body["figures"]["api_calls"] == {"current": 6, "previous": 14}
    assert [d["id"] for d in body["top"]] == ["roads", "rivers"]


async def test_a_webhook_to_a_private_address_is_refused(
    app: Starlette, client: httpx.AsyncClient, receiver: Receiver, settings: Settings
) -> None:
    await ingest_known_data(client)
    await subscribe(ORG1, Channel.WEBHOOK, receiver.url, WEEKLY, MONDAY)
    closed = replace(settings, webhook_allow_private=False)
    assert await Notifier(closed).round() == Done(failed=1)
    assert receiver.received == []
    row = await DeliveryRow.get()
    assert row.error == (
        "the webhook's host 127.0.0.1 resolves to a non-public address: refused "
        "(USAGE_METRICS_WEBHOOK_ALLOW_PRIVATE=1 allows it on a closed network)"
    )


async def test_two_senders_at_once_send_each_report_once(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox, settings: Settings
) -> None:
    await ingest_known_data(client)
    for n in range(3):
        await subscribe(ORG1, Channel.EMAIL, f"owner{n}@org1.example", WEEKLY, MONDAY)
    done = await asyncio.gather(*(Notifier(settings).round() for _ in range(4)))
    assert sum(d.sent for d in done) == 3
    assert sorted(m["To"] for m in mailbox.mails) == [f"owner{n}@org1.example" for n in range(3)]


async def test_two_servers_running_the_scheduler_send_once(
    app: Starlette,
    client: httpx.AsyncClient,
    mailbox: Mailbox,
    database_url: str,
    tmp_path: Path,
) -> None:
    await ingest_known_data(client)
    for n in range(3):
        await subscribe(ORG1, Channel.EMAIL, f"owner{n}@org1.example", WEEKLY, MONDAY)
    settings = {
        "USAGE_METRICS_SMTP_URL": mailbox.url,
        "USAGE_METRICS_TODAY": MONDAY.isoformat(),
        "USAGE_METRICS_NOTIFY_INTERVAL": "0.2",
        "USAGE_METRICS_LOG_LEVEL": "DEBUG",
    }
    async with httpx.AsyncClient() as http, servers(database_url, tmp_path, http, 2, **settings):
        logs = [tmp_path / f"server-{n}.log" for n in range(2)]
        wait_until(lambda: len(mailbox.mails) >= 3, "three reports")
        # Both servers then finish two more rounds: a second sending would have happened.
        after = [server_log(log).count("round over") for log in logs]
        wait_until(
            lambda: all(
                server_log(log).count("round over") >= n + 2
                for log, n in zip(logs, after, strict=True)
            ),
            "two more rounds of each server",
        )
    assert sorted(m["To"] for m in mailbox.mails) == [f"owner{n}@org1.example" for n in range(3)]


async def test_signs_in_to_an_smtp_server_with_the_urls_user_and_password(
    app: Starlette, client: httpx.AsyncClient, settings: Settings
) -> None:
    box = Mailbox(free_port())
    signed_in: list[object] = []

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        signed_in.append(isinstance(data, LoginPassword) and (data.login, data.password))
        return AuthResult(success=True)

    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        authenticator=authenticate,
        auth_require_tls=False,  # loopback: the test has no certificate
    )
    controller.start()
    try:
        await ingest_known_data(client)
        await subscribe(ORG1, Channel.EMAIL, "owner@org1.example", WEEKLY, MONDAY)
        url = f"smtp://me:p%40ss@127.0.0.1:{box.port}"  # the password's @ written %40
        assert await Notifier(replace(settings, smtp_url=url)).round() == Done(sent=1)
        assert [m["To"] for m in box.mails] == ["owner@org1.example"]
        assert signed_in == [(b"me", b"p@ss")]
    finally:
        controller.stop()


async def test_a_crash_between_sending_and_recording_sends_again_once(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox, settings: Settings
) -> None:
    await ingest_known_data(client)
    found, _ = await subscribe(ORG1, Channel.EMAIL, "owner@org1.example", WEEKLY, MONDAY)
    # What a process that died after its mail went, before it recorded it, leaves behind.
    when = datetime(2024, 1, 15, 9, tzinfo=UTC)
    await claim(found.id, "weekly", date(2024, 1, 8), when)

    assert await Notifier(settings).round() == Done(sent=1)
    assert await Notifier(settings).round() == Done()
    assert len(mailbox.mails) == 1
    row = await DeliveryRow.get()
    assert (row.state, row.attempts) == ("sent", 2)
