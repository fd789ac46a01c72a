"""Who may do what: the signed-in `Principal`, the `Permission`s of each `Role`, and `require`.

Every service that writes (apply, dismiss, snooze, plans, settings, clusters, uploads, users)
calls `require(actor, Permission.X)` itself, so a viewer who crafts a request past the hidden
buttons is refused here, not only in the page. A bare string actor is a local operator: the CLI
and the worker run with direct database access and are trusted as admins by construction; the
web app always passes a Principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.db.states import Role


class Permission(StrEnum):
    READ = "read"
    APPLY = "apply"  # queue executions, rollbacks, cancel; apply plans
    DISMISS = "dismiss"  # dismiss and snooze recommendations
    EXPORT = "export"
    PLAN = "plan"
    LEASE = "lease"  # wake-up leases on scheduled workloads
    SETTINGS = "settings"  # engine settings, guardrails, default schedules
    CLUSTERS = "clusters"
    UPLOADS = "uploads"  # engine modules and models
    USERS = "users"


_ANALYST = frozenset({Permission.READ, Permission.APPLY, Permission.DISMISS, Permission.EXPORT, Permission.PLAN,
                      Permission.LEASE})  # fmt: skip
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.ANALYST: _ANALYST,
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    """A signed-in user as the services see it (re-read from the DB on every page run)."""

    username: str
    role: Role
    display_name: str = ""

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]

    @property
    def label(self) -> str:
        return self.display_name or self.username


Actor = Principal | str


class AccessDenied(PermissionError):
    """The actor's role does not allow this; the message says which role would."""


def _least_role(permission: Permission) -> Role:
    return next(role for role in (Role.VIEWER, Role.ANALYST, Role.ADMIN) if permission in GRANTS[role])


def require(actor: Actor, permission: Permission) -> str:
    """The actor's name for the audit log, or AccessDenied when its role lacks `permission`."""
    if isinstance(actor, str):
        return actor[:100]
    if not actor.can(permission):
        raise AccessDenied(
            f"{actor.username} is a {actor.role.value}: {permission.value} needs the "
            f"{_least_role(permission).value} role or higher"
        )
    return actor.username[:100]


def actor_name(actor: Actor) -> str:
    return (actor if isinstance(actor, str) else actor.username)[:100]
