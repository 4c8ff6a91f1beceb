"""Who may read what (DESIGN §6): admin tokens see every owner, owner tokens their own datasets.

The GraphQL API and the dashboard both start from here, so that they scope alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import ForbiddenError
from app.ingest.records import Owner
from app.reports import DatasetRow
from app.tokens import Principal


@dataclass(frozen=True)
class Scope:
    """The owners a caller may read: one, or every owner (None)."""

    owner: Owner | None

    def owner_filter(self, requested: Owner | None) -> Owner | None:
        """The owner a query is restricted to; naming another owner than one's own is refused."""
        if self.owner is None:
            return requested
        if requested is not None and requested != self.owner:
            raise ForbiddenError(
                f"this token reads the datasets of {self.owner.type} {self.owner.id} only: "
                "leave `owner` out or name that owner"
            )
        return self.owner

    def can_see(self, dataset: DatasetRow) -> bool:
        return self.owner is None or dataset.owner == self.owner


def scope_of(principal: Principal) -> Scope | None:
    """The caller's scope; None for a token that may not read usage (an ingest token)."""
    if principal.is_admin:
        return Scope(owner=None)
    owner = principal.owner
    return Scope(owner=owner) if owner is not None else None


def can_read_usage(principal: Principal) -> bool:
    return scope_of(principal) is not None
