"""Spot capacity decisions shared by the Spot interruption handler and the Spot optimizer engine.

`ranking.rank_spot_types` is pure (plain data in, plain data out): callers in `app` turn the live
node, its pods and the price book into `PodNeeds` and `SpotCandidate`s first.
"""

from engines.spot.ranking import (
    BUCKET_MONTHLY_RATE,
    PodNeeds,
    Pool,
    RankedType,
    Ranking,
    RejectedType,
    SpotCandidate,
    interruption_per_hour,
    normalize_architecture,
    rank_spot_types,
)

__all__ = [
    "BUCKET_MONTHLY_RATE",
    "PodNeeds",
    "Pool",
    "RankedType",
    "Ranking",
    "RejectedType",
    "SpotCandidate",
    "interruption_per_hour",
    "normalize_architecture",
    "rank_spot_types",
]
