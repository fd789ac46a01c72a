"""`cloudoptim apply FINGERPRINT`: approve an open recommendation; the worker applies it.

The request is recorded as the OS user running the command. Applying a recommendation that
already has a queued or running execution returns that one (idempotent). `--wait` follows the
execution step by step until it ends. Exit codes: 0 queued (or, with --wait, succeeded),
1 the execution failed, was refused or cancelled (or --wait timed out), 2 bad input: unknown
fingerprint, a recommendation that is not open, bad options.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import error, say


def apply(
    fingerprint: Annotated[str, typer.Argument(help="Fingerprint of an open recommendation (or its first 6+ characters).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and plan only; change nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the execution until it ends.")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="With --wait: give up following after this many seconds.")] = 600,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Apply a recommendation: queue it for the worker, which re-validates it against the live
    cluster, plans, applies and verifies it, recording every step.

    Needs `cloudoptim worker` running. A dry run stops after the plan. Exit code: 0 queued
    (with --wait: succeeded), 1 failed, refused or cancelled, 2 bad input.
    """
    from cli.executions import check_format, exit_for, follow, open_engine, print_one, requester

    check_format(fmt)
    from app.services.executions import ExecutionError, queue_execution, resolve_fingerprint

    db = open_engine()
    try:
        try:
            full = resolve_fingerprint(db, fingerprint)
            queued = queue_execution(db, full, requested_by=requester(), dry_run=dry_run)
        except ExecutionError as exc:
            error(str(exc))
        shown = queued.execution
        if queued.created:
            say(f"queued execution {shown.id}{' (dry run)' if dry_run else ''}: {shown.action_kind} {shown.target}")
        else:
            say(f"execution {shown.id} of this recommendation is already {shown.state}")
        if wait:
            shown = follow(db, shown.id, timeout)
    finally:
        db.dispose()
    print_one(shown, fmt)
    exit_for(shown)
