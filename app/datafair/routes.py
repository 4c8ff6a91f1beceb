"""GET /api/daily-api-metrics, /_agg and /_export: Data Fair's metrics API over our aggregates
(docs/coming-from-data-fair.md). Thin: parse, find the account, read, shape."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.auth.tokens import TokenChecker
from app.config import Settings
from app.core.periods import Period
from app.core.records import Owner
from app.datafair.account import account_of
from app.datafair.aggregation import agg_answer, resource_object
from app.datafair.export import ExportFigures, workbook_bytes
from app.datafair.export_labels import export_lang
from app.datafair.query import SPLIT_COLUMNS, parse_agg, parse_list, parse_period
from app.datafair.vocabulary import (
    OPERATION_TRACKS,
    STATUS_CLASSES,
    USER_CLASSES,
    referer_category,
)
from app.reports.daily_metrics import (
    MetricsFilter,
    MetricsRow,
    count_documents,
    documents,
    grouped_metrics,
    owner_resources,
)

PREFIX = "/api/daily-api-metrics"
# Past this many grouped rows, the answer is shaped in a thread, off the event loop.
THREAD_ROWS = 1_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class DataFairApi:
    def __init__(self, settings: Settings, tokens: TokenChecker) -> None:
        self._tokens = tokens
        self._link_base = link_base(settings)

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX, self.list_documents, methods=["GET"]),
            Route(f"{PREFIX}/_agg", self.agg, methods=["GET"]),
            Route(f"{PREFIX}/_export", self.export, methods=["GET"]),
        ]

    async def list_documents(self, request: Request) -> Response:
        query = parse_list(list(request.query_params.multi_items()))
        owner = await account_of(request, self._tokens, query.owner)
        page = query.documents(owner)
        rows = await documents(page) if page.limit else []
        count = await count_documents(page)
        # Up to 10 000 documents (a few MB of JSON): written in a thread, off the event loop.
        body = await run_in_threadpool(_list_body, owner, count, rows)
        return Response(body, media_type="application/json")

    async def agg(self, request: Request) -> Response:
        query = parse_agg(list(request.query_params.multi_items()))
        owner = await account_of(request, self._tokens, query.owner)
        by_day = query.split[0] == "day"
        columns = tuple(SPLIT_COLUMNS[part] for part in query.split if part != "day" or by_day)
        rows = await grouped_metrics(query.usage(owner), columns)
        if len(rows) <= THREAD_ROWS:
            body = _agg_body(rows, query.period, by_day)
        else:  # a month of 200 datasets by day (6 200 rows) takes tens of ms to shape
            body = await run_in_threadpool(_agg_body, rows, query.period, by_day)
        return Response(body, media_type="application/json")

    async def export(self, request: Request) -> Response:
        query = parse_period(list(request.query_params.multi_items()))
        owner = await account_of(request, self._tokens, query.owner)
        figures = await export_figures(owner, query.period, self._link_base)
        lang = export_lang(request.headers.get("accept-language"))
        # Building a workbook of many datasets takes longer than the event loop may wait.
        content = await run_in_threadpool(workbook_bytes, figures, lang)
        start, end = query.period.start, query.period.end
        return Response(
            content,
            media_type=XLSX,
            headers={"Content-Disposition": f"attachment; filename=Audience_{start}_{end}.xlsx"},
        )


def _list_body(owner: Owner, count: int, rows: list[dict[str, Any]]) -> bytes:
    results = [document(owner, row) for row in rows]
    return orjson.dumps({"count": count, "results": results})


def _agg_body(rows: list[MetricsRow], period: Period, by_day: bool) -> bytes:
    # orjson: such an answer is ~0.5 MB of JSON, which json.dumps takes 15 times longer to write.
    return orjson.dumps(agg_answer(rows, period, by_day))


async def export_figures(owner: Owner, period: Period, link_base: str | None) -> ExportFigures:
    """The export's figures: five grouped statements and two lists of resources."""
    ok = MetricsFilter(owner, period, status_classes=("ok",))
    previous = MetricsFilter(owner, period.previous(), status_classes=("ok",))
    classes = ("operation", "user_group")
    return ExportFigures(
        owner=owner,
        period=period,
        current=await grouped_metrics(ok, ("day", *classes)),
        previous=await grouped_metrics(previous, classes),
        by_resource=await grouped_metrics(ok, ("resource", *classes)),
        by_domain=await grouped_metrics(ok, ("referer_domain", *classes)),
        datasets=await owner_resources(owner, "datasets"),
        applications=await owner_resources(owner, "applications"),
        link_base=link_base,
    )


def link_base(settings: Settings) -> str | None:
    """The origin the export's links start with: USAGE_METRICS_PORTAL_URL's, else
    USAGE_METRICS_PUBLIC_URL's, else none (no links). Never the request's Host, which any
    client writes (docs/coming-from-data-fair.md)."""
    url = settings.portal_url or settings.public_url
    if url is None:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


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
