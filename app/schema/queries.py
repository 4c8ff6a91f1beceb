"""The Query root: datasets, one dataset, usage totals, the viewer (credentials needed) and
analytics (public)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app import reports
from app.errors import BadUserInputError
from app.schema import docs
from app.schema.analytics import AnalyticsConfig
from app.schema.auth import reader
from app.schema.context import Info
from app.schema.datasets import Dataset, DatasetConnection, DatasetEdge, Owner, Viewer
from app.schema.enums import DatasetOrder, OrderDirection, UserGroup, raw
from app.schema.freshness import Freshness, freshness
from app.schema.inputs import OwnerInput, PeriodInput, usage_filter
from app.schema.loaders import UsageQuery
from app.schema.pagination import window
from app.schema.types import Usage, page_info
from app.webanalytics import tracking
from app.webanalytics.store import read_analytics

_SEARCH = (
    "Only datasets whose title (the id when there is none) contains this text, accents and "
    "case ignored: `ecoles` finds `Écoles`."
)
_ORDER_PERIOD = "The period whose usage orders the datasets (API_CALLS, DOWNLOADS); else unused."
_DIRECTION = "ASC or DESC; null: TITLE ascending, the usage orders most-used first."


@strawberry.type(
    description="Usage of an open-data portal's datasets, counted from its proxy's access "
    "logs: no personal data is kept. Every field but `analytics` needs credentials: an "
    "`Authorization: Bearer <token>` header, or the portal's session cookies."
)
class Query:
    @docs.described("One page of the datasets the credentials may read.")
    async def datasets(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=docs.FIRST)] = 20,
        after: Annotated[str | None, strawberry.argument(description=docs.AFTER)] = None,
        owner: Annotated[OwnerInput | None, strawberry.argument(description=docs.OWNER)] = None,
        search: Annotated[str | None, strawberry.argument(description=_SEARCH)] = None,
        order_by: Annotated[
            DatasetOrder | None, strawberry.argument(description="What orders the datasets.")
        ] = DatasetOrder.TITLE,
        direction: Annotated[
            OrderDirection | None, strawberry.argument(description=_DIRECTION)
        ] = None,
        period: Annotated[
            PeriodInput | None, strawberry.argument(description=_ORDER_PERIOD)
        ] = None,
    ) -> DatasetConnection:
        scope = await reader(info)
        page = window("datasets", first, after, default=20)
        in_scope = scope.owner_filter(owner.to_owner() if owner else None)
        order = (
            reports.DatasetOrder(raw(order_by))
            if order_by is not None
            else reports.DatasetOrder.TITLE
        )
        if order is not reports.DatasetOrder.TITLE and period is None:
            raise BadUserInputError(
                f"orderBy: {order.name} ranks datasets by their usage in a period: "
                "pass period: {start: ..., end: ...} too"
            )
        usage_period = period.to_period() if period is not None else None
        descending = (
            direction is OrderDirection.DESC
            if direction is not None
            else order is not reports.DatasetOrder.TITLE
        )
        total = await reports.count_datasets(in_scope, search)
        rows = await reports.datasets_page(
            in_scope, search, order, usage_period, page.offset, page.limit, descending=descending
        )
        nodes = [Dataset.from_row(row) for row in rows]
        edges = [DatasetEdge(cursor=page.cursor(i), node=node) for i, node in enumerate(nodes)]
        return DatasetConnection(
            total_count=total,
            edges=edges,
            nodes=nodes,
            page_info=page_info(page, len(rows), total),
        )

    @docs.described("One dataset; null when it is unknown or not readable.")
    async def dataset(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The dataset's id.")],
    ) -> Dataset | None:
        scope = await reader(info)
        row = await info.context.loaders.datasets.load(str(id))
        return Dataset.from_row(row) if row is not None and scope.can_see(row.owner) else None

    @docs.described(
        "The usage of every dataset the credentials may read, summed, or of those "
        "the arguments keep."
    )
    async def usage(
        self,
        info: Info,
        period: Annotated[PeriodInput, strawberry.argument(description=docs.PERIOD)],
        owner: Annotated[OwnerInput | None, strawberry.argument(description=docs.OWNER)] = None,
        datasets: Annotated[
            list[strawberry.ID] | None, strawberry.argument(description=docs.DATASETS)
        ] = None,
        user_groups: Annotated[
            list[UserGroup] | None, strawberry.argument(description=docs.USER_GROUPS)
        ] = None,
        domains: Annotated[list[str] | None, strawberry.argument(description=docs.DOMAINS)] = None,
    ) -> Usage:
        scope = await reader(info)
        in_scope = scope.owner_filter(owner.to_owner() if owner else None)
        ids = [str(dataset_id) for dataset_id in datasets] if datasets is not None else None
        groups = [raw(group) for group in user_groups] if user_groups is not None else None
        usage = usage_filter(in_scope, ids, groups, domains)
        return await Usage.load(info, UsageQuery(usage, period.to_period()))

    @docs.described("What the credentials of this request may read.")
    async def viewer(self, info: Info) -> Viewer:
        scope = await reader(info)
        # The owners with their names, in one statement either way.
        if scope.owners is None:
            owners = await reports.dataset_owners()
        else:
            owners = await reports.named_owners(scope.owners)
        return Viewer(
            every_owner=scope.is_every_owner, owners=[Owner.from_named(o) for o in owners]
        )

    freshness: Freshness = strawberry.field(
        resolver=freshness, description="How fresh the usage figures are (a token is needed)."
    )

    @docs.described("The web-analytics setup for the portal's pages. Public: no credentials.")
    async def analytics(self, info: Info) -> AnalyticsConfig:
        stored = await read_analytics()
        base_url = info.context.settings.public_url or str(info.context.request.base_url)
        return AnalyticsConfig.from_config(tracking.build_config(stored, base_url))
