"""The admin's input (form or command line) validated into the stored configuration (pure)."""

from __future__ import annotations

import pytest

from app.webanalytics.tracking import AnalyticsForm, FormResult, form_from_stored, validate_form

URL_ERROR = "Enter an http:// or https:// URL, like https://matomo.example/."
SPACE_ERROR = "A URL has no spaces and at most 2000 characters."
QUERY_ERROR = "Remove the ?query and #fragment: give the folder of matomo.php."
HOST_ERROR = "This URL's host name or path is not valid."
SITE_ERROR = "The site id is a whole number from 1 up (Matomo: Websites > Manage)."
GA_ERROR = "A measurement id is G- then letters and digits, like G-A1B2C3D4E5."


def matomo(tracker_url: str = "https://matomo.example/", site_id: str = "3") -> AnalyticsForm:
    return AnalyticsForm(provider="matomo", tracker_url=tracker_url, site_id=site_id)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://matomo.example", "https://matomo.example/"),
        ("https://matomo.example/", "https://matomo.example/"),
        ("  HTTPS://Matomo.Example:8443/stats//  ", "https://matomo.example:8443/stats/"),
        ("http://192.0.2.7/matomo", "http://192.0.2.7/matomo/"),
        ("http://[2001:db8::1]:8080/", "http://[2001:db8::1]:8080/"),
        ("https://matomo.example/a%20b/", "https://matomo.example/a%20b/"),
    ],
)
def test_stores_a_matomo_tracker_url_with_one_trailing_slash(typed: str, stored: str) -> None:
    result = validate_form(matomo(tracker_url=typed))
    assert result == FormResult(
        {
            "provider": "matomo",
            "matomo": {"tracker_url": stored, "site_id": "3", "cookieless": True},
        },
        {},
    )


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", "Enter the address of your Matomo server, like https://matomo.example/."),
        ("matomo.example", URL_ERROR),
        ("//matomo.example/", URL_ERROR),
        ("ftp://matomo.example/", URL_ERROR),
        ("javascript:alert(1)", URL_ERROR),
        ("https://", URL_ERROR),
        ("https://matomo.example:99999/", URL_ERROR),
        ("https://[::1/", URL_ERROR),
        ("https://matomo.exa mple/", SPACE_ERROR),
        ("https://matomo.example/\tx", SPACE_ERROR),
        ("https://matomo.example/" + "a" * 2000, SPACE_ERROR),
        (
            "https://user:pw@matomo.example/",
            "Remove the user name and password: this URL is shown to every visitor.",
        ),
        ("https://matomo.example/?x=1", QUERY_ERROR),
        ("https://matomo.example/#top", QUERY_ERROR),
        ("https://matomo_example.com/", HOST_ERROR),
        ('https://matomo.example/"onload', HOST_ERROR),
        ("https://matomo.example/<script>", HOST_ERROR),
        ("https://-matomo.example/", HOST_ERROR),
    ],
)
def test_refuses_a_tracker_url_that_is_not_http_or_https(typed: str, error: str) -> None:
    assert validate_form(matomo(tracker_url=typed)) == FormResult(None, {"tracker_url": error})


@pytest.mark.parametrize(("typed", "stored"), [("1", "1"), (" 42 ", "42"), ("007", "7")])
def test_stores_a_positive_site_id(typed: str, stored: str) -> None:
    result = validate_form(matomo(site_id=typed))
    assert result.stored is not None
    assert result.stored["matomo"]["site_id"] == stored


@pytest.mark.parametrize("typed", ["", "0", "000", "-1", "1.5", "abc", "12345678901", "٣"])
def test_refuses_a_site_id_that_is_not_a_positive_integer(typed: str) -> None:
    assert validate_form(matomo(site_id=typed)) == FormResult(None, {"site_id": SITE_ERROR})


def test_reports_every_invalid_matomo_field_at_once() -> None:
    result = validate_form(matomo(tracker_url="nope", site_id="0"))
    assert result == FormResult(None, {"tracker_url": URL_ERROR, "site_id": SITE_ERROR})


def test_keeps_the_cookieless_switch_as_given() -> None:
    form = AnalyticsForm("matomo", "https://m.example/", "1", cookieless=False)
    result = validate_form(form)
    assert result.stored == {
        "provider": "matomo",
        "matomo": {"tracker_url": "https://m.example/", "site_id": "1", "cookieless": False},
    }


@pytest.mark.parametrize(
    ("typed", "stored"), [("G-A1B2C3D4E5", "G-A1B2C3D4E5"), (" g-abc123 ", "G-ABC123")]
)
def test_stores_a_google_analytics_measurement_id(typed: str, stored: str) -> None:
    form = AnalyticsForm(provider="google-analytics", measurement_id=typed)
    assert validate_form(form) == FormResult(
        {"provider": "google-analytics", "google_analytics": {"measurement_id": stored}}, {}
    )


@pytest.mark.parametrize(
    "typed", ["", "G-", "UA-12345-1", "G-AB CD", "G-AB_CD", "GTM-ABC", "G-ÄBC", 'G-1"; alert(1)']
)
def test_refuses_a_measurement_id_that_is_not_g_letters_digits(typed: str) -> None:
    form = AnalyticsForm(provider="google-analytics", measurement_id=typed)
    assert validate_form(form) == FormResult(None, {"measurement_id": GA_ERROR})


def test_stores_none_and_ignores_the_other_providers_fields() -> None:
    form = AnalyticsForm("none", tracker_url="bad", site_id="0", measurement_id="bad")
    assert validate_form(form) == FormResult({"provider": "none"}, {})


def test_ignores_google_fields_when_matomo_is_chosen() -> None:
    form = AnalyticsForm("matomo", "https://m.example", "2", measurement_id="bad")
    assert validate_form(form).stored == {
        "provider": "matomo",
        "matomo": {"tracker_url": "https://m.example/", "site_id": "2", "cookieless": True},
    }


@pytest.mark.parametrize("provider", ["", "MATOMO", "plausible"])
def test_refuses_an_unknown_provider(provider: str) -> None:
    result = validate_form(AnalyticsForm(provider=provider))
    assert result == FormResult(None, {"provider": "Choose none, Matomo or Google Analytics."})


def test_starts_the_form_from_what_is_stored_and_cookieless_otherwise() -> None:
    assert form_from_stored(None) == AnalyticsForm("none", "", "", True, "")
    stored = {
        "provider": "matomo",
        "matomo": {"tracker_url": "https://m.example/", "site_id": "2", "cookieless": False},
    }
    assert form_from_stored(stored) == AnalyticsForm("matomo", "https://m.example/", "2", False)
