"""GraphQL output types of docs/graphql.md; usage fields read through the request's DataLoaders."""

from __future__ import annotations

from datetime import date
from enum import Enum

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.relay import PageInfo

from app import reports
from app.core import periods
from app.core.records import UserGroup as StoredUserGroup
from app.schema.auth import reader
from app.schema.context import Info
from app.schema.inputs import PeriodInput, usage_filter
from app.schema.loaders import FiguresKey, UsageQuery
from app.schema.pagination import Window, window
from app.schema.scalars import BigInt
from app.webanalytics import tracking


@strawberry.enum(
    description="Who made a request (docs/classification.md), first rule that applies."
)
class UserGroup(Enum):
    OWNER = StoredUserGroup.OWNER.value
    OWNER_API_KEY = StoredUserGroup.OWNER_API_KEY.value
    EXTERNAL = StoredUserGroup.EXTERNAL.value
    EXTERNAL_API_KEY = StoredUserGroup.EXTERNAL_API_KEY.value
    ANONYMOUS = StoredUserGroup.ANONYMOUS.value
    BOT = StoredUserGroup.BOT.value


@strawberry.enum(description="What a breakdown splits usage by.")
class Breakdown(Enum):
    USER_GROUP = "user_group"  # the value is the usage_daily column grouped on
    DOMAIN = "referer_domain"
    CATEGORY = "referer_category"


@strawberry.enum(description="TITLE ascending; the others most-used first and need `period`.")
class DatasetOrder(Enum):
    TITLE = reports.DatasetOrder.TITLE
    API_CALLS = reports.DatasetOrder.API_CALLS
    DOWNLOADS = reports.DatasetOrder.DOWNLOADS


@strawberry.type(name="Period")
class PeriodType:
    start: date
    end: date
    days: int

    @classmethod
    def from_period(cls, period: periods.Period) -> PeriodType:
        return cls(start=period.start, end=period.end, days=period.days)


@strawberry.type(description="A figure in the period beside the previous period's.")
class Trend:
    current: BigInt
    previous: BigInt
    change: float | None = strawberry.field(
        description="(current - previous) / previous; null when previous is 0."
    )

    @classmethod
    def from_row(cls, trend: reports.Trend) -> Trend:
        # Plain attributes, not resolvers: a page of 100 datasets has hundreds of trends, and
        # each custom resolver costs Strawberry tens of microseconds.
        current, previous = trend
        change = (current - previous) / previous if previous else None
        return cls(current=BigInt(current), previous=BigInt(previous), change=change)


@strawberry.type
class DayUsage:
    day: date
    api_calls: BigInt
    downloads: BigInt

    @classmethod
    def from_row(cls, row: reports.DayFigures) -> DayUsage:
        return cls(day=row.day, api_calls=BigInt(row.api_calls), downloads=BigInt(row.downloads))


@strawberry.type
class UsageGroup:
    key: str
    api_calls: Trend
    downloads: Trend

    @classmethod
    def from_row(cls, key: str, figures: reports.Figures) -> UsageGroup:
        return cls(
            key=key,
            api_calls=Trend.from_row(figures.api_calls),
            downloads=Trend.from_row(figures.downloads),
        )


@strawberry.type
class UsageGroupEdge:
    cursor: str
    node: UsageGroup


@strawberry.type
class UsageGroupConnection:
    total_count: int
    edges: list[UsageGroupEdge]
    page_info: PageInfo


def page_info(page: Window, shown: int, total: int) -> PageInfo:
    return PageInfo(
        has_next_page=page.offset + shown < total,
        has_previous_page=page.offset > 0,
        start_cursor=page.cursor(0) if shown else None,
        end_cursor=page.cursor(shown - 1) if shown else None,
    )


def _by_use(group: tuple[str, reports.Figures]) -> tuple[int, str]:
    key, figures = group
    return -(figures.api_calls.current + figures.downloads.current), key


# The Usage fields read from the totals: Usage loads them only when one of them is selected.
_TOTALS = frozenset({"apiCalls", "downloads", "downloadedBytes", "appOpens"})


def _selects(info: Info, names: frozenset[str]) -> bool:
    """Whether the field being resolved selects one of `names`, fragments included. Walks
    graphql-core's nodes: Strawberry's `selected_fields` converts every argument and directive
    of the subtree, which costs more than the figures on a 100-dataset page."""
    raw = info._raw_info
    pending = [node.selection_set for node in raw.field_nodes]
    while pending:
        selection_set = pending.pop()
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, FieldNode):
                if node.name.value in names:
                    return True
            elif isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                pending.append(raw.fragments[node.name.value].selection_set)
    return False


