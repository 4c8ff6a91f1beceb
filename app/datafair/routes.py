"""GET /api/daily-api-metrics, /_agg and /_export: Data Fair's metrics API over our aggregates
(docs/coming-from-data-fair.md). Thin: parse, find the account, read, shape."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.auth.tokens import TokenChecker
from app.core.records import Owner
from app.datafair.account import account_of
from app.datafair.aggregation import agg_answer, resource_object
from app.datafair.query import SPLIT_COLUMNS, parse_agg, parse_owner
from app.datafair.vocabulary import (
    OPERATION_TRACKS,
    STATUS_CLASSES,
    USER_CLASSES,
    referer_category,
)
from app.reports.daily_metrics import documents, grouped_metrics

PREFIX = "/api/daily-api-metrics"


class DataFairApi:
    def __init__(self, tokens: TokenChecker) -> None:
        self._tokens = tokens

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX, self.list_documents, methods=["GET"]),
            Route(f"{PREFIX}/_agg", self.agg, methods=["GET"]),
        ]

    async def list_documents(self, request: Request) -> Response:
        requested = parse_owner(list(request.query_params.multi_items()))
        owner = await account_of(request, self._tokens, requested)
        results = [document(owner, row) for row in await documents(owner)]
        return JSONResponse({"count": len(results), "results": results})

    async def agg(self, request: Request) -> Response:
        query = parse_agg(list(request.query_params.multi_items()))
        owner = await account_of(request, self._tokens, query.owner)
        by_day = query.split[0] == "day"
        columns = tuple(SPLIT_COLUMNS[part] for part in query.split if part != "day" or by_day)
        rows = await grouped_metrics(query.usage(owner), columns)
        return JSONResponse(agg_answer(rows, query.period, by_day))


def document(owner: Owner, row: dict[str, Any]) -> dict[str, Any]:
    """A usage_daily row as a `daily-api-metrics` document (duration in seconds, as Data Fair)."""
    found: dict[str, Any] = {
        "owner": {"type": owner.type, "id": owner.id},
        "day": row["day"].isoformat(),
        "resource": resource_object(row["resource_type"], row["resource_id"], row["title"]),
        "operationTrack": OPERATION_TRACKS.get(row["operation"], row["operation"]),
        "statusClass": STATUS_CLASSES.get(row["status_class"], row["status_class"]),
        "userClass": USER_CLASSES.get(row["user_group"], row["user_group"]),
        "refererDomain": row["referer_domain"],
        "refererCategory": referer_category(row["referer_category"]),
        "nbRequests": row["requests"],
        "bytes": row["bytes"],
        "duration": row["duration_ms"] / 1000,
    }
    if row["referer_app"]:
        found["refererApp"] = row["referer_app"]
    return found
