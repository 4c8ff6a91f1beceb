"""Owners of datasets with their names, as the portal's logs last gave them (table `owners`)."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.records import Owner
from app.reports.rows import DATASETS, NamedOwner
from app.reports.sources import owner_clauses
from app.reports.statement import Statement

# Joined to `resources r`: each row's owner's name (NULL until a line named the owner). The
# owners table is unique on the owner, so the join never repeats a row.
OWNER_NAME_JOIN = " LEFT JOIN owners o ON o.owner_type = r.owner_type AND o.owner_id = r.owner_id"


async def dataset_owners() -> list[NamedOwner]:
    """Every owner of a dataset and its name, for an admin: one statement, by type then id."""
    sql = Statement()
    statement = (
        "SELECT DISTINCT r.owner_type, r.owner_id, o.name FROM resources r"  # noqa: S608
        f"{OWNER_NAME_JOIN} WHERE r.resource_type = {sql.bind(DATASETS)} "
        "ORDER BY r.owner_type, r.owner_id"
    )
    return [
        NamedOwner(Owner(row["owner_type"], row["owner_id"]), row["name"])
        for row in await sql.rows(statement)
    ]


async def named_owners(owners: Sequence[Owner]) -> list[NamedOwner]:
    """These owners (a session's few) with their names, in one statement, in the order given."""
    if not owners:
        return []
    sql = Statement()
    where = " AND ".join(owner_clauses(sql, "o", tuple(owners)))
    statement = f"SELECT o.owner_type, o.owner_id, o.name FROM owners o WHERE {where}"  # noqa: S608
    names = {(row["owner_type"], row["owner_id"]): row["name"] for row in await sql.rows(statement)}
    return [NamedOwner(owner, names.get((owner.type, owner.id))) for owner in owners]
