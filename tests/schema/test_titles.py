"""French titles: TITLE order and search ignore accents and case alike on SQLite and
PostgreSQL ("écoles", "ecoles" and "ÉCOLES" find the same datasets)."""

from __future__ import annotations

import httpx
import pytest

from app.core.titles import fold
from tests.helpers import dataset, graphql_data, ingest, line_on

pytestmark = pytest.mark.anyio

TITLES = {
    "a": "Zones",
    "b": "Écoles primaires",
    "c": "écoles maternelles",
    "d": "ECOLES privées",
    "e": "Élections",
    "f": "Abris",
    "g": "Œuvres d\N{RIGHT SINGLE QUOTATION MARK}art",
    "h": "Eau",
}
QUERY = """query($search: String, $direction: OrderDirection) {
  datasets(search: $search, direction: $direction) { totalCount nodes { id } }
}"""


@pytest.fixture
async def client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await ingest(
        client,
        *[line_on("2024-01-08", resource=dataset(i, title)) for i, title in TITLES.items()],
        line_on("2024-01-08", resource=dataset("x-ecoles")),  # no title: its id counts
        line_on("2024-01-09", resource=dataset("b")),  # a line without title keeps the title
    )
    return client


async def found(client: httpx.AsyncClient, **arguments: str) -> list[str]:
    data = (await graphql_data(client, QUERY, **arguments))["datasets"]
    assert data["totalCount"] == len(data["nodes"])
    return [node["id"] for node in data["nodes"]]


async def test_orders_titles_as_a_french_reader_does(client: httpx.AsyncClient) -> None:
    # Abris, Eau, écoles maternelles, Écoles primaires, ECOLES privées, Élections, Œuvres,
    # x-ecoles (an id), Zones: É with E, œ as oe, case ignored.
    expected = ["f", "h", "c", "b", "d", "e", "g", "x-ecoles", "a"]
    assert await found(client) == expected
    assert await found(client, direction="DESC") == expected[::-1]


@pytest.mark.parametrize("search", ["écoles", "ecoles", "ÉCOLES", "Ecoles"])
async def test_finds_the_same_datasets_whatever_the_accents_and_case(
    client: httpx.AsyncClient, search: str
) -> None:
    assert await found(client, search=search) == ["c", "b", "d", "x-ecoles"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [("PRIVEES", ["d"]), ("oeuvres d'art", ["g"]), ("Œuvres", ["g"]), ("100%", [])],
)
async def test_folds_ligatures_apostrophes_and_keeps_wildcards_literal(
    client: httpx.AsyncClient, search: str, expected: list[str]
) -> None:
    assert await found(client, search=search) == expected


@pytest.mark.parametrize(
    ("title", "folded"),
    [
        ("Écoles", "ecoles"),
        ("ÉCOLES", "ecoles"),
        ("Œuvres d\N{RIGHT SINGLE QUOTATION MARK}Art", "oeuvres d'art"),
        ("Straße", "strasse"),
        ("ﬁchiers", "fichiers"),
        ("Ça", "ca"),
    ],
)
def test_fold(title: str, folded: str) -> None:
    assert fold(title) == folded
