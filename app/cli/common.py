"""Helpers shared by CLI commands: settings at the edge and one-line errors instead of tracebacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
