"""`cloudoptim data refresh`: download fresh price data, validate it, and only then replace the copy.

The Spot Advisor feed comes over HTTPS; on-demand prices come from the AWS Price List API through
boto3 (region us-east-1 hosts it). When offline, or when a download fails validation, the current
copy (refreshed or shipped) is kept and the reason is reported in one short line (no exception
dump); nothing half-written is ever used. Called by `cloudoptim data refresh`.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from app.pricing import files
from app.pricing.catalog import PriceCatalog

_PRICING_FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}


@dataclass
class RefreshOutcome:
    """One file's refresh: `message` says what was downloaded, or in a few words why not."""

    name: str
    updated: bool
    message: str


def short_reason(exc: BaseException) -> str:
    """A few words for a failed download: "host name not found", not urllib3's wrapper reprs."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if name == "NoCredentialsError":
            return "no AWS credentials found (the Price List API needs them)"
        if isinstance(current, socket.gaierror) or name == "NameResolutionError":
            return "host name not found (offline?)"
        if isinstance(current, ConnectionRefusedError) or getattr(current, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(current, TimeoutError) or "Timeout" in name:
            return "timed out"
        if isinstance(current, requests.HTTPError) and current.response is not None:
            return f"HTTP {current.response.status_code} {current.response.reason or ''}".rstrip()
        if name in ("EndpointConnectionError", "ConnectTimeoutError"):
            return f"cannot reach {getattr(current, 'kwargs', {}).get('endpoint_url', 'the endpoint')}"
        current = current.__cause__ or current.__context__ or _first_arg_exception(current)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:160].rstrip(": ")


def _first_arg_exception(exc: BaseException) -> BaseException | None:
    # requests keeps urllib3's error (which holds the socket error) in args, not in __cause__.
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, BaseException):
        return inner
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, BaseException) else None


def _atomic_write(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)  # readers see the old or the new file, never a partial one


def refresh_spot_advisor(url: str, dest_dir: Path, timeout: float = 30.0) -> RefreshOutcome:
    try:
        resp = requests.get(url, timeout=timeout)
        resp.raise_for_status()
        files.read_spot_advisor(resp.text)
    except requests.RequestException as exc:
        return RefreshOutcome(files.SPOT_ADVISOR, False, f"download failed: {short_reason(exc)}")
    except files.DataFileError as exc:
        return RefreshOutcome(files.SPOT_ADVISOR, False, f"download refused: {exc}")
    _atomic_write(dest_dir / files.SPOT_ADVISOR, resp.text)
    return RefreshOutcome(files.SPOT_ADVISOR, True, f"downloaded from {url}")


def parse_price_list_item(item: str | dict[str, Any]) -> tuple[str, str, str] | None:
    """(regionCode, instanceType, $/hour) from one Price List API product, or None if unusable."""
    doc = json.loads(item) if isinstance(item, str) else item
    attrs = doc.get("product", {}).get("attributes", {})
    if any(attrs.get(k) != v for k, v in _PRICING_FILTERS.items() if k in attrs):
        return None
    region = attrs.get("regionCode") or _LOCATION_TO_REGION.get(attrs.get("location", ""))
    instance_type = attrs.get("instanceType")
    for term in doc.get("terms", {}).get("OnDemand", {}).values():
        for dim in term.get("priceDimensions", {}).values():
            usd = dim.get("pricePerUnit", {}).get("USD")
            if dim.get("unit") == "Hrs" and usd and float(usd) > 0 and region and instance_type:
                return str(region), str(instance_type), str(usd).rstrip("0").rstrip(".")
    return None


# Older Price List records carry only the location name; these are the ones the sandbox and the
# shipped examples use. Records with regionCode need no mapping.
_LOCATION_TO_REGION = {
    "US East (N. Virginia)": "us-east-1",
    "US East (Ohio)": "us-east-2",
    "US West (Oregon)": "us-west-2",
    "EU (Ireland)": "eu-west-1",
}


def merge_ondemand(current_csv: str, prices: Iterable[tuple[str, str, str]]) -> str:
    """Replace the $/hour of (region, type) pairs in the current CSV; keep everything else."""
    new = {(r, t): p for r, t, p in prices}
    reader = csv.DictReader(io.StringIO(current_csv))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(reader.fieldnames or []), lineterminator="\n")
    writer.writeheader()
    for row in reader:
        key = (row["region"], row["instance_type"])
        if key in new:
            row["price_per_hour_usd"] = new[key]
        writer.writerow(row)
    return out.getvalue()


def refresh_ondemand(
    regions: list[str], dest_dir: Path, fetch: Callable[[str], Iterable[str]]
) -> RefreshOutcome:
    """Fetch Price List products per region with `fetch(region)` and merge them in."""
    try:
        prices = [p for region in regions for item in fetch(region) if (p := parse_price_list_item(item))]
    except Exception as exc:  # boto3 raises many unrelated types when offline or unauthorised
        return RefreshOutcome(files.ONDEMAND, False, f"Price List API failed: {short_reason(exc)}")
    if not prices:
        return RefreshOutcome(files.ONDEMAND, False, "the Price List API returned no prices")
    current = files.locate(files.ONDEMAND, dest_dir).read_text(encoding="utf-8")
    merged = merge_ondemand(current, prices)
    try:
        files.read_csv(files.ONDEMAND, merged)
    except files.DataFileError as exc:
        return RefreshOutcome(files.ONDEMAND, False, f"merged prices refused: {exc}")
    _atomic_write(dest_dir / files.ONDEMAND, merged)
    return RefreshOutcome(files.ONDEMAND, True, f"updated {len(prices)} prices in {', '.join(regions)}")


def boto3_price_list_fetcher(region: str, timeout: float = 30.0) -> Iterable[str]:
    """Products for `region` from the AWS Price List API (served from us-east-1).

    Short timeouts and two attempts: offline, botocore's defaults would retry for minutes.
    """
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"})
    client = boto3.client("pricing", region_name="us-east-1", config=config)
    filters = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in _PRICING_FILTERS.items()]
    filters.append({"Type": "TERM_MATCH", "Field": "regionCode", "Value": region})
    for page in client.get_paginator("get_products").paginate(ServiceCode="AmazonEC2", Filters=filters):  # type: ignore[arg-type]
        yield from page["PriceList"]


def check_catalog(dest_dir: Path) -> str | None:
    """Load the catalog as the product would; return the problem, or None when it is usable."""
    try:
        PriceCatalog(dest_dir)
    except LookupError as exc:
        return str(exc)
    return None
