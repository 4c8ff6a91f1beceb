"""Benchmarks that print the figures the README quotes (run them, never time them in tests)."""
