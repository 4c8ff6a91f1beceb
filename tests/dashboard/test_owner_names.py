"""Owners by name on the dashboard, from the X-Owner lines sent to POST /ingest (or from Data
Fair's API, `usage-metrics owner-names`): the admin's picker, the every-owner table, a dataset's
page and the XLSX; escaped; replaced by a later name; the id until a line names the owner."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from app.config import Settings
from tests.conftest import with_settings
from tests.dashboard.pages import (
    TODAY,
    element,
    ingest_known_data,
    open_dashboard,
    org1_token,
    table_rows,
    words,
)
from tests.datafair.data_fair_api import data_fair_api, owner_names
from tests.helpers import ADMIN_TOKEN, NDJSON, data_fair_line, ndjson

pytestmark = pytest.mark.anyio

ORG1 = {"type": "organization", "id": "org1"}
ROADS = {"type": "datasets", "id": "roads", "title": "Roads"}
ROADS_ROW = "Roads + {owner} 5 4 ▲ +1 up 1 from 4 1 0 new new: none in the previous period"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, today=TODAY, failed_sign_in_delay_s=0.0)


@pytest.fixture
async def admin(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """An admin's dashboard on the known data: org1 (roads, rivers) and alice (notes)."""
    await ingest_known_data(client)
    await open_dashboard(client, ADMIN_TOKEN)
    return client


async def name_org1(client: httpx.AsyncClient, name: str, **headers: str) -> httpx.Response:
    """A Data Fair line whose X-Owner names org1 (it counts today, outside the views below)."""
    line = data_fair_line(owner={**ORG1, "name": name}, resource=ROADS)
    return await client.post("/ingest", content=ndjson(line), headers={**NDJSON, **headers})


def picker(page: str) -> list[tuple[str, str]]:
    """The owner picker's options: (value, text)."""
    select = element(page, '<select id="owner"', "</select>")
    options = re.findall(r'<option value="([^"]*)"[^>]*>(.*?)</option>', select, re.S)
    return [(value, words(text)) for value, text in options]


def facts(page: str) -> str:
    return words(element(page, '<dl class="facts">', "</dl>"))


async def test_the_picker_the_table_and_the_dataset_page_name_the_owner(
    admin: httpx.AsyncClient,
) -> None:
    assert (await name_org1(admin, "Métropole de Lyon")).json()["accepted"] == 1
    page = (await admin.get("/dashboard")).text
    # By name, an owner without one by its id: alice before Métropole (by id, org1 came first).
    assert picker(page) == [
        ("", "Every owner"),
        ("user:alice", "alice (user)"),
        ("organization:org1", "Métropole de Lyon (organisation)"),
    ]
    assert table_rows(page)[0] == ROADS_ROW.format(owner="Métropole de Lyon (organisation)")
    assert table_rows(page)[1].startswith("Notes + alice (user) 2 0 ")
    dataset = (await admin.get("/dashboard/datasets/roads")).text
    assert facts(dataset) == "Identifier roads Owner Métropole de Lyon (organisation)"
    french = (await admin.get("/dashboard", params={"lang": "fr"})).text
    assert picker(french)[1:] == [
        ("user:alice", "alice (utilisateur)"),
        ("organization:org1", "Métropole de Lyon (organisation)"),
    ]


async def test_an_owner_token_sees_its_owners_name_on_its_dataset_page(
    client: httpx.AsyncClient,
) -> None:
    await ingest_known_data(client)
    await name_org1(client, "Métropole de Lyon")
    await open_dashboard(client, await org1_token())
    page = (await client.get("/dashboard")).text
    assert '<select id="owner"' not in page  # one owner: nothing to pick
    dataset = (await client.get("/dashboard/datasets/rivers")).text
    assert facts(dataset) == "Identifier rivers Owner Métropole de Lyon (organisation)"


async def test_a_later_name_replaces_the_earlier_one(admin: httpx.AsyncClient) -> None:
    await name_org1(admin, "Métropole de Lyon")
    await name_org1(admin, "Grand Lyon")
    page = (await admin.get("/dashboard")).text
    assert picker(page)[1:] == [
        ("user:alice", "alice (user)"),
        ("organization:org1", "Grand Lyon (organisation)"),
    ]
    assert table_rows(page)[0] == ROADS_ROW.format(owner="Grand Lyon (organisation)")
    assert "Métropole" not in page


