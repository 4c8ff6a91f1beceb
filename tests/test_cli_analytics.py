"""The command line: analytics set (the form's validation, errors naming the flag) and show."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.storage.database import database
from app.webanalytics.store import read_analytics, save_analytics

MATOMO = {
    "provider": "matomo",
    "matomo": {"tracker_url": "https://matomo.example/piwik/", "site_id": "42", "cookieless": True},
}


def stored(url: str) -> dict[str, Any] | None:
    async def read() -> dict[str, Any] | None:
        async with database(url):
            return await read_analytics()

    return asyncio.run(read())


@pytest.fixture
def database_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's database, starting from a known configuration (PostgreSQL's is shared)."""
    monkeypatch.setenv("USAGE_METRICS_DATABASE_URL", database_url)

    async def reset() -> None:
        async with database(database_url):
            await save_analytics({"provider": "none"})

    asyncio.run(reset())
    return database_url


def test_sets_matomo_and_shows_it(database_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["analytics", "set", "--provider", "matomo"]
    argv += ["--tracker-url", "https://Matomo.example/piwik", "--site-id", "42"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == MATOMO
    assert "saved" in err
    assert stored(database_env) == MATOMO

    assert main(["analytics", "show"]) == 0
    assert json.loads(capsys.readouterr().out) == MATOMO


def test_sets_matomo_with_cookies(database_env: str) -> None:
    argv = ["analytics", "set", "--provider", "matomo", "--tracker-url", "http://192.0.2.5"]
    assert main([*argv, "--site-id", "1", "--no-cookieless"]) == 0
    assert stored(database_env) == {
        "provider": "matomo",
        "matomo": {"tracker_url": "http://192.0.2.5/", "site_id": "1", "cookieless": False},
    }


def test_sets_google_analytics_then_none(database_env: str) -> None:
    argv = ["analytics", "set", "--provider", "google-analytics", "--measurement-id", "G-AB12"]
    assert main(argv) == 0
    assert stored(database_env) == {
        "provider": "google-analytics",
        "google_analytics": {"measurement_id": "G-AB12"},
    }
    assert main(["analytics", "set", "--provider", "none"]) == 0
    assert stored(database_env) == {"provider": "none"}


@pytest.mark.parametrize(
    ("flags", "errors"),
    [
        (
            ["--provider", "matomo", "--tracker-url", "matomo.example", "--site-id", "0"],
            [
                "usage-metrics: --tracker-url: Enter an http:// or https:// URL, like "
                "https://matomo.example/.",
                "usage-metrics: --site-id: The site id is a whole number from 1 up "
                "(Matomo: Websites > Manage).",
            ],
        ),
        (
            ["--provider", "matomo", "--site-id", "3"],
            [
                "usage-metrics: --tracker-url: Enter the address of your Matomo server, like "
                "https://matomo.example/.",
            ],
        ),
        (
            ["--provider", "google-analytics", "--measurement-id", "UA-1-2"],
            [
                "usage-metrics: --measurement-id: A measurement id is G- then letters and "
                "digits, like G-A1B2C3D4E5.",
            ],
        ),
        (
            ["--provider", "none", "--site-id", "3", "--cookieless"],
            ["usage-metrics: --site-id, --cookieless: not for --provider none"],
        ),
        (
            ["--provider", "google-analytics", "--measurement-id", "G-A", "--tracker-url", "x"],
            ["usage-metrics: --tracker-url: not for --provider google-analytics"],
        ),
    ],
)
def test_refuses_invalid_flags_and_stores_nothing(
    database_env: str, capsys: pytest.CaptureFixture[str], flags: list[str], errors: list[str]
) -> None:
    assert main(["analytics", "set", *flags]) == 1
    out, err = capsys.readouterr()
    named = (
        f"usage-metrics: database {database_env} (USAGE_METRICS_DATABASE_URL from the environment)"
    )
    assert (out, err.splitlines()) == ("", [named, *errors])
    assert stored(database_env) == {"provider": "none"}


def test_refuses_an_unknown_provider(database_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["analytics", "set", "--provider", "plausible"])
    assert exit_.value.code == 2
    assert "invalid choice: 'plausible'" in capsys.readouterr().err
    assert stored(database_env) == {"provider": "none"}


def test_shows_none_when_nothing_was_ever_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USAGE_METRICS_DATABASE_URL", f"sqlite://{tmp_path}/empty.sqlite3")
    assert main(["analytics", "show", "--create"]) == 0
    assert json.loads(capsys.readouterr().out) == {"provider": "none"}


def test_lists_analytics_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "analytics" in capsys.readouterr().out