@strawberry.type(description="Status-ok usage of some datasets in a period and the previous one.")
class Usage:
    period: PeriodType
    previous_period: PeriodType = strawberry.field(
        description="Same length, ending the day before `period.start`."
    )
    # Filled before the Usage is returned (through the batched loader) rather than resolved
    # field by field: the async resolvers were most of a 100-dataset page's time.
    api_calls: Trend
    downloads: Trend
    downloaded_bytes: Trend
    app_opens: Trend
    query: strawberry.Private[UsageQuery]

    @classmethod
    async def load(cls, info: Info, query: UsageQuery) -> Usage:
        """The usage `query` asks for; its totals read only when the selection wants them."""
        totals = reports.NO_FIGURES
        if _selects(info, _TOTALS):
            groups = await info.context.loaders.figures.load(FiguresKey(query))
            totals = groups.get(reports.TOTAL, reports.NO_FIGURES)
        return cls(
            period=PeriodType.from_period(query.period),
            previous_period=PeriodType.from_period(query.period.previous()),
            api_calls=Trend.from_row(totals.api_calls),
            downloads=Trend.from_row(totals.downloads),
            downloaded_bytes=Trend.from_row(totals.downloaded_bytes),
            app_opens=Trend.from_row(totals.app_opens),
            query=query,
        )

    @strawberry.field
    async def daily(self, info: Info) -> list[DayUsage]:
        days = await info.context.loaders.daily.load(self.query)
        return [DayUsage.from_row(day) for day in days]

    @strawberry.field
    async def breakdown(
        self, info: Info, by: Breakdown, first: int | None = 10, after: str | None = None
    ) -> UsageGroupConnection:
        page = window("groups", first, after, default=10)
        groups = await info.context.loaders.figures.load(FiguresKey(self.query, by.value))
        used = sorted(
            ((key, f) for key, f in groups.items() if any(f.api_calls) or any(f.downloads)),
            key=_by_use,
        )
        shown = used[page.offset : page.offset + page.limit]
        edges = [
            UsageGroupEdge(cursor=page.cursor(i), node=UsageGroup.from_row(key, figures))
            for i, (key, figures) in enumerate(shown)
        ]
        return UsageGroupConnection(
            total_count=len(used), edges=edges, page_info=page_info(page, len(shown), len(used))
        )


@strawberry.type
class Owner:
    type: str
    id: str


@strawberry.type(description="A resource of type `datasets`; `id` is its resource id.")
class Dataset:
    id: strawberry.ID
    title: str | None
    owner: Owner

    @classmethod
    def from_row(cls, row: reports.DatasetRow) -> Dataset:
        owner = Owner(type=row.owner.type, id=row.owner.id)
        return cls(id=strawberry.ID(row.id), title=row.title, owner=owner)

    @strawberry.field
    async def usage(
        self,
        info: Info,
        period: PeriodInput,
        user_groups: list[UserGroup] | None = None,
        domains: list[str] | None = None,
    ) -> Usage:
        scope = await reader(info)
        groups = [group.value for group in user_groups] if user_groups is not None else None
        usage = usage_filter(scope.owner_filter(None), None, groups, domains)
        return await Usage.load(
            info, UsageQuery(usage, period.to_period(), dataset_id=str(self.id))
        )


@strawberry.type
class DatasetEdge:
    cursor: str
    node: Dataset


@strawberry.type
class DatasetConnection:
    total_count: int
    edges: list[DatasetEdge]
    page_info: PageInfo


@strawberry.enum
class AnalyticsProvider(Enum):
    NONE = tracking.AnalyticsProvider.NONE
    MATOMO = tracking.AnalyticsProvider.MATOMO
    GOOGLE_ANALYTICS = tracking.AnalyticsProvider.GOOGLE_ANALYTICS


@strawberry.type
class MatomoConfig:
    tracker_url: str
    site_id: str
    cookieless: bool


@strawberry.type
class GoogleAnalyticsConfig:
    measurement_id: str


@strawberry.type(description="The web-analytics setup a portal's front end loads (public).")
class AnalyticsConfig:
    provider: AnalyticsProvider
    matomo: MatomoConfig | None
    google_analytics: GoogleAnalyticsConfig | None
    requires_consent: bool
    script_url: str
    csp_script_src: list[str]
    csp_connect_src: list[str]
    csp_img_src: list[str] = strawberry.field(
        description="img-src sources: trackers fall back to an image when a beacon fails"
    )

    @classmethod
    def from_config(cls, config: tracking.AnalyticsConfig) -> AnalyticsConfig:
        matomo, google = config.matomo, config.google_analytics
        return cls(
            provider=AnalyticsProvider(config.provider),
            matomo=MatomoConfig(
                tracker_url=matomo.tracker_url, site_id=matomo.site_id, cookieless=matomo.cookieless
            )
            if matomo
            else None,
            google_analytics=GoogleAnalyticsConfig(measurement_id=google.measurement_id)
            if google
            else None,
            requires_consent=config.requires_consent,
            script_url=config.script_url,
            csp_script_src=list(config.csp_script_src),
            csp_connect_src=list(config.csp_connect_src),
            csp_img_src=list(config.csp_img_src),
        )
