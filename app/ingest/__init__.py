"""POST /ingest: proxy log lines in, daily aggregates out (docs/ingest.md)."""
