"""In headless Chromium: the admin form, and tracker.js on a portal page (Matomo stand-in, GA).

Needs Debian's `chromium` (apt-get install chromium) and Playwright for Python (in the test
extra); skipped without chromium, except in CI. Playwright drives the system browser and
downloads none.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.helpers import id_token, named_line

CHROMIUM = Path("/usr/bin/chromium")
# CI installs both (.ci/run): there a missing browser is a failure, not a reason to skip.
if os.environ.get("CI") == "true":
    assert CHROMIUM.exists(), "CI needs Debian's chromium: .ci/run installs it"
    import playwright.sync_api as sync_api
elif not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
else:
    sync_api = pytest.importorskip("playwright.sync_api")
# A busy machine (CI shares two cores) may take seconds to paint: every wait and assertion
# allows 30 s, a bound that only a broken page reaches.
sync_api.expect.set_options(timeout=30_000)

ADMIN_TOKEN = "browser-admin-token"
TODAY = datetime.now(UTC).date()  # the server counts days in UTC
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
URL_ERROR = "Enter an http:// or https:// URL, like https://matomo.example/."
GOOGLE_HOSTS = re.compile(
    r"^https?://[^/]*(google-analytics\.com|googletagmanager\.com|google\.com)"
)

# Stands in for Matomo's matomo.js: runs the _paq commands tracker.js queues, as Matomo does,
# and keeps a first-party visitor cookie unless cookies were disabled.
FAKE_MATOMO_JS = """
(function () {
  var trackerUrl = "", siteId = "", cookies = true, url = location.href;
  function trackPageView() {
    if (cookies) document.cookie = "_pk_id.stand-in=visitor; path=/; max-age=3600";
    var query = "idsite=" + encodeURIComponent(siteId) + "&rec=1&url=" + encodeURIComponent(url);
    navigator.sendBeacon(trackerUrl + "?" + query);
  }
  var commands = {
    disableCookies: function () { cookies = false; },
    setTrackerUrl: function (value) { trackerUrl = value; },
    setSiteId: function (value) { siteId = value; },
    setCustomUrl: function (value) { url = value; },
    trackPageView: trackPageView,
  };
  function run(command) {
    var action = commands[command[0]];
    if (action) action.apply(null, command.slice(1));
  }
  var queued = window._paq || [];
  window._paq = { push: run };
  queued.forEach(run);
})();
"""

# The same stand-in without disableCookies: it does keep a cookie, so the cookie check can fail.
CONTROL_PAGE = """<!doctype html><html><head><title>Control</title><script>
window._paq = [["setTrackerUrl", "/matomo/matomo.php"], ["setSiteId", "7"], ["trackPageView"]];
</script><script src="/matomo/matomo.js"></script></head><body></body></html>"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    database = tmp_path_factory.mktemp("browser") / "browser.sqlite3"
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("USAGE_METRICS_")},
        "USAGE_METRICS_DATABASE_URL": f"sqlite://{database}",
        "USAGE_METRICS_ADMIN_TOKEN": ADMIN_TOKEN,
        "USAGE_METRICS_SECRET_KEY": "browser-test-secret",
        # Counted in the request: a page loaded right after posting shows the batch.
        "USAGE_METRICS_FOLD_INTERVAL": "0",
        # The dashboard's today, fixed to the one the lines are written for: a run across
        # midnight keeps its days.
        "USAGE_METRICS_TODAY": TODAY.isoformat(),
    }


@pytest.fixture(scope="module")
def server(server_env: dict[str, str]) -> Iterator[str]:
    """`usage-metrics serve` on a free local port; its base URL."""
    port = _free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/healthz").raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def configure(server_env: dict[str, str], *flags: str) -> None:
    command = [sys.executable, "-m", "app.cli", "analytics", "set", *flags]
    subprocess.run(command, env=server_env, check=True, capture_output=True, timeout=30)


