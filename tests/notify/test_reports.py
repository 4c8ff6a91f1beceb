"""Reports by mail to a real SMTP server: an owner subscribed on the dashboard gets the Monday
report with the dashboard's figures, once; the unsubscribe link ends that subscription alone."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.core.records import Owner
from app.notify.scheduler import Done, Notifier
from app.notify.subscriptions import Channel, Wanted, subscribe
from tests.dashboard.pages import card, ingest_known_data, open_dashboard, org1_token
from tests.helpers import csrf_token
from tests.notify.conftest import MONDAY, PUBLIC_URL, Mailbox, html_of, text_of

pytestmark = pytest.mark.anyio

ORG1 = Owner("organization", "org1")
WEEKLY = Wanted(weekly=True)


DOC = (Path(__file__).parents[2] / "docs" / "reports-and-alerts.md").read_text(encoding="utf-8")


def sample_mail_text() -> str:
    """The body of docs/reports-and-alerts.md's sample mail, its unsubscribe line left out."""
    found = re.search(r"A sample .*?```text\n.*?\n\n(.*?)```", DOC, re.S)
    assert found is not None, "the sample mail left docs/reports-and-alerts.md"
    return without_unsubscribe(found[1])


def without_unsubscribe(text: str) -> str:
    # The link's id is the subscription's, which differs on PostgreSQL's shared database.
    return re.sub(r"\nUnsubscribe \(this address only\): \S+\n", "\n", text)


def notifier(app: Starlette) -> Notifier:
    found: Notifier = app.state.notifier
    return found


async def test_an_owner_subscribed_on_the_dashboard_gets_the_monday_report_of_its_figures(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    await ingest_known_data(client)
    await open_dashboard(client, await org1_token())
    page = await client.get("/dashboard/subscriptions")
    form = {
        "csrf_token": csrf_token(page.text),
        "channel": "email",
        "target": "owner@org1.example",
        "weekly": "on",
        "alerts": "on",
    }
    answer = await client.post(
        "/dashboard/subscriptions", data=form, headers={"HX-Request": "true"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.text.lstrip().startswith('<section id="subscriptions">')  # the part alone
    assert "Subscribed." in answer.text and "owner@org1.example" in answer.text

    with caplog.at_level(logging.DEBUG):
        assert await notifier(app).round() == Done(sent=1)
        assert await notifier(app).round() == Done()  # sent once
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("app.")]
    assert "reports and alerts: 1 sent, 0 failed" in ours
    assert not [message for message in ours if "owner@org1.example" in message]

    [mail] = mailbox.mails
    assert mailbox.recipients == [["owner@org1.example"]]
    assert mail["Subject"] == "Weekly report 2024-01-08 – 2024-01-14 (organization:org1)"
    assert mail["From"] == "metrics@portal.example"
    unsubscribe = str(mail["List-Unsubscribe"]).strip()  # folded: it may open a line
    assert re.fullmatch(rf"<{PUBLIC_URL}/unsubscribe/\d+\.[0-9a-f]{{32}}>", unsubscribe), (
        unsubscribe
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = text_of(mail)
    assert text.splitlines()[2:5] == [
        "API calls: 6 (−57 %, previous period 14)",
        "Downloads: 1 (new, previous period 0)",
        "Application opens: 1 (new, previous period 0)",
    ]
    assert "Top datasets\n- Roads (roads): 6 (+50 %)\n- Rivers (rivers): 1 (−90 %)\n" in text
    assert "Biggest risers\n- Roads (roads): 6 (+50 %)\n" in text
    assert "Biggest fallers\n- Rivers (rivers): 1 (−90 %)\n" in text
    link = f"{PUBLIC_URL}/dashboard?start=2024-01-08&end=2024-01-14&owner=organization%3Aorg1"
    assert f"The same view on the dashboard: {link}" in text
    assert "<h2>Top datasets</h2>" in html_of(mail)
    assert sample_mail_text() == without_unsubscribe(
        text.replace(PUBLIC_URL, "https://portal.example/usage-metrics")
    )

    # The same numbers as the dashboard's cards for that week.
    dashboard = await client.get("/dashboard?start=2024-01-08&end=2024-01-14")
    for figure, label in (("api_calls", "API calls"), ("downloads", "Downloads")):
        shown = re.match(rf"{label} (\d+) previous period: (\d+)", card(dashboard.text, figure))
        mailed = re.search(rf"^{label}: (\d+) \([^,]+, previous period (\d+)\)$", text, re.M)
        assert shown is not None and mailed is not None
        assert shown.groups() == mailed.groups()

    listed = await client.get("/dashboard/subscriptions")
    assert "Weekly report 2024-01-08 – 2024-01-14 (organization:org1)" in listed.text
    assert re.search(r"<td>ok</td>", listed.text)


async def test_the_unsubscribe_link_ends_that_subscription_alone(
    app: Starlette, client: httpx.AsyncClient, mailbox: Mailbox, settings: Settings
) -> None:
    await ingest_known_data(client)
    for address in ("first@org1.example", "second@org1.example"):
        await subscribe(ORG1, Channel.EMAIL, address, Wanted(weekly=True, lang="fr"), MONDAY)
    assert await notifier(app).round() == Done(sent=2)
    first = next(m for m in mailbox.mails if m["To"] == "first@org1.example")
    assert first["Subject"] == "Rapport de la semaine 2024-01-08 – 2024-01-14 (organization:org1)"
    assert text_of(first).splitlines()[2] == "Appels d'API : 6 (−57 %, période précédente 14)"
    path = str(first["List-Unsubscribe"]).strip().strip("<>").removeprefix(PUBLIC_URL)

    confirm = await client.get(path)
    assert confirm.status_code == 200
    assert "End this subscription to usage reports and alerts?" in confirm.text
    done = await client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "The subscription is ended" in done.text
    again = await client.get(path)
    assert again.status_code == 404
    forged = await client.post(path[:-1] + ("0" if path[-1] != "0" else "1"))
    assert forged.status_code == 404

    next_monday = Notifier(replace(settings, today=date(2024, 1, 22)))
    assert await next_monday.round() == Done(sent=1)
    assert [m["To"] for m in mailbox.mails] == [
        *(m["To"] for m in mailbox.mails[:2]),
        "second@org1.example",
    ]
