"""The vectorised statistics behind rightsizing: percentiles, exceed shares and the sizing rule."""

from __future__ import annotations

import numpy as np
import pytest

from engines.rightsizing.stats import MIB, Rule, exceed_share, exceed_shares, quantiles, size

ONE_TO_100 = np.arange(1, 101, dtype=float)
KRR = Rule(cpu_percentile=95, cpu_buffer=0.0, memory_percentile=100, memory_buffer=0.15)


def test_percentiles_of_one_to_a_hundred_are_the_hand_computed_linear_interpolations() -> None:
    got = quantiles(ONE_TO_100, [50, 90, 95, 99, 100])[0]
    # index (n-1)*q: p95 sits at 94.05 between 95 and 96 -> 95.05
    assert got.tolist() == pytest.approx([50.5, 90.1, 95.05, 99.01, 100.0], abs=1e-12)


def test_exceed_shares_on_one_to_a_hundred_count_the_samples_strictly_above() -> None:
    thresholds = np.array([[50.5, 90.1, 95.05, 99.01, 100.0, 95.0]])
    got = exceed_shares(ONE_TO_100, thresholds)[0]
    assert got.tolist() == [0.5, 0.1, 0.05, 0.01, 0.0, 0.05]  # 95 itself is not above 95


def test_quantiles_match_numpy_nanpercentile_on_gappy_rows_of_different_lengths() -> None:
    rng = np.random.default_rng(7)
    data = rng.gamma(2.0, 0.1, size=(40, 500))
    data[rng.random(data.shape) < 0.3] = np.nan
    data[3, 10:] = np.nan  # a row with ten samples
    want = np.nanpercentile(data, [50, 90, 95, 99, 100], axis=1).T
    assert np.allclose(quantiles(data, [50, 90, 95, 99, 100]), want)


def test_size_applies_percentile_buffer_and_floor_per_resource() -> None:
    cpu = np.vstack([ONE_TO_100 / 100, np.full(100, 0.001)])
    mem = np.vstack([ONE_TO_100 * 10 * MIB, np.full(100, MIB)])
    cpu_req, mem_req = size(cpu, mem, KRR)
    assert cpu_req.tolist() == pytest.approx([0.9505, 0.025])  # the second row is lifted to the 25m floor
    assert mem_req.tolist() == pytest.approx([1000 * MIB * 1.15, 250 * MIB])


def test_caps_limit_the_size_but_never_below_the_floor() -> None:
    rule = Rule(95, 0.0, 100, 0.0, cpu_cap=0.5, memory_cap=100 * MIB)
    cpu_req, mem_req = size(np.array([ONE_TO_100]), np.array([ONE_TO_100 * 10 * MIB]), rule)
    assert cpu_req[0] == 0.5
    assert mem_req[0] == 250 * MIB  # a cap under the floor gives way to the floor


def test_negative_infinite_and_missing_samples_count_as_missing() -> None:
    cpu = np.array([[-5.0, np.nan, np.inf, 0.5, 0.5, -np.inf]])
    cpu_req, _ = size(cpu, np.array([[MIB * 300] * 6]), Rule(100, 0.0, 100, 0.0))
    assert cpu_req[0] == 0.5
    assert exceed_share(cpu, np.array([0.4]))[0] == 1.0  # two valid samples, both above


def test_a_row_without_a_valid_sample_gives_nan_not_a_floor_value() -> None:
    cpu = np.array([[np.nan, -1.0], [0.2, 0.2]])
    mem = np.array([[np.nan, np.nan], [300 * MIB, 300 * MIB]])
    cpu_req, mem_req = size(cpu, mem, KRR)
    assert np.isnan(cpu_req[0]) and np.isnan(mem_req[0])
    assert cpu_req[1] == pytest.approx(0.2)
    assert np.isnan(exceed_share(cpu, np.array([0.1, 0.1]))[0])


def test_an_empty_matrix_gives_empty_results() -> None:
    cpu_req, mem_req = size(np.empty((0, 0)), np.empty((0, 0)), KRR)
    assert cpu_req.shape == (0,) and mem_req.shape == (0,)
    assert quantiles(np.empty((2, 0)), [95]).shape == (2, 1)


def test_a_recent_window_keeps_only_the_last_samples() -> None:
    mem = np.array([[900 * MIB] * 10 + [400 * MIB] * 10])
    rule = Rule(95, 0.0, 100, 0.0, memory_window_samples=10)
    _, mem_req = size(np.ones_like(mem), mem, rule)
    assert mem_req[0] == 400 * MIB  # the old 900 MiB peak is outside the window


def test_mismatched_rows_and_bad_percentiles_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="rows"):
        size(np.ones((2, 3)), np.ones((3, 3)), KRR)
    with pytest.raises(ValueError, match="0-100"):
        quantiles(ONE_TO_100, [101])
    with pytest.raises(ValueError, match="thresholds"):
        exceed_share(np.ones((2, 3)), np.array([1.0]))


def test_the_engine_sizes_exactly_as_stats_size_does() -> None:
    from engines.rightsizing.curves import Row, size_all
    from engines.rightsizing.history import History

    rng = np.random.default_rng(3)
    cpu = rng.gamma(2.0, 0.1, size=(5, 300))
    mem = rng.gamma(5.0, 80 * MIB, size=(5, 300))
    cpu[rng.random(cpu.shape) < 0.2] = np.nan
    rows = [Row(History(cpu[i], mem[i], mem[i], 1, 14.0, 1.0, 0, 0), KRR) for i in range(5)]
    want_cpu, want_mem = size(cpu, mem, KRR)
    got = size_all(rows)
    assert [s.cpu for s in got] == pytest.approx(want_cpu.tolist())
    assert [s.memory for s in got] == pytest.approx(want_mem.tolist())


def test_rows_of_very_different_lengths_size_the_same_in_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from engines.rightsizing import curves
    from engines.rightsizing.history import History

    rng = np.random.default_rng(5)
    series = [rng.gamma(2.0, 0.1, size=n) for n in (10, 300, 5000, 40)]
    rows = [curves.Row(History(s, s * GB, s * GB, 1, 14.0, 1.0, 0, 0), KRR) for s in series]
    whole = curves.size_all(rows)
    monkeypatch.setattr(curves, "MAX_CELLS", 16)  # one row per matrix
    chunked = curves.size_all(rows)
    assert chunked == whole
    assert [s.cpu for s in whole] == pytest.approx([max(float(np.percentile(s, 95)), 0.025) for s in series])


GB = 1e9
