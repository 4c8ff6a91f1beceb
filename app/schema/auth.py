"""Who may read what: admin tokens see every owner, owner tokens their own datasets only."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import ForbiddenError
from app.ingest.records import Owner
from app.reports import DatasetRow
from app.schema.context import Info


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


async def reader(info: Info) -> Scope:
    """The caller's scope; raises UnauthenticatedError without a known token, ForbiddenError
    for a token that may not read usage. Every field but `analytics` starts here."""
    principal = await info.context.principal()
    if principal.is_admin:
        return Scope(owner=None)
    owner = principal.owner
    if owner is None:
        raise ForbiddenError(
            "this token may not read usage: use an owner token (scope owner:<type>:<id>) "
            "or an admin token"
        )
    return Scope(owner=owner)
