"""tracker.js: the script a portal includes, built from the published configuration (pure)."""

from __future__ import annotations

import json
from string import Template

from app.webanalytics.tracking import AnalyticsConfig

_GA_SCRIPT = "https://www.googletagmanager.com/gtag/js?id="


def tracker_script(config: AnalyticsConfig) -> str:
    """tracker.js: sets the provider up with the privacy defaults; empty when there is none."""
    if config.matomo is not None:
        matomo = config.matomo
        return _MATOMO.substitute(
            mode="without cookies" if matomo.cookieless else "with cookies, after consent",
            tracker_url=_js(matomo.tracker_url),
            site_id=_js(matomo.site_id),
            setup=_MATOMO_COOKIELESS if matomo.cookieless else _MATOMO_CONSENT,
            consent=_MATOMO_NO_CONSENT if matomo.cookieless else _MATOMO_ON_CONSENT,
        )
    if config.google_analytics is not None:
        measurement_id = config.google_analytics.measurement_id
        return _GOOGLE.substitute(measurement_id=_js(measurement_id), gtag_url=_js(_GA_SCRIPT))
    return ""


def _js(value: str) -> str:
    # A JSON string is a JS string literal; "</" is escaped so the script can also sit inline.
    return json.dumps(value).replace("</", "<\\/")


_MATOMO = Template("""\
/* usage-metrics tracker.js: Matomo $mode */
(function () {
  if (window.usageMetricsLoaded) return; // included twice: track once
  window.usageMetricsLoaded = true;
  var tracker = $tracker_url;
  window._paq = window._paq || [];
  // Always through window._paq: matomo.js replaces the queue with its own object when it loads.
  function paq(command) { window._paq.push(command); }
$setup  paq(["setTrackerUrl", tracker + "matomo.php"]);
  paq(["setSiteId", $site_id]);
  paq(["trackPageView"]);
  paq(["enableLinkTracking"]);
  var lastUrl = location.href;
  function trackRoute() {
    if (location.href === lastUrl) return;
    paq(["setReferrerUrl", lastUrl]);
    lastUrl = location.href;
    paq(["setCustomUrl", lastUrl]);
    paq(["setDocumentTitle", document.title]);
    paq(["trackPageView"]);
  }
  // A single-page front end changes its route through the History API, without a page load;
  // its router sets the new title after the URL, hence the delay.
  function routeChanged() { setTimeout(trackRoute, 0); }
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    history[name] = function () {
      var result = original.apply(this, arguments);
      routeChanged();
      return result;
    };
  });
  window.addEventListener("popstate", routeChanged);
  var loaded = false;
  function load() {
    if (loaded) return;
    loaded = true;
    var script = document.createElement("script");
    script.async = true;
    script.src = tracker + "matomo.js";
    document.head.appendChild(script);
  }
$consent})();
""")
_MATOMO_COOKIELESS = '  paq(["disableCookies"]);\n'
_MATOMO_CONSENT = '  paq(["requireConsent"]);\n'
_MATOMO_NO_CONSENT = """\
  // Nothing is kept on the visitor's device: there is no consent to wait for.
  window.usageMetricsConsent = function () {};
  load();
"""
_MATOMO_ON_CONSENT = """\
  // Cookies need consent: matomo.js is not even loaded before it.
  window.usageMetricsConsent = function (granted) {
    paq([granted ? "setConsentGiven" : "forgetConsentGiven"]);
    if (granted) load();
  };
"""
_GOOGLE = Template("""\
/* usage-metrics tracker.js: Google Analytics, nothing sent before consent */
(function () {
  if (window.usageMetricsLoaded) return; // included twice: track once
  window.usageMetricsLoaded = true;
  var id = $measurement_id;
  window.dataLayer = window.dataLayer || [];
  function gtag() { window.dataLayer.push(arguments); }
  window.gtag = window.gtag || gtag;
  var denied = {
    analytics_storage: "denied", ad_storage: "denied",
    ad_user_data: "denied", ad_personalization: "denied"
  };
  gtag("consent", "default", denied);
  var loaded = false;
  // Consent mode alone still sends cookieless pings: gtag.js is loaded only after consent.
  // The visitor consents to usage statistics, so advertising stays denied.
  window.usageMetricsConsent = function (granted) {
    gtag("consent", "update", granted ? { analytics_storage: "granted" } : denied);
    if (!granted || loaded) return;
    loaded = true;
    gtag("js", new Date());
    gtag("config", id, { allow_google_signals: false, allow_ad_personalization_signals: false });
    var script = document.createElement("script");
    script.async = true;
    script.src = $gtag_url + encodeURIComponent(id);
    document.head.appendChild(script);
  };
})();
""")
