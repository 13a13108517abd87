"""The edges: one module per outside system, each behind a small interface."""
