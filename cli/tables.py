"""Rich tables for `scan` and `inventory` that read well at any terminal width.

Every cell is a `Text`, so names, rationales and error messages print literally (no markup, no
emoji codes). Wide terminals get one row per recommendation; when the columns cannot all fit
with a readable rationale, each recommendation becomes a stacked cell (target, then action,
cluster and engine, then the rationale folded to the width), so nothing is truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Narrower than this, a rationale wraps every few words: switch to the stacked layout instead.
MIN_RATIONALE = 40


@dataclass
class ScanLine:
    """One cluster's scan as the summary shows it."""

    cluster: str
    status: str
    recommendations: int
    problems: list[str] = field(default_factory=list)


def money(value: Any) -> str:
    return f"${Decimal(str(value)):,.2f}"


def _table(title: str | None = None, **kwargs: Any) -> Table:
    # No edge and collapsed padding: columns are two spaces apart, every character goes to content.
    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True, pad_edge=False,
                 title_justify="left", **kwargs)  # fmt: skip


def _fits(console: Console, widths: Sequence[int], flexible_min: int) -> bool:
    # Columns are two characters apart (see _table); counting two per column leaves a margin.
    return sum(widths) + flexible_min + 2 * len(widths) <= console.width


def _width(header: str, values: Sequence[str]) -> int:
    return max([len(header), *(len(v) for v in values)])


def print_scans(console: Console, lines: list[ScanLine]) -> None:
    table = _table("Scans")
    table.add_column("Cluster", overflow="fold")
    table.add_column("Status", no_wrap=True)
    table.add_column("Recs", justify="right", no_wrap=True)
    table.add_column("Problems", ratio=1, min_width=20, overflow="fold")
    styles = {"succeeded": "green", "partial": "yellow", "failed": "bold red"}
    for line in lines:
        problems = Text("\n".join(line.problems) or "-", overflow="fold")
        table.add_row(Text(line.cluster), Text(line.status, style=styles.get(line.status, "")),
                      Text(str(line.recommendations)), problems)  # fmt: skip
    console.print(table)


def print_recommendations(console: Console, records: list[dict[str, Any]], *, overlapping: bool = False) -> None:
    """The rows and their plain sum; `overlapping` = the caller prints the real total next (rows
    overlap on a target, or reliability rows are left out), so the sum is labelled as a sum."""
    console.print()
    total = sum((Decimal(str(r["monthly_savings"])) for r in records), Decimal(0))
    title = f"{len(records)} recommendation{'' if len(records) == 1 else 's'}"
    if not records:
        console.print(Text("No recommendations."))
        return
    fixed = {
        "Engine": [r["engine"] for r in records], "Cluster": [r["cluster"] or "" for r in records],
        "Target": [r["target"] for r in records], "Action": [r["action"] for r in records],
        "Saving/mo": [money(r["monthly_savings"]) for r in records], "Risk": [r["risk"] for r in records],
    }  # fmt: skip
    widths = [_width(h, v) for h, v in fixed.items()]
    if _fits(console, widths, MIN_RATIONALE):
        table = _table(title, show_lines=True)
        for (header, _values), width in zip(fixed.items(), widths, strict=True):
            right = header == "Saving/mo"
            table.add_column(header, justify="right" if right else "left", min_width=width, overflow="fold")
        table.add_column("Rationale", ratio=1, min_width=MIN_RATIONALE, overflow="fold")
        for i, r in enumerate(records):
            table.add_row(*(Text(values[i]) for values in fixed.values()), Text(r["rationale"]))
    else:
        table = _table(title, show_lines=True)
        table.add_column("Saving/mo", justify="right", no_wrap=True)
        table.add_column("Risk", no_wrap=True)
        table.add_column("Recommendation", ratio=1, overflow="fold")
        for r in records:
            cell = Text(r["target"], style="bold", overflow="fold")
            cell.append(f"\n{r['action']} · {r['cluster'] or '-'} · {r['engine']}\n", style="dim")
            cell.append(r["rationale"])
            table.add_row(Text(money(r["monthly_savings"])), Text(r["risk"]), cell)
    console.print(table)
    label = "Sum of the rows" if overlapping else "Total"
    console.print(Text(f"{label}: {money(total)} per month"))


def print_skipped(console: Console, skipped: list[dict[str, str]]) -> None:
    title = f"{len(skipped)} skipped"
    console.print()
    if not skipped:
        console.print(Text("Nothing was skipped."))
        return
    cols = {"Engine": [s["engine"] for s in skipped], "Cluster": [s["cluster"] for s in skipped],
            "Target": [s["target"] for s in skipped]}  # fmt: skip
    widths = [_width(h, v) for h, v in cols.items()]
    if _fits(console, widths, MIN_RATIONALE):
        table = _table(title, show_lines=True)
        for header, width in zip(cols, widths, strict=True):
            table.add_column(header, min_width=width, overflow="fold")
        table.add_column("Reason", ratio=1, min_width=MIN_RATIONALE, overflow="fold")
        for i, s in enumerate(skipped):
            table.add_row(*(Text(values[i]) for values in cols.values()), Text(s["reason"]))
    else:
        table = _table(title, show_lines=True)
        table.add_column("Skipped", ratio=1, overflow="fold")
        for s in skipped:
            cell = Text(s["target"], style="bold", overflow="fold")
            cell.append(f"\n{s['cluster']} · {s['engine']}\n", style="dim")
            cell.append(s["reason"])
            table.add_row(cell)
    console.print(table)


def print_inventory(console: Console, report: dict[str, Any]) -> None:
    # Two-line headers and identifiers that never fold keep both tables readable at 80 columns.
    names = [c["name"] for c in report["clusters"]]
    clusters = _table("Clusters")
    clusters.add_column("Cluster", min_width=_width("Cluster", names), overflow="fold")
    clusters.add_column("Region", no_wrap=True)
    clusters.add_column("Status", no_wrap=True)
    for col in ("Nodes", "Pods", "Monthly\ncost"):
        clusters.add_column(col, justify="right", overflow="fold")
    for c in report["clusters"]:
        cost = money(c["monthly_cost"]) if c["monthly_cost"] is not None else "-"
        cells = [c["name"], c["region"], c["status"], _count(c["nodes"]), _count(c["pods"]), cost]
        clusters.add_row(*(Text(str(v)) for v in cells))
    console.print(clusters)
    console.print()
    if not report["accounts"]:
        console.print(Text("No AWS account could be read."))
        return
    accounts = _table("AWS accounts")
    accounts.add_column("Account", no_wrap=True)
    accounts.add_column("Region", no_wrap=True)
    for col in ("Instances", "Outside\nclusters", "Volumes", "Unattached\nvolumes", "Monthly\ncost"):
        accounts.add_column(col, justify="right", overflow="fold")
    for a in report["accounts"]:
        cells = [a["account_id"], a["region"], a["instances"], a["instances_outside_clusters"], a["volumes"],
                 a["unattached_volumes"], money(a["monthly_cost"])]  # fmt: skip
        accounts.add_row(*(Text(str(v)) for v in cells))
    console.print(accounts)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)
