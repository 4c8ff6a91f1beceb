"""A page of datasets with their usage costs the same few SQL statements whatever its size."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from app.storage.database import connection, is_postgres
from tests.helpers import PERIOD_WEEK, dataset, graphql_data, ingest, line_on

pytestmark = pytest.mark.anyio

PAGE = """query($first: Int!, $period: PeriodInput!) {
  datasets(first: $first, orderBy: API_CALLS, period: $period) {
    totalCount
    edges { node { id title usage(period: $period) {
      apiCalls { current previous change } downloads { current } appOpens { current }
      daily { day apiCalls }
      breakdown(by: DOMAIN, first: 5) { totalCount edges { node { key apiCalls { current } } } }
    } } }
  }
}"""
# count + page, totals, breakdown, daily: each one statement for the whole page.
STATEMENTS_PER_PAGE = 5
# PostgreSQL ranks the page from the most used datasets, kept until their days are written:
# the kept answer looked for, the days' versions read (days written just now: live, read each
# time, docs/storage.md#kept-answers), then the page of those.
KEPT_RANKING = 3


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage())


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """Every statement the database layer runs meanwhile (tortoise logs each one at DEBUG)."""
    logger = logging.getLogger("tortoise.db_client")
    counter, level = _Counter(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        yield counter.statements
    finally:
        logger.setLevel(level)
        logger.removeHandler(counter)


async def page_statements(client: httpx.AsyncClient, first: int) -> tuple[list[str], Any]:
    with counted_statements() as statements:
        data = await graphql_data(client, PAGE, first=first, period=PERIOD_WEEK)
    return statements, data


async def test_a_page_of_100_datasets_costs_what_a_page_of_1_costs(
    client: httpx.AsyncClient,
) -> None:
    await ingest(
        client,
        *[
            line_on(day, resource=dataset(f"d{n:03}", f"Data {n:03}"), referer=referer)
            for n in range(100)
            for day, referer in (("2024-01-08", ""), ("2024-01-03", f"https://{n}.example/"))
        ],
    )
    one, one_page = await page_statements(client, 1)
    hundred, hundred_page = await page_statements(client, 100)
    assert len(one_page["datasets"]["edges"]) == 1
    assert len(hundred_page["datasets"]["edges"]) == 100
    usage = hundred_page["datasets"]["edges"][42]["node"]["usage"]
    assert usage["apiCalls"] == {"current": 1, "previous": 1, "change": 0.0}
    assert usage["breakdown"]["totalCount"] == 2
    expected = STATEMENTS_PER_PAGE + (KEPT_RANKING if is_postgres(connection()) else 0)
    assert len(one) == len(hundred) == expected, hundred


async def test_totals_are_read_only_when_selected_fragments_included(
    client: httpx.AsyncClient,
) -> None:
    # Usage fills its totals before it is returned, from what the query selects.
    await ingest(client, line_on("2024-01-08"), line_on("2024-01-09"), line_on("2024-01-02"))
    daily_only = "query($period: PeriodInput!) { usage(period: $period) { daily { apiCalls } } }"
    with_totals = """query($period: PeriodInput!) {
      usage(period: $period) { daily { apiCalls } apiCalls { current } } }"""
    through_fragments = """query($period: PeriodInput!) { usage(period: $period) { ...U } }
      fragment U on Usage { daily { apiCalls } ... on Usage { apiCalls { current previous } } }"""
    with counted_statements() as without:
        data = await graphql_data(client, daily_only, period=PERIOD_WEEK)
    assert [day["apiCalls"] for day in data["usage"]["daily"]] == [1, 1, 0, 0, 0, 0, 0]
    with counted_statements() as counted:
        data = await graphql_data(client, with_totals, period=PERIOD_WEEK)
    assert data["usage"]["apiCalls"] == {"current": 2}
    assert len(counted) == len(without) + 1
    data = await graphql_data(client, through_fragments, period=PERIOD_WEEK)
    assert data["usage"]["apiCalls"] == {"current": 2, "previous": 1}


BREAKDOWNS = """query($period: PeriodInput!) { usage(period: $period) {
  domains: breakdown(by: DOMAIN) { totalCount edges { node { key apiCalls { current previous } } } }
  groups: breakdown(by: USER_GROUP) { edges { node { key apiCalls { current previous } } } }
  categories: breakdown(by: CATEGORY) { edges { node { key apiCalls { current previous } } } }
} }"""


async def test_breakdowns_of_one_view_read_the_callers_once(client: httpx.AsyncClient) -> None:
    # Each breakdown reads every caller row of the period (~1 M for a large portal's year):
    # three of one view are one statement, with what each alone answers.
    await ingest(
        client,
        line_on("2024-01-08", referer="https://a.example/"),
        line_on("2024-01-09", referer="https://a.example/", api_key="k"),
        line_on("2024-01-10", referer="https://b.example/", user_agent="Googlebot/2.1"),
        line_on("2024-01-02", referer="https://b.example/"),
        line_on("2024-01-03"),
    )
    with counted_statements() as seen:
        together = await graphql_data(client, BREAKDOWNS, period=PERIOD_WEEK)
    assert len([s for s in seen if "usage_by_caller" in s]) == 1, seen
    assert together["usage"]["domains"] == {
        "totalCount": 3,
        "edges": [
            {"node": {"key": "a.example", "apiCalls": {"current": 2, "previous": 0}}},
            {"node": {"key": "b.example", "apiCalls": {"current": 1, "previous": 1}}},
            {"node": {"key": "none", "apiCalls": {"current": 0, "previous": 1}}},
        ],
    }
    for alias, by in (("domains", "DOMAIN"), ("groups", "USER_GROUP"), ("categories", "CATEGORY")):
        node = "node { key apiCalls { current previous } }"
        alone = f"""query($period: PeriodInput!) {{ usage(period: $period) {{
          {alias}: breakdown(by: {by}) {{ edges {{ {node} }} }}
        }} }}"""
        answer = await graphql_data(client, alone, period=PERIOD_WEEK)
        assert answer["usage"][alias]["edges"] == together["usage"][alias]["edges"], alias


async def test_breakdowns_read_from_the_daily_rows_agree_with_each_alone(
    client: httpx.AsyncClient,
) -> None:
    # A `datasets` filter with a `userGroups` one: only usage_daily has both dimensions, and
    # its period is told apart by a comparison of days rather than a block's part.
    await ingest(
        client,
        line_on("2024-01-08", resource=dataset("x"), referer="https://a.example/"),
        line_on("2024-01-09", resource=dataset("x"), referer="https://b.example/"),
        line_on("2024-01-09", resource=dataset("y"), referer="https://b.example/"),
        line_on("2024-01-02", resource=dataset("x"), referer="https://b.example/"),
    )
    filters = 'datasets: ["x"], userGroups: [ANONYMOUS]'
    node = "node { key apiCalls { current previous } }"
    together = f"""query($period: PeriodInput!) {{ usage(period: $period, {filters}) {{
      domains: breakdown(by: DOMAIN) {{ edges {{ {node} }} }}
      categories: breakdown(by: CATEGORY) {{ edges {{ {node} }} }}
    }} }}"""
    with counted_statements() as seen:
        both = (await graphql_data(client, together, period=PERIOD_WEEK))["usage"]
    assert len([s for s in seen if "usage_daily" in s]) == 1, seen
    assert both["domains"]["edges"] == [
        {"node": {"key": "a.example", "apiCalls": {"current": 1, "previous": 0}}},
        {"node": {"key": "b.example", "apiCalls": {"current": 1, "previous": 1}}},
    ]
    for alias, by in (("domains", "DOMAIN"), ("categories", "CATEGORY")):
        alone = f"""query($period: PeriodInput!) {{ usage(period: $period, {filters}) {{
          {alias}: breakdown(by: {by}) {{ edges {{ {node} }} }}
        }} }}"""
        answer = await graphql_data(client, alone, period=PERIOD_WEEK)
        assert answer["usage"][alias]["edges"] == both[alias]["edges"], alias
