"""What the dashboard tests share: a known data set, sign-in, and reading a page's text."""

from __future__ import annotations

import html
import re
from datetime import date

import httpx

from app.auth.tokens import create_token
from tests.helpers import csrf_token, dataset, id_token, ingest, line_on

TODAY = date(2024, 1, 14)  # the default preset (7d) is then 2024-01-08..14, previous 01-01..07
ALICE = {"type": "user", "id": "alice"}
CLIENT = "https://client.example/map"
OTHER = "https://other.example/"
MEMBER = id_token({"id": "carol", "organizations": [{"id": "org1"}]})


async def ingest_known_data(client: httpx.AsyncClient) -> None:
    """org1: roads (API 5 now / 4 before, 1 download of 1.5 MB, 1 app open), rivers (API 1 / 10);
    alice: notes (API 2 / 0). Plus one failed call, which counts nowhere."""
    roads, rivers = dataset("roads", "Roads"), dataset("rivers", "Rivers")
    await ingest(
        client,
        *[line_on("2024-01-08", resource=roads, referer=CLIENT) for _ in range(3)],
        *[line_on("2024-01-09", resource=roads, id_token=MEMBER) for _ in range(2)],
        *[line_on("2024-01-02", resource=roads) for _ in range(4)],
        line_on(
            "2024-01-10",
            resource=roads,
            track="readDataFiles",
            bytes_sent=1_500_000,
            referer=OTHER,
            uri="/data-fair/api/v1/datasets/roads/raw",
        ),
        line_on("2024-01-11", resource=roads, track="openApplication"),
        line_on("2024-01-08", resource=roads, status=500),
        line_on("2024-01-12", resource=rivers),
        *[line_on("2024-01-03", resource=rivers) for _ in range(10)],
        *[line_on("2024-01-08", resource=dataset("notes", "Notes"), owner=ALICE) for _ in range(2)],
    )


async def org1_token() -> str:
    return await create_token("owner:organization:org1", "org1 dashboard")


async def open_dashboard(client: httpx.AsyncClient, token: str) -> None:
    """Sign in at /login as a browser does: the form, its CSRF token, the token."""
    form = await client.get("/login")
    answer = await client.post("/login", data={"token": token, "csrf_token": csrf_token(form.text)})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard"


def words(fragment: str) -> str:
    """The text a reader gets: tags dropped, entities decoded, spaces (no-break ones too)
    collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", fragment))
    text = " ".join(text.replace("\u00a0", " ").replace("\u202f", " ").split())
    return re.sub(r" ([,.])", r"\1", text)  # no space before punctuation after a closing tag


def element(page: str, opening: str, closing: str) -> str:
    """The first element that starts with `opening` (e.g. '<li class="card" data-figure="x"'),
    up to the first `closing` after it (they must not nest)."""
    start = page.index(opening)
    return page[start : page.index(closing, start) + len(closing)]


def card(page: str, figure: str) -> str:
    return words(element(page, f'<li class="card" data-figure="{figure}"', "</li>"))


def table_rows(page: str) -> list[str]:
    return [words(row) for row in re.findall(r'<tr data-dataset="[^"]*">.*?</tr>', page, re.S)]


def row_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-dataset="([^"]*)">', page)


def main_chart(page: str) -> str:
    return element(page, '<figure class="chart main" data-chart="main"', "</figure>")


def bars(page: str) -> int:
    """How many bars the main chart draws."""
    return len(re.findall(r'<rect class="bar"', main_chart(page)))


def chart_rows(page: str) -> list[tuple[str, ...]]:
    """The main chart's table, a row a bar: its interval (with "(today, partial)" when it holds
    today), its figure, then with a comparison the compared interval, its figure, the change."""
    body = element(main_chart(page), "<tbody>", "</tbody>")
    return [
        tuple(words(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S))
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]
