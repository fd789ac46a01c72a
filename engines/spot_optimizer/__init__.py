"""Spot optimizer engine: on-demand node groups to diversified Spot type sets, ranked by expected cost.

`engine.SpotOptimizerEngine` is the entry point (registered by the lead in the engine registry); the
other modules are its parts: settings, pods (blockers, workload class, drain estimate), groups (node
groups and their needs), scoring (fit, scorer, preset cap, expected $/hour; also `rank_replacements`
for the interruption pipeline) and report (evidence and rationale).
"""

from engines.spot_optimizer.engine import SpotOptimizerEngine
from engines.spot_optimizer.scoring import rank_replacements
from engines.spot_optimizer.settings import SpotOptimizerSettings

__all__ = ["SpotOptimizerEngine", "SpotOptimizerSettings", "rank_replacements"]
