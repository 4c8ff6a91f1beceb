"""Subscriptions are scoped: an owner subscribes to its own datasets only, an admin to any
owner's or all; `usage-metrics subscriptions` and `alerts check` from the command line."""

from __future__ import annotations

import asyncio
import re
from datetime import date

import httpx
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from app.cli import main
from app.core.records import Owner
from app.notify.subscriptions import Thresholds, subscriptions
from app.storage.database import database
from app.storage.facts import add_facts
from app.storage.models import DeliveryRow, ResourceRow, SubscriptionRow
from tests.dashboard.pages import open_dashboard, org1_token
from tests.helpers import ADMIN_TOKEN, csrf_token

pytestmark = pytest.mark.anyio


async def post_form(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await client.get("/dashboard/subscriptions")
    form = {"csrf_token": csrf_token(page.text), "channel": "email", "weekly": "on", **fields}
    return await client.post("/dashboard/subscriptions", data=form)


async def test_an_owner_cannot_subscribe_to_another_owners_datasets(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await open_dashboard(client, await org1_token())
    for owner in ("user:alice", "all"):
        refused = await post_form(client, owner=owner, target="someone@example.org")
        assert refused.status_code == 403, refused.text
    assert await SubscriptionRow.all().count() == 0

    made = await post_form(client, target="owner@org1.example")
    assert made.status_code == 200
    [mine] = await subscriptions()
    assert (mine.owner, mine.target) == (Owner("organization", "org1"), "owner@org1.example")

    bad = await post_form(client, target="not an address")
    assert bad.status_code == 400
    assert "the e-mail address is not name@domain.example" in bad.text
    no_kind = await post_form(client, target="owner@org1.example", weekly="")
    assert "choose a weekly or monthly report, or alerts" in no_kind.text


async def test_an_admin_subscribes_any_owner_and_an_owner_sees_and_removes_its_own_only(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await open_dashboard(client, ADMIN_TOKEN)
    assert (
        await post_form(client, owner="user:alice", target="alice@example.org")
    ).status_code == 200
    assert (await post_form(client, owner="all", target="ops@portal.example")).status_code == 200
    alice, every = await subscriptions()
    assert (alice.owner, every.owner) == (Owner("user", "alice"), None)

    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url) as owner:
        await open_dashboard(owner, await org1_token())
        page = await owner.get("/dashboard/subscriptions")
        assert "alice@example.org" not in page.text and "ops@portal.example" not in page.text
        removed = await owner.post(
            f"/dashboard/subscriptions/{alice.id}/remove",
            data={"csrf_token": csrf_token(page.text)},
        )
        assert removed.status_code == 404
        assert (await post_form(owner, target="owner@org1.example")).status_code == 200
        mine = (await subscriptions())[-1]
        page = await owner.get("/dashboard/subscriptions")
        ended = await owner.post(
            f"/dashboard/subscriptions/{mine.id}/remove",
            data={"csrf_token": csrf_token(page.text)},
        )
        assert ended.status_code == 200 and "nothing more will be sent" in ended.text
    assert [s.id for s in await subscriptions()] == [alice.id, every.id]


def test_subscriptions_and_alerts_check_from_the_command_line(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USAGE_METRICS_DATABASE_URL", database_url)
    monkeypatch.setenv("USAGE_METRICS_WEBHOOK_ALLOW_PRIVATE", "1")
    assert main(["migrate"]) == 0
    asyncio.run(_empty(database_url))
    capsys.readouterr()
    add = ["subscriptions", "add", "--owner", "organization:org1", "--report", "weekly"]
    assert main([*add, "--email", "owner@org1.example", "--alerts"]) == 0
    assert main([*add, "--webhook", "http://127.0.0.1:9/hook"]) == 0
    out, err = capsys.readouterr()
    assert re.fullmatch(r"[0-9a-f]{64}\n", out)  # the webhook's secret, shown once
    assert "owner@org1.example" not in err
    with pytest.raises(SystemExit) as refused:
        main(["subscriptions", "add", "--owner", "org1", "--email", "a@b.example"])
    assert refused.value.code == 2
    assert "'org1' is not user:<id> or organization:<id>" in capsys.readouterr().err

    assert main(["subscriptions", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in listing[1:]]
    assert [row[1:] for row in rows] == [
        ["organization:org1", "email", "weekly,alerts", "en", "owner@org1.example"],
        ["organization:org1", "webhook", "weekly", "en", "http://127.0.0.1:9/hook"],
    ]
    assert main(["subscriptions", "remove", rows[1][0]]) == 0
    assert main(["subscriptions", "remove", rows[1][0]]) == 1
    capsys.readouterr()

    # No mail server is set: the day's drop is found, and its sending fails.
    asyncio.run(_drop(database_url))
    assert main(["alerts", "check", "--day", "2024-01-14"]) == 1
    assert capsys.readouterr().out == "sent 0, failed 1\n"


async def _empty(url: str) -> None:
    # The PostgreSQL database is the session's: other tests left subscriptions there.
    async with database(url):
        await SubscriptionRow.all().delete()
        await DeliveryRow.all().delete()


async def _drop(url: str) -> None:
    """roads: 200 API calls on each of the four Sundays before 2024-01-14, none that day."""
    async with database(url):
        async with in_transaction() as tx:
            await tx.execute_script(
                "DELETE FROM usage_facts WHERE resource_key IN "
                "(SELECT id FROM resource_keys WHERE resource_id = 'roads')"
            )
            await add_facts(
                tx,
                [
                    (
                        *("organization", "org1", date.fromisoformat(day), "datasets", "roads"),
                        *("api", "ok", "ANONYMOUS", "none", "none", "", 200, 0, 0),
                    )
                    for day in ("2023-12-17", "2023-12-24", "2023-12-31", "2024-01-07")
                ],
            )
        await ResourceRow.filter(resource_id="roads").delete()
        await ResourceRow.create(
            resource_type="datasets",
            resource_id="roads",
            owner_type="organization",
            owner_id="org1",
            first_day="2023-12-17",
            last_day="2024-01-07",
        )


async def test_the_form_answers_htmx_with_its_part_and_shows_a_webhook_secret_once(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await open_dashboard(client, await org1_token())
    htmx = {"HX-Request": "true"}
    page = await client.get("/dashboard/subscriptions")
    form = {"csrf_token": csrf_token(page.text), "alerts": "on", "channel": "webhook"}

    refused = await client.post(
        "/dashboard/subscriptions", data={**form, "target": "ftp://x.example/"}, headers=htmx
    )
    assert refused.status_code == 422  # htmx swaps it in, in the form's place
    assert refused.text.lstrip().startswith('<section id="subscriptions">')
    assert "the webhook URL is not http(s)://host/path" in refused.text

    target = "http://127.0.0.1:9/hook"
    made = await client.post("/dashboard/subscriptions", data={**form, "target": target})
    [hook] = await subscriptions()
    assert f"The webhook&#39;s signing secret, shown this once: {hook.secret}" in made.text
    again = await client.post("/dashboard/subscriptions", data={**form, "target": target})
    assert again.status_code == 200 and hook.secret not in again.text
    without_csrf = await client.post(
        "/dashboard/subscriptions", data={**form, "csrf_token": "", "target": target}
    )
    assert without_csrf.status_code == 403


async def test_the_form_sets_the_subscriptions_thresholds(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await open_dashboard(client, await org1_token())
    limits = {"drop": "80", "spike": "10", "errors": "20", "floor": "200"}
    made = await post_form(client, target="owner@org1.example", alerts="on", **limits)
    assert made.status_code == 200
    [mine] = await subscriptions()
    assert mine.thresholds == Thresholds(0.8, 10.0, 0.2, 200)

    for name, value, message in (
        ("drop", "150", "the drop is a share of the baseline above 0 and below 1 (0.6)"),
        ("spike", "1", "the spike is a factor of the baseline above 1, at most 1000 (5)"),
        ("errors", "nan", "the server errors are a share above 0 and below 1 (0.05)"),
        ("floor", "lots", "the thresholds are numbers (60, 5, 5, 100)"),
    ):
        refused = await post_form(client, target="owner@org1.example", **{**limits, name: value})
        assert refused.status_code == 400
        assert message in refused.text
    [mine] = await subscriptions()
    assert mine.thresholds == Thresholds(0.8, 10.0, 0.2, 200)
