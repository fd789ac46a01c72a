"""The `cloudoptim` command line (typer). `main()` is the console-script entry point."""

from cli.main import main

__all__ = ["main"]
