"""usage-metrics: how an open-data portal's datasets are used, from proxy logs, privately."""
