"""Read-side helpers of the Executions page: the filter options, which executions are still
active (the page refreshes while there are any), and the CSV export of a list of executions.

Called by pages/executions.py and app/ui/executions.py; the list itself is
`app.services.executions.list_executions`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.states import ExecutionState
from app.db.tables_recs import Execution
from app.services.execution_views import ExecutionView

CSV_COLUMNS = [
    "id", "kind", "state", "cluster", "action", "target", "dry_run", "requested_by", "approved_at",
    "started_at", "finished_at", "duration_s", "steps", "last_step", "reason", "error", "rollback_of",
    "fingerprint", "plan",
]  # fmt: skip


@dataclass(frozen=True)
class ExecutionFacets:
    """The values the filters offer: every cluster and action kind some execution has."""

    clusters: list[str]
    action_kinds: list[str]


def facets(db: Engine) -> ExecutionFacets:
    with Session(db) as session:
        clusters = session.exec(select(Execution.cluster_name).distinct()).all()
        kinds = session.exec(select(Execution.action_kind).distinct()).all()
    return ExecutionFacets(sorted(c for c in clusters if c), sorted(k for k in kinds if k))


def active_ids(db: Engine) -> list[int]:
    """Queued or running executions, oldest first."""
    active = [ExecutionState.QUEUED.value, ExecutionState.RUNNING.value]
    with Session(db) as session:
        ids = session.exec(select(Execution.id).where(col(Execution.state).in_(active)).order_by(col(Execution.id)))
        return [int(i) for i in ids if i is not None]


def duration_s(shown: ExecutionView) -> float | None:
    if shown.started_at is None or shown.finished_at is None:
        return None
    return round((shown.finished_at - shown.started_at).total_seconds(), 1)


def executions_csv(views: Iterable[ExecutionView]) -> str:
    """One line per execution; times ISO 8601 UTC, the plan's steps joined with " | "."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for v in views:
        record = v.record()
        last = v.last_step
        steps = v.plan.get("steps")
        writer.writerow({
            **{k: record.get(k) for k in ("id", "kind", "state", "cluster", "action", "target", "requested_by",
                                          "approved_at", "started_at", "finished_at", "reason", "error",
                                          "rollback_of", "fingerprint")},
            "dry_run": "yes" if v.dry_run else "no", "duration_s": duration_s(v), "steps": len(v.steps),
            "last_step": f"{last.name}: {last.status}" if last else "",
            "plan": " | ".join(map(str, steps)) if isinstance(steps, list) else json.dumps(v.plan) if v.plan else "",
        })  # fmt: skip
    return out.getvalue()
