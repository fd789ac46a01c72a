"""`cloudoptim users ...`: local accounts of the web app (argon2 hashes in the database).

`add NAME --role ROLE` prints a generated password unless one is given on stdin
(`--password-stdin`); `list` shows accounts, roles, locks and last sign-ins; `set` changes a role,
disables/enables an account or resets its password (which also unlocks it and ends its sessions).
"""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from cli.common import error, open_db_or_exit, settings_or_exit

group = typer.Typer(help="Web app accounts: viewer, analyst, admin.", no_args_is_help=True)


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry in a container
        return "cli"


def _password(from_stdin: bool) -> tuple[str, bool]:
    from app.services.users import generate_password

    if not from_stdin:
        return generate_password(), True
    value = sys.stdin.readline().rstrip("\n")
    if not value:
        error("--password-stdin: stdin gave no password")
    return value, False


@group.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="viewer (read), analyst (apply, plan, export) or admin.")] = "viewer",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    display_name: Annotated[str, typer.Option(help="Shown in the app instead of the user name.")] = "",
) -> None:
    """Create a local account; prints its generated password (shown once)."""
    from app.services.users import UserError, add_user

    db = open_db_or_exit(settings_or_exit())
    password, generated = _password(password_stdin)
    try:
        user = add_user(db, name, role, password, actor=_operator(), display_name=display_name)
    except UserError as exc:
        error(str(exc))
    typer.echo(f"Created {user.role.value} {user.username}.")
    if generated:
        typer.echo(f"Password (shown once): {password}")


@group.command("list")
def list_cmd() -> None:
    """List accounts with role, state and last sign-in."""
    from app.services.users import list_users

    db = open_db_or_exit(settings_or_exit())
    users = list_users(db)
    if not users:
        typer.echo("No accounts yet: create one with `cloudoptim users add NAME --role admin`.")
        return
    for u in users:
        state = "disabled" if u.disabled else f"locked until {u.locked_until:%Y-%m-%d %H:%M} UTC" if u.locked_until else "active"
        last = f"{u.last_login_at:%Y-%m-%d %H:%M} UTC" if u.last_login_at else "never"
        typer.echo(f"{u.username:<24} {u.role.value:<8} {state:<30} last sign-in {last}")


@group.command("set")
def set_cmd(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str | None, typer.Option(help="New role.")] = None,
    disable: Annotated[bool | None, typer.Option("--disable/--enable", help="Disable or enable the account.")] = None,
    reset_password: Annotated[bool, typer.Option("--reset-password", help="Generate and print a new password.")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the new password from stdin.")] = False,
) -> None:
    """Change a role, disable/enable an account or reset its password."""
    from app.services.users import UserError, update_user

    db = open_db_or_exit(settings_or_exit())
    password = None
    if reset_password or password_stdin:
        password, _ = _password(password_stdin)
    try:
        user = update_user(db, name, actor=_operator(), role=role, disabled=disable, password=password)
    except UserError as exc:
        error(str(exc))
    typer.echo(f"{user.username}: {user.role.value}{', disabled' if user.disabled else ''}.")
    if password is not None and reset_password and not password_stdin:
        typer.echo(f"New password (shown once): {password}")
