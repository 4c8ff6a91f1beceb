"""The dashboard in headless Chromium (issue 17), on SQLite and on PostgreSQL: no horizontal
overflow at 1366, 390 and 360 px, the first key figure on a phone's first screen, axe-core clean,
click-to-filter, intervals, comparisons, and each interaction bug of the issue as a regression.

Needs Debian's chromium and Playwright (see tests/web/test_browser.py); axe-core is vendored in
tests/web/axe/ and injected into the pages (the context bypasses the pages' CSP for it alone).
Screenshots of each page go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.helpers import ADMIN_TOKEN, INGEST_TOKEN, id_token, named_line
from tests.server_processes import (
    ROOT,
    clean_env,
    free_port,
    postgres_database,
    serving,
)

CHROMIUM = Path("/usr/bin/chromium")
if os.environ.get("CI") == "true":  # as in tests/web/test_browser.py: CI installs both
    assert CHROMIUM.exists(), "CI needs Debian's chromium: .ci/run installs it"
    import playwright.sync_api as sync_api
elif not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
else:
    sync_api = pytest.importorskip("playwright.sync_api")
# A busy machine (CI shares two cores) may take seconds to paint: every wait and assertion
# allows 30 s, a bound that only a broken page reaches.
sync_api.expect.set_options(timeout=30_000)

ARTIFACTS = ROOT / "test-artifacts"
AXE = Path(__file__).parent / "axe" / "axe.min.js"
WIDTHS = {"desktop": (1366, 900), "phone-390": (390, 844), "phone-360": (360, 640)}
MEMBER = id_token({"id": "carol", "organizations": [{"id": "org1"}]})
# The server counts days in UTC and its presets end today. Its today is fixed to the one the
# lines were written for (USAGE_METRICS_TODAY): a run across midnight saw 6 weeks where the test
# counted 5.
TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return date(day.year - 1, 3, 1)


def _lines() -> list[dict[str, Any]]:
    """org1: roads, 3 API calls from client.example and 2 by a member yesterday, 10 twenty days
    ago, 4 on the same day a year before; rivers, 1 download from other.example the day before
    yesterday."""
    roads = {"type": "datasets", "id": "roads", "title": "Routes départementales de la métropole"}
    rivers = {"type": "datasets", "id": "rivers", "title": "Rivers"}

    def at(day: date, **fields: Any) -> dict[str, Any]:
        return named_line(time=f"{day}T12:00:00+00:00", **fields)

    return [
        *[at(YESTERDAY, resource=roads, referer="https://client.example/map") for _ in range(3)],
        *[at(YESTERDAY, resource=roads, id_token=MEMBER) for _ in range(2)],
        *[at(YESTERDAY - timedelta(days=20), resource=roads) for _ in range(10)],
        *[at(_year_before(YESTERDAY), resource=roads) for _ in range(4)],
        at(
            YESTERDAY - timedelta(days=1),
            resource=rivers,
            track="readDataFiles",
            referer="https://other.example/",
            uri="/data-fair/api/v1/datasets/rivers/raw",
        ),
    ]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    """(base URL, database kind, org1's owner token) of a server holding _lines()."""
    if request.param == "sqlite":
        database = f"sqlite://{tmp_path_factory.mktemp('dashboard') / 'browser.sqlite3'}"
        yield from _serve(database, request.param)
    else:
        # postgres_database() runs asyncio.run(), which refuses to run beside the event loop of
        # Playwright's sync API in this thread: it creates and drops the database in another.
        made = postgres_database()
        with ThreadPoolExecutor(1) as pool:
            database = pool.submit(made.__enter__).result()
            try:
                yield from _serve(database, request.param)
            finally:
                pool.submit(made.__exit__, None, None, None).result()


def _serve(database: str, kind: str) -> Iterator[tuple[str, str, str]]:
    with serving(database, free_port(), USAGE_METRICS_TODAY=TODAY.isoformat()) as base:
        body = "\n".join(json.dumps(line) for line in _lines()).encode()
        headers = {
            "Authorization": f"Bearer {INGEST_TOKEN}",
            "Content-Type": "application/x-ndjson",
        }
        answer = httpx.post(f"{base}/ingest", content=body, headers=headers)
        assert answer.json()["accepted"] == len(_lines()), answer.text
        command = [sys.executable, "-m", "app.cli", "tokens", "create"]
        command += ["--scope", "owner:organization:org1", "--name", "browser owner"]
        env = clean_env(USAGE_METRICS_DATABASE_URL=database)
        made = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        yield base, kind, made.stdout.strip()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = sync_api.sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield chromium
    chromium.close()
    playwright.stop()


def _page(browser: Any, base: str, token: str, size: tuple[int, int] = (1366, 900)) -> Any:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, bypass_csp=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: page.problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on(
        "response",
        lambda r: page.problems.append(f"{r.status} {r.url}") if r.status == 404 else None,
    )
    page.goto(f"{base}/login")
    page.fill("#token", token)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/dashboard")
    return page


def _overflow(page: Any) -> tuple[int, int]:
    sizes: list[int] = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return sizes[0], sizes[1]


def _axe(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"
    )
    return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in found]


