"""Golden files: the Spot ranking's whole output (ranked set with every price and probability, and
every rejected type with its reason) for two fixed needs over real types from the shipped price
book, compared exactly. After an intended change, regenerate and review the diff:

    CLOUDOPTIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/spot/test_ranking_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest

from app.pricing import load_price_book
from engines.spot import PodNeeds, Pool, Ranking, SpotCandidate, rank_spot_types
from tests.golden_files import check_golden

GIB = 1024**3
REGION = "us-east-1"
# General purpose, compute, memory, burstable, Graviton, GPU and previous-generation types.
TYPES = (
    "m5.large",
    "m5.xlarge",
    "m5.2xlarge",
    "m5a.xlarge",
    "m6i.xlarge",
    "m7i.xlarge",
    "c5.xlarge",
    "c6a.xlarge",
    "r5.large",
    "r5.xlarge",
    "t3.xlarge",
    "m6g.xlarge",
    "c7g.xlarge",
    "g4dn.xlarge",
    "g5.xlarge",
    "m4.xlarge",
    "m3.xlarge",
)


def candidates() -> list[SpotCandidate]:
    prices = load_price_book()
    return [
        SpotCandidate(
            prices.instance_spec(t),
            prices.spot_avg_hourly(REGION, t),
            prices.spot_advice(REGION, t).interruption_bucket,
        )
        for t in TYPES
    ]


SCENARIOS: dict[str, tuple[PodNeeds, tuple[Pool, ...], Decimal]] = {
    # An interrupted m5.xlarge in us-east-1a with 12 pods; c5.xlarge was interrupted there too.
    "spot-ranking-interrupted-m5": (
        PodNeeds(cpu_millicores=2600, memory_bytes=9 * GIB, pods=12, architecture="amd64"),
        (Pool("m5.xlarge", "us-east-1a"), Pool("c5.xlarge", "us-east-1a")),
        Decimal("12.192"),
    ),
    # One GPU pod plus two helpers.
    "spot-ranking-gpu": (PodNeeds(cpu_millicores=3000, memory_bytes=12 * GIB, pods=3, gpus=1), (), Decimal("3.526")),
}


def canonical(ranking: Ranking) -> str:
    return json.dumps(dataclasses.asdict(ranking), indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"


def run(name: str) -> Ranking:
    needs, avoid, cost = SCENARIOS[name]
    return rank_spot_types(needs, candidates(), zone="us-east-1a", interruption_cost=cost, count=3, avoid=avoid)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_ranking_output_matches_its_golden_file_exactly(name: str) -> None:
    got = canonical(run(name))
    check_golden(name, got, what="ranking output", test_file="tests/spot/test_ranking_golden.py")


def test_the_golden_scenarios_exercise_avoidance_misfits_and_the_gpu_filter() -> None:
    m5, gpu = run("spot-ranking-interrupted-m5"), run("spot-ranking-gpu")
    assert "m5.xlarge" not in m5.types and "c5.xlarge" not in m5.types
    assert {r.instance_type for r in m5.rejected} >= {"m5.large", "m6g.xlarge", "t3.xlarge", "m3.xlarge"}
    assert set(gpu.types) <= {"g4dn.xlarge", "g5.xlarge"} and gpu.types
