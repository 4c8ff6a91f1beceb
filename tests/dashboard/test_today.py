"""Issue 23: the dashboard shows today. Presets end today, a Today preset, the interval that
holds today drawn and listed as partial, and the "updated" line from the folder's freshness."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from datetime import UTC, date, datetime

import anyio
import httpx
import pytest

from app.config import Settings
from app.core.periods import Period
from app.dashboard.view import Preset, preset_period
from app.ingest.domain_cap import DomainCap
from app.ingest.fold import fold_waiting
from tests.conftest import with_settings
from tests.dashboard.pages import (
    TODAY,
    card,
    chart_rows,
    element,
    ingest_known_data,
    main_chart,
    open_dashboard,
    org1_token,
    words,
)
from tests.helpers import (
    ADMIN_TOKEN,
    HELD_BACK_S,
    NDJSON,
    app_client,
    dataset,
    ingest,
    line_on,
    ndjson,
)

pytestmark = pytest.mark.anyio

ROADS = dataset("roads", "Roads")
MAIN_CHART = '<figure class="chart main" data-chart="main"'


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, today=TODAY, failed_sign_in_delay_s=0.0)


@pytest.fixture
async def org1(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The known data, plus 3 API calls today (2024-01-14) and 2 the day before."""
    await ingest_known_data(client)
    await ingest(
        client,
        *[line_on("2024-01-14", resource=ROADS) for _ in range(3)],
        *[line_on("2024-01-13", resource=ROADS) for _ in range(2)],
    )
    await open_dashboard(client, await org1_token())
    return client


def partial_bars(page: str) -> list[str]:
    """The intervals of the main chart's bars marked partial, as their rows in the chart's
    table name them (which say so too)."""
    marks = re.findall(r'<rect class="bar"( data-partial="true")?', main_chart(page))
    rows = chart_rows(page)
    assert len(marks) == len(rows)
    partial = [row[0] for row, mark in zip(rows, marks, strict=True) if mark]
    assert partial == [row[0] for row in rows if row[0].endswith(("partial)", "partielle)"))]
    return [when.split(" (", 1)[0] for when in partial]


@pytest.mark.parametrize(
    ("today", "preset", "period"),
    [
        (TODAY, Preset.TODAY, ("2024-01-14", "2024-01-14")),
        (TODAY, Preset.LAST_7_DAYS, ("2024-01-08", "2024-01-14")),
        (TODAY, Preset.LAST_30_DAYS, ("2023-12-16", "2024-01-14")),
        (TODAY, Preset.LAST_MONTH, ("2023-12-01", "2023-12-31")),  # whole: no today in it
        (TODAY, Preset.LAST_12_MONTHS, ("2023-01-15", "2024-01-14")),  # 365 days
        (date(2024, 2, 29), Preset.LAST_12_MONTHS, ("2023-03-01", "2024-02-29")),  # 366
        (date(2024, 3, 1), Preset.LAST_12_MONTHS, ("2023-03-02", "2024-03-01")),  # 366
        (date(2025, 2, 28), Preset.LAST_12_MONTHS, ("2024-03-01", "2025-02-28")),  # 365
    ],
)
def test_presets_end_today(today: date, preset: Preset, period: tuple[str, str]) -> None:
    found = preset_period(preset, today)
    assert found == Period(date.fromisoformat(period[0]), date.fromisoformat(period[1]))
    assert found.previous().days == found.days  # the previous period keeps the same length


async def test_the_today_preset_shows_today_against_yesterday(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"preset": "today"})).text
    assert words(element(page, '<p class="period-words">', "</p>")) == (
        "2024-01-14 → 2024-01-14, compared with 2024-01-13 → 2024-01-13"
    )
    assert card(page, "api_calls") == "API calls 3 previous period: 2 ▲ +50 % up 50 % from 2"
    assert '<option value="today" selected>Today</option>' in page
    assert partial_bars(page) == ["2024-01-14"]
    assert words(element(page, '<p class="partial-note"', "</p>")) == (
        "Today (2024-01-14, UTC) is still being counted: its hatched bar grows until midnight."
    )
    # The figures as a table say it too.
    table = element(element(page, MAIN_CHART, "</figure>"), "<tbody>", "</tbody>")
    assert words(table) == "2024-01-14 (today, partial) 3 2024-01-13 2 ▲ +50 %"
    assert '<tr class="partial">' in table
    # The export of the same view holds today's calls, and names the day.
    csv = await org1.get("/dashboard/export.csv", params={"preset": "today"})
    assert csv.headers["content-disposition"] == (
        'attachment; filename="usage-2024-01-14_2024-01-14.csv"'
    )
    assert csv.content.decode("utf-8-sig").splitlines()[1:] == [
        "roads,Roads,ANONYMOUS,none,3,2,0,0"
    ]


