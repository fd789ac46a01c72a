"""Helpers shared by CLI commands: settings at the edge, literal output, one-line errors.

Command modules import only typer, the standard library and this module at import time; the core
(settings, database, pricing, collectors, engines) is imported inside the command functions, so
`cloudoptim --version` and `--help` do not pay for it.

Exit codes: 0 done (warnings may be printed), 1 the command ran but failed at its job (a scan or
collection failed, nothing was refreshed), 2 bad input: options, settings, database or data files.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

    from app.settings import Settings

T = TypeVar("T")
EXIT_FAILED = 1
EXIT_USAGE = 2


class Fmt(StrEnum):
    """Output formats of `scan` and `inventory`."""

    table = "table"
    json = "json"
    csv = "csv"
    yaml = "yaml"


def console(*, stderr: bool = False) -> Console:
    """A console that prints text literally: no emoji codes (":x:"), no guessed highlighting."""
    from rich.console import Console

    # soft_wrap on stderr: an error stays one logical line, whatever the terminal width.
    return Console(stderr=stderr, soft_wrap=stderr, emoji=False, highlight=False)


@cache
def err_console() -> Console:
    return console(stderr=True)


def say(message: str, style: str = "") -> None:
    """Progress or a note on stderr; `message` is printed literally (no markup)."""
    from rich.text import Text

    err_console().print(Text(message, style=style))


def warn(message: str) -> None:
    from rich.text import Text

    err_console().print(Text.assemble(("warning: ", "yellow"), message))


def error(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print `error: message` (literally, whatever brackets or colons it holds) and exit."""
    from rich.text import Text

    err_console().print(Text.assemble(("error: ", "bold red"), message))
    raise typer.Exit(code)


def _user_errors() -> tuple[type[Exception], ...]:
    # Errors the user can fix from the message alone: printed as one line, exit code 2.
    from app.db import DatabaseError
    from app.pricing import CatalogError
    from app.pricing.files import DataFileError
    from app.settings import SettingsError

    return SettingsError, DatabaseError, CatalogError, DataFileError


@contextmanager
def user_errors() -> Iterator[None]:
    errors = _user_errors()
    try:
        yield
    except errors as exc:
        error(str(exc))


def run_or_exit(fn: Callable[[], T]) -> T:
    with user_errors():
        return fn()
    raise AssertionError("unreachable")  # pragma: no cover


def settings_or_exit(**overrides: object) -> Settings:
    """Settings from the environment, with the regions checked against the price catalog."""
    from app.pricing.files import known_regions
    from app.settings import check_regions, load_settings

    def load() -> Settings:
        settings = load_settings(**overrides)
        check_regions(settings, known_regions(settings.pricing_dir))
        return settings

    return run_or_exit(load)


def quiet_logging(settings: Settings) -> None:
    """Commands report every failure themselves; library log lines only repeat them.

    With CLOUDOPTIM_LOG_LEVEL=DEBUG the log is printed too (tracebacks of unexpected errors).
    """
    import logging

    from app.bootstrap import configure_logging

    if settings.log_level == "DEBUG":
        configure_logging(settings)
    else:
        logging.getLogger().addHandler(logging.NullHandler())  # no "last resort" echo on stderr


def open_db_or_exit(settings: Settings, *, migrate: bool = True) -> Engine:
    """The database, migrated; the data directory is created first when the SQLite file lives there."""
    from app.bootstrap import open_database
    from app.settings import ensure_data_dir

    def open_db() -> Engine:
        if not settings.db.url:
            ensure_data_dir(settings)
        return open_database(settings, migrate=migrate)

    return run_or_exit(open_db)


def ui_command(settings: Settings, host: str | None, port: int | None) -> list[str]:
    """The streamlit command line that serves the UI."""
    from importlib import resources

    entry = str(resources.files("app") / "streamlit_app.py")
    return [
        sys.executable, "-m", "app.ui.serve", "run", entry,
        "--server.headless", "true",
        "--server.address", host or settings.ui.host,
        "--server.port", str(port or settings.ui.port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "minimal",
    ]  # fmt: skip


def ui_url(cmd: list[str]) -> str:
    return f"http://{cmd[cmd.index('--server.address') + 1]}:{cmd[cmd.index('--server.port') + 1]}"
