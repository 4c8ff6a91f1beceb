"""Reports and alerts by e-mail and webhook (docs/reports-and-alerts.md)."""
