"""Engine registry: the explicit list of built-in engines plus those installed through the
`cloudoptim.engines` entry-point group.

Used by app.services.scans, the CLI and the UI to find engines by name. Duplicate or unknown
names are errors that say which name and where it came from.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from engines.binpack import BinPackEngine
from engines.contract import Engine
from engines.crossaz import CrossAzEngine
from engines.ebs import EbsCleanupEngine
from engines.ghost import GhostProbeEngine
from engines.office_hours import OfficeHoursEngine
from engines.oom import OomRemediationEngine
from engines.rightsizing import RightsizingEngine
from engines.spot_optimizer import SpotOptimizerEngine

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "cloudoptim.engines"

# Built-ins are listed explicitly (no discovery by import side effects) so the set is reviewable.
BUILTIN_ENGINES: tuple[type[Engine[Any]], ...] = (
    BinPackEngine,
    SpotOptimizerEngine,
    GhostProbeEngine,
    EbsCleanupEngine,
    CrossAzEngine,
    RightsizingEngine,
    OomRemediationEngine,
    OfficeHoursEngine,
)


class RegistryError(LookupError):
    """A duplicate engine name, an unknown one, or an installed engine that cannot be loaded."""


class EngineRegistry:
    def __init__(self, engine_classes: Iterable[type[Engine[Any]]] = ()) -> None:
        self._engines: dict[str, Engine[Any]] = {}
        self._origin: dict[str, str] = {}
        for cls in engine_classes:
            self.register(cls, origin=f"{cls.__module__}.{cls.__qualname__}")

    def register(self, cls: type[Engine[Any]], origin: str) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{origin} has no engine name")
        if name in self._engines:
            raise RegistryError(f"duplicate engine name {name!r}: {origin} and {self._origin[name]}")
        self._engines[name] = cls()
        self._origin[name] = origin

    def get(self, name: str) -> Engine[Any]:
        try:
            return self._engines[name]
        except KeyError:
            known = ", ".join(sorted(self._engines)) or "none"
            raise RegistryError(f"unknown engine {name!r} (known: {known})") from None

    def select(self, names: Iterable[str] | None) -> list[Engine[Any]]:
        """The named engines in the order given, or all of them when `names` is empty/None."""
        chosen = list(names or [])
        return [self.get(n) for n in chosen] if chosen else list(self)

    def names(self) -> list[str]:
        return list(self._engines)

    def __iter__(self) -> Iterator[Engine[Any]]:
        return iter(self._engines.values())

    def __len__(self) -> int:
        return len(self._engines)


def default_registry(include_installed: bool = True) -> EngineRegistry:
    """Built-ins plus installed entry-point engines (a broken installed engine is an error)."""
    registry = EngineRegistry(BUILTIN_ENGINES)
    if include_installed:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                cls = ep.load()
            except Exception as exc:
                raise RegistryError(f"installed engine {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            registry.register(cls, origin=f"entry point {ep.name} = {ep.value}")
    return registry
