"""Alerts of a day: a drop, a spike and a rise of server errors alert once each, a steady
dataset never; one message per subscriber, with each subscription's thresholds."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.core.records import Owner
from app.notify.alerts import Alert, AlertKind, alerts_of, day_uses
from app.notify.scheduler import Done, Notifier
from app.notify.subscriptions import Channel, Thresholds, Wanted, subscribe
from tests.dashboard.pages import open_dashboard, org1_token
from tests.helpers import csrf_token, dataset, ingest, line_on
from tests.notify.conftest import MONDAY, Mailbox, Receiver, text_of

pytestmark = pytest.mark.anyio

ORG1 = Owner("organization", "org1")
DAY = date(2024, 1, 14)  # the Monday's alerts are of the Sunday before
BASELINE_DAYS = ("2024-01-07", "2023-12-31", "2023-12-24", "2023-12-17")


def lines(resource_id: str, day: str, count: int, **fields: Any) -> list[dict[str, Any]]:
    return [line_on(day, resource=dataset(resource_id), **fields) for _ in range(count)]


async def ingest_four_datasets(client: httpx.AsyncClient) -> None:
    """steady: 150 API calls every Sunday; falling: 200 then 50; leaping: none then 501;
    failing: 50 calls and 10 server errors on the day."""
    batch: list[dict[str, Any]] = []
    for day in BASELINE_DAYS:
        batch += lines("steady", day, 150) + lines("falling", day, 200)
    batch += lines("steady", "2024-01-14", 150) + lines("falling", "2024-01-14", 50)
    batch += lines("leaping", "2024-01-14", 501)
    batch += lines("failing", "2024-01-14", 50) + lines("failing", "2024-01-14", 10, status=500)
    await ingest(client, *batch)


async def test_a_drop_a_spike_and_server_errors_alert_once_and_a_steady_dataset_never(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await ingest_four_datasets(client)
    await open_dashboard(client, await org1_token())
    page = await client.get("/dashboard/subscriptions")
    form = {"csrf_token": csrf_token(page.text), "target": "owner@org1.example", "alerts": "on"}
    assert (await client.post("/dashboard/subscriptions", data=form)).status_code == 200
    notifier: Notifier = app.state.notifier

    assert await notifier.round() == Done(sent=1)
    assert await notifier.round() == Done()

    [mail] = mailbox.mails
    assert mailbox.recipients == [["owner@org1.example"]]
    assert mail["Subject"] == "Alerts 2024-01-14 (organization:org1): 3"
    assert text_of(mail).splitlines()[2:5] == [
        "- failing: 10 server errors out of 60 requests",
        "- falling: API calls fell to 50 against 200 usually",
        "- leaping: API calls leapt to 501 against 0 usually",
    ]


async def test_thresholds_are_each_subscriptions_own(client: httpx.AsyncClient) -> None:
    await ingest_four_datasets(client)
    uses = await day_uses(DAY)
    assert {u.dataset_id for u in uses} == {"steady", "falling", "leaping", "failing"}

    lenient = Thresholds(drop_share=0.8, spike_factor=10.0, error_share=0.2)
    assert alerts_of(DAY, uses, ORG1, lenient) == []
    strict = Thresholds(drop_share=0.1, floor=100)
    assert alerts_of(DAY, uses, ORG1, strict) == [
        Alert(DAY, ORG1, "failing", AlertKind.SERVER_ERRORS, "requests", 10, 60),
        Alert(DAY, ORG1, "falling", AlertKind.DROP, "api_calls", 50, 200.0),
        Alert(DAY, ORG1, "leaping", AlertKind.SPIKE, "api_calls", 501, 0.0),
    ]
    assert alerts_of(DAY, uses, Owner("user", "alice"), strict) == []


async def test_a_webhook_gets_the_days_alerts_as_json(
    app: Starlette, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await ingest_four_datasets(client)
    await subscribe(ORG1, Channel.WEBHOOK, receiver.url, Wanted(alerts=True), MONDAY)
    notifier: Notifier = app.state.notifier

    assert await notifier.round() == Done(sent=1)

    [received] = receiver.received
    owner = {"type": "organization", "id": "org1"}
    assert json.loads(received.body) == {
        "type": "alerts",
        "day": "2024-01-14",
        "owner": owner,
        "alerts": [
            {
                "owner": owner,
                "dataset": "failing",
                "kind": "server_errors",
                "metric": "requests",
                "value": 10,
                "baseline": 60,
            },
            {
                "owner": owner,
                "dataset": "falling",
                "kind": "drop",
                "metric": "api_calls",
                "value": 50,
                "baseline": 200.0,
            },
            {
                "owner": owner,
                "dataset": "leaping",
                "kind": "spike",
                "metric": "api_calls",
                "value": 501,
                "baseline": 0.0,
            },
        ],
    }
