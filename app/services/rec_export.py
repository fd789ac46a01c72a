"""Flat records of recommendations and their CSV / JSON rendering: the columns analysts export
(engine, cluster, target, action, costs, savings, risk, confidence, rationale, fingerprint), with
money as cents-exact strings. Used by the Recommendations page's export and `cloudoptim scan`."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the engine contract (pydantic models of the whole snapshot) is not needed to read rows
    from engines.contract import Recommendation

EXPORT_COLUMNS = [
    "engine", "cluster", "target", "action", "current_monthly_cost", "projected_monthly_cost",
    "monthly_savings", "risk", "confidence", "rationale", "fingerprint",
]  # fmt: skip
MONEY_COLUMNS = ("current_monthly_cost", "projected_monthly_cost", "monthly_savings")
CENT = Decimal("0.01")


def record_from_recommendation(rec: Recommendation) -> dict[str, Any]:
    return {
        "engine": rec.engine, "cluster": rec.cluster, "target": rec.target, "action": rec.action.kind,
        "current_monthly_cost": rec.current_monthly_cost, "projected_monthly_cost": rec.projected_monthly_cost,
        "monthly_savings": rec.monthly_savings, "risk": rec.risk, "confidence": rec.confidence,
        "rationale": rec.rationale, "fingerprint": rec.fingerprint,
        "action_spec": rec.action.model_dump(mode="json"), "evidence": rec.model_dump(mode="json")["evidence"],
        "conflicts_with": list(rec.conflicts_with), "purpose": rec.purpose,
    }  # fmt: skip


def jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def cents(value: Any) -> Any:
    """Money as exactly two decimals ("70.10"): spreadsheets and diffs then line up."""
    if value is None or value == "":
        return value
    return str(Decimal(str(value)).quantize(CENT))


def render(records: list[dict[str, Any]], fmt: str, *, full: bool = False) -> str:
    """Render records as json, yaml or csv (money as decimal strings, never floats)."""
    cols = [*EXPORT_COLUMNS, "purpose", "action_spec", "evidence", "conflicts_with"] if full else EXPORT_COLUMNS
    rows = [{k: jsonable(r.get(k)) for k in cols} for r in records]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(rows, sort_keys=False, allow_unicode=True)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, **{k: cents(row.get(k)) for k in MONEY_COLUMNS}} for row in rows)
        return out.getvalue()
    raise ValueError(f"unknown format {fmt!r}: use table, json, csv or yaml")
