"""Issue 24 through HTTP: the dashboard's page and each htmx fragment stay at most 150 KB for any
owner and any period. Long lists are trimmed with an exact "others" row or paged, never cut
silently; the owner picker lists 100 owners and finds the others; the chart draws at most a
year of days."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.dashboard.picker import OWNER_CHOICES
from app.dashboard.present import DOMAIN_OPTIONS
from app.dashboard.view import MAX_BARS
from tests.conftest import with_settings
from tests.dashboard.pages import TODAY, bars, card, element, open_dashboard, row_ids, words
from tests.helpers import ADMIN_TOKEN, dataset, ingest, line_on
from tests.schema.test_loaders import counted_statements

pytestmark = pytest.mark.anyio

MAX_PAGE_BYTES = 150_000  # docs/dashboard.md#page-weight
OWNERS = 150  # past the picker's 100
DOMAINS = 240  # past the domain filter's 100 suggestions and a breakdown's 10 rows
LINES_PER_OWNER = 4
VIEW = {"HX-Request": "true", "HX-Target": "view"}
PICKER = {"HX-Request": "true", "HX-Target": "owner-picker"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, today=TODAY, failed_sign_in_delay_s=0.0)


def owner(n: int) -> dict[str, str]:
    return {"type": "organization", "id": f"commune-{n:03}", "name": f"Commune n°{n:03} du Lot"}


def portal_lines() -> list[dict[str, Any]]:
    """150 owners of a dataset each, with titles and names of a real portal's length, called
    from 240 domains over the two years before TODAY (so the previous periods have figures)."""
    lines = []
    for n in range(OWNERS):
        title = f"Budget primitif et compte administratif de la commune n°{n:03}, exercice 2023"
        resource = dataset(f"budget-{n:03}", title)
        for k in range(LINES_PER_OWNER):
            i = LINES_PER_OWNER * n + k
            day = TODAY - timedelta(days=(i * 37) % 731)
            domain = f"https://www.site-{i % DOMAINS:03}.collectivites.example.fr/carte"
            lines.append(
                line_on(day.isoformat(), resource=resource, owner=owner(n), referer=domain)
            )
    return lines


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await ingest(client, *portal_lines())
    await open_dashboard(client, ADMIN_TOKEN)
    return client


def options(page: str, datalist: str) -> list[str]:
    return re.findall(r'<option value="([^"]*)"', element(page, f'<datalist id="{datalist}"', "</"))


def picker(page: str) -> list[str]:
    """The owner picker's option values ("" for every owner)."""
    return re.findall(r'<option value="([^"]*)"', element(page, '<select id="owner"', "</select>"))


async def test_every_page_and_fragment_stays_under_150_kb(admin: httpx.AsyncClient) -> None:
    paths = [
        "/dashboard",
        "/dashboard?preset=12m",
        "/dashboard?preset=12m&interval=day",
        "/dashboard?start=2023-01-14&end=2024-01-14&interval=day",  # 366 days
        "/dashboard?preset=12m&interval=day&compare=year&lang=fr",
        "/dashboard?preset=12m&interval=day&owner=organization:commune-000",
        "/dashboard?start=2014-01-15&end=2024-01-14",  # ten years, by month
        "/dashboard?start=2022-01-14&end=2024-01-14",  # two years, by week
        "/dashboard?preset=30d&page=2",
        "/dashboard/datasets/budget-000?preset=12m&interval=day",
    ]
    weights = {}
    for path in paths:
        for headers in ({}, VIEW):
            answer = await admin.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.text[:300])
            weights[path, bool(headers)] = len(answer.content)
    heaviest = max(weights, key=weights.__getitem__)
    assert weights[heaviest] <= MAX_PAGE_BYTES, (heaviest, weights[heaviest])
    # Past every threshold: the lists were trimmed, not small.
    leap = {"start": "2023-03-01", "end": "2024-02-29", "interval": "day"}
    assert bars((await admin.get("/dashboard", params=leap)).text) == MAX_BARS == 366
    year = (await admin.get("/dashboard", params={"preset": "12m", "interval": "day"})).text
    assert bars(year) == 365
    assert len(picker(year)) == 1 + OWNER_CHOICES
    assert len(options(year, "domain-options")) == DOMAIN_OPTIONS
    domains = element(year, 'data-breakdown="referer_domain"', "</figure>")
    assert len(re.findall(r"<tr data-key=", domains)) == 11  # 10 and the others' row
    assert "Page 1 of 8" in year  # 150 datasets, 20 a page


