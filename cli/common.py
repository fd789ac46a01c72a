"""Helpers shared by CLI commands: settings at the edge and one-line errors instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TypeVar

import typer
from rich.console import Console

from app.db import DatabaseError
from app.pricing import CatalogError
from app.settings import Settings, SettingsError, load_settings

err_console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

# Errors the user can fix from the message alone: printed as one line, exit code 2.
USER_ERRORS: tuple[type[Exception], ...] = (SettingsError, DatabaseError, CatalogError)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except USER_ERRORS as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None


def settings_or_exit() -> Settings:
    with user_errors():
        return load_settings()
    raise AssertionError("unreachable")  # pragma: no cover


def run_or_exit(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover


def ui_command(host: str | None, port: int | None) -> list[str]:
    """The streamlit command line that serves the UI."""
    settings = settings_or_exit()
    entry = str(resources.files("app") / "streamlit_app.py")
    return [
        sys.executable, "-m", "streamlit", "run", entry,
        "--server.headless", "true",
        "--server.address", host or settings.ui.host,
        "--server.port", str(port or settings.ui.port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip
