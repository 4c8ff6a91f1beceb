"""A report's distinct consumers are GraphQL's for the same period and owner, in its text, its
HTML and its webhook JSON; under the minimum they read "< N", as on the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.config import Settings
from app.core.periods import Period
from app.core.records import Owner
from app.notify.messages import report_message
from app.notify.reports import read_report
from app.notify.subscriptions import Kind
from tests.helpers import NDJSON, app_client, fix_epoch_keys, graphql_data, named_line, ndjson

pytestmark = pytest.mark.anyio

ORG1 = Owner("organization", "org1")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
CONSUMERS = """query($period: PeriodInput!) {
  usage(period: $period, owner: {type: ORGANIZATION, id: "org1"}) {
    consumers { current previous }
  } }"""


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # Consumers count on the days of the epochs open now: the lines are today's, and the
    # epoch's key is known, so that three consumers are three on every run.
    async with app_client(replace(settings, fold_interval_s=0, consumers_min=0)) as http:
        await fix_epoch_keys()
        yield http


async def test_a_reports_consumers_are_graphqls_for_the_same_period(
    client: httpx.AsyncClient,
) -> None:
    today = datetime.now(UTC).date()
    stamp = f"{today.isoformat()}T12:00:00+00:00"
    lines = [
        {**named_line(time=stamp, user_agent=FIREFOX), "remote_addr": address}
        for address in ("192.0.2.10", "192.0.2.11", "198.51.100.7", "203.0.113.5")
    ]  # the first two share a /24 network: one consumer
    answer = await client.post("/ingest", content=ndjson(*lines), headers=NDJSON)
    assert answer.status_code == 200, answer.text
    period = Period(today, today)
    bounds = {"start": today.isoformat(), "end": today.isoformat()}
    shown = (await graphql_data(client, CONSUMERS, period=bounds))["usage"]["consumers"]
    assert shown == {"current": 3, "previous": 0}

    report = await read_report(Kind.WEEKLY, period, ORG1, None, consumers_min=0)
    message = report_message(report, "en", None)
    assert "Distinct consumers: 3 (new, previous period 0)" in message.text.splitlines()
    assert "<tr><th>Distinct consumers</th><td>3</td><td>new</td><td>0</td></tr>" in message.html
    assert message.data["consumers"] == shown
    french = report_message(report, "fr", None)
    assert "Consommateurs distincts : 3 (nouveau, période précédente 0)" in french.text

    # Under the minimum, as the dashboard shows them: no count, no change.
    hidden = await read_report(Kind.WEEKLY, period, ORG1, None, consumers_min=5)
    message = report_message(hidden, "en", None)
    assert "Distinct consumers: < 5 (previous period < 5)" in message.text.splitlines()
    assert message.data["consumers"] == {"current": None, "previous": None}

    # Nobody in a period without sketches: 0, or hidden under a minimum.
    empty = Period(today - timedelta(days=30), today - timedelta(days=30))
    nobody = await read_report(Kind.WEEKLY, empty, ORG1, None, consumers_min=0)
    assert report_message(nobody, "en", None).data["consumers"] == {"current": 0, "previous": 0}
