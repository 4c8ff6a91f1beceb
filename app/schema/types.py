"""GraphQL output types of usage (docs/graphql.md); their fields read through the DataLoaders."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.relay import PageInfo

from app import reports
from app.core import periods
from app.core.intervals import Interval as StoredInterval
from app.schema import docs
from app.schema.context import Info
from app.schema.enums import Breakdown, Interval, RefererCategory, UserGroup, raw
from app.schema.loaders import BreakdownKey, ConsumersKey, FiguresKey, SeriesKey, UsageQuery
from app.schema.pagination import Window, window
from app.schema.scalars import BigInt

_USER_GROUPS = {raw(group): group for group in UserGroup}
_CATEGORIES = {raw(category): category for category in RefererCategory}


@strawberry.type(name="Period", description=f"Days from start to end, both included. {docs.DAY}")
class PeriodType:
    start: date = strawberry.field(description="The first day.")
    end: date = strawberry.field(description="The last day.")
    days: int = strawberry.field(description="How many days: end - start + 1.")

    @classmethod
    def from_period(cls, period: periods.Period) -> PeriodType:
        return cls(start=period.start, end=period.end, days=period.days)


@strawberry.type(
    description="A figure in the period beside the same figure in the previous period."
)
class Trend:
    current: BigInt = strawberry.field(description="In the period asked for.")
    previous: BigInt = strawberry.field(
        description="In the previous period: as many days, ending the day before it starts."
    )
    change: float | None = strawberry.field(
        description="(current - previous) / previous: 0.25 is +25 %; null when previous is 0."
    )

    @classmethod
    def from_row(cls, trend: reports.Trend) -> Trend:
        # Plain attributes, not resolvers: a page of 100 datasets has hundreds of trends, and
        # each custom resolver costs Strawberry tens of microseconds.
        current, previous = trend
        change = (current - previous) / previous if previous else None
        return cls(current=BigInt(current), previous=BigInt(previous), change=change)


@strawberry.type(
    description="Distinct consumers in the period beside the previous period's "
    "(docs/graphql.md#consumers). A count under the server's minimum "
    "(USAGE_METRICS_CONSUMERS_MIN) is null."
)
class ConsumerTrend:
    current: int | None = strawberry.field(description="In the period asked for.")
    previous: int | None = strawberry.field(
        description="In the previous period: as many days, ending the day before it starts."
    )
    change: float | None = strawberry.field(
        description="(current - previous) / previous; null when either is null or previous is 0."
    )
    epochs: int = strawberry.field(
        description="How many consumer epochs the period touches: a consumer counts once in "
        "each epoch its requests fall in (the hashing key changes between epochs)."
    )

    @classmethod
    def from_row(cls, found: reports.Consumers, minimum: int, epochs: int) -> ConsumerTrend:
        shown = reports.shown(found.current or 0, found.previous or 0, minimum)
        current, previous = shown.current, shown.previous
        change = (current - previous) / previous if current is not None and previous else None
        return cls(current=current, previous=previous, change=change, epochs=epochs)


@strawberry.type(description=f"API calls and downloads of one day. {docs.DAY}")
class DayUsage:
    day: date = strawberry.field(description="The day.")
    api_calls: BigInt = strawberry.field(description=docs.API_CALLS)
    downloads: BigInt = strawberry.field(description=docs.DOWNLOADS)

    @classmethod
    def from_row(cls, row: reports.DayFigures) -> DayUsage:
        return cls(day=row.day, api_calls=BigInt(row.api_calls), downloads=BigInt(row.downloads))


@strawberry.type(
    description="The usage of one day, week or month of the period, beside the previous "
    "period's days at the same positions: bucket n of the period compares with bucket n of "
    "the previous period, as many days earlier."
)
class UsageBucket:
    period: PeriodType = strawberry.field(
        description="The bucket's days inside the period: a whole week or month, or the part "
        "of it the period covers."
    )
    previous_period: PeriodType = strawberry.field(
        description="The days `previous` figures count: as many, `Usage.period.days` earlier."
    )
    partial: bool = strawberry.field(
        description="True when the period cuts the week or month: the bucket covers fewer "
        "days than a whole one. Days are never partial."
    )
    api_calls: Trend = strawberry.field(description=docs.API_CALLS)
    downloads: Trend = strawberry.field(description=docs.DOWNLOADS)
    downloaded_bytes: Trend = strawberry.field(description=docs.DOWNLOADED_BYTES)
    app_opens: Trend = strawberry.field(description=docs.APP_OPENS)
    consumers: ConsumerTrend | None = strawberry.field(
        default=None,
        description=f"{docs.CONSUMERS} Of the bucket's days, beside those of the previous "
        "period's days at its positions.",
    )

    @classmethod
    def from_row(cls, row: reports.BucketFigures) -> UsageBucket:
        figures = row.figures
        return cls(
            period=PeriodType.from_period(row.bucket.current),
            previous_period=PeriodType.from_period(row.bucket.previous),
            partial=row.bucket.partial,
            api_calls=Trend.from_row(figures.api_calls),
            downloads=Trend.from_row(figures.downloads),
            downloaded_bytes=Trend.from_row(figures.downloaded_bytes),
            app_opens=Trend.from_row(figures.app_opens),
        )


@strawberry.type(description="The usage of one group of a breakdown, in both periods.")
class UsageGroup:
    key: str = strawberry.field(
        description="The group: the name of its enum value, as `userGroup` or `category` "
        "spells it (`OWNER`, `EMBED`), for USER_GROUP and CATEGORY; the calling domain, lower "
        "case, for DOMAIN (see `Breakdown` for its special keys)."
    )
    user_group: UserGroup | None = strawberry.field(
        description="The group as an enum when the breakdown is by USER_GROUP, else null."
    )
    category: RefererCategory | None = strawberry.field(
        description="The category as an enum when the breakdown is by CATEGORY, else null."
    )
    api_calls: Trend = strawberry.field(description=docs.API_CALLS)
    downloads: Trend = strawberry.field(description=docs.DOWNLOADS)
    downloaded_bytes: Trend = strawberry.field(description=docs.DOWNLOADED_BYTES)
    app_opens: Trend = strawberry.field(description=docs.APP_OPENS)
    consumers: ConsumerTrend | None = strawberry.field(
        default=None,
        description=f"{docs.CONSUMERS} Only in a breakdown by USER_GROUP (sketches are not "
        "kept per calling domain or category): null otherwise.",
    )

    @classmethod
    def from_row(cls, by: Breakdown, key: str, figures: reports.Figures) -> UsageGroup:
        user_group = _USER_GROUPS.get(key) if by is Breakdown.USER_GROUP else None
        category = _CATEGORIES.get(key) if by is Breakdown.CATEGORY else None
        named = user_group or category
        return cls(
            # One case for every enum's keys (docs/graphql.md): the enum's name, and a stored
            # value the enum does not list yet in the same upper case.
            key=named.name if named else key if by is Breakdown.DOMAIN else key.upper(),
            user_group=user_group,
            category=category,
            api_calls=Trend.from_row(figures.api_calls),
            downloads=Trend.from_row(figures.downloads),
            downloaded_bytes=Trend.from_row(figures.downloaded_bytes),
            app_opens=Trend.from_row(figures.app_opens),
        )


@strawberry.type(description="A group of a breakdown and its cursor.")
class UsageGroupEdge:
    cursor: str = strawberry.field(description=docs.CURSOR)
    node: UsageGroup = strawberry.field(description="The group.")


@strawberry.type(
    description="One page of a breakdown's groups, most-used (API calls + downloads) first."
)
class UsageGroupConnection:
    total_count: int = strawberry.field(description=docs.TOTAL_COUNT)
    edges: list[UsageGroupEdge] = strawberry.field(description=docs.EDGES)
    nodes: list[UsageGroup] = strawberry.field(description=docs.NODES)
    page_info: PageInfo = strawberry.field(description=docs.PAGE_INFO)


def page_info(page: Window, shown: int, total: int) -> PageInfo:
    return PageInfo(
        has_next_page=page.offset + shown < total,
        has_previous_page=page.offset > 0,
        start_cursor=page.cursor(0) if shown else None,
        end_cursor=page.cursor(shown - 1) if shown else None,
    )


# The Usage fields read from the totals: Usage loads them only when one of them is selected.
_TOTALS = frozenset({"apiCalls", "downloads", "downloadedBytes", "appOpens"})
_CONSUMERS = frozenset({"consumers"})


def _selects(info: Info, names: frozenset[str], *, deep: bool = False) -> bool:
    """Whether the field being resolved selects one of `names`, fragments included. Walks
    graphql-core's nodes: Strawberry's `selected_fields` converts every argument and directive
    of the subtree, which costs more than the figures on a 100-dataset page. `deep`: in the
    selections of the selected fields too (a connection's nodes)."""
    raw = info._raw_info
    pending = [node.selection_set for node in raw.field_nodes]
    while pending:
        selection_set = pending.pop()
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, FieldNode):
                if node.name.value in names:
                    return True
                if deep and node.selection_set:
                    pending.append(node.selection_set)
            elif isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                pending.append(raw.fragments[node.name.value].selection_set)
    return False


