"""Benchmarks: `make bench` (or `python -m benchmarks`) prints the numbers the README quotes."""
