"""Breakdowns ranked in the statement (PostgreSQL) are the first groups of every group read and
ranked in Python, ties at the last place ordered by key, with the same count and total; on
SQLite both are the same code, and the exact figures below check it."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from app.core.periods import Period
from app.reports import (
    CALLER_COLUMNS,
    Figures,
    Group,
    Ranking,
    Trend,
    UsageFilter,
    callers,
    rank,
    ranked_callers,
)
from tests.helpers import api_key, dataset, graphql, ingest, line_on

pytestmark = pytest.mark.anyio

WEEK = Period(date(2024, 1, 8), date(2024, 1, 14))  # previous: 2024-01-01..07
GAP = Period(date(2024, 1, 2), date(2024, 1, 4))  # compared with a gap: not 2024-01-06
ROADS = dataset("roads", "Roads")


def lines() -> list[dict[str, Any]]:
    """site-k.example: k % 5 + 1 API calls this week (six tied at 5: site-4, 9, ..., 29), one
    the week before for even k, 3 more for site-1 on 2024-01-06 (not in GAP); old-k.example
    (k < 3): 4 calls the week before only; two
    OWNER_API_KEY calls and a download from site-0; a call without a referer and two with an
    invalid one (stand-ins, at the bottom of the ranking)."""
    now, before = "2024-01-10", "2024-01-03"
    found = [
        line_on(now, resource=ROADS, referer=f"https://site-{k}.example/")
        for k in range(30)
        for _ in range(k % 5 + 1)
    ]
    found += [
        line_on(before, resource=ROADS, referer=f"https://site-{k}.example/")
        for k in range(0, 30, 2)
    ]
    found += [
        line_on(before, resource=ROADS, referer=f"https://old-{k}.example/")
        for k in range(3)
        for _ in range(4)
    ]
    found += [
        line_on("2024-01-06", resource=ROADS, referer="https://site-1.example/") for _ in range(3)
    ]
    owner_key = {"api_key": api_key("o:org1:r4nd"), "referer": "https://site-0.example/"}
    found += [line_on(now, resource=ROADS, **owner_key) for _ in range(2)]
    found.append(
        line_on(
            now,
            resource=ROADS,
            referer="https://site-0.example/",
            track="readDataFiles",
            uri="/data-fair/api/v1/datasets/roads/raw",
        )
    )
    found.append(line_on(now, resource=ROADS))
    found += [line_on(now, resource=ROADS, referer="not a url") for _ in range(2)]
    return found


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> None:
    await ingest(client, *lines())


async def in_python(
    usage: UsageFilter, upto: int | None, against: Period | None
) -> dict[str, Ranking]:
    """Every group read, then ranked here (what SQLite does)."""
    found = await callers(usage, WEEK, CALLER_COLUMNS, against=against)
    return {
        column: rank({key: f for (of, key), f in found.items() if of == column}, column, upto)
        for column in CALLER_COLUMNS
    }


@pytest.mark.parametrize(
    "usage",
    [
        UsageFilter(),
        UsageFilter(domains=("site-4.example", "site-9.example", "site-3.example", "none")),
        UsageFilter(dataset_ids=("roads",)),  # read from usage_daily
    ],
)
async def test_the_statement_ranks_as_python_does(seeded: None, usage: UsageFilter) -> None:
    for against in (WEEK.previous(), GAP, None):
        for upto in (0, 1, 3, 6, 7, 20, 34, 35, 36):
            ranked = await ranked_callers(usage, WEEK, CALLER_COLUMNS, upto, against=against)
            assert ranked == await in_python(usage, upto, against), (upto, against)


async def test_ranks_by_current_use_then_key_with_exact_counts_and_totals(seeded: None) -> None:
    found = await ranked_callers(UsageFilter(), WEEK, CALLER_COLUMNS, 3, against=WEEK.previous())
    domains = found["referer_domain"]
    # Six domains tie at 5 calls: the first three by key.
    assert [(g.key, g.figures.api_calls) for g in domains.top] == [
        ("site-14.example", (5, 1)),
        ("site-19.example", (5, 0)),
        ("site-24.example", (5, 1)),
    ]
    # 30 sites, 3 used the week before only, "none" and "invalid" (the stand-ins).
    assert (domains.count, domains.stand_ins) == (35, 2)
    # 90 calls of the sites, site-0's 2 more with a key, 1 without referer, 2 invalid; 15 + 3
    # + 12 the week before; site-0's download.
    assert (domains.total.api_calls, domains.total.downloads) == ((95, 30), (1, 0))
    gap = await ranked_callers(UsageFilter(), WEEK, ("referer_domain",), 3, against=GAP)
    assert gap["referer_domain"].total.api_calls == (95, 27)
    groups = found["user_group"]
    assert [(g.key, g.figures.api_calls.current) for g in groups.top] == [
        ("ANONYMOUS", 93),
        ("OWNER_API_KEY", 2),
    ]
    assert (groups.count, groups.stand_ins, groups.total) == (2, 0, domains.total)
    alone = await ranked_callers(UsageFilter(), WEEK, ("referer_domain",), 1, against=None)
    # Without the previous period the old domains are not used: 32 groups, no previous sides.
    now = Figures(*(Trend(t.current, 0) for t in astuple_of(domains.total)))
    assert alone == {
        "referer_domain": Ranking([Group("site-14.example", Figures(Trend(5, 0)))], 32, now, 2)
    }


def astuple_of(figures: Figures) -> tuple[Trend, ...]:
    return figures.api_calls, figures.downloads, figures.downloaded_bytes, figures.app_opens


PAGE = """query($after: String) {
  usage(period: {start: "2024-01-08", end: "2024-01-14"}) {
    breakdown(by: DOMAIN, first: 4, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { key apiCalls { current previous } downloads { current } }
    }
  }
}"""
EVERY = PAGE.replace("first: 4, after: $after", "first: 100").replace("($after: String)", "")


async def test_pages_of_a_breakdown_follow_each_other(
    client: httpx.AsyncClient, seeded: None
) -> None:
    whole = (await graphql(client, EVERY))["data"]["usage"]["breakdown"]
    assert whole["totalCount"] == 35 and len(whole["nodes"]) == 35
    paged: list[Any] = []
    after = None
    while True:
        page = (await graphql(client, PAGE, {"after": after}))["data"]["usage"]["breakdown"]
        assert page["totalCount"] == 35
        paged += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert paged == whole["nodes"]
    # Ties by key ("none" before the sites of 1 call), the old domains last (none this week).
    assert [node["key"] for node in paged[-9:]] == [
        "none",
        "site-10.example",
        "site-15.example",
        "site-20.example",
        "site-25.example",
        "site-5.example",
        "old-0.example",
        "old-1.example",
        "old-2.example",
    ]
