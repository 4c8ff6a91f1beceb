"""Who may read what (docs/graphql.md): admin tokens see every owner, owner tokens their own
datasets,
portal sessions the owners app/auth/portal_sessions.py grants them.

The GraphQL API and the dashboard both start from here, so that they scope alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.tokens import Principal
from app.core.records import Owner, OwnerFilter
from app.errors import ForbiddenError


@dataclass(frozen=True)
class Scope:
    """The owners a caller may read: one or several (sorted), or every owner (None)."""

    owners: tuple[Owner, ...] | None

    @classmethod
    def of(cls, *owners: Owner) -> Scope:
        return cls(owners=tuple(sorted(set(owners))))

    @property
    def is_every_owner(self) -> bool:
        return self.owners is None

    @property
    def has_choice(self) -> bool:
        """Whether the caller may narrow the view to one owner (an admin, a portal session of
        several owners)."""
        return self.owners is None or len(self.owners) > 1

    def owner_filter(self, requested: Owner | None) -> OwnerFilter:
        """The owner(s) a query is restricted to: the one requested if in scope (another is
        refused), else all of the scope's (one owner stays one, as reads expect it)."""
        if self.owners is None:
            return requested
        if requested is not None:
            if requested not in self.owners:
                raise ForbiddenError(self._only())
            return requested
        return self.owners[0] if len(self.owners) == 1 else self.owners

    def can_see(self, owner: Owner) -> bool:
        return self.owners is None or owner in self.owners

    def _only(self) -> str:
        assert self.owners is not None
        if len(self.owners) == 1:
            owner = self.owners[0]
            return (
                f"this token reads the datasets of {owner.type} {owner.id} only: "
                "leave `owner` out or name that owner"
            )
        named = ", ".join(f"{owner.type} {owner.id}" for owner in self.owners)
        return (
            f"this session reads the datasets of {named} only: "
            "leave `owner` out or name one of them"
        )


def scope_of(principal: Principal) -> Scope | None:
    """The caller's scope; None for a token that may not read usage (an ingest token)."""
    if principal.is_admin:
        return Scope(owners=None)
    if principal.owners:
        return Scope.of(*principal.owners)
    owner = principal.owner
    return Scope.of(owner) if owner is not None else None


def can_read_usage(principal: Principal) -> bool:
    return scope_of(principal) is not None
