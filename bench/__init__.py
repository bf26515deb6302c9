"""Benchmarks: documented commands (`make bench-…`), not tests. See docs/performance.md."""
