"""GraphQL types of datasets, their owners, and what the caller may read."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app import reports
from app.core.records import Owner as OwnerRecord
from app.schema import docs
from app.schema.auth import reader
from app.schema.context import Info
from app.schema.enums import OwnerType, UserGroup, raw
from app.schema.inputs import PeriodInput, usage_filter
from app.schema.loaders import UsageQuery
from app.schema.types import Usage

_OWNER_TYPES = {raw(owner_type): owner_type for owner_type in OwnerType}


@strawberry.type(description="An account of the portal that owns datasets.")
class Owner:
    type: OwnerType = strawberry.field(description="A user or an organization.")
    id: str = strawberry.field(description="The account's id in the portal.")
    name: str | None = strawberry.field(
        description="Its name, as the portal's logs last gave it (the `name` of Data Fair's "
        "X-Owner header); null until one did."
    )

    @classmethod
    def from_row(cls, owner: OwnerRecord, name: str | None) -> Owner:
        # The ingest keeps only users and organizations (core.records.OWNER_TYPES).
        return cls(type=_OWNER_TYPES[owner.type], id=owner.id, name=name)

    @classmethod
    def from_named(cls, named: reports.NamedOwner) -> Owner:
        return cls.from_row(named.owner, named.name)


@strawberry.type(description="A dataset of the portal whose usage the logs showed.")
class Dataset:
    id: strawberry.ID = strawberry.field(description="The dataset's id in the portal.")
    title: str | None = strawberry.field(
        description="Its title, as the portal's logs last gave it; null until one did."
    )
    owner: Owner = strawberry.field(description="Who owns it.")

    @classmethod
    def from_row(cls, row: reports.DatasetRow) -> Dataset:
        owner = Owner.from_row(row.owner, row.owner_name)
        return cls(id=strawberry.ID(row.id), title=row.title, owner=owner)

    @docs.described("This dataset's usage in a period and the previous one.")
    async def usage(
        self,
        info: Info,
        period: Annotated[PeriodInput, strawberry.argument(description=docs.PERIOD)],
        user_groups: Annotated[
            list[UserGroup] | None, strawberry.argument(description=docs.USER_GROUPS)
        ] = None,
        domains: Annotated[list[str] | None, strawberry.argument(description=docs.DOMAINS)] = None,
    ) -> Usage:
        scope = await reader(info)
        groups = [raw(group) for group in user_groups] if user_groups is not None else None
        usage = usage_filter(scope.owner_filter(None), None, groups, domains)
        return await Usage.load(
            info, UsageQuery(usage, period.to_period(), dataset_id=str(self.id))
        )


@strawberry.type(description="A dataset and its cursor.")
class DatasetEdge:
    cursor: str = strawberry.field(description=docs.CURSOR)
    node: Dataset = strawberry.field(description="The dataset.")


@strawberry.type(description="One page of datasets.")
class DatasetConnection:
    total_count: int = strawberry.field(description=docs.TOTAL_COUNT)
    edges: list[DatasetEdge] = strawberry.field(description=docs.EDGES)
    nodes: list[Dataset] = strawberry.field(description=docs.NODES)
    page_info: strawberry.relay.PageInfo = strawberry.field(description=docs.PAGE_INFO)


@strawberry.type(description="What the credentials of this request may read.")
class Viewer:
    every_owner: bool = strawberry.field(
        description="True for an admin token: every owner's usage, `owners` lists those with "
        "datasets. False: only the owners listed."
    )
    owners: list[Owner] = strawberry.field(
        description="The owners whose datasets and usage these credentials read: an owner "
        "token's owner, a portal session's user and organizations, or (admin) every owner "
        "known; ordered by type, then id."
    )
