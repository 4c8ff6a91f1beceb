"""What a dashboard view holds once read: the figures the page, its charts and exports show."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.periods import Period
from app.reports import BucketFigures, ConsumerOverview, DatasetRow, Figures, Group, Ranking

__all__ = ["DatasetFigures", "Group", "Overview"]


@dataclass(frozen=True)
class DatasetFigures:
    dataset: DatasetRow
    figures: Figures


@dataclass(frozen=True)
class Overview:
    """Everything but the datasets table, for a period and the filters of a view."""

    period: Period
    compared: Period | None  # what the figures' `previous` sides count; None: no comparison
    totals: Figures
    # The main chart: every day, week or month of the period (the view's interval), zeros
    # included, beside the compared days at the same positions (zeros without a comparison).
    chart: list[BucketFigures]
    # The breakdowns' first groups (every group for an export), with their count and total.
    by_user_group: Ranking
    by_domain: Ranking
    by_category: Ranking
    # Distinct consumers (docs/dashboard.md); None with a domain filter, or past the sketches
    # one page may read.
    consumers: ConsumerOverview | None = None
