"""Bin packing / node consolidation engine: fewer and cheaper nodes, no pod left unschedulable.

`engine.BinPackEngine` is the entry point (registered by the lead in the engine registry); the
other modules are its parts: settings, model (snapshot -> arrays), constraints and dynamic
(scheduler predicates), blockers (evictions and PDBs), planner and search (the algorithm),
replace and pricing (cheaper instance types), report (rationale and evidence).
"""

from engines.binpack.engine import BinPackEngine
from engines.binpack.settings import BinPackSettings

__all__ = ["BinPackEngine", "BinPackSettings"]
