"""Runnable benchmarks: `.venv/bin/python -m benchmarks.<name>` (see README.md)."""
