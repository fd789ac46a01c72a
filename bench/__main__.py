"""Command line for the benchmarks: `python -m bench apply|binpack|rightsizing|scan|startup|spot-reaction|ui [--json] [--quick] [--only ...]`.

`--only` picks scenario letters (binpack) or parts (`scan --only sandbox,large,store`,
`rightsizing --only speed,backtest`).

Add a benchmark by adding an entry to `BENCHMARKS` (name -> callable taking the parsed options
and returning a list of row dicts); rows are printed as JSON or as an aligned text table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

Rows = list[dict[str, Any]]


def _binpack(opts: argparse.Namespace) -> Rows:
    from bench import binpack

    return binpack.run(quick=opts.quick, only=opts.only, seed=opts.seed)


def _startup(opts: argparse.Namespace) -> Rows:
    from bench import startup

    return startup.run(quick=opts.quick)


SCAN_PARTS = ("sandbox", "large", "store")


def _scan(opts: argparse.Namespace) -> Rows:
    """`scan [--only sandbox,large,store]`: collection and every engine on the sandbox and on a large
    generated estate (bench/scan.py), and storing a scan (bench/store.py); all three by default."""
    from bench import scan, store

    parts = list(SCAN_PARTS) if opts.only == "abcd" else [p.strip() for p in opts.only.split(",") if p.strip()]
    unknown = [p for p in parts if p not in SCAN_PARTS]
    if unknown or not parts:
        raise SystemExit(f"scan: unknown --only {opts.only!r}; use any of {', '.join(SCAN_PARTS)} (comma-separated)")
    rows: Rows = []
    for part in SCAN_PARTS:
        if part in parts:
            rows += store.run(quick=opts.quick) if part == "store" else scan.run(opts.quick, part, opts.seed)
    return rows


def _apply(opts: argparse.Namespace) -> Rows:
    from bench import apply

    return apply.run(quick=opts.quick)


def _spot_reaction(opts: argparse.Namespace) -> Rows:
    from bench import spot_reaction

    return spot_reaction.run(quick=opts.quick)


def _rightsizing(opts: argparse.Namespace) -> Rows:
    """`rightsizing [--only speed,backtest]`: engine speed on 10,000 containers x 14 days and the
    backtest of the sizing rules (bench/rightsizing.py); both by default."""
    from bench import rightsizing

    only = "speed,backtest" if opts.only == "abcd" else opts.only
    return rightsizing.run(quick=opts.quick, only=only, seed=opts.seed)


def _ui(opts: argparse.Namespace) -> Rows:
    """`ui`: Overview, Recommendations and Plan with 10,000 recommendations (bench/ui.py)."""
    from bench import ui

    return ui.run(quick=opts.quick)


BENCHMARKS: dict[str, Callable[[argparse.Namespace], Rows]] = {
    "rightsizing": _rightsizing, "ui": _ui,
    "apply": _apply, "binpack": _binpack, "scan": _scan, "startup": _startup, "spot-reaction": _spot_reaction,
}  # fmt: skip


def _table(rows: Rows) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns and not k.startswith("_"))
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [" ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [" ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per scenario")
    parser.add_argument("--quick", action="store_true", help="smaller scenarios, for a fast check")
    parser.add_argument("--only", default="abcd",
                        help="scenario letters to run (default: abcd); for scan: sandbox, large and/or store; "
                             "for rightsizing: speed and/or backtest")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7, help="random seed of generated scenarios")
    opts = parser.parse_args(argv)
    rows = BENCHMARKS[opts.benchmark](opts)
    rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    print(json.dumps(rows, indent=2) if opts.json else _table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