@pytest.mark.parametrize(
    ("params", "partial", "note"),
    [
        ({}, ["2024-01-14"], "Today (2024-01-14, UTC) is still being counted"),
        (
            {"preset": "30d", "interval": "week"},
            ["2024-01-08 – 2024-01-14"],
            "This week holds today (2024-01-14, UTC), still being counted",
        ),
        (
            {"preset": "12m", "interval": "month"},
            ["2024-01-01 – 2024-01-14"],  # the period ends today: its month so far
            "This month holds today (2024-01-14, UTC), still being counted",
        ),
        # Past today the days are empty; the interval that holds today is still the partial one.
        (
            {"start": "2024-01-01", "end": "2024-01-28", "interval": "week"},
            ["2024-01-08 – 2024-01-14"],
            "This week holds today",
        ),
        ({"start": "2024-01-01", "end": "2024-01-13"}, [], None),  # no today: nothing partial
    ],
)
async def test_the_interval_that_holds_today_is_marked_partial(
    org1: httpx.AsyncClient, params: dict[str, str], partial: list[str], note: str | None
) -> None:
    page = (await org1.get("/dashboard", params=params)).text
    chart = element(page, MAIN_CHART, "</figure>")
    assert partial_bars(page) == partial
    # Hatched by an overlay on the same box, filled by the pattern the chart defines.
    hatches = re.findall(r'<rect class="hatch" fill="url\(#main-partial\)"', chart)
    assert len(hatches) == len(partial)
    assert ('<pattern id="main-partial"' in chart) == bool(partial)
    if note is None:
        assert 'class="partial-note"' not in chart and "partial)" not in chart
    else:
        assert words(element(chart, '<p class="partial-note"', "</p>")).startswith(note)
        assert 'aria-describedby="main-help partial-note"' in chart


async def test_the_partial_interval_in_french(org1: httpx.AsyncClient) -> None:
    page = (await org1.get("/dashboard", params={"lang": "fr", "interval": "week"})).text
    chart = element(page, MAIN_CHART, "</figure>")
    assert partial_bars(page) == ["2024-01-08 – 2024-01-14"]
    # The bar's row: 8 calls from Monday to Saturday, 3 today.
    assert chart_rows(page)[-1] == (
        "2024-01-08 – 2024-01-14 (cette semaine, partielle)",
        "11",
        "2024-01-01 – 2024-01-07",
        "14",
        "▼ −21 %",
    )
    assert words(element(chart, '<p class="partial-note"', "</p>")) == (
        "Cette semaine contient aujourd'hui (2024-01-14, UTC), encore en cours de comptage : "
        "sa barre hachurée grandit jusqu'à la fin de la semaine."
    )
    assert '<option value="today" >Aujourd&#39;hui</option>' in page


async def test_the_updated_line_says_what_the_folder_has_yet_to_count(
    settings: Settings,
) -> None:
    held_back = replace(settings, fold_interval_s=HELD_BACK_S)  # only the test folds
    async with app_client(held_back) as client:
        await open_dashboard(client, await org1_token())
        for lines in (3, 1):
            body = ndjson(*[line_on("2024-01-14", resource=ROADS) for _ in range(lines)])
            assert (await client.post("/ingest", content=body, headers=NDJSON)).status_code == 200
        page = (await client.get("/dashboard")).text
        updated = words(element(page, '<p class="updated"', "</p>"))
        assert re.fullmatch(r"Updated \d+ s ago; still to count: 2 batches \(4 lines\)\.", updated)
        assert card(page, "api_calls").startswith("API calls 0 ")
        french = (await client.get("/dashboard", params={"lang": "fr"})).text
        assert re.fullmatch(
            r"Mis à jour il y a \d+ s ; reste à compter : 2 lots \(4 lignes\)\.",
            words(element(french, '<p class="updated"', "</p>")),
        )

        await fold_waiting(DomainCap(200))
        page = (await client.get("/dashboard")).text
        assert words(element(page, '<p class="updated"', "</p>")) == (
            "Up to date: every batch received is counted."
        )
        assert card(page, "api_calls").startswith("API calls 4 ")
        assert partial_bars(page) == ["2024-01-14"]


async def test_a_batch_sent_now_shows_on_the_default_view(settings: Settings) -> None:
    # As a newcomer meets it: the real clock, the server's own folder at its default interval,
    # the empty dashboard's command sent as shown, then the page reloaded.
    newcomer = replace(settings, today=None, fold_interval_s=Settings().fold_interval_s)
    async with app_client(newcomer) as client:
        await open_dashboard(client, ADMIN_TOKEN)
        empty = (await client.get("/dashboard")).text
        line = re.search(r"<<'EOF' (\{.*\}) EOF", words(element(empty, "<pre", "</pre>")))
        assert line is not None
        sent = datetime.fromisoformat(json.loads(line[1])["time"]).date()
        assert sent in _days_around(datetime.now(UTC).date())
        answer = await client.post("/ingest", content=line[1].encode(), headers=NDJSON)
        assert answer.json()["accepted"] == 1, answer.json()
        # The folder adds the batch within about a second; the bound is for a broken one only.
        deadline = time.monotonic() + 60.0
        page = (await client.get("/dashboard")).text
        while "API calls 1 " not in card(page, "api_calls") and time.monotonic() < deadline:
            await anyio.sleep(0.05)
            page = (await client.get("/dashboard")).text
        assert card(page, "api_calls") == (
            "API calls 1 previous period: 0 new new: none in the previous period"
        )
        rows = chart_rows(page)
        assert len(rows) == 7
        assert [when.split(" (", 1)[0] for when, now, *_ in rows if now == "1"] == [
            sent.isoformat()
        ]
        # The last bar is today's, partial, whatever the day the page was read on.
        assert partial_bars(page) == [rows[-1][0].split(" (", 1)[0]]
        assert words(element(page, '<p class="updated"', "</p>")) == (
            "Up to date: every batch received is counted."
        )


def _days_around(day: date) -> set[date]:
    # The command is timed when the page is drawn: a run across midnight may see the day before.
    return {day, date.fromordinal(day.toordinal() - 1)}
