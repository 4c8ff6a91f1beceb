"""Read side: usage figures from the narrowest table that answers exactly, both periods at once.

records (what goes in and out), sources (which table a query reads), figures (totals,
breakdowns, days), rankings (a breakdown's first groups, their count and total), series (days,
weeks, months beside the previous period), datasets (count, pages, rows by id), owners (owners
and their names), consumers (distinct consumers from sketches), statement (parameters and
rows).
"""

from app.reports.consumers import (
    NO_CONSUMERS,
    ConsumerOverview,
    Consumers,
    consumer_overview,
    consumer_series,
    consumers,
    epochs_in,
    shown,
)
from app.reports.datasets import count_datasets, datasets_by_id, datasets_page
from app.reports.details import DetailRow, details
from app.reports.figures import CALLER_COLUMNS, callers, daily, figures, zero_days
from app.reports.owners import dataset_owners, named_owners
from app.reports.rankings import rank, ranked_callers
from app.reports.rows import (
    BREAKDOWN_COLUMNS,
    DATASETS,
    NO_FIGURES,
    TOTAL,
    ZERO,
    DatasetOrder,
    DatasetRow,
    DayFigures,
    Figures,
    Group,
    NamedOwner,
    Ranking,
    Trend,
    UsageFilter,
)
from app.reports.series import BucketFigures, empty_series, series

__all__ = [
    "BREAKDOWN_COLUMNS",
    "CALLER_COLUMNS",
    "DATASETS",
    "NO_CONSUMERS",
    "NO_FIGURES",
    "TOTAL",
    "ZERO",
    "BucketFigures",
    "ConsumerOverview",
    "Consumers",
    "DatasetOrder",
    "DatasetRow",
    "DayFigures",
    "DetailRow",
    "Figures",
    "Group",
    "NamedOwner",
    "Ranking",
    "Trend",
    "UsageFilter",
    "callers",
    "consumer_overview",
    "consumer_series",
    "consumers",
    "count_datasets",
    "daily",
    "dataset_owners",
    "datasets_by_id",
    "datasets_page",
    "details",
    "empty_series",
    "epochs_in",
    "figures",
    "named_owners",
    "rank",
    "ranked_callers",
    "series",
    "shown",
    "zero_days",
]