async def test_the_picker_lists_100_owners_and_says_how_to_find_the_others(
    admin: httpx.AsyncClient,
) -> None:
    page = (await admin.get("/dashboard")).text
    # By name: "Commune n°000 du Lot" .. "Commune n°099 du Lot", and a note that says so.
    assert picker(page) == ["", *(f"organization:commune-{n:03}" for n in range(100))]
    assert words(element(page, '<p class="owner-note"', "</p>")) == (
        "The first 100 of 150 owners by name: find the others by name or id."
    )
    # Accents and case ignored, in the name or the id.
    for search in ("COMMUNE N°12", "commune n°12", "commune-12"):
        found = (await admin.get("/dashboard", params={"owner_search": search})).text
        assert picker(found) == ["", *(f"organization:commune-{n}" for n in range(120, 130))]
    found = (await admin.get("/dashboard", params={"owner_search": " n°01 "})).text
    assert picker(found) == ["", *(f"organization:commune-{n:03}" for n in range(10, 20))]
    assert words(element(found, '<p class="owner-note"', "</p>")) == (
        "Matching “n°01”: 10 of 150 owners."
    )
    assert '<input type="search" id="owner-search" name="owner_search" value="n°01"' in found


async def test_the_chosen_owner_stays_in_the_picker(admin: httpx.AsyncClient) -> None:
    chosen = {"owner": "organization:commune-140", "owner_search": "commune-00"}
    page = (await admin.get("/dashboard", params=chosen)).text
    # The chosen one first, selected, then the matches (000..009).
    assert picker(page) == [
        "",
        "organization:commune-140",
        *(f"organization:commune-{n:03}" for n in range(10)),
    ]
    assert '<option value="organization:commune-140" selected>' in page
    assert row_ids(page) == ["budget-140"]


async def test_a_search_answers_the_picker_alone_in_one_statement(
    admin: httpx.AsyncClient,
) -> None:
    with counted_statements() as statements:
        answer = await admin.get("/dashboard", params={"owner_search": "e"}, headers=PICKER)
    assert answer.text.lstrip().startswith('<div id="owner-picker"')
    assert 'id="view"' not in answer.text and "<html" not in answer.text
    assert len(picker(answer.text)) == 1 + OWNER_CHOICES
    assert words(element(answer.text, '<p class="owner-note"', "</p>")) == (
        "Matching “e”: 150 of 150 owners, the first 100 listed: find a longer part of the name."
    )
    # The owners and their names: none of the figures.
    read = [s for s in statements if "tokens" not in s and "revoked_sessions" not in s]
    assert len(read) == 1, read
    nothing = await admin.get("/dashboard", params={"owner_search": "zzz"}, headers=PICKER)
    assert picker(nothing.text) == [""]
    assert words(element(nothing.text, '<p class="owner-note"', "</p>")) == (
        "No owner's name or id holds “zzz”."
    )


async def test_the_domain_filter_suggests_the_100_most_used_and_takes_any(
    admin: httpx.AsyncClient,
) -> None:
    page = (await admin.get("/dashboard", params={"preset": "12m"})).text
    suggested = options(page, "domain-options")
    assert len(suggested) == DOMAIN_OPTIONS
    assert words(element(page, '<p class="hint" id="domain-note"', "</p>")) == (
        f"The 100 most used of {len(_year_domains())} calling domains are suggested; "
        "type any other."
    )
    unlisted = next(d for d in sorted(_year_domains()) if d not in suggested)
    filtered = (await admin.get("/dashboard", params={"preset": "12m", "domain": unlisted})).text
    assert f'<li data-chip="domain:{unlisted}">' in filtered


async def test_the_domain_note_counts_named_domains_only(admin: httpx.AsyncClient) -> None:
    # Calls without a referer and with an unreadable one: the stand-ins "none" and "invalid",
    # one among the first groups read and one far past them, are not domains to suggest.
    roads = dataset("roads", "Roads")
    day = (TODAY - timedelta(days=3)).isoformat()
    await ingest(
        admin,
        *[line_on(day, resource=roads) for _ in range(10_000)],
        line_on(day, resource=roads, referer="not a url"),
    )
    page = (await admin.get("/dashboard", params={"preset": "12m"})).text
    suggested = options(page, "domain-options")
    assert len(suggested) == DOMAIN_OPTIONS and "none" not in suggested
    assert words(element(page, '<p class="hint" id="domain-note"', "</p>")) == (
        f"The 100 most used of {len(_year_domains())} calling domains are suggested; "
        "type any other."
    )


