"""The interruption pipeline's replacement set is ranked by the spot-optimizer engine's scorer: the
account's own warnings move a pool down, a custom scorer is honoured, and the set avoids the
interrupted pool. Real prices from the shipped price book."""

from __future__ import annotations

from collections.abc import Sequence

from app.pricing import load_price_book
from app.services.spot_replacement import CandidateBook, choose_types
from engines.snapshot_aws import SpotPoolHistory
from engines.spot import PodNeeds
from engines.spot.scorer import PoolFeatures

NEEDS = PodNeeds(cpu_millicores=3000, memory_bytes=12 * 2**30, pods=10)
BOOK = CandidateBook(load_price_book())


def _types(**kw: object) -> tuple[str, ...]:
    ranking = choose_types(BOOK, region="us-east-1", zone="us-east-1a", old_type="m5.xlarge", needs=NEEDS,
                           recent=(), count=6, **kw)  # type: ignore[arg-type]  # fmt: skip
    return ranking.types


def test_the_replacement_set_never_holds_the_interrupted_pool_and_fits_the_pods() -> None:
    types = _types()
    assert types and "m5.xlarge" not in types
    for name in types:
        spec = BOOK.prices.instance_spec(name)
        assert spec.vcpu * 1000 >= NEEDS.cpu_millicores and spec.memory_mib * 2**20 >= NEEDS.memory_bytes


def test_a_pool_the_account_saw_interrupted_often_drops_out_of_the_replacement_set() -> None:
    calm = _types()
    noisy = SpotPoolHistory(instance_type=calm[0], zone="us-east-1a", interruptions=40, instance_hours=200.0)
    assert calm[0] not in _types(history=(noisy,))


class _AvoidFirst:
    """A custom risk model: every pool of `bad` interrupts every hour, the others never."""

    name = "test-scorer"

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def p_interruption_hour(self, pools: Sequence[PoolFeatures]) -> list[float]:
        return [1.0 if p.instance_type == self.bad else 0.0 for p in pools]


def test_an_active_risk_model_ranks_the_replacements() -> None:
    first = _types()[0]
    assert first not in _types(scorer=_AvoidFirst(first))
