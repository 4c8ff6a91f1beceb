"""Export details: figures per dataset, user group and calling domain, both periods at once."""

from __future__ import annotations

from typing import Any, NamedTuple

from app.core.periods import Period
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
    api, downloads = source.figures["api_calls"], source.figures["downloads"]
    keys = ", ".join(f"t.{column}" for column in _KEYS)
    # HAVING drops the (key, period) groups that only opened applications; a key that is left
    # with one period has zeros in the other.
    statement = (
        f"{with_clause(source.ctes)}SELECT {keys}, {source.part} AS is_current, "  # noqa: S608
        f"SUM({api}) AS api_calls, SUM({downloads}) AS downloads "
        f"FROM {source.tables} WHERE {source.where} GROUP BY {keys}, {source.part} "
        f"HAVING SUM({api}) > 0 OR SUM({downloads}) > 0"
    )
    sides: dict[tuple[str, str, str], dict[int, dict[str, Any]]] = {}
    for row in await sql.rows(statement):
        key = (str(row["resource_id"]), str(row["user_group"]), str(row["referer_domain"]))
        sides.setdefault(key, {})[int(row["is_current"])] = row
    # Sorted here, not in SQL: PostgreSQL's collation may order text unlike SQLite's bytes.
    return [
        DetailRow(*key, _trend(side, "api_calls"), _trend(side, "downloads"))
        for key, side in sorted(sides.items())
    ]


def _trend(side: dict[int, dict[str, Any]], alias: str) -> Trend:
    current, previous = side.get(1), side.get(0)
    return Trend(
        int(current[alias] or 0) if current is not None else 0,
        int(previous[alias] or 0) if previous is not None else 0,
    )
