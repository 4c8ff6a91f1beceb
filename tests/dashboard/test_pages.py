"""The dashboard through HTTP, on data sent to POST /ingest: who sees what, exact figures,
presets, filters, the datasets table, htmx fragments, languages, the empty state."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from app.auth.tokens import create_token, revoke_token
from app.config import Settings
from app.storage.database import connection, is_postgres
from tests.conftest import with_settings
from tests.dashboard.pages import (
    TODAY,
    bars,
    card,
    chart_rows,
    element,
    ingest_known_data,
    main_chart,
    open_dashboard,
    org1_token,
    row_ids,
    table_rows,
    words,
)
from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN, csrf_token, dataset, ingest, line_on
from tests.schema.test_loaders import counted_statements

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, today=TODAY, failed_sign_in_delay_s=0.0)


@pytest.fixture
async def org1(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The client signed in with org1's owner token, the known data ingested."""
    await ingest_known_data(client)
    await open_dashboard(client, await org1_token())
    return client


async def test_pages_need_a_session_of_an_owner_or_admin_token(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/dashboard", "/dashboard/datasets/roads", "/dashboard/export.csv"):
        answer = await client.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    htmx = await client.get("/dashboard", headers={"HX-Request": "true", "HX-Target": "view"})
    assert (htmx.status_code, htmx.headers["HX-Redirect"]) == (401, "/login")
    form = await client.get("/login")
    for token in (INGEST_TOKEN, "not-a-token", ""):
        refused = await client.post(
            "/login", data={"token": token, "csrf_token": csrf_token(form.text)}
        )
        assert refused.status_code == 401
        assert "This token does not open the dashboard." in refused.text
    no_csrf = await client.post("/login", data={"token": ADMIN_TOKEN})
    assert no_csrf.status_code == 403


async def test_a_revoked_token_ends_its_dashboard_session(client: httpx.AsyncClient) -> None:
    await ingest_known_data(client)
    token = await create_token("owner:organization:org1", "to revoke")
    await open_dashboard(client, token)
    assert (await client.get("/dashboard")).status_code == 200
    await revoke_token("to revoke")
    assert (await client.get("/dashboard")).headers["location"] == "/login"


async def test_key_figures_of_the_default_week_with_their_trend(
    org1: httpx.AsyncClient,
) -> None:
    page = (await org1.get("/dashboard")).text
    assert words(element(page, '<p class="period-words">', "</p>")) == (
        "2024-01-08 → 2024-01-14, compared with 2024-01-01 → 2024-01-07"
    )
    # org1: API calls 5 + 1 now, 4 + 10 before; the failed call counts nowhere.
    assert card(page, "api_calls") == ("API calls 6 previous period: 14 ▼ −57 % down 57 % from 14")
    assert card(page, "downloads") == (
        "Downloads 1 previous period: 0 new new: none in the previous period"
    )
    assert card(page, "downloaded_bytes") == (
        "Downloaded volume 1.5 MB previous period: 0 B new new: none in the previous period"
    )
    assert card(page, "app_opens") == (
        "Application opens 1 previous period: 0 new new: none in the previous period"
    )
    # The badge's colour class follows its words.
    assert '<span class="badge down">' in element(page, 'data-figure="api_calls"', "</li>")


async def test_the_owner_sees_only_its_datasets(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard")).text
    assert row_ids(page) == ["roads", "rivers"]
    # Below 20 in the compared period a change is a difference, not a percentage.
    assert table_rows(page) == [
        "Roads + 5 4 ▲ +1 up 1 from 4 1 0 new new: none in the previous period",
        "Rivers + 1 10 ▼ −9 down 9 from 10 0 0 – none in either period",
    ]
    assert (await org1.get("/dashboard/datasets/notes")).status_code == 404
    assert (await org1.get("/dashboard/datasets/nothing-here")).status_code == 404
    other = await org1.get("/dashboard", params={"owner": "user:alice"})
    assert other.status_code == 403
    assert "reads the datasets of organization org1 only" in other.text
    # Naming its own owner is allowed, and changes nothing.
    own = await org1.get("/dashboard", params={"owner": "organization:org1"})
    assert card(own.text, "api_calls").startswith("API calls 6 ")


async def test_an_admin_sees_every_owner_and_picks_one(client: httpx.AsyncClient) -> None:
    await ingest_known_data(client)
    await open_dashboard(client, ADMIN_TOKEN)
    page = (await client.get("/dashboard")).text
    assert row_ids(page) == ["roads", "notes", "rivers"]
    assert card(page, "api_calls").startswith("API calls 8 previous period: 14 ")
    assert '<option value="user:alice" >alice (user)</option>' in page.replace("  ", " ")
    # Every owner's table names each dataset's owner.
    assert table_rows(page)[0].startswith("Roads + org1 (organisation) 5 4 ")
    alice = (await client.get("/dashboard", params={"owner": "user:alice"})).text
    assert row_ids(alice) == ["notes"]
    assert (
        card(alice, "api_calls")
        == "API calls 2 previous period: 0 new new: none in the previous period"
    )
    notes = await client.get("/dashboard/datasets/notes")
    assert notes.status_code == 200
    assert card(notes.text, "api_calls").startswith("API calls 2 ")


@pytest.mark.parametrize(
    ("preset", "period", "previous", "api_calls"),
    [
        ("7d", "2024-01-08 → 2024-01-14", "2024-01-01 → 2024-01-07", "6 previous period: 14"),
        ("30d", "2023-12-16 → 2024-01-14", "2023-11-16 → 2023-12-15", "20 previous period: 0"),
        (
            "last-month",
            "2023-12-01 → 2023-12-31",
            "2023-10-31 → 2023-11-30",
            "0 previous period: 0",
        ),
        ("12m", "2023-01-15 → 2024-01-14", "2022-01-15 → 2023-01-14", "20 previous period: 0"),
    ],
)
async def test_presets_set_the_period_and_the_figures(
    org1: httpx.AsyncClient, preset: str, period: str, previous: str, api_calls: str
) -> None:
    page = (await org1.get("/dashboard", params={"preset": preset})).text
    assert words(element(page, '<p class="period-words">', "</p>")) == (
        f"{period}, compared with {previous}"
    )
    assert card(page, "api_calls").startswith(f"API calls {api_calls} ")
    assert f'<option value="{preset}" selected>' in page


async def test_a_custom_period(org1: httpx.AsyncClient) -> None:
    page = await org1.get("/dashboard", params={"start": "2024-01-02", "end": "2024-01-03"})
    assert words(element(page.text, '<p class="period-words">', "</p>")) == (
        "2024-01-02 → 2024-01-03, compared with 2023-12-31 → 2024-01-01"
    )
    assert card(page.text, "api_calls").startswith("API calls 14 previous period: 0 ")


@pytest.mark.parametrize(
    ("params", "api_calls", "downloads", "rows"),
    [
        ({"group": "OWNER"}, "2 previous period: 0", "0 previous period: 0", ["roads", "rivers"]),
        (
            {"group": ["ANONYMOUS", "OWNER"]},
            "6 previous period: 14",
            "1 previous period: 0",
            ["roads", "rivers"],
        ),
        (
            {"domain": "client.example"},
            "3 previous period: 0",
            "0 previous period: 0",
            ["roads", "rivers"],
        ),
        (
            {"domain": "Other.Example"},
            "0 previous period: 0",
            "1 previous period: 0",
            ["rivers", "roads"],  # no API call: by title,
        ),
        ({"dataset": "rivers"}, "1 previous period: 10", "0 previous period: 0", ["rivers"]),
        (
            {"dataset": "rivers", "group": "OWNER"},
            "0 previous period: 0",
            "0 previous period: 0",
            ["rivers"],
        ),
    ],
)
async def test_filters_change_the_figures_exactly(
    org1: httpx.AsyncClient,
    params: dict[str, str | list[str]],
    api_calls: str,
    downloads: str,
    rows: list[str],
) -> None:
    page = (await org1.get("/dashboard", params=params)).text
    assert card(page, "api_calls").startswith(f"API calls {api_calls} ")
    assert card(page, "downloads").startswith(f"Downloads {downloads} ")
    assert row_ids(page) == rows


async def test_the_main_chart_has_a_bar_per_day(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard")).text
    # The figures as a table, a row a bar (for screen readers, and the crosshair): day, figure,
    # previous day, its figure, the change.
    assert bars(page) == 7
    assert chart_rows(page)[:2] == [
        ("2024-01-08", "3", "2024-01-01", "0", "new"),
        ("2024-01-09", "2", "2024-01-02", "4", "▼ −50 %"),
    ]
    assert [row[0] for row in chart_rows(page)][2:-1] == [f"2024-01-{d:02}" for d in range(10, 14)]
    by_day = {"preset": "12m", "interval": "day", "metric": "downloads"}
    year = (await org1.get("/dashboard", params=by_day)).text
    assert (bars(year), len(chart_rows(year))) == (365, 365)
    assert "<figcaption><span>Downloads per day</span>" in main_chart(year)


async def test_breakdown_charts_name_groups_domains_and_categories(
    org1: httpx.AsyncClient,
) -> None:
    page = (await org1.get("/dashboard")).text
    groups = element(page, 'data-breakdown="user_group"', "</figure>")
    assert "Anonymous" in groups and "Owner organisation members" in groups
    domains = element(page, 'data-breakdown="referer_domain"', "</figure>")
    assert "client.example" in domains and "(no referer)" in domains
    categories = element(page, 'data-breakdown="referer_category"', "</figure>")
    assert "External sites" in categories


async def test_the_datasets_table_sorts_and_pages(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        *[
            line_on("2024-01-10", resource=dataset(f"d{n:02}", f"Data {n:02}"))
            for n in range(45)
            for _ in range(1 + n % 3)
        ],
    )
    await open_dashboard(client, ADMIN_TOKEN)
    first = (await client.get("/dashboard")).text
    assert "Page 1 of 3" in first
    assert len(row_ids(first)) == 20
    # 3 calls first (d02, d05...), by title within equal counts.
    assert row_ids(first)[:3] == ["d02", "d05", "d08"]
    third = (await client.get("/dashboard", params={"page": "3"})).text
    assert len(row_ids(third)) == 5
    every = set()
    for number in (1, 2, 3):
        listed = (await client.get("/dashboard", params={"page": str(number)})).text
        every.update(row_ids(listed))
    assert len(every) == 45
    by_title = await client.get(
        "/dashboard",
        params={"sort": "title", "page": "2"},
        headers={"HX-Request": "true", "HX-Target": "view"},
    )
    # htmx asked for the view: the table and every link around it follow the sort and page.
    assert by_title.text.lstrip().startswith('<div id="view"')
    assert 'href="/dashboard/export.csv?sort=title' not in by_title.text  # exports: all rows
    assert "<html" not in by_title.text
    assert row_ids(by_title.text) == [f"d{n:02}" for n in range(20, 40)]


async def test_htmx_gets_the_view_alone(org1: httpx.AsyncClient) -> None:
    answer = await org1.get(
        "/dashboard", params={"group": "OWNER"}, headers={"HX-Request": "true", "HX-Target": "view"}
    )
    assert answer.text.lstrip().startswith('<div id="view" ')
    assert "<html" not in answer.text
    assert card(answer.text, "api_calls").startswith("API calls 2 ")
    assert "HX-Target" in answer.headers["vary"]


async def test_links_keep_the_view(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"preset": "30d", "group": "OWNER"})).text
    # A dataset's link and the exports keep the period and the filters.
    assert 'href="/dashboard/datasets/roads?preset=30d&amp;group=OWNER"' in page
    assert 'href="/dashboard/export.csv?preset=30d&amp;group=OWNER"' in page
    # Removing the group filter keeps the period.
    assert 'href="/dashboard?preset=30d"' in page


async def test_a_datasets_page_shows_that_dataset_alone(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard/datasets/roads")).text
    assert "<h1>Roads</h1>" in page
    assert card(page, "api_calls") == "API calls 5 previous period: 4 ▲ +25 % up 25 % from 4"
    assert card(page, "downloads").startswith("Downloads 1 previous period: 0 ")
    assert 'id="datasets"' not in page  # no table of one dataset
    assert 'href="/dashboard/export.csv?dataset=roads"' in page


async def test_in_french_from_accept_language_or_the_switch(org1: httpx.AsyncClient) -> None:
    page = await org1.get("/dashboard", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in page.text
    assert card(page.text, "api_calls") == (
        "Appels API 6 période précédente : 14 ▼ −57 % en baisse de 57 % par rapport à 14"
    )
    assert card(page.text, "downloaded_bytes").startswith("Volume téléchargé 1,5 Mo ")
    switched = await org1.get("/dashboard", params={"lang": "fr"})
    assert "comparé avec 2024-01-01 → 2024-01-07" in switched.text
    # The switch back to English is a link that keeps the view.
    assert 'href="?lang=en"' in switched.text
    english = await org1.get("/dashboard", params={"lang": "en"}, headers={"Accept-Language": "fr"})
    assert card(english.text, "api_calls").startswith("API calls 6 ")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"start": "2024-01-10", "end": "2024-01-01"},
            "the period ends (2024-01-01) before it starts",
        ),
        ({"start": "2024-13-01", "end": "2024-01-01"}, "start='2024-13-01' is not a day"),
        ({"start": "2024-01-01"}, "a custom period needs both start and end"),
        ({"preset": "forever"}, "preset='forever': choose one of today, 7d, 30d, last-month, 12m"),
        ({"group": "VIP"}, "group='VIP': choose among"),
        ({"owner": "org1"}, "write the owner as user:<id> or organization:<id>"),
        ({"page": "0"}, "pages are numbered from 1"),
        ({"sort": "size"}, "sort by api_calls, downloads, title"),
    ],
)
async def test_a_view_that_cannot_be_shown_says_why(
    org1: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    answer = await org1.get("/dashboard", params=params)
    assert answer.status_code == 400
    assert message in words(answer.text)


async def test_with_no_data_yet_the_page_says_how_to_send_a_batch(
    client: httpx.AsyncClient,
) -> None:
    await open_dashboard(client, ADMIN_TOKEN)
    page = (await client.get("/dashboard")).text
    assert "No usage yet" in page
    command = words(element(page, '<pre class="command">', "</pre>"))
    assert command.startswith("curl -s http://testserver/ingest ")
    # Sent as the page shows it, the line counts: the dashboard is no longer empty.
    line = re.search(r"<<'EOF' (\{.*\}) EOF", command)
    assert line is not None
    answer = await client.post(
        "/ingest",
        content=line[1].encode(),
        headers={"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/x-ndjson"},
    )
    assert answer.json()["accepted"] == 1, answer.json()
    # Timed on the dashboard's today (fixed here by USAGE_METRICS_TODAY), the line shows on the
    # default view the reload opens: it ends today.
    assert json.loads(line[1])["time"].startswith(f"{TODAY.isoformat()}T")
    assert card((await client.get("/dashboard")).text, "api_calls") == (
        "API calls 1 previous period: 0 new new: none in the previous period"
    )


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    org1: httpx.AsyncClient,
) -> None:
    page = (await org1.get("/logout")).text
    assert (await org1.post("/logout", data={"csrf_token": "wrong"})).status_code == 403
    answer = await org1.post("/logout", data={"csrf_token": csrf_token(page)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    assert (await org1.get("/dashboard")).headers["location"] == "/login"


async def test_a_page_costs_the_same_statements_for_3_or_45_datasets(
    client: httpx.AsyncClient,
) -> None:
    await open_dashboard(client, ADMIN_TOKEN)

    async def statements() -> int:
        with counted_statements() as seen:
            assert (await client.get("/dashboard")).status_code == 200
        # Only the read side's statements: the session's token and revocation look-ups are not
        # the page's.
        return len([s for s in seen if "tokens" not in s and "revoked_sessions" not in s])

    await ingest(client, *[line_on("2024-01-10", resource=dataset(f"a{n}")) for n in range(3)])
    few = await statements()
    # 42 more datasets of 42 named owners: their names cost no statement more (joined).
    await ingest(
        client,
        *[
            line_on(
                "2024-01-10",
                resource=dataset(f"b{n}"),
                owner={"type": "organization", "id": f"o{n}", "name": f"Owner {n}"},
            )
            for n in range(42)
        ],
    )
    page = (await client.get("/dashboard")).text
    assert "<td>Owner 0 (organisation)</td>" in page
    assert "Owner 41 (organisation)</option>" in page
    # count, totals, days, callers, consumers, the page, its figures, the owners (an admin's
    # picker), and what waits in the ingest ledger (the "updated" line); on PostgreSQL, five
    # more: for the breakdowns and for the ranking, the kept answer looked for and the days'
    # versions read (days written just now: live, read each time,
    # docs/storage.md#kept-answers), and the page of the datasets the ranking gave
    assert await statements() == few == (14 if is_postgres(connection()) else 9)


async def test_a_dataset_id_that_needs_quoting_links_to_its_page(
    client: httpx.AsyncClient,
) -> None:
    await ingest(client, line_on("2024-01-10", resource=dataset("roads 2024?v=1", "Roads 2024")))
    await open_dashboard(client, ADMIN_TOKEN)
    page = (await client.get("/dashboard")).text
    assert 'href="/dashboard/datasets/roads%202024%3Fv%3D1"' in page
    one = await client.get("/dashboard/datasets/roads%202024%3Fv%3D1")
    assert one.status_code == 200
    assert "<h1>Roads 2024</h1>" in one.text
    assert 'hx-get="/dashboard/datasets/roads%202024%3Fv%3D1' in one.text
