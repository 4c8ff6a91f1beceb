"""GET /api/daily-api-metrics: the raw list with Data Fair's list parameters (`start`, `end`,
`size`, `page` or `skip`, `sort`), exact rows on SQLite and PostgreSQL; anything else is a 400."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.datafair.history import import_file
from tests.datafair.conftest import write_export
from tests.helpers import ADMIN

pytestmark = pytest.mark.anyio

LIST = "/api/daily-api-metrics"
ORG1 = {"type": "organization", "id": "org1"}
ROADS = {"type": "datasets", "id": "roads", "title": "Roads"}
RIVERS = {"type": "datasets", "id": "rivers", "title": "Rivers"}
MAP = {"type": "applications", "id": "map", "title": "Map"}
# (day, resource, track, userClass, refererDomain, refererCategory, nbRequests): one a day.
ROWS = [
    ("2024-01-08", ROADS, "readDataAPI", "anonymous", "cafe.example", "other", 5),
    ("2024-01-09", ROADS, "readDataFiles", "owner", "café.example", "embed", 9),
    ("2024-01-10", MAP, "openApplication", "external", "cafz.example", "app", 1),
    ("2024-01-11", RIVERS, "readDataAPI", "ownerAPIKey", "none", "other", 7),
    ("2024-01-12", ROADS, "readDataAPI", "anonymous", "none", "backoffice", 3),
]


def document(row: tuple[Any, ...], owner: dict[str, str] = ORG1) -> dict[str, Any]:
    day, resource, track, user_class, domain, category, requests = row
    return {
        "owner": owner,
        "day": day,
        "resource": resource,
        "operationTrack": track,
        "statusClass": "ok",
        "userClass": user_class,
        "refererDomain": domain,
        "refererCategory": category,
        "nbRequests": requests,
        "bytes": 100 * requests,
        "duration": requests / 10,
    }


@pytest.fixture
async def listed(client: httpx.AsyncClient, tmp_path: Path) -> httpx.AsyncClient:
    alice = document(("2024-01-10", RIVERS, "readDataAPI", "anonymous", "none", "other", 2))
    documents = [document(row) for row in ROWS] + [{**alice, "owner": {"type": "user", "id": "a"}}]
    report = await import_file(write_export(tmp_path / "list.json", documents))
    assert report.imported == 6
    return client


async def ask(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get(
        LIST, params={**params, "owner": "organization:org1"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def days(answer: dict[str, Any]) -> list[str]:
    return [d["day"][-2:] for d in answer["results"]]


async def test_lists_every_document_by_day_without_parameters(listed: httpx.AsyncClient) -> None:
    answer = await ask(listed)
    assert answer["count"] == 5
    assert days(answer) == ["08", "09", "10", "11", "12"]
    assert answer["results"][1] == {
        "owner": ORG1,
        "day": "2024-01-09",
        "resource": ROADS,
        "operationTrack": "readDataFiles",
        "statusClass": "ok",
        "userClass": "owner",
        "refererDomain": "café.example",
        "refererCategory": "embed",
        "nbRequests": 9,
        "bytes": 900,
        "duration": 0.9,
    }


async def test_narrows_to_the_days_between_start_and_end(listed: httpx.AsyncClient) -> None:
    answer = await ask(listed, start="2024-01-09", end="2024-01-11")
    assert (answer["count"], days(answer)) == (3, ["09", "10", "11"])
    assert days(await ask(listed, start="2024-01-11")) == ["11", "12"]
    assert days(await ask(listed, end="2024-01-08")) == ["08"]
    assert await ask(listed, start="2024-02-01") == {"count": 0, "results": []}


async def test_pages_with_size_and_page_or_skip_counting_every_page(
    listed: httpx.AsyncClient,
) -> None:
    # `count` is every document the days hold, as Data Fair's lists count, not the page's.
    pages = [await ask(listed, size="2", page=str(page)) for page in (1, 2, 3, 4)]
    assert [(p["count"], days(p)) for p in pages] == [
        (5, ["08", "09"]),
        (5, ["10", "11"]),
        (5, ["12"]),
        (5, []),
    ]
    assert days(await ask(listed, size="2", skip="3")) == ["11", "12"]
    assert await ask(listed, size="0") == {"count": 5, "results": []}
    between = await ask(listed, start="2024-01-09", size="1", page="3")
    assert (between["count"], days(between)) == (4, ["11"])


SORTS = [
    ("nbRequests:-1", ["09", "11", "08", "12", "10"]),
    ("-nbRequests", ["09", "11", "08", "12", "10"]),
    ("day:-1", ["12", "11", "10", "09", "08"]),
    # By Data Fair's names: openApplication, readDataAPI, readDataFiles (ours: app, api, ...).
    ("operationTrack,day:-1", ["10", "12", "11", "08", "09"]),
    # Data Fair's `other` covers our none: it sorts as "other", after "embed".
    ("refererCategory", ["10", "12", "09", "08", "11"]),
    ("userClass:1,nbRequests:1", ["12", "08", "10", "09", "11"]),
    # Text by code point on both databases (a locale's collation would put café before cafz).
    ("refererDomain:1,day:1", ["08", "10", "09", "11", "12"]),
    ("resource.id,bytes", ["10", "11", "12", "08", "09"]),
    ("duration:1", ["10", "12", "08", "11", "09"]),
]


async def test_sorts_as_data_fair_sorts_its_lists(listed: httpx.AsyncClient) -> None:
    # One history for every order: importing it is most of each case's time.
    for sort, expected in SORTS:
        assert days(await ask(listed, sort=sort)) == expected, sort


async def test_pages_a_sorted_list_without_overlap(listed: httpx.AsyncClient) -> None:
    # Equal sort values (three readDataAPI) are ordered by the rest of the key: stable pages.
    pages = [await ask(listed, sort="operationTrack", size="2", page=str(n)) for n in (1, 2, 3)]
    assert [days(page) for page in pages] == [["10", "08"], ["11", "12"], ["09"]]


BAD = [
    (
        {"split": "day"},
        "unknown query parameter 'split': use end, owner, page, size, skip, sort, start",
    ),
    ({"size": "10001"}, "the query parameter 'size' must be a whole number from 0 to 10000"),
    ({"size": "-1"}, "the query parameter 'size' must be a whole number from 0 to 10000"),
    ({"size": "ten"}, "the query parameter 'size' must be a whole number from 0 to 10000"),
    ({"page": "0"}, "the query parameter 'page' must be a whole number from 1 to 10000"),
    ({"page": "1", "skip": "0"}, "give the query parameter 'page' or 'skip', not both"),
    (
        {"page": "2"},  # 10 000 a page by default
        "this page ends at document 20000, past the first 10000 that a list reaches "
        "(skip + size <= 10000): narrow the days with start and end, or ask for a smaller size",
    ),
    (
        {"size": "100", "skip": "9901"},
        "this page ends at document 10001, past the first 10000 that a list reaches "
        "(skip + size <= 10000): narrow the days with start and end, or ask for a smaller size",
    ),
    (
        {"sort": "owner"},
        "sort 'owner': sort on day, resource.type, resource.id, operationTrack, statusClass, "
        "userClass, refererDomain, refererCategory, refererApp, nbRequests, bytes, duration "
        "(field:1 or field:-1)",
    ),
    ({"sort": "day:2"}, "sort 'day:2': write field:1 (ascending) or field:-1 (descending)"),
    (
        {"start": "2024-01-12", "end": "2024-01-08"},
        "the days end (2024-01-08) before they start (2024-01-12): give an end on or after the "
        "start",
    ),
    (
        {"start": "10000-01-01"},
        "the query parameter 'start' must be a day as YYYY-MM-DD, like 2024-01-31",
    ),
]


async def test_refuses_a_bad_list_query_with_a_message(client: httpx.AsyncClient) -> None:
    for params, detail in BAD:
        response = await client.get(
            LIST, params={**params, "owner": "organization:org1"}, headers=ADMIN
        )
        assert response.status_code == 400, params
        assert response.json() == {"error": "BAD_USER_INPUT", "detail": detail}, params


async def test_refuses_a_parameter_given_twice(client: httpx.AsyncClient) -> None:
    params = (("sort", "day"), ("sort", "bytes"), ("owner", "organization:org1"))
    response = await client.get(LIST, params=params, headers=ADMIN)
    assert response.status_code == 400
    assert response.json() == {
        "error": "BAD_USER_INPUT",
        "detail": "the query parameter 'sort' takes one value, not several",
    }
