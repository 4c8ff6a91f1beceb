"""The settings of reports and alerts, and the SMTP URL read into a server."""

from __future__ import annotations

import pytest

from app.config import load_settings
from app.errors import ConfigError
from app.notify.mail import SmtpServer, smtp_server
from app.notify.signing import unsubscribe_token, unsubscribed_id


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("smtp://127.0.0.1:2525", SmtpServer("127.0.0.1", 2525, tls=False, starttls=False)),
        ("smtp://mail.example", SmtpServer("mail.example", 25, tls=False, starttls=False)),
        (
            "smtp://me%40x.example:p%3Ass@mail.example:587?starttls=1",
            SmtpServer("mail.example", 587, False, True, "me@x.example", "p:ss"),
        ),
        ("smtps://u:pw@mail.example", SmtpServer("mail.example", 465, True, False, "u", "pw")),
    ],
)
def test_reads_an_smtp_url(url: str, server: SmtpServer) -> None:
    assert smtp_server(url) == server


def test_settings_of_reports_and_alerts() -> None:
    settings = load_settings(
        {
            "USAGE_METRICS_SMTP_URL": "smtps://u:s3cr3t-pw@mail.example",
            "USAGE_METRICS_MAIL_FROM": "metrics@portal.example",
            "USAGE_METRICS_NOTIFY_INTERVAL": "60",
            "USAGE_METRICS_WEBHOOK_ALLOW_PRIVATE": "1",
        }
    )
    assert (settings.mail_from, settings.notify_interval_s, settings.webhook_allow_private) == (
        "metrics@portal.example",
        60.0,
        True,
    )
    assert "s3cr3t-pw" not in repr(settings)
    defaults = load_settings({})
    assert (defaults.smtp_url, defaults.notify_interval_s, defaults.webhook_allow_private) == (
        None,
        300.0,
        False,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "USAGE_METRICS_SMTP_URL",
            "http://u:secret@mail.example",
            "USAGE_METRICS_SMTP_URL is not smtp://user:password@host:port or smtps://... "
            "(add ?starttls=1 for STARTTLS)",
        ),
        (
            "USAGE_METRICS_MAIL_FROM",
            "metrics",
            "USAGE_METRICS_MAIL_FROM='metrics' is not an address",
        ),
        (
            "USAGE_METRICS_WEBHOOK_ALLOW_PRIVATE",
            "yes",
            "USAGE_METRICS_WEBHOOK_ALLOW_PRIVATE='yes' is not 0 or 1",
        ),
        (
            "USAGE_METRICS_NOTIFY_INTERVAL",
            "-1",
            "USAGE_METRICS_NOTIFY_INTERVAL='-1' is not a number of seconds from 0 to 3600",
        ),
    ],
)
def test_refuses_a_bad_setting_naming_it(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({name: value})
    assert refused.value.message == message


def test_an_unsubscribe_token_ends_its_subscription_only() -> None:
    token = unsubscribe_token("key", 7)
    assert unsubscribed_id("key", token) == 7
    mac = token.partition(".")[2]
    assert unsubscribed_id("other key", token) is None
    assert unsubscribed_id("key", f"8.{mac}") is None
    assert unsubscribed_id("key", "7") is None
    assert unsubscribed_id("key", f"-7.{mac}") is None
