"""Benchmark runner for the healthbook service (``uv run python -m bench.run``)."""
