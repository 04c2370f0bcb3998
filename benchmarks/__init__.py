"""Quality and speed measurements; each has its own command (see benchmarks/README.md)."""