@strawberry.type(
    description="The usage of some datasets in a period and in the previous period of the "
    "same length. Every figure counts requests answered with a 2xx status only."
)
class Usage:
    period: PeriodType = strawberry.field(description="The period asked for.")
    previous_period: PeriodType = strawberry.field(
        description="As many days, ending the day before `period.start`: what `previous` "
        "figures count."
    )
    # Filled before the Usage is returned (through the batched loader) rather than resolved
    # field by field: the async resolvers were most of a 100-dataset page's time.
    api_calls: Trend = strawberry.field(description=docs.API_CALLS)
    downloads: Trend = strawberry.field(description=docs.DOWNLOADS)
    downloaded_bytes: Trend = strawberry.field(description=docs.DOWNLOADED_BYTES)
    app_opens: Trend = strawberry.field(description=docs.APP_OPENS)
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

    @docs.described(docs.CONSUMERS)
    async def consumers(self, info: Info) -> ConsumerTrend | None:
        if self.query.usage.domains is not None:
            return None
        found = await info.context.loaders.consumers.load(ConsumersKey(self.query))
        return self._consumer_trend(info, found.get(reports.TOTAL, reports.NO_CONSUMERS))

    def _consumer_trend(self, info: Info, found: reports.Consumers) -> ConsumerTrend:
        settings = info.context.settings
        epochs = reports.epochs_in(self.query.period, settings.consumer_epoch)
        return ConsumerTrend.from_row(found, settings.consumers_min, epochs)

    @docs.described(
        "API calls and downloads of each day of the period, in order, zeros "
        "included; the period only. Kept for existing clients: `series` has every figure, "
        "weeks and months, and the previous period beside."
    )
    async def daily(self, info: Info) -> list[DayUsage]:
        days = await info.context.loaders.daily.load(self.query)
        return [DayUsage.from_row(day) for day in days]

    @docs.described(
        "Every figure per day, ISO week or calendar month of the period, in order, zeros "
        "included, each beside the previous period's figure at the same position."
    )
    async def series(
        self,
        info: Info,
        interval: Annotated[Interval, strawberry.argument(description="How to cut the period.")],
    ) -> list[UsageBucket]:
        key = SeriesKey(self.query, StoredInterval(raw(interval)))
        found = [UsageBucket.from_row(row) for row in await info.context.loaders.series.load(key)]
        if self.query.usage.domains is None and _selects(info, _CONSUMERS):
            settings = info.context.settings
            counts = await info.context.loaders.consumer_series.load(key)
            for bucket, count in zip(found, counts, strict=True):
                bucket_period = periods.Period(bucket.period.start, bucket.period.end)
                epochs = reports.epochs_in(bucket_period, settings.consumer_epoch)
                bucket.consumers = ConsumerTrend.from_row(count, settings.consumers_min, epochs)
        return found

    @docs.described("The usage split into groups, most-used first.")
    async def breakdown(
        self,
        info: Info,
        by: Annotated[Breakdown, strawberry.argument(description="What to split by.")],
        first: Annotated[int | None, strawberry.argument(description=docs.FIRST)] = 10,
        after: Annotated[str | None, strawberry.argument(description=docs.AFTER)] = None,
    ) -> UsageGroupConnection:
        page = window("groups", first, after, default=10)
        key = BreakdownKey(self.query, raw(by), page.offset + page.limit)
        ranking = await info.context.loaders.breakdowns.load(key)
        used = ranking.top[page.offset :]
        shown = [UsageGroup.from_row(by, group.key, group.figures) for group in used]
        if by is Breakdown.USER_GROUP and shown and _selects(info, _CONSUMERS, deep=True):
            found = await info.context.loaders.consumers.load(ConsumersKey(self.query, True))
            for group, node in zip(used, shown, strict=True):
                node.consumers = self._consumer_trend(
                    info, found.get(group.key, reports.NO_CONSUMERS)
                )
        edges = [UsageGroupEdge(cursor=page.cursor(i), node=node) for i, node in enumerate(shown)]
        return UsageGroupConnection(
            total_count=ranking.count,
            edges=edges,
            nodes=shown,
            page_info=page_info(page, len(shown), ranking.count),
        )
