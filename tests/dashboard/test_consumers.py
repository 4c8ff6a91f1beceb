"""The dashboard's "Consumers" key figure: distinct consumers of the view, "< 5" under the
minimum, no figure with a domain filter (docs/dashboard.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.conftest import with_settings
from tests.dashboard.pages import card, open_dashboard, org1_token
from tests.helpers import fix_epoch_keys, ingest, named_line

pytestmark = pytest.mark.anyio

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


def today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, today=today(), failed_sign_in_delay_s=0.0)


def line(address: str, **fields: Any) -> dict[str, Any]:
    on = f"{today().isoformat()}T12:00:00+00:00"
    return {**named_line(time=on, user_agent=FIREFOX, **fields), "remote_addr": address}


async def test_the_consumers_card_counts_the_views_distinct_consumers(
    client: httpx.AsyncClient,
) -> None:
    await fix_epoch_keys()
    await ingest(
        client,
        *(line(f"2001:db8:{i:x}::1") for i in range(1, 7)),
        *(line(f"2001:db8:{i:x}::1") for i in range(1, 4)),
        line("192.0.2.1", referer="https://client.example/map"),
    )
    await open_dashboard(client, await org1_token())
    page = (await client.get("/dashboard")).text
    assert card(page, "consumers").startswith("Consumers 7 previous period: < 5")
    french = (await client.get("/dashboard?lang=fr")).text
    assert card(french, "consumers").startswith("Consommateurs 7")
    by_domain = (await client.get("/dashboard?domain=client.example")).text
    assert card(by_domain, "consumers").startswith("Consumers – previous period: –")


async def test_a_few_consumers_read_under_the_minimum(client: httpx.AsyncClient) -> None:
    await fix_epoch_keys()
    await ingest(client, line("192.0.2.1"), line("198.51.100.1"))
    await open_dashboard(client, await org1_token())
    page = (await client.get("/dashboard")).text
    assert card(page, "consumers").startswith("Consumers < 5 previous period: < 5")
