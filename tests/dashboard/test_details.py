"""details(): figures per dataset, user group and calling domain, both periods, one statement."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from app.core.periods import Period
from app.core.records import Owner
from app.reports import DetailRow, Trend, UsageFilter, details
from tests.helpers import USER_OWNER, api_key, dataset, ingest, line_on
from tests.schema.test_loaders import counted_statements

pytestmark = pytest.mark.anyio

WEEK = Period(date(2024, 1, 8), date(2024, 1, 14))  # previous: 2024-01-01..07
ROADS, PARKS, RIVERS = dataset("roads", "Roads"), dataset("parks", "Parks"), dataset("rivers")
NEWS = "https://news.example/article"
OWNER_KEY = api_key("o:org1:r4nd")
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1)"


def row(
    dataset_id: str,
    user_group: str,
    domain: str,
    api: tuple[int, int] = (0, 0),
    downloads: tuple[int, int] = (0, 0),
) -> DetailRow:
    return DetailRow(dataset_id, user_group, domain, Trend(*api), Trend(*downloads))


PARKS_NEWS = row("parks", "ANONYMOUS", "news.example", api=(1, 0))
PARKS_BOT = row("parks", "BOT", "none", api=(0, 1))
RIVERS_NONE = row("rivers", "ANONYMOUS", "none", api=(1, 0))
ROADS_NEWS = row("roads", "ANONYMOUS", "news.example", downloads=(1, 0))
ROADS_NONE = row("roads", "ANONYMOUS", "none", api=(2, 1), downloads=(0, 1))
ROADS_KEY = row("roads", "OWNER_API_KEY", "none", api=(1, 0))
ALL_ROWS = [PARKS_NEWS, PARKS_BOT, RIVERS_NONE, ROADS_NEWS, ROADS_NONE, ROADS_KEY]


async def ingest_week(client: httpx.AsyncClient) -> None:
    await ingest(
        client,
        # roads (org1): anonymous without referer, from news.example, with the owner's API key
        line_on("2024-01-08", resource=ROADS),
        line_on("2024-01-14", resource=ROADS),
        line_on("2024-01-02", resource=ROADS),
        line_on("2024-01-07", resource=ROADS, track="readDataFiles"),
        line_on("2024-01-09", resource=ROADS, referer=NEWS, track="readDataFiles"),
        line_on("2024-01-10", resource=ROADS, api_key=OWNER_KEY),
        # not counted: other statuses, days outside both periods, application opens alone
        line_on("2024-01-08", resource=ROADS, status=404),
        line_on("2024-01-03", resource=ROADS, status=500, track="readDataFiles"),
        line_on("2024-01-09", resource=ROADS, referer=NEWS, status=304),
        line_on("2023-12-31", resource=ROADS),
        line_on("2024-01-15", resource=ROADS),
        line_on(
            "2024-01-08", resource=ROADS, referer="https://blog.example/", track="openApplication"
        ),
        # parks (org1): a crawler in the previous period, an anonymous call from news.example
        line_on("2024-01-03", resource=PARKS, user_agent=BOT),
        line_on("2024-01-11", resource=PARKS, referer=NEWS),
        line_on("2024-01-11", resource=PARKS, user_agent=BOT, track="openApplication"),
        # rivers (user alice)
        line_on("2024-01-12", resource=RIVERS, owner=USER_OWNER),
    )


async def test_splits_by_dataset_group_and_domain_in_both_periods(
    client: httpx.AsyncClient,
) -> None:
    await ingest_week(client)
    assert await details(UsageFilter(), WEEK) == ALL_ROWS


async def test_reads_both_periods_in_one_statement(client: httpx.AsyncClient) -> None:
    await ingest_week(client)
    with counted_statements() as statements:
        rows = await details(UsageFilter(), WEEK)
    assert len(rows) == len(ALL_ROWS)
    assert len(statements) == 1, statements


async def test_is_empty_without_usage(client: httpx.AsyncClient) -> None:
    await ingest(client, line_on("2024-01-08", status=500), line_on("2023-12-01"))
    assert await details(UsageFilter(), WEEK) == []


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (UsageFilter(owner=Owner("user", "alice")), [RIVERS_NONE]),
        (UsageFilter(owner=Owner("user", "nobody")), []),
        (
            UsageFilter(owner=Owner("organization", "org1")),
            [PARKS_NEWS, PARKS_BOT, ROADS_NEWS, ROADS_NONE, ROADS_KEY],
        ),
        (UsageFilter(dataset_ids=("parks", "rivers")), [PARKS_NEWS, PARKS_BOT, RIVERS_NONE]),
        (UsageFilter(dataset_ids=()), []),
        (UsageFilter(user_groups=("BOT", "OWNER_API_KEY")), [PARKS_BOT, ROADS_KEY]),
        (UsageFilter(domains=("news.example",)), [PARKS_NEWS, ROADS_NEWS]),
        (UsageFilter(domains=("blog.example",)), []),  # application opens only
        (
            UsageFilter(
                owner=Owner("organization", "org1"),
                dataset_ids=("roads", "rivers"),
                user_groups=("ANONYMOUS",),
                domains=("none",),
            ),
            [ROADS_NONE],
        ),
    ],
)
async def test_filters_change_the_rows(
    client: httpx.AsyncClient, usage: UsageFilter, expected: list[DetailRow]
) -> None:
    await ingest_week(client)
    assert await details(usage, WEEK) == expected


async def test_orders_rows_by_dataset_group_and_domain(client: httpx.AsyncClient) -> None:
    # Ingested in reverse; "B" < "a" in code points, whatever the database's collation says.
    await ingest(
        client,
        *[
            line_on("2024-01-08", resource=dataset(name), referer=f"https://{domain}/")
            for name in ("b", "a", "B")
            for domain in ("z.example", "a.example", "m.example")
        ],
    )
    rows = await details(UsageFilter(), WEEK)
    assert [(r.dataset_id, r.domain) for r in rows] == [
        (name, domain)
        for name in ("B", "a", "b")
        for domain in ("a.example", "m.example", "z.example")
    ]
