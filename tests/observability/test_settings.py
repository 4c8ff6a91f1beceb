"""USAGE_METRICS_METRICS_TOKEN, USAGE_METRICS_LOG_FORMAT and USAGE_METRICS_LOG_LEVEL."""

from __future__ import annotations

import pytest

from app.config import load_settings
from app.errors import ConfigError


def test_reads_log_settings_and_metrics_token_in_any_case() -> None:
    settings = load_settings(
        {
            "USAGE_METRICS_LOG_FORMAT": "JSON",
            "USAGE_METRICS_LOG_LEVEL": "debug",
            "USAGE_METRICS_METRICS_TOKEN": "scrape-secret-9d",
        }
    )
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert settings.metrics_token == "scrape-secret-9d"
    assert "scrape-secret-9d" not in repr(settings)


def test_defaults_to_text_at_info_without_metrics_token() -> None:
    settings = load_settings({"USAGE_METRICS_LOG_FORMAT": ""})
    assert (settings.log_format, settings.log_level, settings.metrics_token) == (
        "text", "INFO", None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "USAGE_METRICS_LOG_FORMAT",
            "yaml",
            "USAGE_METRICS_LOG_FORMAT='yaml' is not one of text, json",
        ),
        (
            "USAGE_METRICS_LOG_LEVEL",
            "verbose",
            "USAGE_METRICS_LOG_LEVEL='verbose' is not one of INFO, DEBUG, WARNING, ERROR, CRITICAL",
        ),
    ],
)
def test_refuses_an_unknown_log_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    assert caught.value.message == message
