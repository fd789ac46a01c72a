"""`python -m app.cli` runs the `cloudoptim` command (used by `cloudoptim demo` for its children)."""

from app.cli.main import main

main()
