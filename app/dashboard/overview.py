"""What a dashboard view holds once read: the figures the page, its charts and exports show."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.periods import Period
from app.reports import BucketFigures, ConsumerOverview, DatasetRow, Figures


@dataclass(frozen=True)
class Group:
    """One row of a breakdown: a user group, calling domain or category, and its figures."""

    key: str
    figures: Figures


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
    by_user_group: list[Group]  # each ordered by current API calls + downloads, then key
    by_domain: list[Group]
    by_category: list[Group]
    # Distinct consumers (docs/dashboard.md); None with a domain filter, or past the sketches
    # one page may read.
    consumers: ConsumerOverview | None = None
