"""Unattached EBS cleanup engine: snapshot-then-delete volumes unattached past a grace period,
and gp2-to-gp3 for attached gp2 volumes.

`engine.EbsCleanupEngine` is the entry point (registered by the lead in the engine registry); its
parts are settings, pricing (the volume's monthly bill from the price book) and report
(rationale, evidence, risk and confidence).
"""

from engines.ebs.engine import EbsCleanupEngine
from engines.ebs.settings import EbsCleanupSettings

__all__ = ["EbsCleanupEngine", "EbsCleanupSettings"]
