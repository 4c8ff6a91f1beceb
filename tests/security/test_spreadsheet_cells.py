"""Finding 3: formula injection through `;`. A title `Semi;=1+1;@SUM(2)` and a domain from
`?referer=evil;=1+1` reach the exports; no reader, splitting on `,` `;` or tab, gets a cell that
starts a formula (docs/security.md)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from io import BytesIO

import httpx
import pytest
from openpyxl import load_workbook

from app.config import Settings
from tests.conftest import with_settings
from tests.dashboard.pages import open_dashboard
from tests.helpers import ORG_OWNER, ingest, line_on
from tests.helpers import dataset as resource

pytestmark = pytest.mark.anyio

TITLE = "Semi;=1+1;@SUM(2)"
EMBED = "https://portal.example/data-fair/embed/dataset/semi?referer=evil;=1+1"
FORMULA = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, today=date(2024, 1, 15))


@pytest.fixture
async def signed_in(client: httpx.AsyncClient) -> httpx.AsyncClient:
    from app.auth.tokens import create_token

    await ingest(
        client,
        line_on("2024-01-10", resource=resource("semi", TITLE), owner=ORG_OWNER, referer=EMBED),
    )
    await open_dashboard(client, await create_token("owner:organization:org1", "org1"))
    return client


def cells_split_on(text: str, separator: str) -> list[str]:
    """The cells a spreadsheet in a `separator` locale reads (it honours quotes, like Excel)."""
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    return [cell for row in rows for cell in row]


def naive_cells(text: str) -> list[str]:
    """The cells of a reader that ignores quotes and splits at every separator."""
    return re.split(r"[,;\t\r\n]", text)


async def test_no_csv_cell_starts_a_formula_in_any_locale(signed_in: httpx.AsyncClient) -> None:
    answer = await signed_in.get("/dashboard/export.csv")
    assert answer.status_code == 200
    text = answer.content.decode("utf-8-sig")
    for separator in (",", ";", "\t"):
        cells = cells_split_on(text, separator)
        assert [c for c in cells if c.startswith(FORMULA)] == [], separator
    # Nor a reader that ignores quotes; the pieces are shown with an apostrophe.
    assert [c for c in naive_cells(text) if c.startswith(FORMULA)] == []
    assert "Semi;'=1+1;'@SUM(2)" in text
    # The forged domain is not a host name: it is counted, as `invalid`.
    assert text.endswith(",ANONYMOUS,invalid,1,0,0,0\r\n")


async def test_xlsx_cells_of_the_attack_stay_text(signed_in: httpx.AsyncClient) -> None:
    answer = await signed_in.get("/dashboard/export.xlsx")
    assert answer.status_code == 200
    book = load_workbook(BytesIO(answer.content))
    found = [
        cell
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str) and ";=1+1" in cell.value
    ]
    assert {cell.value for cell in found} == {TITLE}
    # Text cells with Excel's quote prefix: still text when someone edits them.
    assert all(cell.data_type == "s" and cell.quotePrefix for cell in found)
