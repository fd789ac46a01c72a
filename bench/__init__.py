"""Reproducible benchmarks, run with `python -m bench <name> [--json]`; results go in BENCHMARKS.md.

`bench/__main__.py` lists the benchmarks; each one is a module with a `run(...)` function that
returns plain rows (dicts), so the CLI can print them as a table or as JSON.
"""
