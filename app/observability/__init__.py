"""Operating the service: Prometheus metrics, health and readiness probes, structured logs."""
