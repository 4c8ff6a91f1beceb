"""Issue 17 through HTTP: comparison modes, intervals, click-to-filter links, the chip bar, the
dataset page, empty states, error fragments, out-of-band links, export names, page weight."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import pytest

from app.config import Settings, load_settings
from app.errors import ConfigError
from tests.conftest import with_settings
from tests.dashboard.pages import (
    CLIENT,
    TODAY,
    bars,
    card,
    chart_rows,
    element,
    ingest_known_data,
    open_dashboard,
    org1_token,
    row_ids,
    words,
)
from tests.helpers import ADMIN_TOKEN, csrf_token, dataset, ingest, line_on
from tests.schema.test_loaders import counted_statements

pytestmark = pytest.mark.anyio
PORTAL = "https://portal.example/data-fair"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, today=TODAY, failed_sign_in_delay_s=0.0, portal_url=PORTAL)


@pytest.fixture
async def org1(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await ingest_known_data(client)
    # A year before the default week (2023-01-08..14): 7 calls on roads from client.example.
    roads = dataset("roads", "Roads")
    await ingest(client, *[line_on("2023-01-10", resource=roads, referer=CLIENT) for _ in range(7)])
    await open_dashboard(client, await org1_token())
    return client


async def test_the_same_days_a_year_before(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"compare": "year"})).text
    assert words(element(page, '<p class="period-words">', "</p>")) == (
        "2024-01-08 → 2024-01-14, compared with the same days a year before, "
        "2023-01-08 → 2023-01-14"
    )
    assert card(page, "api_calls") == "API calls 6 a year before: 7 ▼ −14 % down 14 % from 7"
    assert card(page, "downloads").startswith("Downloads 1 a year before: 0 new ")
    domains = element(page, 'data-breakdown="referer_domain"', "</figure>")
    row = element(domains, '<tr data-key="client.example">', "</tr>")
    # Now 3 of 6 API calls (50 %), 7 a year before; no download either year.
    assert (
        words(row) == "client.example 3 7 ▼ −4 down 4 from 7 50 % 0 0 – none in either period 0 %"
    )
    assert chart_rows(page)[2] == ("2024-01-10", "0", "2023-01-10", "7", "▼ −100 %")


async def test_without_comparison_there_is_no_previous_figure(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"compare": "none"})).text
    assert card(page, "api_calls") == "API calls 6"
    assert "no comparison" in words(element(page, '<p class="period-words">', "</p>"))
    chart = element(page, 'data-chart="main"', "</figure>")
    assert "ghost" not in chart
    assert chart_rows(page)[0] == ("2024-01-08", "3")  # no compared interval
    assert "Before" not in element(page, '<section id="datasets"', "</section>")


async def test_the_previous_period_is_the_default_and_weekday_aligned(
    org1: httpx.AsyncClient,
) -> None:
    # 7 days: the previous period starts on the same weekday (2024-01-01 and 01-08: Mondays).
    page = (await org1.get("/dashboard")).text
    pairs = [(row[0].split(" (", 1)[0], row[2]) for row in chart_rows(page)]
    assert all(
        date.fromisoformat(day).weekday() == date.fromisoformat(was).weekday() for day, was in pairs
    )
    assert len(pairs) == 7


@pytest.mark.parametrize(
    ("params", "count", "title"),
    [
        ({"preset": "30d"}, 30, "API calls per day"),  # 30 days: by day
        ({"preset": "12m"}, 53, "API calls per week"),  # a year: by week (2023-01-15 a Sunday)
        ({"preset": "12m", "interval": "month"}, 13, "API calls per month"),
        ({"preset": "30d", "interval": "week", "metric": "downloads"}, 5, "Downloads per week"),
    ],
)
async def test_the_interval_follows_the_period_and_can_be_switched(
    org1: httpx.AsyncClient, params: dict[str, str], count: int, title: str
) -> None:
    page = (await org1.get("/dashboard", params=params)).text
    chart = element(page, 'data-chart="main"', "</figure>")
    assert (bars(page), len(chart_rows(page))) == (count, count)
    assert f"<figcaption><span>{title}</span>" in chart


async def test_weeks_sum_their_days_exactly(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"preset": "30d", "interval": "week"})).text
    # 2023-12-16 is a Saturday: a first week of 2 days, then Monday to Sunday weeks.
    found = [(row[0].split(" (", 1)[0], row[1]) for row in chart_rows(page)]
    assert found == [
        ("2023-12-16 – 2023-12-17", "0"),
        ("2023-12-18 – 2023-12-24", "0"),
        ("2023-12-25 – 2023-12-31", "0"),
        ("2024-01-01 – 2024-01-07", "14"),
        ("2024-01-08 – 2024-01-14", "6"),
    ]


async def test_ten_years_by_month_read_a_summary_row_per_month(org1: httpx.AsyncClient) -> None:
    params = {"start": "2014-02-01", "end": "2024-01-31", "compare": "none", "interval": "month"}
    with counted_statements() as statements:
        page = (await org1.get("/dashboard", params=params)).text
    found = [(row[0].split(" (", 1)[0], row[1]) for row in chart_rows(page)]
    assert len(found) == 120
    assert (found[0], found[-12], found[-1]) == (
        ("2014-02", "0"),
        ("2023-02", "0"),
        ("2024-01", "20"),
    )
    assert sum(int(now) for _, now in found) == 20 + 7  # 2023-01-10: 7 calls on roads
    # The chart's statement reads a block per month (120), not a row per day (3 652).
    (series,) = [s for s in statements if " AS part, " in s]
    assert series.count("(0, ") == 120, series[:300]


async def test_a_domain_row_links_to_the_view_filtered_on_it(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"preset": "30d"})).text
    domains = element(page, 'data-breakdown="referer_domain"', "</figure>")
    href = re.search(r'<tr data-key="client.example">\s*<th scope="row"><a href="([^"]+)"', domains)
    assert href is not None and href[1] == "/dashboard?preset=30d&amp;domain=client.example"
    filtered = (await org1.get(href[1].replace("&amp;", "&"))).text
    assert card(filtered, "api_calls").startswith("API calls 3 previous period: 0 ")
    chip = element(filtered, '<li data-chip="domain:client.example">', "</li>")
    assert words(chip) == "Calling domain: client.example ×"
    assert 'href="/dashboard?preset=30d" hx-get="/dashboard?preset=30d"' in chip
    # The row now filtering is no longer a link; stand-ins come after named domains.
    domains = element(filtered, 'data-breakdown="referer_domain"', "</figure>")
    assert '<th scope="row">client.example</th>' in domains


async def test_chips_name_groups_and_stand_ins_as_the_page_does(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"domain": "none", "group": "OWNER"})).text
    assert words(element(page, '<li data-chip="domain:none">', "</li>")) == (
        "Calling domain: (no referer) ×"
    )
    assert words(element(page, '<li data-chip="group:OWNER">', "</li>")) == (
        "User group: Owner organisation members ×"
    )
    # OWNER calls without referer: carol's 2 on 2024-01-09.
    assert card(page, "api_calls").startswith("API calls 2 ")


async def test_a_full_url_typed_as_a_domain_counts_as_its_host(org1: httpx.AsyncClient) -> None:
    page = (
        await org1.get("/dashboard", params={"domain": " https://Client.Example:8443/map?x=1"})
    ).text
    assert '<li data-chip="domain:client.example">' in page
    assert card(page, "api_calls").startswith("API calls 3 ")


async def test_a_dataset_row_adds_its_filter(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard")).text
    row = element(page, '<tr data-dataset="rivers">', "</tr>")
    assert 'class="add" href="/dashboard?dataset=rivers"' in row
    assert '<option value="rivers">Rivers</option>' in element(
        page, '<datalist id="dataset-options">', "</datalist>"
    )
    filtered = (await org1.get("/dashboard", params={"dataset": "rivers"})).text
    assert (
        card(filtered, "api_calls") == "API calls 1 previous period: 10 ▼ −90 % down 90 % from 10"
    )
    assert 'data-figure="app_opens"' not in filtered  # opens are logged on applications


async def test_the_sorted_column_reverses_its_order(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard")).text
    head = element(element(page, '<section id="datasets"', "</section>"), "<thead>", "</thead>")
    # Sorted by API calls, most first: its link reverses, the others start in their own order.
    assert 'aria-sort="descending"' in head and 'href="/dashboard?dir=asc"' in head
    assert 'href="/dashboard?sort=title"' in head
    assert row_ids(page) == ["roads", "rivers"]
    fewest = (await org1.get("/dashboard", params={"dir": "asc"})).text
    assert row_ids(fewest) == ["rivers", "roads"]
    assert 'aria-sort="ascending"' in element(fewest, '<table class="datasets">', "</thead>")
    assert 'API calls<span class="sort" aria-hidden="true"> ▲</span>' in fewest
    titles = (await org1.get("/dashboard", params={"sort": "title", "dir": "desc"})).text
    assert row_ids(titles) == ["roads", "rivers"]
    assert (await org1.get("/dashboard", params={"dir": "up"})).status_code == 400


async def test_htmx_swaps_carry_the_language_links_out_of_band(org1: httpx.AsyncClient) -> None:
    answer = await org1.get(
        "/dashboard",
        params={"preset": "12m", "sort": "downloads"},
        headers={"HX-Request": "true", "HX-Target": "view"},
    )
    languages = element(answer.text, '<nav id="languages"', "</nav>")
    assert 'hx-swap-oob="true"' in languages
    assert 'href="?preset=12m&amp;sort=downloads&amp;lang=fr"' in languages
    # The presets keep the sort: choosing another period after sorting no longer drops it.
    picker = element(answer.text, '<form method="get" action="/dashboard"', "</form>")
    assert '<input type="hidden" name="sort" value="downloads">' in picker


async def test_end_before_start_is_an_error_in_the_page(org1: httpx.AsyncClient) -> None:
    params = {"start": "2024-01-10", "end": "2024-01-01", "lang": "fr"}
    htmx = await org1.get(
        "/dashboard", params=params, headers={"HX-Request": "true", "HX-Target": "view"}
    )
    assert htmx.status_code == 422  # htmx swaps it in (app/web/templating.py)
    assert htmx.text.lstrip().startswith('<div id="view">')
    assert "the period ends (2024-01-01) before it starts (2024-01-10)" in words(htmx.text)
    assert 'name="start" value="2024-01-10" required aria-invalid="true"' in htmx.text
    assert '<input type="hidden" name="lang" value="fr">' in htmx.text
    plain = await org1.get("/dashboard", params=params)
    assert plain.status_code == 400
    assert "<html" in plain.text and 'name="end" value="2024-01-01"' in plain.text


async def test_a_dataset_page_names_its_id_owner_and_portal_page(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard/datasets/roads")).text
    facts = words(element(page, '<dl class="facts">', "</dl>"))
    assert (
        facts == "Identifier roads Owner org1 (organisation) Portal Open the dataset on the portal"
    )
    assert f'href="{PORTAL}/datasets/roads"' in page
    assert 'data-figure="app_opens"' not in page
    csv = await org1.get("/dashboard/export.csv", params={"dataset": "roads"})
    assert csv.headers["content-disposition"] == (
        'attachment; filename="usage-roads-2024-01-08_2024-01-14.csv"'
    )
    filtered = await org1.get("/dashboard/export.xlsx", params={"group": "OWNER", "preset": "30d"})
    assert filtered.headers["content-disposition"] == (
        'attachment; filename="usage-filtered-2023-12-16_2024-01-14.xlsx"'
    )


async def test_a_period_without_usage_says_so(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"start": "2020-01-01", "end": "2020-01-31"})).text
    assert "No usage in this period" in page
    assert 'data-chart="main"' not in page and "data-breakdown" not in page


async def test_an_owner_without_data_is_told_how_it_arrives(client: httpx.AsyncClient) -> None:
    await open_dashboard(client, await org1_token())
    page = (await client.get("/dashboard")).text
    assert "No usage has been counted for your datasets yet." in words(page)
    assert "curl" not in page and "/ingest" not in page


async def test_sign_out_from_french_lands_on_the_french_sign_in(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"lang": "fr"})).text
    assert 'action="/logout?lang=fr"' in page
    answer = await org1.post("/logout?lang=fr", data={"csrf_token": csrf_token(page)})
    assert (answer.status_code, answer.headers["location"]) == (303, "/login?lang=fr")
    assert "Se connecter" in (await org1.get(answer.headers["location"])).text


async def test_the_favicon_is_served(client: httpx.AsyncClient) -> None:
    answer = await client.get("/favicon.ico")
    assert (answer.status_code, answer.headers["content-type"]) == (200, "image/x-icon")
    assert answer.content[:4] == b"\x00\x00\x01\x00"  # an ICO file's header


async def test_an_admin_is_linked_to_the_admin_pages(client: httpx.AsyncClient) -> None:
    await ingest(client, line_on("2024-01-10", resource=dataset("roads")))
    await open_dashboard(client, ADMIN_TOKEN)
    page = (await client.get("/dashboard")).text
    assert '<a href="/admin/analytics">Web analytics</a>' in page


async def test_a_years_page_weighs_at_most_120_kb(client: httpx.AsyncClient) -> None:
    # A year of daily use on 20 datasets from 40 calling domains: every breakdown full, a full
    # page of the datasets table, a bar per week.
    start = TODAY - timedelta(days=365)
    lines = [
        line_on(
            (start + timedelta(days=day)).isoformat(),
            resource=dataset(
                f"d{day % 20:02}", f"Jeu de données numéro {day % 20} de la métropole"
            ),
            referer=f"https://site{day % 40}.example.org/page",
        )
        for day in range(365)
        for _ in range(2)
    ]
    await ingest(client, *lines)
    await open_dashboard(client, ADMIN_TOKEN)
    page = await client.get("/dashboard", params={"preset": "12m"})
    assert page.status_code == 200
    assert len(page.content) <= 120_000, len(page.content)
    assert bars(page.text) == 53


@pytest.mark.parametrize("value", ["portal.example", "ftp://portal.example", "https://"])
def test_the_portal_url_must_be_an_http_url(value: str) -> None:
    with pytest.raises(ConfigError, match=r"USAGE_METRICS_PORTAL_URL=.* is not an http"):
        load_settings({"USAGE_METRICS_PORTAL_URL": value})
    settings = load_settings({"USAGE_METRICS_PORTAL_URL": "https://portal.example/"})
    assert settings.portal_url == "https://portal.example"


@pytest.mark.parametrize("value", ["20241201", "2024-12-32", "yesterday"])
def test_the_fixed_today_must_be_an_iso_day(value: str) -> None:
    with pytest.raises(ConfigError, match=r"USAGE_METRICS_TODAY=.* is not a day \(YYYY-MM-DD\)"):
        load_settings({"USAGE_METRICS_TODAY": value})
    assert load_settings({}).today is None
    assert load_settings({"USAGE_METRICS_TODAY": "2024-01-15"}).today == date(2024, 1, 15)


async def test_a_fixed_today_sets_the_presets(client: httpx.AsyncClient) -> None:
    # The settings of `client` fix today at TODAY (2024-01-14): the default 7 days end on it,
    # whatever the date the test runs.
    await ingest_known_data(client)
    await open_dashboard(client, await org1_token())
    page = (await client.get("/dashboard")).text
    rows = chart_rows(page)
    assert (rows[0][0], rows[-1][0]) == ("2024-01-08", "2024-01-14 (today, partial)")


async def test_a_year_before_a_period_longer_than_a_year_overlaps_it(
    org1: httpx.AsyncClient,
) -> None:
    # 2023-01-01..2024-01-14 against 2022-01-01..2023-01-14: 2023-01-10's 7 calls count in both.
    params = {"start": "2023-01-01", "end": "2024-01-14", "compare": "year"}
    page = (await org1.get("/dashboard", params=params)).text
    domains = element(page, 'data-breakdown="referer_domain"', "</figure>")
    row = words(element(domains, '<tr data-key="client.example">', "</tr>"))
    assert row.startswith("client.example 10 7 ▲ +3 up 3 from 7 "), row