class StandIn:
    """A local site playing the portal (/portal) and the Matomo server (/matomo/)."""

    def __init__(self, service: str) -> None:
        self.hits: list[dict[str, list[str]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.answer(self)

            def do_POST(self) -> None:
                stand_in.answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._service = service
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path = urlsplit(request.path)
        if path.path == "/matomo/matomo.php":
            self.hits.append(parse_qs(path.query))
            self._send(request, 204, "", "image/gif")
        elif path.path == "/matomo/matomo.js":
            self._send(request, 200, FAKE_MATOMO_JS, "application/javascript")
        elif path.path == "/control":
            self._send(request, 200, CONTROL_PAGE, "text/html")
        elif path.path.startswith("/portal"):
            self._send_portal(request)
        else:
            self._send(request, 404, "", "text/plain")

    def _send_portal(self, request: BaseHTTPRequestHandler) -> None:
        # The portal's CSP is built from config.json alone: the sources it lists must suffice.
        config = httpx.get(f"{self._service}/analytics/config.json").json()
        csp = (
            f"default-src 'self'; script-src 'self' {' '.join(config['cspScriptSrc'])}; "
            f"connect-src 'self' {' '.join(config['cspConnectSrc'])}; "
            f"img-src 'self' {' '.join(config['cspImgSrc'])}"
        )
        page = (
            "<!doctype html><html><head><title>Datasets</title>"
            f'<script src="{config["scriptUrl"]}"></script></head>'
            "<body><h1>Datasets</h1></body></html>"
        )
        self._send(request, 200, page, "text/html", {"Content-Security-Policy": csp})

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler,
        status: int,
        body: str,
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode()
        request.send_response(status)
        request.send_header("Content-Type", media_type)
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)

    def wait_for_hits(self, count: int, timeout_s: float = 10) -> list[dict[str, list[str]]]:
        deadline = time.monotonic() + timeout_s
        while len(self.hits) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.hits

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def stand_in(server: str) -> Iterator[StandIn]:
    site = StandIn(server)
    yield site
    site.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = sync_api.sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(30_000)
    # Nothing may leave this machine: a request for another host is answered here, and seen.
    context.route(
        re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"),
        lambda route: route.fulfill(status=204, body=""),
    )
    yield context
    context.close()


def settle(page: Any) -> None:
    """Leave the field being typed in and let its preview come back: on a busy machine the
    preview that leaving it triggers could swap in while the click on Save is under way,
    moving the button from under the pointer (the click then reaches no button)."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_signs_in_sees_a_bad_url_beside_its_field_fixes_it_and_saves(
    context: Any, server: str
) -> None:
    expect = sync_api.expect
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(f"{server}/admin/login")
    page.fill("#token", ADMIN_TOKEN)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{server}/admin/analytics")

    page.check("input[name=provider][value=matomo]")
    expect(page.locator("#tracker_url")).to_be_visible()
    expect(page.locator("input[name=cookieless]")).to_be_checked()
    page.fill("#tracker_url", "ftp://matomo.example")
    page.fill("#site_id", "7")
    expect(page.locator("#error-tracker_url")).to_have_text(URL_ERROR)  # the live preview
    settle(page)
    page.click("#analytics-form > button[type=submit]")
    expect(page.locator("#analytics-form .error[role=alert]")).to_have_text(
        "Nothing was saved: fix the fields marked below."
    )
    expect(page.locator("#error-tracker_url")).to_have_text(URL_ERROR)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-analytics-invalid.png"), full_page=True)
    assert httpx.get(f"{server}/analytics/config.json").json()["provider"] == "NONE"

    page.fill("#tracker_url", "https://matomo.example/stats")
    expect(page.locator("#error-tracker_url")).to_have_text("")
    expect(page.locator("#csp")).to_contain_text("connect-src https://matomo.example")
    settle(page)
    page.click("#analytics-form > button[type=submit]")
    expect(page.locator("#analytics-form .saved")).to_be_visible()
    expect(page.locator("#tracker_url")).to_have_value("https://matomo.example/stats/")
    page.screenshot(path=str(ARTIFACTS / "admin-analytics.png"), full_page=True)

    config = httpx.get(f"{server}/analytics/config.json").json()
    assert config["matomo"] == {
        "trackerUrl": "https://matomo.example/stats/",
        "siteId": "7",
        "cookieless": True,
    }
    # Chromium logs every 4xx answer; the 422 of the invalid save is the expected one.
    assert [p for p in problems if "status of 422" not in p] == []


def test_cookieless_matomo_tracks_page_views_and_leaves_no_cookie(
    context: Any, server: str, server_env: dict[str, str], stand_in: StandIn
) -> None:
    configure(
        server_env,
        "--provider",
        "matomo",
        "--tracker-url",
        f"{stand_in.url}/matomo",
        "--site-id",
        "7",
    )
    page = context.new_page()
    page.goto(f"{stand_in.url}/portal")
    [hit] = stand_in.wait_for_hits(1)
    assert (hit["idsite"], hit["rec"], hit["url"]) == (["7"], ["1"], [f"{stand_in.url}/portal"])

    page.evaluate("history.pushState({}, '', '/portal/datasets/roads')")  # an SPA route change
    second = stand_in.wait_for_hits(2)[1]
    assert (second["idsite"], second["url"]) == (["7"], [f"{stand_in.url}/portal/datasets/roads"])

    assert page.evaluate("document.cookie") == ""
    assert context.cookies() == []

    control = context.new_page()
    control.goto(f"{stand_in.url}/control")
    stand_in.wait_for_hits(3)
    assert [cookie["name"] for cookie in context.cookies()] == ["_pk_id.stand-in"]


def test_google_analytics_sends_nothing_to_google_before_consent(
    context: Any, server: str, server_env: dict[str, str], stand_in: StandIn
) -> None:
    configure(server_env, "--provider", "google-analytics", "--measurement-id", "G-TEST123")
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.goto(f"{stand_in.url}/portal")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.usageMetricsConsent") == "function"
    assert [url for url in requests if GOOGLE_HOSTS.match(url)] == []
    assert page.evaluate("window.dataLayer[0][2].analytics_storage") == "denied"

    # The same page after consent does ask for gtag.js: the check above could have failed.
    with page.expect_request(GOOGLE_HOSTS) as asked:
        page.evaluate("window.usageMetricsConsent(true)")
    assert asked.value.url == "https://www.googletagmanager.com/gtag/js?id=G-TEST123"


def _ingest_days(server: str, lines: list[dict[str, Any]]) -> None:
    body = "\n".join(json.dumps(line) for line in lines).encode()
    answer = httpx.post(
        f"{server}/ingest",
        content=body,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/x-ndjson"},
    )
    assert answer.json()["accepted"] == len(lines), answer.text


def test_an_owner_opens_the_dashboard_switches_preset_and_filters(
    context: Any, server: str, server_env: dict[str, str]
) -> None:
    # Relative to the server's today (TODAY): its presets end on it.
    yesterday = TODAY - timedelta(days=1)
    earlier = yesterday - timedelta(days=20)  # in the last 30 days, not in the last 7
    member = id_token({"id": "carol", "organizations": [{"id": "org1"}]})
    roads = {"type": "datasets", "id": "roads", "title": "Roads"}
    _ingest_days(
        server,
        [
            *[named_line(time=f"{yesterday}T12:00:00+00:00", resource=roads) for _ in range(3)],
            *[
                named_line(time=f"{yesterday}T12:00:00+00:00", resource=roads, id_token=member)
                for _ in range(2)
            ],
            *[named_line(time=f"{earlier}T12:00:00+00:00", resource=roads) for _ in range(10)],
        ],
    )
    command = [sys.executable, "-m", "app.cli", "tokens", "create"]
    command += ["--scope", "owner:organization:org1", "--name", "browser owner"]
    made = subprocess.run(command, env=server_env, check=True, capture_output=True, text=True)
    owner_token = made.stdout.strip()

    expect = sync_api.expect
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{server}/login")
    page.fill("#token", owner_token)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{server}/dashboard")
    api_calls = page.locator('[data-figure="api_calls"] .value')
    expect(api_calls).to_have_text("5")

    page.select_option("#preset", "30d")  # htmx swaps the view and pushes the URL
    expect(api_calls).to_have_text("15")
    expect(page).to_have_url(f"{server}/dashboard?preset=30d")
    bars = page.locator('[data-chart="main"] rect.bar')
    expect(bars).to_have_count(30)
    # The last bar is today's, partial: its figures still grow (its row in the chart's table
    # names it).
    last = page.locator('[data-chart="main"] table.figures tbody tr').last
    assert (last.locator("th").text_content() or "").startswith(f"{TODAY.isoformat()} (")
    assert bars.last.get_attribute("data-partial") == "true"

    page.click(".add-filter summary")
    page.check("input[type=checkbox][name=group][value=OWNER]")  # the filter applies on change
    expect(api_calls).to_have_text("2")
    expect(page).to_have_url(f"{server}/dashboard?preset=30d&group=OWNER")
    expect(page.locator('[data-figure="api_calls"] .previous')).to_have_text("previous period: 0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    page.reload()  # the URL alone holds the view
    expect(api_calls).to_have_text("2")
    expect(page.locator('[data-chip="group:OWNER"]')).to_be_visible()
    expect(page.locator("input[type=checkbox][name=group][value=OWNER]")).to_be_checked()
    assert problems == []
