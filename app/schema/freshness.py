"""The `freshness` root field: up to when the figures are complete, and what still waits."""

from __future__ import annotations

from datetime import UTC, date, datetime

import strawberry

from app.reports.freshness import freshness as read_freshness
from app.schema.auth import reader
from app.schema.context import Info


@strawberry.type(
    description=(
        "How fresh the usage figures are. A posted batch is answered once it is stored in the "
        "ingest ledger; a folder adds it to the figures within about USAGE_METRICS_FOLD_INTERVAL "
        "seconds (docs/ingest.md)."
    )
)
class Freshness:
    folded_until: datetime = strawberry.field(
        description=(
            "Every batch received before this instant (UTC) is in the figures, but those set "
            "aside (quarantinedBatches): the reception time of the oldest batch still waiting, "
            "or the time of this answer when none waits (read from a replica behind the "
            "primary: at most its last replayed commit)."
        )
    )
    waiting_batches: int = strawberry.field(
        description="Batches answered and stored, not yet added to the figures."
    )
    waiting_lines: int = strawberry.field(
        description="The accepted lines of those waiting batches."
    )
    quarantined_batches: int = strawberry.field(
        description=(
            "Batches answered and stored that could not be added to the figures and were set "
            "aside until an operator runs `usage-metrics fold --retry-quarantined` "
            "(docs/ingest.md): not in the figures, not counted in waitingBatches."
        )
    )
    quarantined_lines: int = strawberry.field(
        description="The accepted lines of those set-aside batches."
    )
    age_seconds: float = strawberry.field(
        description=(
            "Seconds between foldedUntil and this answer: how far behind the figures are "
            "(0 when nothing waits); what a page shows as 'updated N s ago'."
        )
    )
    partial_day: date = strawberry.field(
        description=(
            "The day in progress in the service's time zone (USAGE_METRICS_TIMEZONE): its "
            "figures still grow, so a chart should mark it; later days have no figures yet."
        )
    )


async def freshness(info: Info) -> Freshness:
    await reader(info)
    now = datetime.now(UTC)
    found = await read_freshness(now)
    settings = info.context.settings
    return Freshness(
        folded_until=found.folded_until,
        waiting_batches=found.waiting_batches,
        waiting_lines=found.waiting_lines,
        quarantined_batches=found.quarantined_batches,
        quarantined_lines=found.quarantined_lines,
        age_seconds=found.age_seconds(now),
        partial_day=settings.today or now.astimezone(settings.timezone).date(),
    )