PAGES = {
    "dashboard": "/dashboard",
    "dashboard-fr-year": "/dashboard?preset=12m&lang=fr&compare=year",
    "dashboard-filtered": "/dashboard?preset=30d&domain=client.example&group=ANONYMOUS",
    "dataset": "/dashboard/datasets/roads?preset=30d",
    "empty-period": "/dashboard?start=2001-01-01&end=2001-01-31",
    "bad-period": "/dashboard?start=2024-01-10&end=2024-01-01",
}


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_fits_the_screen_and_axe_finds_nothing(
    browser: Any, served: tuple[str, str, str], width: str
) -> None:
    base, kind, token = served
    page = _page(browser, base, token, WIDTHS[width])
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in PAGES.items():
        page.goto(f"{base}{path}")
        scroll_width, inner_width = _overflow(page)
        assert scroll_width <= inner_width, (name, scroll_width, inner_width)
        assert _axe(page) == [], name
        page.screenshot(
            path=str(ARTIFACTS / f"dashboard-{name}-{width}-{kind}.png"), full_page=True
        )
    # The bad period answers 400 on purpose (the browser logs it); nothing else failed.
    assert [p for p in page.problems if "status of 400" not in p] == []


@pytest.mark.parametrize("width", ["phone-390", "phone-360"])
def test_the_first_key_figure_is_on_a_phones_first_screen(
    browser: Any, served: tuple[str, str, str], width: str
) -> None:
    base, _, token = served
    page = _page(browser, base, token, WIDTHS[width])
    for path in ("/dashboard?lang=fr", "/dashboard/datasets/roads"):
        page.goto(f"{base}{path}")
        box = page.locator('[data-figure="api_calls"]').bounding_box()
        assert box is not None and box["y"] + box["height"] <= WIDTHS[width][1], (path, box)


def test_clicking_a_domain_row_adds_its_chip_and_figures_change_exactly(
    browser: Any, served: tuple[str, str, str]
) -> None:
    base, _, token = served
    page = _page(browser, base, token, WIDTHS["phone-390"])
    expect = sync_api.expect
    api_calls = page.locator('[data-figure="api_calls"] .value')
    expect(api_calls).to_have_text("5")
    page.click('[data-breakdown="referer_domain"] [data-key="add-referer_domain-client.example"]')
    expect(page.locator('[data-chip="domain:client.example"]')).to_be_visible()
    expect(api_calls).to_have_text("3")
    expect(page.locator('[data-figure="downloads"] .value')).to_have_text("0")
    expect(page).to_have_url(f"{base}/dashboard?domain=client.example")
    # The focus stays on the control that asked (its copy in the new view), not <body>: given
    # back when the swap settles, which comes after the new figures show.
    page.wait_for_function("document.activeElement && document.activeElement.tagName !== 'BODY'")
    page.click('[data-chip="domain:client.example"] a')
    expect(page.locator("[data-chip]")).to_have_count(0)
    expect(api_calls).to_have_text("5")
    assert page.problems == []


def _iso_weeks(days: int) -> int:
    start = TODAY - timedelta(days=days - 1)
    return len({(start + timedelta(days=i)).isocalendar()[:2] for i in range(days)})


