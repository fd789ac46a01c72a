"""Reproducible benchmarks, run with `python -m bench NAME`; results are kept in BENCHMARKS.md."""
