"""GET /api/daily-api-metrics/_export: Data Fair's workbook (its sheets, columns and figures) from
an imported history, each figure computed from the documents by Data Fair's export rules."""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from app.config import Settings
from app.datafair.history import import_file
from tests.conftest import with_settings
from tests.datafair.conftest import write_export
from tests.datafair.reference import LEGACY_CLASSES
from tests.helpers import ADMIN, app_client

pytestmark = pytest.mark.anyio

START, END = date(2024, 1, 16), date(2024, 1, 31)  # previous: 2023-12-31 .. 2024-01-15
CLASSES = ("owner", "external", "anonymous", "ownerAPIKey", "externalAPIKey")
SHEETS = [
    "Global",
    "Historique",
    "Jeux de données",
    "Appels d'API par thématiques",
    "Appels d'API par domaines",
    "Téléchargements par thématiques",
    "Téléchargements par domaines",
    "Affichages d'applications",
]


PORTAL_URL = "https://portal.example/portal"  # links take its origin only
EXPORT = "/api/daily-api-metrics/_export"
ORG1_WEEK = {"start": "2024-01-08", "end": "2024-01-14", "owner": "organization:org1"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, portal_url=PORTAL_URL)


def ok_documents(documents: list[dict[str, Any]], first: date, last: date) -> list[dict[str, Any]]:
    return [
        {**d, "userClass": LEGACY_CLASSES.get(d["userClass"], d["userClass"])}
        for d in documents
        if d["statusClass"] == "ok" and first.isoformat() <= d["day"] <= last.isoformat()
    ]


def requests(documents: list[dict[str, Any]], **match: str) -> int:
    return sum(
        d["nbRequests"]
        for d in documents
        if all((d["resource"]["id"] if k == "id" else d[k]) == v for k, v in match.items())
    )


