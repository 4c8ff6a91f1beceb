"""GraphQL inputs and their conversion to the read side's values, with readable refusals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import strawberry

from app.core.hosts import readable_domain
from app.core.periods import MAX_PERIOD_DAYS, Period, comparable
from app.core.records import Owner, OwnerFilter
from app.errors import BadUserInputError
from app.reports import UsageFilter
from app.schema import docs
from app.schema.enums import OwnerType, raw

MAX_LISTED = 1000  # datasets or domains in one filter: a bound on the statement's parameters


@strawberry.input(
    description=f"Days from start to end, both included; at most {MAX_PERIOD_DAYS}. {docs.DAY}"
)
class PeriodInput:
    start: date = strawberry.field(description="The first day.")
    end: date = strawberry.field(description="The last day, on or after `start`.")

    def to_period(self) -> Period:
        return comparable(self.start, self.end)


@strawberry.input(description="An owner of datasets: its type and its id in the portal.")
class OwnerInput:
    type: OwnerType = strawberry.field(description="A user or an organization.")
    id: str = strawberry.field(description="The account's id in the portal.")

    def to_owner(self) -> Owner:
        return Owner(raw(self.type), self.id)


def usage_filter(
    owner: OwnerFilter,
    dataset_ids: Sequence[str] | None,
    user_groups: Sequence[str] | None,
    domains: Sequence[str] | None,
) -> UsageFilter:
    """Lists are sorted and deduplicated, so that equal filters are equal DataLoader keys."""
    # Domains are stored lower case, as host names compare.
    lowered = [readable_domain(d.lower()) for d in domains] if domains is not None else None
    return UsageFilter(
        owner=owner,
        dataset_ids=_listed("datasets", dataset_ids),
        user_groups=_listed("userGroups", user_groups),
        domains=_listed("domains", lowered),
    )


def _listed(name: str, values: Sequence[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if len(values) > MAX_LISTED:
        raise BadUserInputError(f"{name} lists {len(values)} values; give at most {MAX_LISTED}")
    return tuple(sorted(set(values)))
