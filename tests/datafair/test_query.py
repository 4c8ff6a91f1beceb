"""Bad `_agg` and `_export` queries, and days at the calendar's ends on every Data Fair route:
400, our JSON error, a message naming what is wrong; never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import ADMIN

pytestmark = pytest.mark.anyio

WEEK = [("start", "2024-01-08"), ("end", "2024-01-14"), ("owner", "organization:org1")]
BAD = [
    ([("end", "2024-01-14")], "the query parameter 'start' is required (a day: YYYY-MM-DD)"),
    (
        [("start", "2024-01-08"), ("end", "14/01/2024")],
        "the query parameter 'end' must be a day as YYYY-MM-DD, like 2024-01-31",
    ),
    (
        [("start", "2024-02-30"), ("end", "2024-03-01")],
        "the query parameter 'start' must be a day as YYYY-MM-DD, like 2024-01-31",
    ),
    (
        [("start", "2024-01-14"), ("end", "2024-01-08")],
        "the period ends (2024-01-08) before it starts (2024-01-14): "
        "give an end on or after the start",
    ),
    (
        [*WEEK, ("split", "day,owner")],
        "split 'owner' is not one of day, resource, userClass, refererApp, refererDomain, "
        "refererCategory",
    ),
    (
        [*WEEK, ("split", "")],
        "split '' is not one of day, resource, userClass, refererApp, "
        "refererDomain, refererCategory",
    ),
    (
        [*WEEK, ("userClass", "robot")],
        "userClass 'robot' is not one of owner, ownerAPIKey, external, externalAPIKey, "
        "anonymous, bot, ownerProcessing, externalProcessing",
    ),
    (
        [*WEEK, ("statusClass", "client_error")],
        "statusClass 'client_error' is not one of info, ok, redirect, clientError, serverError",
    ),
    (
        [*WEEK, ("operationTrack", "download")],
        "operationTrack 'download' is not one of readDataAPI, readDataFiles, openApplication",
    ),
    (
        [*WEEK, ("refererCategory", "portal")],
        "refererCategory 'portal' is not one of backoffice, embed, app, mcp, other",
    ),
    (
        [*WEEK, ("statusClass", "ok"), ("statusClass", "clientError")],
        "the query parameter 'statusClass' takes one value, not several",
    ),
    (
        [*WEEK, ("resourceId", "")],
        "the query parameter 'resourceId' is empty: give a value or leave it out",
    ),
    (
        [*WEEK, ("datasets", "roads")],
        "unknown query parameter 'datasets': use end, operationTrack, owner, refererCategory, "
        "refererDomain, resourceId, resourceType, split, start, statusClass, topicId, userClass",
    ),
    (
        [("start", "2024-01-08"), ("end", "2024-01-14"), ("owner", "org1")],
        "the query parameter 'owner' must be user:<id> or organization:<id>",
    ),
    (
        [("start", "2000-01-01"), ("end", "2024-01-14"), ("owner", "organization:org1")],
        "the period has 8780 days; ask for at most 3660 days at once",
    ),
    ([*WEEK, ("resourceId", "ro\x00ads")], "a text argument contains a NUL character (U+0000)"),
]


@pytest.mark.parametrize(("params", "detail"), BAD, ids=[detail[:40] for _, detail in BAD])
async def test_refuses_a_bad_agg_query_with_a_message(
    client: httpx.AsyncClient, params: list[tuple[str, str]], detail: str
) -> None:
    response = await client.get("/api/daily-api-metrics/_agg", params=tuple(params), headers=ADMIN)
    assert response.status_code == 400
    assert response.json() == {"error": "BAD_USER_INPUT", "detail": detail}


async def test_an_admin_token_names_the_owner(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/daily-api-metrics/_agg", params=tuple(WEEK[:2]), headers=ADMIN
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": "BAD_USER_INPUT",
        "detail": "an admin token reads every owner: name one with owner=organization:<id> "
        "or owner=user:<id>",
    }


async def test_accepts_and_ignores_topic_id_as_data_fair_does(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/daily-api-metrics/_agg", params=[*WEEK, ("topicId", "roads")], headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"nbRequests": 0, "bytes": 0, "series": [], "days": []}


ROUTES = ("/api/daily-api-metrics", "/api/daily-api-metrics/_agg", "/api/daily-api-metrics/_export")
NO_PREVIOUS = (
    "the period starting 0001-01-01 has no previous period of the same length "
    "(it would start before year 1): start later"
)
BAD_DAY = "the query parameter 'start' must be a day as YYYY-MM-DD, like 2024-01-31"


@pytest.mark.parametrize(
    ("start", "end", "answers"),
    [
        # The export compares with the previous period, which year 1 has not; the others need none.
        ("0001-01-01", "0001-01-07", (200, 200, 400)),
        ("9999-12-25", "9999-12-31", (200, 200, 200)),
        ("0000-12-31", "0001-01-07", (400, 400, 400)),
        ("10000-01-01", "10000-01-07", (400, 400, 400)),
    ],
)
async def test_days_at_the_ends_of_the_calendar_never_answer_500(
    client: httpx.AsyncClient, start: str, end: str, answers: tuple[int, int, int]
) -> None:
    # Issue 22, finding 7: `_export` of a period in year 1 answered 500.
    params = {"start": start, "end": end, "owner": "organization:org1"}
    found = [await client.get(route, params=params, headers=ADMIN) for route in ROUTES]
    assert tuple(response.status_code for response in found) == answers
    for response in found:
        if response.status_code == 400:
            detail = NO_PREVIOUS if start == "0001-01-01" else BAD_DAY
            assert response.json() == {"error": "BAD_USER_INPUT", "detail": detail}