@pytest.fixture
async def org1_history(
    client: httpx.AsyncClient, tmp_path: Path, documents: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    # One owner: a resource belongs to one account, as in Data Fair.
    mine = [d for d in documents if d["owner"]["id"] == "org1"]
    await import_file(write_export(tmp_path / "org1.json", mine))
    return mine


async def test_exports_data_fair_sheets_with_its_figures(
    client: httpx.AsyncClient, org1_history: list[dict[str, Any]]
) -> None:
    response = await client.get(
        "/api/daily-api-metrics/_export",
        params={"start": START.isoformat(), "end": END.isoformat(), "owner": "organization:org1"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        "attachment; filename=Audience_2024-01-16_2024-01-31.xlsx"
    )
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == SHEETS
    current = ok_documents(org1_history, START, END)
    previous = ok_documents(org1_history, date(2023, 12, 31), date(2024, 1, 15))

    rows = [list(r) for r in book["Global"].iter_rows(values_only=True)]
    assert rows[1] == [
        None,
        "Du 16/01/2024 au 31/01/2024",
        "Période actuelle",
        "Période précédente",
        "Variation",
    ]
    for row, track in zip(
        rows[2:5], ("readDataAPI", "readDataFiles", "openApplication"), strict=True
    ):
        now, before = (
            requests(current, operationTrack=track),
            requests(previous, operationTrack=track),
        )
        assert row[2:4] == [now, before]
        assert row[4] == pytest.approx((now - before) / before)
    breakdown = {r[1]: (r[2], r[3]) for r in rows[7:12]}
    assert breakdown == {
        label: (requests(current, userClass=c), requests(previous, userClass=c))
        for label, c in zip(
            (
                "Utilisateurs membres",
                "Utilisateurs externes",
                "Utilisateurs anonymes",
                "Clés d'API membres",
                "Clés d'API externes",
            ),
            CLASSES,
            strict=True,
        )
    }

    history = [list(r) for r in book["Historique"].iter_rows(values_only=True)]
    assert history[0][:3] == ["Date", "Appels API / total", "Téléchargements / total"]
    assert len(history) == 1 + 16
    for row, day in zip(history[1:], [END - timedelta(days=i) for i in range(16)], strict=True):
        on_day = [d for d in current if d["day"] == day.isoformat()]
        assert row == [
            day.strftime("%d/%m/%Y"),
            requests(on_day, operationTrack="readDataAPI"),
            requests(on_day, operationTrack="readDataFiles"),
            *(requests(on_day, operationTrack="readDataAPI", userClass=c) for c in CLASSES),
            *(requests(on_day, operationTrack="readDataFiles", userClass=c) for c in CLASSES[:3]),
        ], day

    datasets = [list(r) for r in book["Jeux de données"].iter_rows(values_only=True)]
    # Sorted by API calls (equal counts keep the order of ids); no title: an empty cell.
    titles: list[tuple[str, str | None]] = [
        ("rivers", "Rivers"),
        ("roads", "Roads"),
        ("trees", None),
    ]
    counted = [
        (
            requests(current, operationTrack="readDataAPI", id=i),
            requests(current, operationTrack="readDataFiles", id=i),
            i,
            t,
        )
        for i, t in titles
    ]
    expected = [[i, t, api, files] for api, files, i, t in sorted(counted, key=lambda r: -r[0])]
    assert [r[:4] for r in datasets[1:]] == expected
    link = book["Jeux de données"].cell(row=2, column=1).hyperlink
    assert link.target == f"https://portal.example/data-fair/dataset/{expected[0][0]}"

    domains = {
        r[0]: r[1] for r in book["Appels d'API par domaines"].iter_rows(min_row=2, values_only=True)
    }
    by_domain = Counter[str]()
    for d in current:
        if d["operationTrack"] == "readDataAPI":
            by_domain["Inconnu" if d["refererDomain"] == "none" else d["refererDomain"]] += d[
                "nbRequests"
            ]
    assert domains == dict(by_domain)
    apps = [list(r) for r in book["Affichages d'applications"].iter_rows(values_only=True)]
    assert apps[1][:3] == [
        "map",
        "Map",
        requests(current, operationTrack="openApplication", id="map"),
    ]
    assert [r[0] for r in book["Appels d'API par thématiques"].iter_rows(values_only=True)] == [
        "Thématique"
    ]


async def test_exports_in_english_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/daily-api-metrics/_export",
        params={"start": "2024-01-01", "end": "2024-01-07", "owner": "organization:org1"},
        headers={**ADMIN, "Accept-Language": "en-GB,en;q=0.8"},
    )
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[:3] == ["Global", "History", "Datasets"]
    assert [c.value for c in book["History"][2]][:3] == ["07/01/2024", 0, 0]


async def test_refuses_an_export_without_its_period(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/daily-api-metrics/_export",
        params={"start": "2024-01-01", "split": "day", "owner": "organization:org1"},
        headers=ADMIN,
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "BAD_USER_INPUT",
        "detail": "unknown query parameter 'split': use end, owner, start",
    }


def document(resource: dict[str, str], track: str, domain: str = "none") -> dict[str, Any]:
    return {
        "owner": {"type": "organization", "id": "org1"},
        "day": "2024-01-10",
        "resource": resource,
        "operationTrack": track,
        "statusClass": "ok",
        "userClass": "anonymous",
        "refererDomain": domain,
        "refererCategory": "other",
        "nbRequests": 3,
        "bytes": 300,
        "duration": 0.3,
    }


async def test_writes_formula_like_text_as_text(client: httpx.AsyncClient, tmp_path: Path) -> None:
    # Issue 22, finding 7: a title starting with "=" was written as a live formula.
    documents = [
        document({"type": "datasets", "id": "sum", "title": "=1+1"}, "readDataAPI", "=2+2"),
        document({"type": "datasets", "id": "na", "title": "#N/A"}, "readDataFiles"),
        document({"type": "applications", "id": "@app", "title": "@SUM(A1)"}, "openApplication"),
    ]
    await import_file(write_export(tmp_path / "formulas.json", documents))
    response = await client.get(EXPORT, params=ORG1_WEEK, headers=ADMIN)
    assert response.status_code == 200, response.text
    book = load_workbook(io.BytesIO(response.content))

    def cell(sheet: str, row: int, column: int) -> tuple[Any, str, bool]:
        found = book[sheet].cell(row=row, column=column)
        return found.value, found.data_type, found.quotePrefix

    datasets = book["Jeux de données"]
    assert [r[:2] for r in datasets.iter_rows(min_row=2, values_only=True)] == [
        ("sum", "=1+1"),
        ("na", "#N/A"),
    ]
    # A string cell, shown without the apostrophe Excel keeps as the quote prefix.
    assert cell("Jeux de données", 2, 2) == ("=1+1", "s", True)
    assert cell("Jeux de données", 3, 2) == ("#N/A", "s", False)  # text, not an error value
    assert cell("Appels d'API par domaines", 2, 1) == ("=2+2", "s", True)
    assert cell("Affichages d'applications", 2, 1) == ("@app", "s", True)
    assert cell("Affichages d'applications", 2, 2) == ("@SUM(A1)", "s", True)
    link = datasets.cell(row=2, column=1).hyperlink
    assert link.target == "https://portal.example/data-fair/dataset/sum"
    app_link = book["Affichages d'applications"].cell(row=2, column=1).hyperlink
    assert app_link.target == "https://portal.example/data-fair/application/%40app"
    formulas = [
        c.coordinate
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for c in row
        if c.data_type == "f"
    ]
    assert formulas == []


@pytest.mark.parametrize(
    ("urls", "origin"),
    [
        ({"portal_url": PORTAL_URL, "public_url": "https://m.example"}, "https://portal.example"),
        ({"public_url": "https://metrics.example/usage"}, "https://metrics.example"),
        ({}, None),
    ],
    ids=["portal", "public", "neither"],
)
async def test_links_from_the_settings_never_from_the_host_header(
    settings: Settings, tmp_path: Path, urls: dict[str, str], origin: str | None
) -> None:
    changed = with_settings(settings, **{"portal_url": None, "public_url": None, **urls})
    async with app_client(changed) as client:
        resource = {"type": "datasets", "id": "roads", "title": "Roads"}
        await import_file(write_export(tmp_path / "one.json", [document(resource, "readDataAPI")]))
        response = await client.get(
            EXPORT, params=ORG1_WEEK, headers={**ADMIN, "Host": "evil.example"}
        )
    assert response.status_code == 200, response.text
    found = load_workbook(io.BytesIO(response.content))["Jeux de données"]["A2"]
    assert found.value == "roads"
    if origin is None:
        assert found.hyperlink is None
    else:
        assert found.hyperlink.target == f"{origin}/data-fair/dataset/roads"
