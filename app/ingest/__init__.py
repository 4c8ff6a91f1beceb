"""POST /ingest: proxy log lines in, daily aggregates out (DESIGN §3 to §5)."""
