"""Bin packing / node consolidation engine: fewer and cheaper nodes, no pod left unschedulable.

`engine.BinPackEngine` is the entry point (registered by the lead in the engine registry); the
other modules are its parts: settings, model (snapshot -> arrays), constraints and dynamic
(scheduler predicates), explain (why a pod fits nowhere), blockers (evictions and PDBs), planner,
search, mix and ffd (the algorithm and the first-fit-decreasing plan it must beat), replace and
pricing (cheaper instance types), report, pending and links (rationale, evidence, pending pods and
links between recommendations).
"""

from engines.binpack.engine import BinPackEngine
from engines.binpack.settings import BinPackSettings

__all__ = ["BinPackEngine", "BinPackSettings"]
