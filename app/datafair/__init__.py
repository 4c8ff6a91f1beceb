"""Data Fair's metrics, answered and imported (docs/coming-from-data-fair.md): its query API
(`/api/daily-api-metrics`, `_agg`, `_export`) over our aggregates, and its history's import."""
