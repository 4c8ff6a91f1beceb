"""Benchmarks that print the figures of docs/benchmarks.md (run them, never time them in tests)."""
