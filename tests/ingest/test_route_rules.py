"""USAGE_METRICS_ROUTE_RULES: a TOML file of route rules replaces the built-in Data Fair ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.config import Settings, load_settings
from app.core.records import Operation
from app.errors import ConfigError
from app.ingest.route_rules import Route, load_rules, route_matcher
from tests.conftest import with_settings
from tests.helpers import TEXT, app_client, combined_line, data_fair_line, usage_rows

# The example of docs/ingest.md, with a second rule for downloads of any method.
RULES = """
[[rule]]
method = "GET"
path = '^/api/datasets/(?P<dataset>[^/]+)/data'
operation = "api"
resource_type = "datasets"

[[rule]]
method = "*"
path = '^/files/(?P<resource>[^/]+)/'
operation = "download"
"""


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(RULES, encoding="utf-8")
    return path


def test_loads_rules_from_a_toml_file_in_order(rules_file: Path) -> None:
    match = route_matcher(load_rules(rules_file))
    assert match("GET", "/api/datasets/roads/data?page=2") == Route(
        "datasets", "roads", Operation.API
    )
    assert match("POST", "/api/datasets/roads/data") is None  # the rule is for GET only
    assert match("HEAD", "/files/roads/x.csv") == Route("datasets", "roads", Operation.DOWNLOAD)
    # The built-in Data Fair rules are replaced, not extended.
    assert match("GET", "/data-fair/api/v1/datasets/roads/lines") is None


def test_the_setting_names_the_file(rules_file: Path) -> None:
    settings = load_settings({"USAGE_METRICS_ROUTE_RULES": str(rules_file)})
    assert settings.route_rules_path == rules_file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[[rule]\npath = 'x'", "Expected ']]'", id="not-toml"),
        pytest.param("[[rule]]\noperation = 'api'", "'path'", id="no-path"),
        pytest.param(
            "[[rule]]\npath = '^/d/(?P<dataset>[^/]+)'\noperation = 'read'",
            "'read' is not a valid Operation",
            id="unknown-operation",
        ),
        pytest.param(
            "[[rule]]\npath = '^/d/([^/]+)'\noperation = 'api'",
            "has no (?P<dataset>...) group",
            id="no-named-group",
        ),
        pytest.param(
            "[[rule]]\npath = '^/d/(?P<dataset>'\noperation = 'api'",
            "missing ), unterminated subpattern",
            id="bad-regex",
        ),
    ],
)
def test_refuses_a_bad_rules_file_naming_the_setting(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert caught.value.message.startswith(f"USAGE_METRICS_ROUTE_RULES={str(path)!r}: ")
    assert message in caught.value.message


@pytest.mark.anyio
async def test_ingest_counts_combined_lines_by_the_file_s_rules(
    settings: Settings, rules_file: Path
) -> None:
    roads = {"type": "datasets", "id": "roads", "title": "Roads"}
    lines = [
        # A Data Fair line teaches the owner of roads, as in production.
        data_fair_line(resource=roads),
        combined_line("/api/datasets/roads/data?size=5", bytes_sent=300),
        combined_line("/files/roads/roads.csv", bytes_sent=7000),
        combined_line("/data-fair/api/v1/datasets/roads/lines"),  # no rule matches it now
    ]
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines).encode()
    async with app_client(with_settings(settings, route_rules_path=rules_file)) as client:
        answer = (await client.post("/ingest", content=body, headers=TEXT)).json()
        assert (answer["accepted"], answer["ignored_by_reason"]["not_tracked"]) == (3, 1)
        rows = [row for row in await usage_rows() if row["day"] == "2024-01-08"]
    columns = ("owner_id", "resource_id", "operation", "requests", "bytes")
    assert sorted(tuple(row[c] for c in columns) for row in rows) == [
        ("org1", "roads", "api", 1, 300),
        ("org1", "roads", "download", 1, 7000),
    ]
