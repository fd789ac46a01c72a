"""EBS prices against the shipped price files: storage by type and region, gp3's free 3,000 IOPS
and 125 MiB/s, io1 IOPS, io2 IOPS tiers, and the gp3 configuration matching a gp2 volume.

The cross-check figures are Infracost's golden output for us-east-1 quoted in app/data/README.md
section 5 (10 GB gp2 $1.00, 40 GB gp3 $3.20, 1,000 gp3 IOPS $5.00, 5 MB/s gp3 throughput $0.20,
300 io1 IOPS $19.50 ...).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from app.pricing import load_price_book
from engines.ebs.pricing import gp3_match, price_volume
from tests.engines.test_ebs_helpers import attached

PRICES = load_price_book()
DATA = Path(__file__).resolve().parents[2] / "app" / "data"


def file_price(region: str, volume_type: str) -> Decimal:
    with (DATA / "ebs-prices.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if (row["region"], row["volume_type"]) == (region, volume_type):
                return Decimal(row["price_per_gb_month_usd"])
    raise AssertionError(f"{region} {volume_type} not in ebs-prices.csv")


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-northeast-1"])
def test_a_100_gib_gp2_volume_costs_exactly_what_the_price_file_says(region: str) -> None:
    got = price_volume(PRICES, region, "gp2", 100, None, None).monthly
    assert got == (100 * file_price(region, "gp2")).quantize(Decimal("0.01"))
    if region == "us-east-1":
        assert got == Decimal("10.00")


@pytest.mark.parametrize(("volume_type", "size", "iops", "want"), [
    ("gp2", 10, None, "1.00"), ("gp3", 40, None, "3.20"), ("io1", 30, 0, "3.75"), ("io2", 30, 0, "3.75"),
    ("st1", 40, None, "1.80"), ("sc1", 50, None, "0.75"), ("standard", 20, None, "1.00"),
])
def test_storage_matches_the_infracost_cross_check(volume_type: str, size: int, iops: int | None, want: str) -> None:
    assert price_volume(PRICES, "us-east-1", volume_type, size, iops, None).monthly == Decimal(want)


def test_1000_gp3_iops_above_the_free_3000_cost_5_dollars() -> None:
    price = price_volume(PRICES, "us-east-1", "gp3", 40, 4000, None)
    assert price.monthly == Decimal("3.20") + Decimal("5.00")
    assert price.parts["provisioned_iops"].startswith("$5.00 (1000 IOPS above 3000")


def test_5_mib_per_second_of_gp3_throughput_above_the_free_125_costs_20_cents() -> None:
    price = price_volume(PRICES, "us-east-1", "gp3", 40, None, 130)
    assert price.monthly == Decimal("3.40") and price.parts["provisioned_throughput"].startswith("$0.20")


def test_gp3_at_its_included_3000_iops_and_125_mib_per_second_pays_storage_only() -> None:
    price = price_volume(PRICES, "us-east-1", "gp3", 40, 3000, 125)
    assert price.monthly == Decimal("3.20") and set(price.parts) == {"storage"}


def test_300_io1_iops_cost_19_dollars_50() -> None:
    assert price_volume(PRICES, "us-east-1", "io1", 30, 300, None).monthly == Decimal("3.75") + Decimal("19.50")


def test_io2_iops_are_billed_in_the_three_aws_tiers() -> None:
    price = price_volume(PRICES, "us-east-1", "io2", 100, 70_000, None)
    tier1, tier2, tier3 = Decimal("0.065"), Decimal("0.0455"), Decimal("0.03185")
    want = 100 * Decimal("0.125") + 32_000 * tier1 + 32_000 * tier2 + 6_000 * tier3
    assert price.monthly == want.quantize(Decimal("0.01"))
    assert set(price.parts) == {"storage", "provisioned_iops_tier1", "provisioned_iops_tier2", "provisioned_iops_tier3"}
    assert set(price_volume(PRICES, "us-east-1", "io2", 100, 32_000, None).parts) == {"storage",
                                                                                       "provisioned_iops_tier1"}


def test_an_io1_volume_without_provisioned_iops_is_not_priced_from_a_guess() -> None:
    with pytest.raises(LookupError, match="without provisioned IOPS"):
        price_volume(PRICES, "us-east-1", "io1", 100, None, None)


@pytest.mark.parametrize(("region", "volume_type"), [("mars-north-1", "gp2"), ("us-east-1", "gp9"),
                                                     ("af-south-1", "io2")])
def test_an_unknown_region_or_type_raises_a_lookup_error(region: str, volume_type: str) -> None:
    with pytest.raises(LookupError):
        price_volume(PRICES, region, volume_type, 100, 1000, None)


@pytest.mark.parametrize(("size", "iops", "throughput", "gp3_monthly"), [
    (100, 3000, 125, "8.00"),       # 300 baseline IOPS and 128 MiB/s: gp3's included figures cover it
    (500, 3000, 250, "45.00"),      # 1,500 IOPS; above 170 GiB gp2 reaches 250 MiB/s: 125 MiB/s x $0.04
    (2000, 6000, 250, "180.00"),    # 6,000 IOPS: 3,000 x $0.005 = $15, plus $5 of throughput
    (16000, 16000, 250, "1350.00"),  # gp2's 16,000 IOPS ceiling
])
def test_the_gp3_match_pays_only_for_what_gp2_gives_above_gp3s_included_performance(
    size: int, iops: int, throughput: int, gp3_monthly: str
) -> None:
    match = gp3_match(PRICES, attached("vol-1", "gp2", size))
    assert (match.iops, match.throughput_mibps, match.monthly) == (iops, throughput, Decimal(gp3_monthly))
