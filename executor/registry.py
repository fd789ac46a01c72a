"""The executor's registry: exactly one action per action spec kind of `engines.actions`.

Actions register themselves with `@register`; `executor.actions_all` imports every action module
so `REGISTRY` is complete. The contract test checks that every spec kind has an action.
"""

from __future__ import annotations

from typing import Any

from executor.base import Action

REGISTRY: dict[str, Action[Any]] = {}


def register(cls: type[Action[Any]]) -> type[Action[Any]]:
    if cls.kind in REGISTRY:
        raise ValueError(f"two actions for {cls.kind!r}: {type(REGISTRY[cls.kind]).__name__} and {cls.__name__}")
    REGISTRY[cls.kind] = cls()
    return cls


def action_for(kind: str) -> Action[Any]:
    import executor.actions_all  # noqa: F401  # registers every action

    try:
        return REGISTRY[kind]
    except KeyError:
        raise KeyError(f"no executor action for {kind!r} (known: {', '.join(sorted(REGISTRY))})") from None


def all_actions() -> dict[str, Action[Any]]:
    import executor.actions_all  # noqa: F401

    return dict(REGISTRY)
