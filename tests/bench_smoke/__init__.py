"""Smoke test of `tradex bench engine` (bench/engine_bench.py)."""
