"""Findings 2 and 8: every dimension a forged Referer feeds is capped, and what is stored of it
is a host name or an app id, never an e-mail address (docs/security.md)."""

from __future__ import annotations

import secrets
from dataclasses import replace

import httpx
import pytest

from app.config import DEFAULT_MAX_APPS_PER_DAY, Settings
from tests.helpers import app_client, ingest, line_on, table_rows, usage_rows

pytestmark = pytest.mark.anyio

DAY = "2024-01-08"
PORTAL = "https://portal.example"
EMBED = f"{PORTAL}/data-fair/embed/dataset/roads"


async def test_five_thousand_forged_apps_make_at_most_the_cap_of_rows(
    client: httpx.AsyncClient,
) -> None:
    # The attack: 5 000 lines of one dataset and day, each with an app id of its own.
    await ingest(
        client,
        *(
            line_on(DAY, referer=f"{PORTAL}/data-fair/app/app-{i}-{secrets.token_hex(4)}")
            for i in range(5000)
        ),
    )
    rows = await usage_rows()
    apps = {row["referer_app"] for row in rows}
    assert len(rows) == DEFAULT_MAX_APPS_PER_DAY + 1
    assert len(apps - {"other"}) == DEFAULT_MAX_APPS_PER_DAY
    other = next(row for row in rows if row["referer_app"] == "other")
    # Nothing lost: the lines past the cap count under `other`.
    assert other["requests"] == 5000 - DEFAULT_MAX_APPS_PER_DAY
    assert sum(row["requests"] for row in rows) == 5000


@pytest.mark.parametrize(
    "referer",
    [
        f"{EMBED}?referer=canary.embed@victim.example",
        f"{EMBED}?referer=user%40victim.example%3APw%40site.example",
        f"{EMBED}?referer=https://user:Pw@victim.example/",
        "https://canary@victim.example/page",
        f"{PORTAL}/data-fair/app/canary.app@victim.example",
    ],
)
async def test_e_mail_addresses_in_referers_are_never_stored(
    client: httpx.AsyncClient, referer: str
) -> None:
    await ingest(client, line_on(DAY, referer=referer))
    for table in ("usage_daily", "usage_by_caller"):
        for row in await table_rows(table):
            stored = " ".join(str(value) for value in row.values())
            assert "@" not in stored and "victim" not in stored and "canary" not in stored, row
    [row] = await usage_rows()
    assert (row["referer_domain"], row["referer_app"]) in {
        ("invalid", ""),  # the calling domain was not a host name
        ("portal.example", "invalid"),  # the app id was not one of the portal's
    }


async def test_the_app_cap_follows_its_setting(settings: Settings) -> None:
    async with app_client(replace(settings, max_apps_per_day=3)) as client:
        await ingest(
            client, *(line_on(DAY, referer=f"{PORTAL}/data-fair/app/app-{i}") for i in range(10))
        )
        rows = await usage_rows()
    assert sorted(row["referer_app"] for row in rows) == ["app-0", "app-1", "app-2", "other"]
