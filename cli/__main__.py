"""`python -m cli` runs the `cloudoptim` command (used by `cloudoptim demo` for its children)."""

from cli.main import main

main()
