"""`cloudoptim executions ...`: list, show, roll back and cancel executions; following one.

An execution is one apply (or rollback) of a recommendation, run by `cloudoptim worker`. `follow`
(used by `cloudoptim apply --wait` too) prints each step on stderr as the worker records it and
returns the finished execution. Exit codes: 0 done, 1 the execution failed, was refused or
cancelled (or `--wait` timed out), 2 bad input (unknown id, not reversible, not queued).
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import EXIT_FAILED, console, error, open_db_or_exit, quiet_logging, say, settings_or_exit

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy import Engine

    from app.services.execution_views import ExecutionView, StepView

group = typer.Typer(help="Executions: applies and rollbacks of recommendations, with their steps.", no_args_is_help=True)
FORMATS = ("table", "json")
_FOLLOW_POLL_S = 0.5
_NO_WORKER_HINT_S = 10.0


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        error(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    return fmt


def requester() -> str:
    """The OS user running the command, recorded as who requested the execution."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER variable and no passwd entry (some containers)
        return f"uid {os.getuid()}"


def open_engine() -> Engine:
    settings = settings_or_exit()
    quiet_logging(settings)
    return open_db_or_exit(settings)


def _step_line(step: StepView) -> str:
    at = step.at.strftime("%H:%M:%S") if step.at else "--:--:--"
    return f"  {at}  {step.status:<9}  {step.name}" + (f": {step.detail}" if step.detail else "")


def follow(db: Engine, execution_id: int, timeout_s: float) -> ExecutionView:
    """Print new steps as the worker records them until the execution ends; exit 1 on timeout."""
    from app.services.executions import get_execution

    deadline, hinted, shown = time.monotonic() + timeout_s, False, 0
    started = time.monotonic()
    while True:
        current = get_execution(db, execution_id)
        if current is None:
            error(f"execution {execution_id} disappeared", EXIT_FAILED)
        for step in current.steps[shown:]:
            say(_step_line(step))
        shown = len(current.steps)
        if current.finished:
            return current
        if not hinted and current.state == "queued" and time.monotonic() - started > _NO_WORKER_HINT_S:
            say("still queued: is `cloudoptim worker` running?")
            hinted = True
        if time.monotonic() > deadline:
            error(f"execution {execution_id} is still {current.state} after {timeout_s:.0f} s; it goes on "
                  f"(see `cloudoptim executions show {execution_id}`)", EXIT_FAILED)  # fmt: skip
        time.sleep(_FOLLOW_POLL_S)


def print_one(view: ExecutionView, fmt: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps(view.record(), indent=2))
        return
    from rich.table import Table
    from rich.text import Text

    out = console()
    facts = Table.grid(padding=(0, 2))
    rows = [("execution", f"{view.id} ({view.kind})"), ("state", str(view.state)), ("cluster", view.cluster),
            ("action", view.action_kind), ("target", view.target), ("fingerprint", view.fingerprint or ""),
            ("requested by", view.requested_by), ("dry run", "yes" if view.dry_run else "no"),
            ("plan", str(view.plan.get("summary", ""))), ("reason", view.reason or ""), ("error", view.error or "")]
    if view.rollback_of is not None:
        rows.insert(1, ("rollback of", str(view.rollback_of)))
    for key, value in rows:
        if value:
            facts.add_row(Text(key, style="bold"), Text(value))
    out.print(facts)
    if view.steps:
        steps = _table("at (UTC)", "status", "step", "detail", title="steps")
        for step in view.steps:
            steps.add_row(Text(step.at.strftime("%H:%M:%S") if step.at else ""), Text(step.status), Text(step.name),
                          Text(step.detail))  # fmt: skip
        out.print(steps)


_WHOLE = {"id", "state", "kind", "action", "created (UTC)", "at (UTC)", "status"}


def _table(*columns: str, title: str | None = None) -> Table:
    from rich import box
    from rich.table import Table

    # Short columns stay whole; the others fold, never truncate: a node name or a reason cut
    # with "…" would be useless.
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in columns:
        table.add_column(name, no_wrap=name in _WHOLE, overflow="fold")
    return table


def print_many(views: list[ExecutionView], fmt: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps([v.record() for v in views], indent=2))
        return
    from rich.text import Text

    table = _table("id", "state", "kind", "cluster", "action", "target", "by", "created (UTC)", "reason")
    for v in views:
        table.add_row(*(Text(x) for x in (str(v.id), str(v.state) + (" (dry run)" if v.dry_run else ""), str(v.kind),
                                          v.cluster, v.action_kind, v.target, v.requested_by,
                                          v.created_at.strftime("%Y-%m-%d %H:%M"), v.reason or "")))  # fmt: skip
    console().print(table)


def exit_for(view: ExecutionView) -> None:
    """Exit 1 when the execution ended without doing what was asked."""
    if view.state in ("failed", "refused", "cancelled"):
        error(f"execution {view.id} {view.state}: {view.reason or view.error or 'see its steps'}", EXIT_FAILED)


@group.command("list")
def list_cmd(
    state: Annotated[str | None, typer.Option(help="Only this state (queued, running, succeeded, failed, ...).")] = None,
    cluster: Annotated[str | None, typer.Option(help="Only executions on this cluster.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List executions, newest first."""
    check_format(fmt)
    from app.db.states import ExecutionState
    from app.services.executions import list_executions

    wanted = None
    if state is not None:
        try:
            wanted = ExecutionState(state)
        except ValueError:
            error(f"--state: {state!r} is not one of {', '.join(s.value for s in ExecutionState)}")
    db = open_engine()
    try:
        print_many(list_executions(db, state=wanted, cluster=cluster, limit=limit), fmt)
    finally:
        db.dispose()


@group.command("show")
def show_cmd(
    execution_id: Annotated[int, typer.Argument(metavar="ID", help="Execution id.")],
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Show one execution: its plan, state, reason and every recorded step."""
    check_format(fmt)
    from app.services.executions import get_execution

    db = open_engine()
    try:
        found = get_execution(db, execution_id)
    finally:
        db.dispose()
    if found is None:
        error(f"no execution {execution_id}")
    print_one(found, fmt)


@group.command("rollback")
def rollback_cmd(
    execution_id: Annotated[int, typer.Argument(metavar="ID", help="A succeeded, reversible execution.")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow the rollback until it ends.")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="With --wait: give up following after this many seconds.")] = 600,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Queue a rollback of a succeeded execution: the worker restores its pre-image."""
    check_format(fmt)
    from app.services.executions import ExecutionError, queue_rollback

    db = open_engine()
    try:
        try:
            queued = queue_rollback(db, execution_id, requested_by=requester())
        except ExecutionError as exc:
            error(str(exc))
        say(f"{'queued' if queued.created else 'already ' + queued.execution.state} rollback execution "
            f"{queued.execution.id} of execution {execution_id}")  # fmt: skip
        shown = follow(db, queued.execution.id, timeout) if wait else queued.execution
    finally:
        db.dispose()
    print_one(shown, fmt)
    exit_for(shown)


@group.command("cancel")
def cancel_cmd(execution_id: Annotated[int, typer.Argument(metavar="ID", help="A queued execution.")]) -> None:
    """Cancel a queued execution (a running one cannot be stopped halfway)."""
    from app.services.executions import ExecutionError, cancel_execution

    db = open_engine()
    try:
        cancelled = cancel_execution(db, execution_id, requested_by=requester())
    except ExecutionError as exc:
        error(str(exc))
    finally:
        db.dispose()
    say(f"execution {cancelled.id} cancelled")
