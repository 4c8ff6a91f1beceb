"""Sending log files to POST /ingest: `usage-metrics ship` (follow) and `usage-metrics import`."""