async def test_an_owner_no_line_named_shows_its_id(admin: httpx.AsyncClient) -> None:
    page = (await admin.get("/dashboard")).text
    assert picker(page)[1:] == [
        ("user:alice", "alice (user)"),
        ("organization:org1", "org1 (organisation)"),
    ]
    assert table_rows(page)[0] == ROADS_ROW.format(owner="org1 (organisation)")
    dataset = (await admin.get("/dashboard/datasets/roads")).text
    assert facts(dataset) == "Identifier roads Owner org1 (organisation)"


async def test_a_name_is_escaped_everywhere(admin: httpx.AsyncClient) -> None:
    await name_org1(admin, '<script>alert("x")</script> & =cmd')
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; =cmd (organisation)"
    page = (await admin.get("/dashboard")).text
    dataset = (await admin.get("/dashboard/datasets/roads")).text
    assert "<script>alert" not in page + dataset
    select = element(page, '<select id="owner"', "</select>")
    assert f'<option value="organization:org1" >{escaped}</option>' in select.replace("  ", " ")
    assert f"<td>{escaped}</td>" in page
    assert f"<dd>{escaped}</dd>" in dataset
    # Fragments asked by htmx are escaped the same way.
    fragment = await admin.get("/dashboard", headers={"HX-Request": "true", "HX-Target": "view"})
    assert "<script>alert" not in fragment.text and escaped in fragment.text
    # So is the picker's list a search asks for, and the search itself, echoed in its note.
    found = await admin.get(
        "/dashboard",
        params={"owner_search": "<script>"},
        headers={"HX-Request": "true", "HX-Target": "owner-picker"},
    )
    assert "<script>" not in found.text and escaped in found.text
    assert "Matching “&lt;script&gt;”: 1 of 2 owners." in found.text


async def test_a_name_from_data_fairs_api_is_escaped(
    admin: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    with data_fair_api() as api:
        api.owners = {"organization:org1": {**ORG1, "name": '<script>alert("x")</script> & =cmd'}}
        done = await owner_names(settings.database_url, tmp_path, "--data-fair", api.url)
    assert (done.status, done.out.splitlines()[-1]) == (
        0,
        "2 owners asked: 1 named, 1 not found, 0 failed",
    )
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; =cmd (organisation)"
    page = (await admin.get("/dashboard")).text
    dataset = (await admin.get("/dashboard/datasets/roads")).text
    assert "<script>alert" not in page + dataset
    assert picker(page)[1:] == [
        ("organization:org1", '<script>alert("x")</script> & =cmd (organisation)'),
        ("user:alice", "alice (user)"),
    ]
    assert f"<td>{escaped}</td>" in page
    assert f"<dd>{escaped}</dd>" in dataset


async def test_the_xlsx_names_each_datasets_owner_as_text(admin: httpx.AsyncClient) -> None:
    await name_org1(admin, '=HYPERLINK("http://x.example")')
    answer = await admin.get("/dashboard/export.xlsx")
    assert answer.status_code == 200
    sheet = load_workbook(BytesIO(answer.content))["Datasets"]
    rows: list[list[Any]] = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert [row[:3] for row in rows] == [
        ["Dataset id", "Title", "Owner"],
        ["roads", "Roads", '=HYPERLINK("http://x.example")'],
        ["notes", "Notes", "user:alice"],  # no name known: its kind and id
        ["rivers", "Rivers", '=HYPERLINK("http://x.example")'],
    ]
    # A name that reads as a formula stays text, shown as typed and never run.
    assert (sheet["C2"].data_type, sheet["C2"].quotePrefix) == ("s", True)


async def test_a_refused_replay_of_a_batch_leaves_the_name(admin: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "owner-names-1"}
    assert (await name_org1(admin, "Métropole de Lyon", **key)).status_code == 200
    replayed = await name_org1(admin, "Métropole de Lyon", **key)
    assert replayed.json()["duplicate"] is True
    reused = await name_org1(admin, "Grand Lyon", **key)
    assert (reused.status_code, reused.json()["error"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    page = (await admin.get("/dashboard")).text
    assert picker(page)[2] == ("organization:org1", "Métropole de Lyon (organisation)")
    assert "Grand Lyon" not in page
