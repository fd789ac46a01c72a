"""The state machines stored in the database, one StrEnum each, and their CHECK constraints.

Services, the worker and the pages compare against these members instead of bare strings; the
schema (migrations 0004 and 0005) refuses any other value, so a typo cannot create a status no
page shows. A new member needs a migration that widens its CHECK constraint.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint


class RecStatus(StrEnum):
    """A recommendation's life: shown (open), acted on, dismissed, or gone from the latest scan."""

    OPEN = "open"
    APPROVED = "approved"
    APPLIED = "applied"
    DISMISSED = "dismissed"
    OBSOLETE = "obsolete"


class RecPurpose(StrEnum):
    """Why a recommendation is applied: to save money, or to prevent failures (it may cost more,
    and savings totals leave it out)."""

    SAVING = "saving"
    RELIABILITY = "reliability"


class Role(StrEnum):
    """What a signed-in user may do: viewer reads; analyst also applies, dismisses, snoozes,
    exports and plans; admin also edits settings, clusters, uploads and users."""

    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"


class UploadState(StrEnum):
    """An uploaded engine module or model: pending (stored, waiting for the worker) -> validating
    -> passed | failed. Only a passed upload can be enabled or activated."""

    PENDING = "pending"
    VALIDATING = "validating"
    PASSED = "passed"
    FAILED = "failed"


class PlanState(StrEnum):
    """A what-if plan: draft (being built) -> applied (its executions were queued, in order)."""

    DRAFT = "draft"
    APPLIED = "applied"


class ExecutionState(StrEnum):
    """queued (approved, waiting for the worker) -> running -> succeeded | failed | refused.

    `refused`: the worker re-read the live state and did not act (a stale recommendation, a
    guardrail or the disruption budget); nothing changed. `cancelled`: withdrawn while still
    queued; a running execution cannot be cancelled (it finishes or fails, never stops halfway
    on request). `rolled_back`: a succeeded apply whose rollback execution succeeded.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    REFUSED = "refused"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        """Queued or running: at most one such execution per fingerprint (a unique index)."""
        return self in (ExecutionState.QUEUED, ExecutionState.RUNNING)


class ExecutionKind(StrEnum):
    """An execution applies a recommendation, or restores the pre-image of an earlier apply."""

    APPLY = "apply"
    ROLLBACK = "rollback"


class SpotWarningStatus(StrEnum):
    """received -> handling -> handled | failed; rebalance recommendations are only `recorded`.

    `ignored`: a warning for an instance that is no node of a registered cluster, or a duplicate.
    """

    RECEIVED = "received"
    HANDLING = "handling"
    HANDLED = "handled"
    FAILED = "failed"
    RECORDED = "recorded"
    IGNORED = "ignored"


class ScanStatus(StrEnum):
    """requested (by the UI, waiting for the worker) -> running -> succeeded | partial | failed.

    `partial` means the engines ran but at least one source failed and its last good data (or
    nothing) was used; a scan whose every source failed, or whose every engine failed, is `failed`.
    """

    REQUESTED = "requested"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (ScanStatus.SUCCEEDED, ScanStatus.PARTIAL, ScanStatus.FAILED)


class ScanTrigger(StrEnum):
    CLI = "cli"
    UI = "ui"
    SCHEDULE = "schedule"
    DEMO = "demo"


def check_in(column: str, enum: type[StrEnum], name: str) -> CheckConstraint:
    """CHECK (column IN (...)) listing every member of `enum`, named so migrations can find it."""
    values = ", ".join(f"'{m.value}'" for m in enum)
    return CheckConstraint(f"{column} IN ({values})", name=name)
