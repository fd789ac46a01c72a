"""Ghost-probe engine: idle or orphaned EC2 instances outside every cluster (stop, then terminate).

`engine.GhostProbeEngine` is the entry point (registered by the lead in the engine registry); the
other modules are its parts: settings, gates (what is never touched), idle (the CloudWatch daily
window), signals (the confidence fusion), costs (price-book prices) and report (rationale, evidence).
"""

from engines.ghost.engine import GhostProbeEngine
from engines.ghost.settings import GhostProbeSettings

__all__ = ["GhostProbeEngine", "GhostProbeSettings"]
