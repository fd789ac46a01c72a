"""The price book answers from the real shipped AWS data and refuses unknown names and bad files."""

from __future__ import annotations

import hashlib
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from app.pricing import CatalogError, PriceCatalog, load_price_book
from app.pricing.files import shipped_dir


@pytest.fixture(scope="module")
def book() -> PriceCatalog:
    return load_price_book()


def test_us_east_1_m5_large_costs_0_096_an_hour_on_demand(book: PriceCatalog) -> None:
    assert book.on_demand_hourly("us-east-1", "m5.large") == Decimal("0.096")


def test_instance_specs_come_from_describe_instance_types_data(book: PriceCatalog) -> None:
    spec = book.instance_spec("m5.large")
    assert (spec.vcpu, spec.memory_mib) == (2, 8192)
    assert spec.max_pods == 29  # EKS: 3 ENIs * (10 IPs - 1) + 2


def test_spot_advisor_gives_bucket_and_savings_for_m5_large(book: PriceCatalog) -> None:
    advice = book.spot_advice("us-east-1", "m5.large")
    assert (advice.interruption_bucket, advice.interruption_label, advice.savings_percent) == (3, "15-20%", 66)


def test_average_spot_price_is_known_for_m5_large(book: PriceCatalog) -> None:
    spot = book.spot_avg_hourly("us-east-1", "m5.large")
    assert spot is not None and Decimal(0) < spot < Decimal("0.096")


def test_gp3_costs_0_08_per_gb_month_in_us_east_1(book: PriceCatalog) -> None:
    assert book.ebs_gb_month("us-east-1", "gp3") == Decimal("0.08")
    assert book.ebs_gb_month("us-east-1", "gp2") == Decimal("0.1")


def test_inter_az_transfer_is_one_cent_per_gb_each_way(book: PriceCatalog) -> None:
    assert book.inter_az_per_gb("us-east-1") == Decimal("0.01")


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda b: b.on_demand_hourly("us-east-1", "m5.huge"), "m5.huge"),
        (lambda b: b.on_demand_hourly("mars-north-1", "m5.large"), "mars-north-1"),
        (lambda b: b.instance_spec("zz9.large"), "zz9.large"),
        (lambda b: b.ebs_gb_month("us-east-1", "gp9"), "gp9"),
        (lambda b: b.ebs_gb_month("mars-north-1", "gp3"), "mars-north-1"),
        (lambda b: b.spot_advice("mars-north-1", "m5.large"), "mars-north-1"),
        (lambda b: b.inter_az_per_gb("mars-north-1"), "mars-north-1"),
    ],
)
def test_unknown_names_raise_an_error_naming_them(book: PriceCatalog, call, name: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CatalogError, match=name):
        call(book)


def test_shipped_files_match_their_recorded_checksums() -> None:
    sums = (shipped_dir() / "SHA256SUMS").read_text().split("\n")
    checked = 0
    for line in filter(None, sums):
        digest, name = line.split()
        assert hashlib.sha256((shipped_dir() / name).read_bytes()).hexdigest() == digest, name
        checked += 1
    assert checked >= 5


def _copy_data(tmp_path: Path) -> Path:
    dest = tmp_path / "pricing"
    shutil.copytree(shipped_dir(), dest)
    return dest


def test_a_truncated_price_file_is_refused_with_its_name(tmp_path: Path) -> None:
    dest = _copy_data(tmp_path)
    path = dest / "ec2-ondemand-prices.csv"
    path.write_text(path.read_text()[:5000])
    with pytest.raises(CatalogError, match="ec2-ondemand-prices.csv"):
        PriceCatalog(dest)


def test_a_corrupt_spot_advisor_feed_is_refused(tmp_path: Path) -> None:
    dest = _copy_data(tmp_path)
    (dest / "spot-advisor-data.json").write_text('{"ranges": [')
    with pytest.raises(CatalogError, match="spot-advisor-data.json"):
        PriceCatalog(dest)


def test_a_refreshed_copy_wins_over_the_shipped_one(tmp_path: Path) -> None:
    dest = tmp_path / "pricing"
    dest.mkdir()
    data = json.loads((shipped_dir() / "spot-advisor-data.json").read_text())
    data["spot_advisor"]["us-east-1"]["Linux"]["m5.large"] = {"r": 0, "s": 70}
    (dest / "spot-advisor-data.json").write_text(json.dumps(data))
    advice = PriceCatalog(dest).spot_advice("us-east-1", "m5.large")
    assert (advice.interruption_bucket, advice.savings_percent) == (0, 70)


def test_m5_is_current_generation_and_m3_previous(book: PriceCatalog) -> None:
    assert book.instance_spec("m5.large").current_generation is True
    assert book.instance_spec("m3.medium").current_generation is False
