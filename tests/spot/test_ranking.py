"""The Spot ranking on plain data: expected $/hour = Spot price + P(interruption/hour) x the cost of
one interruption, only over types the pods fit, outside the avoided pools, with every other type
named with its reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engines.contract import InstanceSpec
from engines.spot import PodNeeds, Pool, SpotCandidate, interruption_per_hour, rank_spot_types

GIB = 1024**3


def cand(
    name: str,
    price: str | None,
    bucket: int | None,
    *,
    vcpu: int = 2,
    memory_gib: int = 8,
    arch: str = "x86_64",
    gpus: int = 0,
    burstable: bool = False,
    current: bool = True,
    enis: int = 3,
    ips: int = 10,
) -> SpotCandidate:
    spec = InstanceSpec(
        instance_type=name,
        vcpu=vcpu,
        memory_mib=memory_gib * 1024,
        gpu_count=gpus,
        architectures=(arch,),
        max_enis=enis,
        ipv4_per_eni=ips,
        burstable=burstable,
        current_generation=current,
    )
    return SpotCandidate(spec, Decimal(price) if price is not None else None, bucket)


SMALL = PodNeeds(cpu_millicores=1000, memory_bytes=2 * GIB, pods=10)


def rank(
    candidates: list[SpotCandidate],
    needs: PodNeeds = SMALL,
    *,
    cost: str = "0",
    count: int = 3,
    avoid: tuple[Pool, ...] = (),
) -> tuple[list[str], dict[str, str]]:
    ranking = rank_spot_types(
        needs, candidates, zone="us-east-1a", interruption_cost=Decimal(cost), count=count, avoid=avoid
    )
    return list(ranking.types), {r.instance_type: r.reason for r in ranking.rejected}


def test_without_an_interruption_cost_the_cheapest_spot_price_ranks_first() -> None:
    types, _ = rank([cand("b.large", "0.05", 0), cand("a.large", "0.03", 4), cand("c.large", "0.04", 2)])
    assert types == ["a.large", "c.large", "b.large"]


def test_a_costly_interruption_lets_a_safer_pool_beat_a_cheaper_risky_one() -> None:
    # Bucket 4 (25 %/month) vs bucket 0 (2.5 %/month): at $200 an interruption the risk term is
    # 0.25/730*200 = $0.0685/h vs $0.0068/h, more than the $0.02/h price difference.
    types, _ = rank([cand("risky.large", "0.03", 4), cand("safe.large", "0.05", 0)], cost="200")
    assert types == ["safe.large", "risky.large"]


def test_the_expected_cost_is_the_price_plus_the_hourly_interruption_risk_in_decimal() -> None:
    ranking = rank_spot_types(
        SMALL, [cand("m.large", "0.04366", 3)], zone="z", interruption_cost=Decimal("13.192"), count=1
    )
    best = ranking.ranked[0]
    assert best.interruption_per_hour == interruption_per_hour(3) == Decimal("0.0002397260")
    assert best.interruption_cost_hourly == Decimal("0.003162")  # 0.0002397260 x 13.192, to the millionth
    assert best.expected_hourly == Decimal("0.046822")
    assert isinstance(best.expected_hourly, Decimal)


def test_types_the_pods_do_not_fit_are_rejected_with_the_resource_named() -> None:
    needs = PodNeeds(cpu_millicores=3000, memory_bytes=10 * GIB, pods=20, architecture="amd64", gpus=0)
    _, why = rank(
        [
            cand("cpu.small", "0.01", 0, vcpu=2, memory_gib=32),
            cand("mem.small", "0.01", 0, vcpu=8, memory_gib=8),
            cand("pods.small", "0.01", 0, vcpu=8, memory_gib=32, enis=2, ips=6),
            cand("arm.large", "0.01", 0, vcpu=8, memory_gib=32, arch="arm64"),
            cand("burst.large", "0.01", 0, vcpu=8, memory_gib=32, burstable=True),
            cand("old.large", "0.01", 0, vcpu=8, memory_gib=32, current=False),
            cand("inf1.2xlarge", "0.01", 0, vcpu=8, memory_gib=32),
            cand("fits.large", "0.02", 0, vcpu=8, memory_gib=32),
        ],
        needs,
    )
    assert why["cpu.small"] == "2 vCPU (1800m usable); the pods request 3000m"
    assert why["mem.small"].startswith("8192 MiB (7373 MiB usable); the pods request 10240 MiB")
    assert why["pods.small"] == "12 pod slots; 20 pods"
    assert why["arm.large"] == "architecture arm64; the pods need x86_64"  # amd64 is x86_64
    assert why["burst.large"].startswith("burstable")
    assert why["old.large"].startswith("previous generation")
    assert why["inf1.2xlarge"] == "accelerator type; the pods use no accelerator"
    assert "fits.large" not in why


def test_gpu_pods_need_a_type_with_as_many_gpus() -> None:
    needs = PodNeeds(cpu_millicores=1000, memory_bytes=GIB, pods=3, gpus=1)
    types, why = rank([cand("cpu.xlarge", "0.01", 0), cand("gpu.xlarge", "0.20", 3, gpus=1)], needs)
    assert types == ["gpu.xlarge"]
    assert why["cpu.xlarge"] == "0 GPUs; the pods need 1"


def test_an_avoided_pool_is_rejected_only_in_its_own_zone() -> None:
    candidates = [cand("m.large", "0.03", 0), cand("c.large", "0.04", 0)]
    types, why = rank(candidates, avoid=(Pool("m.large", "us-east-1a"), Pool("c.large", "us-east-1b")))
    assert types == ["c.large"]
    assert why == {"m.large": "pool m.large in us-east-1a is avoided (recently interrupted)"}


def test_types_without_a_spot_price_or_advisor_data_are_rejected_not_guessed() -> None:
    types, why = rank([cand("noprice.large", None, 0), cand("norisk.large", "0.01", None), cand("ok.large", "0.05", 1)])
    assert types == ["ok.large"]
    assert why == {"noprice.large": "no Spot price", "norisk.large": "no Spot Advisor data (interruption risk unknown)"}


def test_count_limits_the_set_and_ties_break_on_bucket_then_name() -> None:
    candidates = [
        cand("z.large", "0.03", 0),
        cand("y.large", "0.03", 0),
        cand("x.large", "0.03", 1),
        cand("w.large", "0.09", 0),
    ]
    ranking = rank_spot_types(SMALL, candidates, zone="z", interruption_cost=Decimal(0), count=2)
    assert ranking.types == ("y.large", "z.large")
    assert ranking.eligible == 4


def test_the_same_input_gives_the_same_ranking_and_bad_arguments_are_refused() -> None:
    candidates = [cand(f"t{i}.large", f"0.0{i}", i % 5) for i in range(1, 9)]
    assert rank(candidates, cost="50") == rank(list(candidates), cost="50")
    with pytest.raises(ValueError, match="count"):
        rank_spot_types(SMALL, candidates, zone="z", interruption_cost=Decimal(1), count=0)
    with pytest.raises(ValueError, match="negative"):
        rank_spot_types(SMALL, candidates, zone="z", interruption_cost=Decimal(-1), count=1)
    with pytest.raises(ValueError, match="bucket 7"):
        interruption_per_hour(7)
