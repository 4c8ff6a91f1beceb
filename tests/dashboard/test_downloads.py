"""/dashboard/export.csv and .xlsx: the current view (period + filters), scoped like the pages."""

from __future__ import annotations

from datetime import datetime
from io import BytesIO

import httpx
import pytest
from openpyxl import load_workbook

from app.config import Settings
from tests.conftest import with_settings
from tests.dashboard.pages import TODAY, ingest_known_data, open_dashboard, org1_token
from tests.helpers import ADMIN_TOKEN

pytestmark = pytest.mark.anyio

HEADER = (
    "dataset_id,dataset_title,user_group,referer_domain,"
    "api_calls,api_calls_previous,downloads,downloads_previous"
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, today=TODAY)


@pytest.fixture
async def org1(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await ingest_known_data(client)
    await open_dashboard(client, await org1_token())
    return client


def csv_lines(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    text = answer.content.decode("utf-8-sig")  # the BOM lets Excel read UTF-8
    return text.split("\r\n")[:-1]


async def test_csv_of_the_default_week(org1: httpx.AsyncClient) -> None:
    answer = await org1.get("/dashboard/export.csv")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="usage-2024-01-08_2024-01-14.csv"'
    )
    # One row per dataset × user group × calling domain; alice's notes are not org1's.
    assert csv_lines(answer) == [
        HEADER,
        "rivers,Rivers,ANONYMOUS,none,1,10,0,0",
        "roads,Roads,ANONYMOUS,client.example,3,0,0,0",
        "roads,Roads,ANONYMOUS,none,0,4,0,0",
        "roads,Roads,ANONYMOUS,other.example,0,0,1,0",
        "roads,Roads,OWNER,none,2,0,0,0",
    ]


async def test_csv_follows_the_filters_and_the_period(org1: httpx.AsyncClient) -> None:
    owner = await org1.get("/dashboard/export.csv", params={"group": "OWNER"})
    assert csv_lines(owner) == [HEADER, "roads,Roads,OWNER,none,2,0,0,0"]
    days = await org1.get(
        "/dashboard/export.csv", params={"start": "2024-01-02", "end": "2024-01-03"}
    )
    assert days.headers["content-disposition"].endswith('"usage-2024-01-02_2024-01-03.csv"')
    assert csv_lines(days) == [
        HEADER,
        "rivers,Rivers,ANONYMOUS,none,10,0,0,0",
        "roads,Roads,ANONYMOUS,none,4,0,0,0",
    ]
    refused = await org1.get("/dashboard/export.csv", params={"owner": "user:alice"})
    assert refused.status_code == 403


async def test_an_admin_exports_every_owner(client: httpx.AsyncClient) -> None:
    await ingest_known_data(client)
    await open_dashboard(client, ADMIN_TOKEN)
    lines = csv_lines(await client.get("/dashboard/export.csv", params={"dataset": "notes"}))
    assert lines == [HEADER, "notes,Notes,ANONYMOUS,none,2,0,0,0"]


async def test_xlsx_holds_the_views_numbers(org1: httpx.AsyncClient) -> None:
    answer = await org1.get("/dashboard/export.xlsx")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == (
        'attachment; filename="usage-2024-01-08_2024-01-14.xlsx"'
    )
    book = load_workbook(BytesIO(answer.content))
    assert book.sheetnames == ["Summary", "Daily", "Datasets", "By user group", "By domain"]
    summary = [list(row) for row in book["Summary"].iter_rows(min_row=5, values_only=True)]
    assert [row[:3] for row in summary] == [
        ["API calls", 6, 14],
        ["Downloads", 1, 0],
        ["Downloaded bytes", 1_500_000, 0],
        ["Application opens", 1, 0],
        ["Consumers", "< 5", "< 5"],  # lines of 2024: their epochs are closed, no consumer
    ]
    assert summary[0][3] == pytest.approx((6 - 14) / 14)
    daily = list(book["Daily"].iter_rows(min_row=2, values_only=True))
    assert len(daily) == 7
    assert daily[0] == (datetime(2024, 1, 8), 3, 0, datetime(2024, 1, 1), 0, 0)
    assert daily[1] == (datetime(2024, 1, 9), 2, 0, datetime(2024, 1, 2), 4, 0)
    datasets = list(book["Datasets"].iter_rows(min_row=2, values_only=True))
    assert datasets == [
        ("roads", "Roads", "organization:org1", 5, 4, 1, 0),
        ("rivers", "Rivers", "organization:org1", 1, 10, 0, 0),
    ]
    groups = list(book["By user group"].iter_rows(min_row=2, values_only=True))
    assert groups == [("Anonymous", 4, 14, 1, 0), ("Owner organisation members", 2, 0, 0, 0)]
    domains = list(book["By domain"].iter_rows(min_row=2, values_only=True))
    assert domains == [
        ("client.example", 3, 0, 0, 0),
        ("(no referer)", 3, 14, 0, 0),
        ("other.example", 0, 0, 1, 0),
    ]


async def test_xlsx_in_french(org1: httpx.AsyncClient) -> None:
    answer = await org1.get("/dashboard/export.xlsx", params={"lang": "fr", "group": "OWNER"})
    book = load_workbook(BytesIO(answer.content))
    assert book.sheetnames[0] == "Résumé"
    first = next(book[book.sheetnames[0]].iter_rows(min_row=5, values_only=True))
    assert first[1:3] == (2, 0)
