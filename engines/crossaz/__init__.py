"""Cross-AZ network engine: price the traffic that crosses availability zones and keep it in-zone.

`engine.CrossAzEngine` is the entry point (registered by the lead in the engine registry); the
other modules are its parts: settings, matrix (pods -> zones, edges -> client/destination pairs),
report (prices, evidence, words) and affinity (co-location of chatty pairs).
"""

from engines.crossaz.engine import CrossAzEngine
from engines.crossaz.settings import CrossAzSettings

__all__ = ["CrossAzEngine", "CrossAzSettings"]
