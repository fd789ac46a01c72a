"""Backtest of the rightsizing rules: fit on the first part of each usage series, check the rest.

Called by `bench/rightsizing.py` (`python -m bench rightsizing`) and tests/test_bench_rightsizing.py
on the inputs of `bench/rightsizing_data.py`. For each dataset and each rule the recommendation is
`engines.rightsizing.stats.size` over the first `FIT_SHARE` of the grid slots; the rest is the test:

- savings: 1 - sum(recommended) / sum(current) over the containers that have a current value
  (CPU request, memory request, memory limit), in percent; negative = the rule asks for more;
- violations: the share of all valid test samples above the recommended CPU request, and above the
  recommended memory limit (= request, the engine's default; above it the container is OOM-killed),
  pooled over containers, plus how many containers had at least one memory violation.

Rules, all computed in the same run with the same `size`: CloudOptim's default policy
(`RightsizingSettings().default_policy`, converted as the engine does), KRR's simple rule (CPU p95,
memory maximum + 15 %, KRR's 10m / 100 MiB minimums) and a VPA-style rule (p90 + 15 % for both,
the VPA's 25m / 250 MiB minimums). The target: the default saves at least as much as KRR on CPU and
on memory at an equal or lower memory violation rate. When the default misses it on some dataset,
`suggest` searches a small grid of rules for one that meets it everywhere.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bench.rightsizing_data import Dataset, FloatArray
from engines.rightsizing.policy import to_rule
from engines.rightsizing.settings import Policy, RightsizingSettings
from engines.rightsizing.stats import MIB, Rule, clean, size, valid_counts

FIT_SHARE = 0.7
Row = dict[str, Any]
KRR = Rule(cpu_percentile=95.0, cpu_buffer=0.0, memory_percentile=100.0, memory_buffer=0.15,
           cpu_floor=0.01, memory_floor=100 * MIB)  # fmt: skip
OURS, THEIRS, THEIRS_SAME_FLOORS = "cloudoptim-default", "krr-p95-max+15%", "krr-rule-cloudoptim-floors"
VPA = Rule(cpu_percentile=90.0, cpu_buffer=0.15, memory_percentile=90.0, memory_buffer=0.15,
           cpu_floor=0.025, memory_floor=250 * MIB)  # fmt: skip


def policy_rule(policy: Policy, step_seconds: int) -> Rule:
    """A Policy as a Rule for series on a `step_seconds` grid, windows counted back from the end."""

    def samples(days: float) -> int:
        return max(1, round(days * 86400 / step_seconds))

    # The engine's own conversion; it cuts the windows by time (history.gather), done here by count.
    return replace(to_rule(policy), cpu_window_samples=samples(policy.history_days),
                   memory_window_samples=samples(policy.memory_recent_days))  # fmt: skip


def rules(step_seconds: int) -> dict[str, Rule]:
    """The three rules, plus KRR's rule with the default's floors: on small containers the floors
    can decide the comparison, and this row shows what the percentiles and windows do by themselves."""
    ours = policy_rule(RightsizingSettings().default_policy, step_seconds)
    return {OURS: ours, THEIRS: KRR, THEIRS_SAME_FLOORS: replace(KRR, cpu_floor=ours.cpu_floor,
            memory_floor=ours.memory_floor), "vpa-p90+15%": VPA}  # fmt: skip


def engine_would_size(dataset: Dataset, split: int, policy: Policy) -> int:
    """Containers whose fit part passes the engine's history gates (span and coverage); the others
    the engine skips as "too little data", so their rows test the rule only."""
    ok = ~np.isnan(dataset.cpu[:, :split]) & ~np.isnan(dataset.memory[:, :split])
    count = 0
    for row in ok:
        idx = np.flatnonzero(row)
        if idx.size == 0:
            continue
        slots = int(idx[-1] - idx[0] + 1)
        span_days = slots * dataset.step_seconds / 86400
        count += span_days >= policy.min_history_days and idx.size / slots >= policy.min_coverage
    return count


def _saving(recommended: FloatArray, current: FloatArray) -> tuple[float | None, float, float]:
    """(saving in percent, or None without a current value; current total; recommended total)."""
    known = ~np.isnan(current) & ~np.isnan(recommended)
    cur, rec = float(current[known].sum()), float(recommended[known].sum())
    return (round(100.0 * (1.0 - rec / cur), 2) if cur > 0 else None), cur, rec


def _violations(test: FloatArray, threshold: FloatArray) -> tuple[float | None, int, int]:
    """(pooled share of valid test samples above the row's threshold, in percent; samples; rows with one)."""
    arr = clean(test)
    sized = ~np.isnan(threshold)
    arr, limits = arr[sized], threshold[sized]
    n = int(valid_counts(arr).sum())
    with np.errstate(invalid="ignore"):
        above = arr > limits[:, None]
    return (round(100.0 * int(above.sum()) / n, 3) if n else None), n, int(np.count_nonzero(above.any(axis=1)))


@dataclass(frozen=True)
class Outcome:
    cpu_saving: float | None
    memory_saving: float | None
    cpu_violation: float | None
    memory_violation: float | None
    row: Row


def evaluate(dataset: Dataset, name: str, rule: Rule, fit_share: float = FIT_SHARE) -> Outcome:
    split = round(dataset.samples * fit_share)
    if not 0 < split < dataset.samples:
        raise ValueError(f"{dataset.name}: {dataset.samples} samples cannot be split at {fit_share:.0%}")
    memory = np.where(dataset.memory == 0, np.nan, dataset.memory)  # a zero working set is a scrape gap
    cpu_rec, mem_rec = size(dataset.cpu[:, :split], memory[:, :split], rule)
    cpu_sav, cpu_cur, cpu_new = _saving(cpu_rec, dataset.cpu_request)
    mem_sav, mem_cur, mem_new = _saving(mem_rec, dataset.memory_request)
    lim_sav, _, _ = _saving(mem_rec, dataset.memory_limit)
    cpu_vio, cpu_n, _ = _violations(dataset.cpu[:, split:], cpu_rec)
    mem_vio, _, mem_rows = _violations(memory[:, split:], mem_rec)
    row: Row = {
        "part": "backtest", "dataset": dataset.name, "rule": name, "containers": dataset.containers,
        "sized": int(np.count_nonzero(~np.isnan(cpu_rec) & ~np.isnan(mem_rec))),
        "engine_would_size": engine_would_size(dataset, split, RightsizingSettings().default_policy),
        "fit_samples": split, "test_samples": cpu_n,
        "cpu_request_cores": round(cpu_cur, 4), "cpu_recommended_cores": round(cpu_new, 4),
        "cpu_saving_pct": cpu_sav, "memory_request_mib": round(mem_cur / MIB, 1),
        "memory_recommended_mib": round(mem_new / MIB, 1), "memory_saving_pct": mem_sav,
        "memory_limit_saving_pct": lim_sav, "cpu_violation_pct": cpu_vio, "memory_violation_pct": mem_vio,
        "containers_with_memory_violation": mem_rows,
    }  # fmt: skip
    return Outcome(cpu_sav, mem_sav, cpu_vio, mem_vio, row)


def _at_least(a: float | None, b: float | None) -> bool:
    return a is None or b is None or a >= b - 1e-9  # no current request: nothing to compare


def meets(ours: Outcome, krr: Outcome) -> bool:
    """The issue's target: savings >= KRR's on CPU and memory, memory violations <= KRR's."""
    violation_ok = ours.memory_violation is None or krr.memory_violation is None or \
        ours.memory_violation <= krr.memory_violation + 1e-9  # fmt: skip
    return _at_least(ours.cpu_saving, krr.cpu_saving) and _at_least(ours.memory_saving, krr.memory_saving) \
        and violation_ok  # fmt: skip


def verdict(dataset: Dataset, outcomes: dict[str, Outcome]) -> Row:
    ours, krr, same = outcomes[OURS], outcomes[THEIRS], outcomes[THEIRS_SAME_FLOORS]
    return {
        "part": "target", "dataset": dataset.name, "rule": f"{OURS} vs {THEIRS}",
        "cpu_saving_ok": _at_least(ours.cpu_saving, krr.cpu_saving),
        "memory_saving_ok": _at_least(ours.memory_saving, krr.memory_saving),
        "memory_violation_ok": meets(replace(ours, cpu_saving=None, memory_saving=None), krr),
        "target_met": meets(ours, krr),
        "target_met_vs_krr_rule_with_our_floors": meets(ours, same),
    }  # fmt: skip


def suggest(datasets: list[Dataset]) -> list[Row]:
    """The smallest change to the default, from a small grid (percentiles, buffers, memory window,
    floors), that meets the target against KRR on every dataset: fewest knobs changed, then the
    lowest summed memory and CPU violation rates, then more memory saving; with its numbers."""
    base = RightsizingSettings().default_policy
    krrs = [evaluate(d, THEIRS, KRR) for d in datasets]
    best: tuple[tuple[float, ...], Policy, list[Outcome]] | None = None
    for cpu_p, cpu_b, mem_p, mem_b, recent, (cpu_floor, mem_floor) in itertools.product(
        (90.0, 95.0),
        (0.0, 0.05),
        (99.0, 100.0),
        (0.1, 0.15),
        (base.memory_recent_days, base.history_days),
        ((base.cpu_floor_cores, base.memory_floor_mib), (0.01, 100)),
    ):
        policy = base.model_copy(update={"cpu_percentile": cpu_p, "cpu_buffer": cpu_b, "memory_percentile": mem_p,
                                         "memory_buffer": mem_b, "memory_recent_days": recent,
                                         "cpu_floor_cores": cpu_floor, "memory_floor_mib": mem_floor})  # fmt: skip
        outcomes = [evaluate(d, "candidate", policy_rule(policy, d.step_seconds)) for d in datasets]
        if not all(meets(o, k) for o, k in zip(outcomes, krrs, strict=True)):
            continue
        changed = sum(getattr(policy, f) != getattr(base, f) for f in type(base).model_fields)
        key = (
            float(changed),
            sum(o.memory_violation or 0.0 for o in outcomes),
            sum(o.cpu_violation or 0.0 for o in outcomes),
            -sum(o.memory_saving or 0.0 for o in outcomes),
        )
        if best is None or key < best[0]:
            best = (key, policy, outcomes)
    if best is None:
        return [{"part": "suggestion", "rule": "no rule of the grid meets the target on every dataset"}]
    _, policy, outcomes = best
    text = (
        f"cpu p{policy.cpu_percentile:g} +{policy.cpu_buffer:.0%}, memory p{policy.memory_percentile:g} "
        f"+{policy.memory_buffer:.0%} of the last {policy.memory_recent_days:g} days, floors "
        f"{policy.cpu_floor_cores * 1000:g}m / {policy.memory_floor_mib} MiB"
    )
    return [{**o.row, "part": "suggestion", "rule": text} for o in outcomes]


def run(datasets: list[Dataset]) -> list[Row]:
    """Per dataset, one row per rule and the target verdict; a suggestion row when the default
    misses the target anywhere."""
    rows: list[Row] = []
    all_met = True
    for dataset in datasets:
        outcomes = {name: evaluate(dataset, name, rule) for name, rule in rules(dataset.step_seconds).items()}
        rows += [o.row for o in outcomes.values()]
        check = verdict(dataset, outcomes)
        all_met = all_met and bool(check["target_met"])
        rows.append(check)
    if not all_met:
        rows += suggest(datasets)
    return rows