def _year_lines() -> list[dict[str, Any]]:
    """The lines of the last 12 months and the 12 before: the 12m view's."""
    start = TODAY - timedelta(days=729)
    return [line for line in portal_lines() if line["time"][:10] >= start.isoformat()]


def _year_domains() -> set[str]:
    return {line["referer"].split("/")[2] for line in _year_lines()}


async def test_the_exports_are_not_trimmed(admin: httpx.AsyncClient) -> None:
    answer = await admin.get("/dashboard/export.csv", params={"preset": "12m"})
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))[1:]
    assert {row[3] for row in rows} == _year_domains()  # 240 domains, not 100 nor 10
    assert len({row[0] for row in rows}) == len({line["resource"] for line in _year_lines()})


async def test_the_datasets_table_pages_through_every_dataset(admin: httpx.AsyncClient) -> None:
    seen: set[str] = set()
    for page in range(1, 9):
        listed = row_ids((await admin.get("/dashboard", params={"page": page})).text)
        seen.update(listed)
    assert len(seen) == OWNERS


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"start": "2023-01-01", "end": "2024-01-14", "interval": "day"},
            "interval=day: 379 bars, more than the chart draws (366)",
        ),
        (
            {"start": "2014-01-15", "end": "2024-01-14", "interval": "week"},
            "interval=week: 522 bars, more than the chart draws (366)",
        ),
    ],
)
async def test_more_bars_than_a_year_of_days_is_refused(
    admin: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    answer = await admin.get("/dashboard", params=params)
    assert answer.status_code == 400
    assert message in words(answer.text)


async def test_an_interval_with_too_many_bars_is_shown_but_not_offered(
    admin: httpx.AsyncClient,
) -> None:
    page = (await admin.get("/dashboard", params={"start": "2023-01-01", "end": "2024-01-14"})).text
    intervals = element(page, '<nav class="intervals"', "</nav>")
    assert 'data-key="interval-day"' not in intervals
    assert words(element(intervals, '<span class="unavailable" data-interval="day"', "</span>"))
    assert "379 bars: more than a chart draws (366)" in intervals
    assert 'data-key="interval-week"' in intervals and 'data-key="interval-month"' in intervals
    assert MAX_BARS == 366


async def test_the_others_row_sums_exactly_the_rows_it_folds(client: httpx.AsyncClient) -> None:
    # The default week: site-k.example makes k + 1 API calls (2 the week before), site-0 also
    # 3 downloads; 50 calls come without a referer, the most used row of all.
    roads = dataset("roads", "Roads")
    await ingest(
        client,
        *[
            line_on("2024-01-10", resource=roads, referer=f"https://site-{k}.example/")
            for k in range(13)
            for _ in range(k + 1)
        ],
        *[
            line_on("2024-01-03", resource=roads, referer=f"https://site-{k}.example/")
            for k in range(13)
            for _ in range(2)
        ],
        *[
            line_on(
                "2024-01-10",
                resource=roads,
                referer="https://site-0.example/",
                track="readDataFiles",
                uri="/data-fair/api/v1/datasets/roads/raw",
            )
            for _ in range(3)
        ],
        *[line_on("2024-01-11", resource=roads) for _ in range(50)],
    )
    await open_dashboard(client, ADMIN_TOKEN)
    page = (await client.get("/dashboard")).text
    domains = element(page, 'data-breakdown="referer_domain"', "</figure>")
    rows = [words(row) for row in re.findall(r"<tr data-key=.*?</tr>", domains, re.S)]
    # The 10 most used, "(no referer)" among them after the named ones, then the 4 others:
    # site-0 (1 call and 3 downloads), site-3, site-2, site-1.
    assert [row.split(" ")[0] for row in rows] == [
        *(f"site-{k}.example" for k in range(12, 3, -1)),
        "(no",
        "4",
    ]
    # 1 + 4 + 3 + 2 calls now, 4 x 2 before, of 141; site-0's 3 downloads, all of them.
    assert rows[-1] == (
        "4 others 10 8 ▲ +2 up 2 from 8 7.1 % 3 0 new new: none in the previous period 100 %"
    )
    assert '<tr data-key="">' in domains  # not a filter: no link
    assert card(page, "api_calls").startswith("API calls 141 previous period: 26 ")
