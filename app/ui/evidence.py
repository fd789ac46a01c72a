"""A recommendation's evidence as labelled tables an analyst can read, instead of raw JSON.

Labels come from the key names ("requested_cpu_cores" -> "Requested CPU") and units from their
suffixes: *_bytes as GiB/MiB, *_cpu_cores as cores, *_percent as %, *_usd and *_monthly_cost as
dollars, *_seconds as s; booleans are Yes/No and lists are joined. Evidence with nested
"before"/"after" dicts (the state before and after the change) becomes one Before | After table,
every other key a Measure | Value table, and a list of records (e.g. destination nodes) a table
of its own. Flat evidence (older scans) gives the Measure | Value table alone. Pure: the page
renders the tables. Used by pages/recommendations.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.ui.format import joined, number, size_bytes, to_decimal, usd, yes_no

# (suffix, unit, what the label keeps of the suffix, what it appends): the first match wins.
_SUFFIXES = (
    ("_cpu_cores", "cores", "_cpu", ""),
    ("_cores", "cores", "", ""),
    ("_bytes", "bytes", "", ""),
    ("_percent", "percent", "", " (%)"),
    ("_monthly_usd", "usd_month", "", ""),
    ("_usd", "usd", "", ""),
    ("_monthly_cost", "usd", "_monthly_cost", ""),
    ("_seconds", "seconds", "", ""),
)
_WORDS = {"cpu": "CPU", "pdb": "PDB", "az": "AZ", "id": "ID", "ebs": "EBS", "gpu": "GPU", "ip": "IP",
          "usd": "USD", "daemonset": "DaemonSet", "eks": "EKS", "ec2": "EC2"}  # fmt: skip
MISSING = "—"


@dataclass(frozen=True)
class EvidenceTable:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _split(key: str) -> tuple[str, str | None, str]:
    """(label stem without unit words, unit, label tail) of a key."""
    for suffix, unit, keep, tail in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)] + keep, unit, tail
    return key, None, ""


def label(key: str) -> str:
    """A readable label for an evidence key: words capitalised, acronyms kept, unit words dropped."""
    stem, _unit, tail = _split(key)
    text = " ".join(_WORDS.get(w, w) for w in stem.split("_") if w)
    return (text[:1].upper() + text[1:] if text else key) + tail


def value_text(key: str, value: Any) -> str:
    """One evidence value, formatted by its key's unit suffix."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, list | tuple):
        return joined(value_text(key, v) if not isinstance(v, Mapping) else _inline(v) for v in value)
    if isinstance(value, Mapping):
        return _inline(value)
    unit = _split(key)[1]
    try:
        if unit == "bytes":
            return size_bytes(value)
        if unit == "cores":
            cores = number(value)
            return f"{cores} core" if cores == "1" else f"{cores} cores"
        if unit == "percent":
            return f"{number(value)} %"
        if unit in ("usd", "usd_month"):
            return usd(to_decimal(value)) + (" / month" if unit == "usd_month" else "")
        if unit == "seconds":
            return f"{number(value)} s"
    except (TypeError, ValueError, ArithmeticError):
        return str(value)  # not the number its name promises: show it as stored
    if isinstance(value, int | float | Decimal):
        return number(value)
    return str(value)


def _inline(record: Mapping[str, Any]) -> str:
    return "; ".join(f"{label(k)}: {value_text(k, v)}" for k, v in record.items())


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _records_table(title: str, records: list[Mapping[str, Any]]) -> EvidenceTable:
    keys: list[str] = []
    for record in records:
        keys.extend(k for k in record if k not in keys)
    return EvidenceTable(title, [label(k) for k in keys],
                         [[value_text(k, r.get(k)) for k in keys] for r in records])  # fmt: skip


def _flat(evidence: Mapping[str, Any], prefix: str = "") -> tuple[list[list[str]], list[EvidenceTable]]:
    """Measure | Value rows of the scalar keys (nested dicts flattened), and tables of the record lists."""
    rows: list[list[str]] = []
    tables: list[EvidenceTable] = []
    for key, value in evidence.items():
        name = f"{prefix}{label(key)}"
        if _is_records(value):
            tables.append(_records_table(name, value))
        elif isinstance(value, Mapping):
            sub_rows, sub_tables = _flat(value, prefix=f"{name} › ")
            rows.extend(sub_rows)
            tables.extend(sub_tables)
        else:
            rows.append([name, value_text(key, value)])
    return rows, tables


def _comparison(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[EvidenceTable, list[EvidenceTable]]:
    keys = [k for k in before if not _is_records(before[k])]
    keys += [k for k in after if k not in keys and not _is_records(after[k])]
    table = EvidenceTable(
        "Before and after", ["Measure", "Before", "After"],
        [[label(k), value_text(k, before.get(k)), value_text(k, after.get(k))] for k in keys],
    )  # fmt: skip
    extra = [_records_table(f"{label(k)} (before)", v) for k, v in before.items() if _is_records(v)]
    extra += [_records_table(f"{label(k)} (after)", v) for k, v in after.items() if _is_records(v)]
    return table, extra


def evidence_tables(evidence: Mapping[str, Any] | None) -> list[EvidenceTable]:
    """The tables to show for `evidence`, comparison first; empty evidence gives none."""
    if not evidence:
        return []
    before, after = evidence.get("before"), evidence.get("after")
    tables: list[EvidenceTable] = []
    facts = dict(evidence)
    if isinstance(before, Mapping) or isinstance(after, Mapping):
        comparison, extra = _comparison(before if isinstance(before, Mapping) else {},
                                        after if isinstance(after, Mapping) else {})  # fmt: skip
        tables.append(comparison)
        tables.extend(extra)
        facts.pop("before", None)
        facts.pop("after", None)
    rows, record_tables = _flat(facts)
    if rows:
        tables.insert(1 if tables else 0, EvidenceTable("Facts", ["Measure", "Value"], rows))
    tables.extend(record_tables)
    return tables
