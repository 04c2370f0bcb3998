"""Quality and speed measurements, each with its own command (docs/benchmarks.md lists them and their results)."""
