"""Container rightsizing engine: CPU and memory requests (and limits per policy) of Deployment,
StatefulSet and DaemonSet containers from the pooled usage history of all their pods.

`engine.RightsizingEngine` is the entry point (registered by the lead in the engine registry); its
parts are settings (policies), policy (default, namespace, annotations), history (pooled samples
per owner container), stats (vectorised percentiles and exceed shares, also used by bench/),
curves (sizing and risk curves), pricing (requests value, and the node-level saving through
the bin-packing engine) and report (rationale, evidence, risk and confidence).
"""

from engines.rightsizing.engine import RightsizingEngine
from engines.rightsizing.settings import Policy, RightsizingSettings
from engines.rightsizing.stats import Rule, exceed_share, size

__all__ = ["Policy", "RightsizingEngine", "RightsizingSettings", "Rule", "exceed_share", "size"]
