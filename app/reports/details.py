"""Export details: figures per dataset, user group and calling domain, both periods at once."""

from __future__ import annotations

from typing import NamedTuple

from app.core.periods import Period
from app.reports.figures import SIDES
from app.reports.rows import Trend, UsageFilter
from app.reports.sources import read_usage, with_clause
from app.reports.statement import Statement


class DetailRow(NamedTuple):
    """Status-ok API calls and downloads of one dataset, user group and calling domain."""

    dataset_id: str
    user_group: str  # a stored UserGroup value: "OWNER", "ANONYMOUS"...
    domain: str  # the stored referer_domain: "none" without a referer, "invalid" if not a URL
    api_calls: Trend
    downloads: Trend


_KEYS = ("resource_id", "user_group", "referer_domain")


async def details(usage: UsageFilter, period: Period) -> list[DetailRow]:
    """Every (dataset, user group, domain) with API calls or downloads in the period or the
    previous one, in one statement; ordered by dataset id, user group, domain."""
    sql = Statement()
    # A dataset and a caller column: only usage_daily keeps both, so read_usage picks it.
    source = read_usage(
        sql, usage, period, with_previous=True, by_dataset=True, column="referer_domain"
    )
    keys = ", ".join(f"t.{column}" for column in _KEYS)
    sides = {
        f"{figure}_{side}": f"SUM({source.figures[figure]}) FILTER (WHERE {source.part} = {side})"
        for figure in ("api_calls", "downloads")
        for side in SIDES
    }
    # Both periods of a key in one row; HAVING drops the keys that only opened applications
    # (a side without rows sums to NULL: 0).
    statement = (
        f"{with_clause(source.ctes)}SELECT {keys}, "  # noqa: S608
        f"{', '.join(f'{value} AS {name}' for name, value in sides.items())} "
        f"FROM {source.tables} WHERE {source.where} GROUP BY {keys} "
        f"HAVING {' OR '.join(f'{value} > 0' for value in sides.values())}"
    )
    rows = await sql.rows(statement)
    # Sorted here, not in SQL: PostgreSQL's collation may order text unlike SQLite's bytes.
    return sorted(
        DetailRow(
            str(row["resource_id"]),
            str(row["user_group"]),
            str(row["referer_domain"]),
            Trend(int(row["api_calls_1"] or 0), int(row["api_calls_0"] or 0)),
            Trend(int(row["downloads_1"] or 0), int(row["downloads_0"] or 0)),
        )
        for row in rows
    )