def test_intervals_and_comparison_modes_with_exact_figures(
    browser: Any, served: tuple[str, str, str]
) -> None:
    base, _, token = served
    page = _page(browser, base, token)
    expect = sync_api.expect
    bars = page.locator('[data-chart="main"] rect.bar')
    page.select_option("#preset", "30d")
    expect(bars).to_have_count(30)
    page.click('[data-interval="week"]')
    expect(bars).to_have_count(_iso_weeks(30))
    expect(page).to_have_url(f"{base}/dashboard?preset=30d&interval=week")
    # Yesterday's 5 calls and the 10 of twenty days before; the last week holds today: partial,
    # hatched, and said so under the chart.
    # (the chart's table holds the bars' figures, a row a bar)
    figures = page.locator('[data-chart="main"] table.figures tbody td:nth-child(2)')
    assert sum(int(text) for text in figures.all_text_contents()) == 15
    assert bars.last.get_attribute("data-partial") == "true"
    expect(page.locator("#partial-note")).to_contain_text(
        f"This week holds today ({TODAY.isoformat()}, UTC), still being counted"
    )
    page.select_option("#preset", "7d")
    expect(bars).to_have_count(7)  # swapped before the next choice
    page.select_option("#compare", "year")
    previous = page.locator('[data-figure="api_calls"] .previous')
    expect(previous).to_have_text("a year before: 4")
    expect(page.locator('[data-figure="api_calls"] .badge [aria-hidden]')).to_have_text(
        "▲\u00a0+25\u00a0%"
    )
    page.select_option("#compare", "none")
    expect(previous).to_have_count(0)
    expect(page.locator('[data-figure="api_calls"] .value')).to_have_text("5")
    expect(page.locator('[data-chart="main"] polyline.ghost')).to_have_count(0)
    # The crosshair: the keyboard reads the last interval, then the one before.
    page.select_option("#compare", "previous")
    expect(previous).to_have_text("previous period: 0")
    # The swap shows before it settles, and settling sets the chart up and gives the focus back
    # to the control that asked: focus the chart once that is done, not in between.
    expect(page.locator("#view")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator('[data-chart="main"][data-ready]')).to_have_count(1)
    page.focus('[data-chart="main"] .plot')
    tip = page.locator('[data-chart="main"] .tip')
    expect(tip).to_contain_text(f"{TODAY.isoformat()} (today, partial) — 0")
    page.keyboard.press("ArrowLeft")
    expect(tip).to_contain_text(f"{YESTERDAY.isoformat()} — 5")
    # Today alone, against yesterday: one bar, partial.
    page.select_option("#preset", "today")
    expect(bars).to_have_count(1)
    expect(page).to_have_url(f"{base}/dashboard?preset=today")
    expect(bars.first).to_have_attribute("data-partial", "true")
    expect(previous).to_have_text("previous period: 5")
    assert page.problems == []


def test_links_follow_every_swap(browser: Any, served: tuple[str, str, str]) -> None:
    base, _, token = served
    page = _page(browser, base, token)
    expect = sync_api.expect
    page.click('[data-key="sort-downloads"]')
    expect(page).to_have_url(f"{base}/dashboard?sort=downloads")
    # Focus is given back when the swap settles, after the URL is pushed: waited for.
    expect(page.locator('[data-key="sort-downloads"]')).to_be_focused()
    page.select_option("#preset", "12m")  # the sort is kept
    expect(page).to_have_url(re.compile(r"preset=12m"))
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"preset": ["12m"], "sort": ["downloads"]}
    page.click('#languages a[lang="fr"]')  # the header's link followed the swap (out of band)
    expect(page).to_have_url(f"{base}/dashboard?preset=12m&sort=downloads&lang=fr")
    expect(page.locator("#preset")).to_have_value("12m")
    export = page.locator("details.exports a").first
    assert export.get_attribute("href") == "/dashboard/export.csv?preset=12m&lang=fr"
    assert page.problems == []


def test_a_loading_indicator_shows_during_a_swap(
    browser: Any, served: tuple[str, str, str]
) -> None:
    base, _, token = served
    page = _page(browser, base, token)
    # Recorded as it happens, so that the check does not depend on how long the swap takes.
    page.evaluate(
        """window.seen = {loading: false, busy: false};
        new MutationObserver(() => {
          const loading = document.getElementById('loading');
          if (loading.classList.contains('htmx-request')) seen.loading = true;
          const view = document.getElementById('view');
          if (view && view.getAttribute('aria-busy') === 'true') seen.busy = true;
        }).observe(document.body, {attributes: true, subtree: true});"""
    )
    page.select_option("#preset", "30d")
    sync_api.expect(page.locator('[data-chart="main"] rect.bar')).to_have_count(30)
    assert page.evaluate("window.seen") == {"loading": True, "busy": True}


def test_end_before_start_shows_a_readable_error_in_the_page(
    browser: Any, served: tuple[str, str, str]
) -> None:
    base, _, token = served
    page = _page(browser, base, token)
    page.click("details.menu:has(#start) summary")
    page.fill("#start", "2024-01-10")
    page.fill("#end", "2024-01-01")
    page.click("#apply-period")
    alert = page.locator("#view-error")
    sync_api.expect(alert).to_contain_text("the period ends (2024-01-01) before it starts")
    sync_api.expect(page.locator("#end")).to_have_value("2024-01-01")
    page.fill("#end", "2024-01-20")
    page.click("#view button[type=submit]")
    sync_api.expect(page.locator('[data-figure="api_calls"]')).to_be_visible()
    sync_api.expect(page).to_have_url(f"{base}/dashboard?start=2024-01-10&end=2024-01-20")


