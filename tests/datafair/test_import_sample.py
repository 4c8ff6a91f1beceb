"""The sample documents of docs/coming-from-data-fair.md import as the page says: its rows of
usage_daily, the owner's name and the command's report."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import main
from app.datafair.history import import_file
from tests.helpers import table_rows, usage_rows

PAGE = (Path(__file__).parents[2] / "docs" / "coming-from-data-fair.md").read_text()
_SAMPLE = re.search(
    r"<!-- data-fair-sample.*?-->\n```json\n(?P<lines>.*?)\n```\n(?P<after>.*?)\n### ",
    PAGE,
    re.DOTALL,
)
COLUMNS = (
    "owner_type",
    "owner_id",
    "day",
    "resource_type",
    "resource_id",
    "operation",
    "status_class",
    "user_group",
    "referer_domain",
    "referer_category",
    "referer_app",
    "requests",
    "bytes",
    "duration_ms",
)

ROWS = f"SELECT {', '.join(COLUMNS)} FROM usage_daily ORDER BY day, resource_type"  # noqa: S608


def sample() -> tuple[str, list[dict[str, Any]], list[str]]:
    """The page's documents, the rows it says they become, and the report it shows."""
    assert _SAMPLE is not None, "the page lost its data-fair-sample block"
    rows = []
    for line in re.findall(r"^\| organization:.*\|$", _SAMPLE["after"], re.MULTILINE):
        owner, day, resource, *rest = (cell.strip() for cell in line.strip("|").split("|"))
        values = [*owner.split(":"), day, *resource.split(":"), *rest]
        rows.append(dict(zip(COLUMNS, [*values[:-3], *map(int, values[-3:])], strict=True)))
    report = re.search(r"```\n(sample\.json: .*?)\n```", _SAMPLE["after"], re.DOTALL)
    assert report is not None
    return _SAMPLE["lines"] + "\n", rows, report[1].splitlines()


@pytest.mark.anyio
async def test_the_sample_documents_make_the_rows_the_page_shows(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    lines, rows, _ = sample()
    path = tmp_path / "sample.json"
    path.write_text(lines)
    report = await import_file(path)
    assert report.answer() == {"imported": 4, "duplicate": 0, "skipped": {"bad_referer_app": 1}}
    assert await usage_rows() == rows
    owners = [(r["owner_id"], r["name"]) for r in await table_rows("owners")]
    assert owners == [("metropole-lyon", "Métropole de Lyon")]


def test_the_command_reports_the_sample_as_the_page_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines, rows, said = sample()
    (tmp_path / "sample.json").write_text(lines)
    database = tmp_path / "metrics.sqlite3"
    monkeypatch.setenv("USAGE_METRICS_DATABASE_URL", f"sqlite://{database}")
    monkeypatch.chdir(tmp_path)
    assert main(["import-data-fair", "--create", "sample.json"]) == 1  # a document was skipped
    assert capsys.readouterr().out.splitlines() == said
    with closing(sqlite3.connect(database)) as db:
        stored = db.execute(ROWS).fetchall()
    assert [dict(zip(COLUMNS, row, strict=True)) for row in stored] == rows
