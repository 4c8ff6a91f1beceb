"""In headless Chromium: GraphiQL with no network but the server, and a page on another origin
calling /graphql (CORS, with and without credentials).

Needs Debian's `chromium` and Playwright, as tests/web/test_browser.py does; skipped without
chromium, except in CI.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import ADMIN_TOKEN, NDJSON, line_on, ndjson
from tests.server_processes import free_port, start_server, stop_server, wait_until

CHROMIUM = Path("/usr/bin/chromium")
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

USAGE = '{ usage(period: {start: "2024-01-08", end: "2024-01-14"}) { apiCalls { current } } }'
# Runs in the page, so the browser applies CORS: the answer's JSON, or how the fetch failed.
FETCH = """async ([url, query, token, credentials]) => {
  const headers = {"Content-Type": "application/json"};
  if (token) headers["Authorization"] = "Bearer " + token;
  try {
    const answer = await fetch(url, {method: "POST", headers, credentials,
                                     body: JSON.stringify({query})});
    return JSON.stringify(await answer.json());
  } catch (error) {
    return "failed: " + error.name;
  }
}"""


class Site:
    """A local site on its own port (so another origin than the service): one blank page."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (
                    b"<!doctype html><html><head><title>Portal</title></head><body></body></html>"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._http.server_address[1]}"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[Site, Site]]:
    portal, elsewhere = Site(), Site()
    yield portal, elsewhere
    portal.close()
    elsewhere.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sites: tuple[Site, Site]) -> Iterator[str]:
    """A server that lists the portal's origin (not the other site's) in its CORS origins."""
    folder = tmp_path_factory.mktemp("graphql-browser")
    port = free_port()
    process = start_server(
        f"sqlite://{folder / 'metrics.sqlite3'}",
        port,
        folder / "server.log",
        USAGE_METRICS_CORS_ORIGINS=sites[0].origin,
    )
    base = f"http://127.0.0.1:{port}"

    def is_up() -> bool:
        try:
            return httpx.get(f"{base}/healthz").status_code == 200
        except httpx.TransportError:
            return process.poll() is not None

    try:
        wait_until(is_up, "the server to answer")
        assert process.poll() is None, (folder / "server.log").read_text()
        answer = httpx.post(f"{base}/ingest", content=ndjson(line_on("2024-01-08")), headers=NDJSON)
        assert answer.json()["accepted"] == 1, answer.text
        yield base
    finally:
        stop_server(process)


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
    yield context
    context.close()


def test_graphiql_loads_and_runs_a_query_with_no_network_but_the_server(
    context: Any, server: str
) -> None:
    left: list[str] = []
    problems: list[str] = []

    def only_the_server(route: Any) -> None:
        if route.request.url.startswith(f"{server}/"):
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort()

    context.route(re.compile(".*"), only_the_server)
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    answer = page.goto(f"{server}/graphql")
    assert answer is not None
    assert "font-src 'self' data:" in answer.headers["content-security-policy"]
    run = page.locator(".graphiql-execute-button")
    sync_api.expect(run).to_be_visible()
    run.click()
    result = page.locator(".graphiql-response")
    sync_api.expect(result).to_contain_text('"provider": "NONE"')
    sync_api.expect(result).to_contain_text(f'"scriptUrl": "{server}/analytics/tracker.js"')
    assert left == []  # nothing tried to leave the machine (no CDN)
    assert problems == []  # among them: no Content-Security-Policy violation


def test_a_listed_origin_reads_usage_with_credentials(
    context: Any, server: str, sites: tuple[Site, Site]
) -> None:
    page = context.new_page()
    page.goto(f"{sites[0].origin}/portal")
    url = f"{server}/graphql"
    found = page.evaluate(FETCH, [url, USAGE, ADMIN_TOKEN, "include"])
    assert found == '{"data":{"usage":{"apiCalls":{"current":1}}}}'


def test_another_origin_reads_analytics_only_and_without_credentials(
    context: Any, server: str, sites: tuple[Site, Site]
) -> None:
    page = context.new_page()
    page.goto(f"{sites[1].origin}/portal")
    url = f"{server}/graphql"
    public = "{ analytics { provider } }"
    assert page.evaluate(FETCH, [url, public, None, "omit"]) == (
        '{"data":{"analytics":{"provider":"NONE"}}}'
    )
    # Its preflight may not send a token, and a response with `*` may not be read with cookies.
    assert page.evaluate(FETCH, [url, USAGE, ADMIN_TOKEN, "omit"]) == "failed: TypeError"
    assert page.evaluate(FETCH, [url, public, None, "include"]) == "failed: TypeError"