def test_the_dataset_filter_offers_the_datasets_by_title(
    browser: Any, served: tuple[str, str, str]
) -> None:
    base, _, token = served
    page = _page(browser, base, token)
    options = page.locator("#dataset-options option")
    assert options.count() == 2
    assert page.locator("#add-dataset").get_attribute("list") == "dataset-options"
    page.click(".add-filter summary")
    page.fill("#add-dataset", "rivers")
    page.press("#add-dataset", "Enter")
    sync_api.expect(page.locator('[data-chip="dataset:rivers"]')).to_be_visible()
    sync_api.expect(page.locator('[data-figure="downloads"] .value')).to_have_text("1")


def test_an_admin_finds_an_owner_among_many(browser: Any, served: tuple[str, str, str]) -> None:
    base, kind, _ = served
    # 120 more owners, in 2001: out of every other test's views.
    lines = [
        named_line(
            time="2001-01-10T12:00:00+00:00",
            owner={"type": "organization", "id": f"many-{n:03}", "name": f"Commune n°{n:03}"},
            resource={"type": "datasets", "id": f"many-{n:03}", "title": f"Budget {n:03}"},
        )
        for n in range(120)
    ]
    headers = {"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/x-ndjson"}
    body = "\n".join(json.dumps(line) for line in lines).encode()
    assert httpx.post(f"{base}/ingest", content=body, headers=headers).json()["accepted"] == 120
    expect = sync_api.expect
    for width in ("desktop", "phone-360"):
        page = _page(browser, base, ADMIN_TOKEN, WIDTHS[width])
        options = page.locator("#owner option")
        expect(options).to_have_count(101)  # every owner, then the first 100 by name
        note = page.locator("#owner-note")
        expect(note).to_have_text(
            "The first 100 of 121 owners by name: find the others by name or id."
        )
        scroll_width, inner_width = _overflow(page)
        assert scroll_width <= inner_width, (width, scroll_width, inner_width)
        assert _axe(page) == [], width
    # Typing narrows the list alone: the field keeps the focus, the URL stays the view's.
    page.fill("#owner-search", "n°117")
    expect(options).to_have_count(2)
    expect(note).to_have_text("Matching “n°117”: 1 of 121 owners.")
    expect(page.locator("#owner-search")).to_be_focused()
    expect(page).to_have_url(f"{base}/dashboard")
    page.select_option("#owner", "organization:many-117")
    expect(page).to_have_url(f"{base}/dashboard?owner=organization%3Amany-117")
    expect(page.locator("#owner")).to_have_value("organization:many-117")
    expect(options).to_have_count(102)  # the chosen one stays listed, first
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-owner-picker-{kind}.png"), full_page=True)
    assert page.problems == []


def test_the_sign_in_form_keeps_its_field_and_button_narrow(
    browser: Any, served: tuple[str, str, str]
) -> None:
    base, _, _ = served
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    for path in ("/login", "/admin/login"):
        page.goto(f"{base}{path}")
        field = page.locator("#token").bounding_box()
        button = page.locator("form button[type=submit]").bounding_box()
        assert field is not None and button is not None
        assert field["width"] <= 512 and button["width"] < 200, (path, field, button)
    context.close()


def test_a_desktop_screenshot_for_the_readme(browser: Any, served: tuple[str, str, str]) -> None:
    base, kind, token = served
    page = _page(browser, base, token, (1280, 900))
    page.goto(f"{base}/dashboard?preset=30d")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"readme-dashboard-{kind}.png"), full_page=False)


def test_the_admin_pages_link_to_the_dashboard(browser: Any, served: tuple[str, str, str]) -> None:
    base, _, _ = served
    page = _page(browser, base, ADMIN_TOKEN)
    page.click('header a[href="/admin/analytics"]')  # the admin pages have their own sign-in
    page.fill("#token", ADMIN_TOKEN)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/admin/analytics")
    # An error shown beside a field by the live preview marks the field invalid, and a fix
    # unmarks it (static/admin.js).
    page.check('input[name="provider"][value="matomo"]')
    page.fill("#tracker_url", "not a url")
    expect = sync_api.expect
    expect(page.locator("#error-tracker_url")).not_to_be_empty()
    expect(page.locator("#tracker_url")).to_have_attribute("aria-invalid", "true")
    page.fill("#tracker_url", "https://matomo.example/")
    page.fill("#site_id", "3")
    expect(page.locator("#error-tracker_url")).to_be_empty()
    expect(page.locator("#tracker_url")).not_to_have_attribute("aria-invalid", "true")
    # Matomo -> GA -> Matomo keeps what was typed.
    page.check('input[name="provider"][value="google-analytics"]')
    expect(page.locator("#measurement_id")).to_be_visible()
    page.check('input[name="provider"][value="matomo"]')
    expect(page.locator("#tracker_url")).to_have_value("https://matomo.example/")
    page.click('header a[href="/dashboard"]')
    page.wait_for_url(f"{base}/dashboard")
    sync_api.expect(page.locator('[data-figure="api_calls"]')).to_be_visible()
