"""OOMKilled remediation engine: triage OOM-killed containers, then raise their memory limits.

`engine.OomRemediationEngine` is the entry point (registered by the lead in the engine registry);
its parts are settings (every knob of the triage, sizing, caps and cost split), triage (the class
of a case from its memory history) and report (price per GiB-month, rationale and evidence).
Recommendations have purpose "reliability": a raise costs money, so their savings are negative.
"""

from engines.oom.engine import OomRemediationEngine
from engines.oom.settings import OomRemediationSettings

__all__ = ["OomRemediationEngine", "OomRemediationSettings"]
