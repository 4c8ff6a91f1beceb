"""tracker.js built from the published configuration (pure), and run in Node with a fake page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest

from app.webanalytics.script import tracker_script
from app.webanalytics.tracking import build_config

BASE = "https://metrics.example"
MATOMO = {"tracker_url": "https://matomo.example/m/", "site_id": "3", "cookieless": True}
GOOGLE = {"provider": "google-analytics", "google_analytics": {"measurement_id": "G-AB12"}}


def script(stored: dict[str, Any] | None) -> str:
    return tracker_script(build_config(stored, BASE))


def pushes(text: str) -> list[str]:
    return re.findall(r'\bpaq\(\[("\w+")', text)


@pytest.mark.parametrize("stored", [None, {"provider": "none"}])
def test_is_empty_without_a_provider(stored: dict[str, Any] | None) -> None:
    assert script(stored) == ""


def test_matomo_cookieless_disables_cookies_first_and_loads_matomo_js_at_once() -> None:
    text = script({"provider": "matomo", "matomo": MATOMO})
    assert 'var tracker = "https://matomo.example/m/";' in text
    assert pushes(text) == [
        '"disableCookies"',
        '"setTrackerUrl"',
        '"setSiteId"',
        '"trackPageView"',
        '"enableLinkTracking"',
        '"setReferrerUrl"',
        '"setCustomUrl"',
        '"setDocumentTitle"',
        '"trackPageView"',
    ]
    assert 'paq(["setTrackerUrl", tracker + "matomo.php"]);' in text
    assert 'paq(["setSiteId", "3"]);' in text
    assert 'script.src = tracker + "matomo.js";' in text
    assert "requireConsent" not in text


def test_matomo_with_cookies_waits_for_consent_before_loading_matomo_js() -> None:
    text = script({"provider": "matomo", "matomo": {**MATOMO, "cookieless": False}})
    assert pushes(text)[:2] == ['"requireConsent"', '"setTrackerUrl"']
    assert "disableCookies" not in text
    assert "if (granted) load();" in text


def test_google_analytics_denies_consent_and_loads_gtag_only_on_consent() -> None:
    text = script(GOOGLE)
    assert 'var id = "G-AB12";' in text
    default = text.index('gtag("consent", "default", denied);')
    consent = text.index("window.usageMetricsConsent = function (granted) {")
    assert default < consent < text.index("script.src = ")
    assert 'ad_storage: "denied"' in text and 'analytics_storage: "denied"' in text
    assert 'script.src = "https://www.googletagmanager.com/gtag/js?id=" + ' in text


def test_escapes_stored_values_for_a_javascript_string() -> None:
    # Validation never stores these; the script stays safe if a row was edited by hand.
    hostile = {**MATOMO, "tracker_url": 'https://m.example/"</script><script>x()//', "site_id": "1"}
    text = script({"provider": "matomo", "matomo": hostile})
    assert 'var tracker = "https://m.example/\\"<\\/script><script>x()//";' in text
    assert "</script>" not in text


# A fake page for Node: records the scripts the tracker adds and lets the test drive history.
_HARNESS = """
const added = [];
const listeners = {};
global.window = global;
global.location = { href: "https://portal.example/datasets" };
global.document = { title: "Datasets", head: { appendChild: (s) => added.push(s.src) },
  createElement: () => ({}) };
global.history = { pushState: (s, t, url) => { location.href = url; },
  replaceState: (s, t, url) => { location.href = url; } };
global.addEventListener = (name, fn) => { listeners[name] = fn; };
const done = () => process.stdout.write(JSON.stringify({
  added, paq: window._paq || null, dataLayer: (window.dataLayer || []).map((a) => Array.from(a)),
}) + "\\n");
"""


def run_in_node(text: str, steps: str) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    program = f"{_HARNESS}\n{text}\n{steps}"
    output = subprocess.run(
        [node, "-e", program], check=True, capture_output=True, text=True, timeout=20
    ).stdout
    return [json.loads(line) for line in output.splitlines()]


def test_matomo_tracks_a_route_change_of_a_single_page_front_end() -> None:
    text = script({"provider": "matomo", "matomo": MATOMO})
    steps = """done();
history.pushState({}, "", "https://portal.example/datasets/roads");
document.title = "Roads";
setTimeout(() => { history.replaceState({}, "", location.href); setTimeout(done, 0); }, 0);"""
    first, after = run_in_node(text, steps)
    assert first["added"] == ["https://matomo.example/m/matomo.js"]
    assert first["paq"] == [
        ["disableCookies"],
        ["setTrackerUrl", "https://matomo.example/m/matomo.php"],
        ["setSiteId", "3"],
        ["trackPageView"],
        ["enableLinkTracking"],
    ]
    assert after["paq"][5:] == [  # replaceState to the same URL is no new page view
        ["setReferrerUrl", "https://portal.example/datasets"],
        ["setCustomUrl", "https://portal.example/datasets/roads"],
        ["setDocumentTitle", "Roads"],
        ["trackPageView"],
    ]


def test_google_analytics_adds_no_script_before_consent() -> None:
    steps = """done();
window.usageMetricsConsent(false);
done();
window.usageMetricsConsent(true);
done();"""
    before, refused, granted = run_in_node(script(GOOGLE), steps)
    denied = {
        "analytics_storage": "denied",
        "ad_storage": "denied",
        "ad_user_data": "denied",
        "ad_personalization": "denied",
    }
    assert before == {"added": [], "paq": None, "dataLayer": [["consent", "default", denied]]}
    assert refused["added"] == []
    assert granted["added"] == ["https://www.googletagmanager.com/gtag/js?id=G-AB12"]
    assert granted["dataLayer"][2] == ["consent", "update", {"analytics_storage": "granted"}]
    assert granted["dataLayer"][3][0] == "js"
    assert granted["dataLayer"][4] == [
        "config",
        "G-AB12",
        {"allow_google_signals": False, "allow_ad_personalization_signals": False},
    ]


def test_matomo_with_cookies_loads_nothing_before_consent() -> None:
    text = script({"provider": "matomo", "matomo": {**MATOMO, "cookieless": False}})
    before, granted = run_in_node(text, "done(); window.usageMetricsConsent(true); done();")
    assert before["added"] == []
    assert granted["added"] == ["https://matomo.example/m/matomo.js"]
    assert granted["paq"][0] == ["requireConsent"]
    assert granted["paq"][-1] == ["setConsentGiven"]
