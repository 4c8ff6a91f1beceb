"""The Query root: datasets, one dataset, usage totals (token needed) and analytics (public)."""

from __future__ import annotations

import strawberry

from app import reports
from app.errors import BadUserInputError
from app.schema.auth import reader
from app.schema.context import Info
from app.schema.freshness import Freshness, freshness
from app.schema.inputs import OwnerInput, PeriodInput, usage_filter
from app.schema.loaders import UsageQuery
from app.schema.pagination import window
from app.schema.types import (
    AnalyticsConfig,
    Dataset,
    DatasetConnection,
    DatasetEdge,
    DatasetOrder,
    Usage,
    UserGroup,
    page_info,
)
from app.webanalytics import tracking
from app.webanalytics.store import read_analytics


@strawberry.type
class Query:
    @strawberry.field
    async def datasets(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        owner: OwnerInput | None = None,
        search: str | None = None,
        order_by: DatasetOrder | None = DatasetOrder.TITLE,
        period: PeriodInput | None = None,
    ) -> DatasetConnection:
        scope = await reader(info)
        page = window("datasets", first, after, default=20)
        in_scope = scope.owner_filter(owner.to_owner() if owner else None)
        order = order_by.value if order_by is not None else reports.DatasetOrder.TITLE
        if order is not reports.DatasetOrder.TITLE and period is None:
            raise BadUserInputError(
                f"orderBy: {order.name} ranks datasets by their usage in a period: "
                "pass period: {start: ..., end: ...} too"
            )
        usage_period = period.to_period() if period is not None else None
        total = await reports.count_datasets(in_scope, search)
        rows = await reports.datasets_page(
            in_scope, search, order, usage_period, page.offset, page.limit
        )
        edges = [
            DatasetEdge(cursor=page.cursor(i), node=Dataset.from_row(row))
            for i, row in enumerate(rows)
        ]
        return DatasetConnection(
            total_count=total, edges=edges, page_info=page_info(page, len(rows), total)
        )

    @strawberry.field
    async def dataset(self, info: Info, id: strawberry.ID) -> Dataset | None:
        scope = await reader(info)
        row = await info.context.loaders.datasets.load(str(id))
        return Dataset.from_row(row) if row is not None and scope.can_see(row.owner) else None

    @strawberry.field
    async def usage(
        self,
        info: Info,
        period: PeriodInput,
        owner: OwnerInput | None = None,
        datasets: list[strawberry.ID] | None = None,
        user_groups: list[UserGroup] | None = None,
        domains: list[str] | None = None,
    ) -> Usage:
        scope = await reader(info)
        in_scope = scope.owner_filter(owner.to_owner() if owner else None)
        ids = [str(dataset_id) for dataset_id in datasets] if datasets is not None else None
        groups = [group.value for group in user_groups] if user_groups is not None else None
        usage = usage_filter(in_scope, ids, groups, domains)
        return await Usage.load(info, UsageQuery(usage, period.to_period()))

    freshness: Freshness = strawberry.field(
        resolver=freshness, description="How fresh the usage figures are (a token is needed)."
    )

    @strawberry.field
    async def analytics(self, info: Info) -> AnalyticsConfig:
        stored = await read_analytics()
        base_url = info.context.settings.public_url or str(info.context.request.base_url)
        return AnalyticsConfig.from_config(tracking.build_config(stored, base_url))
