"""Scale-out run: two API processes and two relay workers behind nginx, on one PostgreSQL and one
Redis, under a mixed load for a bounded time; then the invariants are checked.

    uv run python -m bench.scale_out [--duration 20] [--concurrency 32] [--json PATH]

See README.md ("Scale-out run", under Benchmarks) and :mod:`bench.scale_out.run`.
"""
