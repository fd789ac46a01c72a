"""Smoke tests of `python -m bench rightsizing` at tiny sizes: the generated usage estate, one speed
row (engine, baseline, ratio, memory), the memory budget, the backtest's numbers on hand-made series
whose answers are known, the real inputs it reads, and the rows `run` returns. No timing assertions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.pricing import load_price_book
from bench import rightsizing
from bench.rightsizing import memory_budget, run, speed
from bench.rightsizing_backtest import KRR, OURS, THEIRS, evaluate, rules, suggest
from bench.rightsizing_backtest import run as backtest
from bench.rightsizing_data import KOKU, TFB, Dataset, kruize_trace, sandbox_history
from bench.rightsizing_estate import usage_snapshot
from engines.rightsizing import RightsizingEngine
from engines.rightsizing.settings import RightsizingSettings
from engines.rightsizing.stats import MIB
from engines.snapshot_aws import Snapshot

# Half a day more than the engine's minimum history (3 days by default), at 5 minutes.
SAMPLES = math.ceil((RightsizingSettings().default_policy.min_history_days + 0.5) * 288)


@pytest.fixture(scope="module")
def estate() -> Snapshot:
    return usage_snapshot(load_price_book(), containers=60, samples=SAMPLES, seed=7)


def _dataset(
    cpu: list[list[float]],
    memory: list[list[float]],
    cpu_request: float,
    memory_request: float,
    name: str = "hand-made",
) -> Dataset:
    c, m = np.array(cpu, dtype=float), np.array(memory, dtype=float)
    one = np.ones(c.shape[0])
    return Dataset(
        name=name,
        source="test",
        step_seconds=300,
        names=tuple(f"c{i}" for i in range(c.shape[0])),
        cpu=c,
        memory=m,
        cpu_request=one * cpu_request,
        memory_request=one * memory_request,
        memory_limit=one * memory_request,
    )


def test_the_generated_estate_has_one_gappy_usage_series_per_pod_container(estate: Snapshot) -> None:
    assert estate.cluster is not None
    assert len(estate.usage) == len(estate.cluster.pods) == 60
    assert {(u.namespace, u.pod) for u in estate.usage} == {(p.namespace, p.name) for p in estate.cluster.pods}
    assert all(len(u.cpu_cores) == len(u.memory_bytes) == SAMPLES for u in estate.usage)
    cpu = np.array([u.cpu_cores for u in estate.usage], dtype=float)
    assert 0 < np.isnan(cpu).mean() < 0.2  # some slots are missing, most are not
    assert np.nanmin(cpu) > 0 and np.nanmin(np.array([u.memory_bytes for u in estate.usage], dtype=float)) > 0


def test_the_same_seed_generates_the_same_usage_and_another_seed_does_not(estate: Snapshot) -> None:
    prices = load_price_book()
    assert usage_snapshot(prices, 60, SAMPLES, seed=7).usage[5].cpu_cores == estate.usage[5].cpu_cores
    assert usage_snapshot(prices, 60, SAMPLES, seed=8).usage[5].cpu_cores != estate.usage[5].cpu_cores


def test_too_few_containers_for_the_estate_raise_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too few"):
        usage_snapshot(load_price_book(), containers=6, samples=10)


def test_a_small_speed_row_reports_the_engine_the_baseline_their_ratio_and_memory() -> None:
    row = speed(60, SAMPLES)
    assert row["error"] == "" and row["containers"] == 60 and row["samples"] == SAMPLES
    assert row["recommendations"] > 0  # the engine really sized the generated containers
    assert row["seconds"] > 0 and row["baseline_seconds"] > 0 and row["core_seconds"] > 0
    # Both times are rounded to milliseconds, which moves a ratio of small times by up to that much.
    rounding = 0.0005 / row["seconds"] + 0.0005 / row["baseline_seconds"]
    assert row["ratio_to_baseline"] == pytest.approx(row["seconds"] / row["baseline_seconds"],
                                                     rel=0.01 + rounding, abs=0.01)  # fmt: skip
    assert row["peak_rss_mib"] > 0 and row["rss_before_mib"] > 0 and "RLIMIT_AS" in row["memory_budget"]
    assert isinstance(row["within_target"], bool)


def test_an_allocation_over_the_memory_budget_is_a_memory_error_and_the_budget_is_lifted_after() -> None:
    with memory_budget(0.25), pytest.raises(MemoryError):
        np.ones(2**30)  # 8 GiB
    np.ones(2**25)  # 256 MiB again allowed


def test_an_engine_that_runs_out_of_memory_fails_its_row_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_args: object) -> None:
        raise MemoryError("Unable to allocate 8.5 GiB")

    monkeypatch.setattr(RightsizingEngine, "scan", exhausted)
    row = speed(60, SAMPLES)
    assert "MemoryError" in row["error"] and "8.5 GiB" in row["error"]
    assert row["seconds"] is None and row["ratio_to_baseline"] is None and row["within_target"] is False


def test_savings_and_violations_are_computed_from_the_fit_and_the_test_part() -> None:
    # 70 fit samples at 1 core / 400 MiB, then 30 test samples: 10 above the CPU and memory sizes.
    cpu = [[1.0] * 70 + [2.0] * 10 + [0.5] * 20]
    memory = [[400 * MIB] * 70 + [500 * MIB] * 10 + [300 * MIB] * 20]
    outcome = evaluate(_dataset(cpu, memory, cpu_request=2.0, memory_request=800 * MIB), "krr", KRR)
    row = outcome.row
    assert row["fit_samples"] == 70 and row["test_samples"] == 30
    assert row["cpu_recommended_cores"] == pytest.approx(1.0) and row["cpu_saving_pct"] == pytest.approx(50.0)
    assert row["memory_recommended_mib"] == pytest.approx(460.0)  # max 400 MiB + 15 %
    assert row["memory_saving_pct"] == pytest.approx(100 * (1 - 460 / 800), abs=0.01)
    assert row["cpu_violation_pct"] == pytest.approx(100 / 3, abs=0.001)
    assert row["memory_violation_pct"] == pytest.approx(100 / 3, abs=0.001)
    assert row["containers_with_memory_violation"] == 1


def test_missing_negative_and_empty_series_are_left_out_not_sized_from_garbage() -> None:
    nan = math.nan
    cpu = [[0.5, nan, -1.0, 0.5] * 25, [nan] * 100]
    memory = [[300 * MIB, nan, -5.0, 0.0] * 25, [nan] * 100]
    row = evaluate(_dataset(cpu, memory, cpu_request=1.0, memory_request=600 * MIB), "krr", KRR).row
    assert row["containers"] == 2 and row["sized"] == 1  # the empty container gets no size
    assert row["cpu_recommended_cores"] == pytest.approx(0.5)  # negative samples do not count
    assert row["memory_recommended_mib"] == pytest.approx(345.0)  # zeros are scrape gaps
    assert row["cpu_violation_pct"] == 0.0 and row["memory_violation_pct"] == 0.0


def test_a_series_too_short_to_split_is_refused_with_the_dataset_named() -> None:
    with pytest.raises(ValueError, match="hand-made: 1 samples"):
        evaluate(_dataset([[1.0]], [[MIB]], 1.0, MIB), "krr", KRR)


def test_every_rule_gets_a_row_per_dataset_and_a_verdict_compares_the_default_with_krr() -> None:
    busy = _dataset([[0.8] * 100], [[900 * MIB] * 100], cpu_request=2.0, memory_request=2048 * MIB, name="busy")
    rows = backtest([busy])
    assert [r["rule"] for r in rows if r["part"] == "backtest"] == list(rules(300))
    verdict = next(r for r in rows if r["part"] == "target")
    # Above every floor the default equals KRR's rule here (a flat series), so the target is met.
    assert verdict["target_met"] is True and not any(r["part"] == "suggestion" for r in rows)


def test_a_missed_target_comes_with_a_suggested_rule_and_its_numbers() -> None:
    policy = RightsizingSettings().default_policy
    if policy.memory_recent_days >= policy.history_days:
        pytest.skip("the default memory window is the whole history: it cannot forget a peak KRR keeps")
    # 4,000 samples at 5 minutes, fit on the first 2,800 (9.7 days): a 1,000 MiB peak 9 days before
    # the end of the fit is outside the default's recent memory window but inside KRR's maximum,
    # and it comes back in the test part, so the default's memory violation rate is above KRR's.
    memory = [400 * MIB] * 4000
    memory[100] = memory[3500] = memory[3501] = 1000 * MIB
    peaky = _dataset([[0.5] * 4000], [memory], cpu_request=1.0, memory_request=2048 * MIB, name="peaky")
    rows = backtest([peaky])
    verdict = next(r for r in rows if r["part"] == "target")
    assert verdict["target_met"] is False and verdict["memory_violation_ok"] is False
    ours = next(r for r in rows if r["rule"] == OURS)
    theirs = next(r for r in rows if r["rule"] == THEIRS)
    assert ours["memory_violation_pct"] == pytest.approx(100 * 2 / 1200, abs=0.001)
    assert theirs["memory_violation_pct"] == 0.0 and theirs["memory_recommended_mib"] == pytest.approx(1150.0)
    (suggestion,) = [r for r in rows if r["part"] == "suggestion"]
    assert f"of the last {policy.history_days:g} days" in suggestion["rule"]
    assert suggestion["memory_violation_pct"] == 0.0
    assert suggestion["memory_saving_pct"] >= theirs["memory_saving_pct"]
    assert suggest([peaky])[0]["rule"] == suggestion["rule"]


def test_the_real_kruize_traces_load_with_the_requests_they_were_running_with() -> None:
    tfb = kruize_trace(TFB, "tfb")
    assert tfb.containers == 1 and int(np.count_nonzero(~np.isnan(tfb.cpu))) == 37
    assert (tfb.cpu_request[0], tfb.memory_request[0], tfb.memory_limit[0]) == (5.37, 1.193e9, 1.5e9)
    koku = kruize_trace(KOKU, "koku")
    assert (koku.cpu_request[0], koku.memory_request[0], koku.memory_limit[0]) == (0.1, 20 * MIB, 500 * MIB)
    assert np.nanmax(koku.memory) < 60e6  # the operator really uses about 42 MB, above its 20 MiB request


def test_the_sandbox_history_has_every_container_with_its_manifest_requests() -> None:
    sandbox = sandbox_history(seed=7)
    assert sandbox.containers > 50 and sandbox.samples == 4032
    assert not np.isnan(sandbox.cpu).any() and np.all(sandbox.cpu > 0)
    assert np.isnan(sandbox.memory_request).any()  # node agents request no memory
    assert np.all(sandbox.cpu_request[~np.isnan(sandbox.cpu_request)] > 0)


def test_run_puts_the_command_line_first_and_refuses_unknown_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    flat = _dataset([[0.8] * 100], [[900 * MIB] * 100], cpu_request=2.0, memory_request=2048 * MIB)
    monkeypatch.setattr(rightsizing, "datasets", lambda seed: [flat])
    rows = run(quick=True, only="backtest", command="python -m bench rightsizing --only backtest")
    assert rows[0]["command"] == "python -m bench rightsizing --only backtest"
    assert {r["part"] for r in rows} == {"backtest", "target"}
    with pytest.raises(SystemExit, match="unknown --only"):
        run(only="speed,nothing")
