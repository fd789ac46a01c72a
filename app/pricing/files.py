"""Where the price data files live and how to check them before use.

The package ships real AWS data in app/data (see its README for provenance); `cloudoptim data
refresh` writes validated fresh copies into <data_dir>/pricing, which win over the shipped ones.
Validation is strict so a truncated or corrupt file is refused with a message naming it.
`PRICE_FILES` lists every file (`cloudoptim data info` shows them all) and `known_regions` is the
cheap region list the CLI checks settings and `--region` against.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

ONDEMAND = "ec2-ondemand-prices.csv"
INSTANCE_TYPES = "ec2-instance-types.csv"
SPOT_ADVISOR = "spot-advisor-data.json"
EBS = "ebs-prices.csv"
INTER_AZ = "data-transfer-inter-az.csv"
EBS_IOPS = "ebs-iops-throughput-prices.csv"
# Every shipped price file; only the Spot Advisor feed and on-demand prices are refreshed online.
PRICE_FILES = (ONDEMAND, SPOT_ADVISOR, INSTANCE_TYPES, EBS, EBS_IOPS, INTER_AZ)
REFRESHABLE = (SPOT_ADVISOR, ONDEMAND)

_REQUIRED_COLUMNS = {
    ONDEMAND: {"region", "instance_type", "price_per_hour_usd", "spot_avg_price_per_hour_usd"},
    INSTANCE_TYPES: {"instance_type", "vcpu", "memory_mib", "maximum_network_interfaces"},
    EBS: {"region", "volume_type", "price_per_gb_month_usd"},
    INTER_AZ: {"region", "price_per_gb_usd"},
    EBS_IOPS: {"region", "volume_type", "dimension", "unit", "price_usd"},
}
# A complete file has far more rows than this; fewer means a truncated download or copy.
_MIN_ROWS = {ONDEMAND: 1000, INSTANCE_TYPES: 500, EBS: 50, INTER_AZ: 10, EBS_IOPS: 50}


class DataFileError(ValueError):
    """A price data file that is missing, truncated or malformed."""


def shipped_dir() -> Path:
    return Path(str(resources.files("app") / "data"))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shipped_checksums() -> dict[str, str]:
    """File name -> sha256 from the shipped SHA256SUMS (provenance of the packaged copies)."""
    text = (shipped_dir() / "SHA256SUMS").read_text(encoding="utf-8")
    return {name.strip(): digest for digest, name in (line.split(None, 1) for line in text.splitlines() if line.strip())}


def read_csv(name: str, text: str) -> list[dict[str, str]]:
    """Parse and validate a price CSV's text; raise DataFileError naming the file on any problem."""
    reader = csv.DictReader(io.StringIO(text))
    missing = _REQUIRED_COLUMNS[name] - set(reader.fieldnames or [])
    if missing:
        raise DataFileError(f"{name}: missing columns {sorted(missing)}")
    rows = []
    for lineno, row in enumerate(reader, start=2):
        if None in row or any(v is None for v in row.values()):
            raise DataFileError(f"{name}: line {lineno} has the wrong number of fields")
        rows.append(row)
    if len(rows) < _MIN_ROWS[name]:
        raise DataFileError(f"{name}: only {len(rows)} rows (expected at least {_MIN_ROWS[name]}); truncated?")
    return rows


def read_spot_advisor(text: str) -> dict[str, Any]:
    """Parse and validate the Spot Advisor feed."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{SPOT_ADVISOR}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict) or not {"ranges", "spot_advisor"} <= set(data):
        raise DataFileError(f"{SPOT_ADVISOR}: missing 'ranges' or 'spot_advisor'")
    ranges = data["ranges"]
    if not isinstance(ranges, list) or len(ranges) != 5:
        raise DataFileError(f"{SPOT_ADVISOR}: expected 5 interruption ranges")
    regions = data["spot_advisor"]
    if not isinstance(regions, dict) or len(regions) < 10:
        raise DataFileError(f"{SPOT_ADVISOR}: too few regions; truncated?")
    return data


def locate(name: str, refreshed_dir: Path | None) -> Path:
    """The refreshed copy if one exists, else the shipped one."""
    if refreshed_dir is not None and (refreshed_dir / name).is_file():
        return refreshed_dir / name
    return shipped_dir() / name


def known_regions(refreshed_dir: Path | None) -> list[str]:
    """Regions with on-demand prices, read from the region column alone (fast enough per command).

    The same file and column `PriceCatalog.regions()` uses, so a region accepted here prices.
    """
    path = locate(ONDEMAND, refreshed_dir)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataFileError(f"{ONDEMAND}: cannot read {path}: {exc.strerror}") from exc
    if not lines or lines[0].split(",", 1)[0] != "region":
        raise DataFileError(f"{ONDEMAND}: the first column of {path} is not 'region'")
    return sorted({line.split(",", 1)[0] for line in lines[1:] if line})
