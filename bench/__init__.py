"""The benchmark suite: baselines and project rows, measured on a throwaway PostgreSQL server.

Entry point: `make bench` (or `make bench-quick`), i.e. `python -m bench [--quick]`.
The rows live in one table, `bench/rows.py`; docs/performance.md says what each one means.
"""
