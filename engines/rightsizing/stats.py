"""Vectorised sizing statistics over containers x samples matrices (numpy only, no I/O).

`engine.py` builds one matrix per resource from `Snapshot.usage` (one row per owner container,
columns in time order, the last column the most recent sample, NaN = missing) and calls `size`
for the recommendation and `quantiles` / `exceed_share` for the risk curve. The benchmark in
`bench/` calls `size` and `exceed_share` directly with the same conventions, so the signatures
here are an interface: extend `Rule` only with defaulted fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

MIB = float(2**20)


@dataclass(frozen=True)
class Rule:
    """One sizing rule; the engine's Policy converts to it.

    Percentiles are 0-100 with linear interpolation (numpy's default, so p95 of 1..100 is 95.05);
    100.0 means the maximum. Buffers are fractions added on top (0.15 = +15 %). Floors and caps
    apply after the buffer; a cap below the floor is ignored in favour of the floor because a
    request under the floor is what the floor exists to prevent.
    """

    cpu_percentile: float
    cpu_buffer: float
    memory_percentile: float
    memory_buffer: float
    cpu_floor: float = 0.025  # cores
    memory_floor: float = 250 * MIB  # bytes
    cpu_cap: float | None = None
    memory_cap: float | None = None
    # Only the most recent N samples (columns from the end) count; None = the whole row. Memory
    # on a recent window forgets a leak or a one-off load that a restart or a fix already ended.
    cpu_window_samples: int | None = None
    memory_window_samples: int | None = None


def clean(samples: npt.ArrayLike) -> FloatArray:
    """A float64 2-D copy where NaN, +/-inf and negative samples are all NaN (= missing).

    Negative CPU or memory cannot be measured; it comes from counter resets in rate() and is
    dropped rather than clipped to zero, which would invent idle samples.
    """
    arr = np.array(samples, dtype=np.float64, copy=True)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"samples must be a 2-D array (containers x samples), got {arr.ndim} dimensions")
    arr[~np.isfinite(arr) | (arr < 0)] = np.nan
    return arr


def valid_counts(samples: FloatArray) -> npt.NDArray[np.int64]:
    """Valid (non-NaN) samples per row of a cleaned matrix."""
    return np.asarray(np.count_nonzero(~np.isnan(samples), axis=1), dtype=np.int64)


def quantiles(samples: npt.ArrayLike, percentiles: Sequence[float], *, cleaned: bool = False) -> FloatArray:
    """Per row, the given percentiles (0-100, linear interpolation) of the valid samples.

    Returns rows x len(percentiles); NaN for a row without a valid sample. Sorts the matrix once
    (NaN sorts last) and interpolates by index, which is what np.nanpercentile computes but one
    sort serves every percentile of the risk curve and no per-row Python loop runs.
    """
    arr = samples if cleaned and isinstance(samples, np.ndarray) else clean(samples)
    qs = np.asarray(percentiles, dtype=np.float64)
    if np.any((qs < 0) | (qs > 100)) or np.any(np.isnan(qs)):
        raise ValueError(f"percentiles must be within 0-100, got {list(percentiles)}")
    rows = arr.shape[0]
    out = np.full((rows, qs.size), np.nan)
    if rows == 0 or arr.shape[1] == 0 or qs.size == 0:
        return out
    ordered = np.sort(arr, axis=1)
    n = valid_counts(arr)
    has = n > 0
    if not np.any(has):
        return out
    ordered = ordered[has]
    last = (n[has] - 1).astype(np.float64)[:, None]
    pos = last * (qs[None, :] / 100.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, last.astype(np.int64))
    frac = pos - lo
    low_vals = np.take_along_axis(ordered, lo, axis=1)
    high_vals = np.take_along_axis(ordered, hi, axis=1)
    out[has] = low_vals + (high_vals - low_vals) * frac
    return out


def _window(arr: FloatArray, samples: int | None) -> FloatArray:
    if samples is None or samples >= arr.shape[1]:
        return arr
    if samples < 1:
        raise ValueError(f"a window must hold at least one sample, got {samples}")
    return arr[:, arr.shape[1] - samples:]


def _finish(values: FloatArray, buffer: float, floor: float, cap: float | None) -> FloatArray:
    sized = values * (1.0 + buffer)
    if cap is not None:
        sized = np.minimum(sized, cap)
    # np.fmax keeps NaN rows NaN only when both are NaN, so apply the floor where a value exists.
    return np.where(np.isnan(sized), np.nan, np.maximum(sized, floor))


def size(cpu: np.ndarray, memory: np.ndarray, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """cpu, memory: 2-D float arrays (containers x samples), NaN = missing sample. Returns the
    recommended CPU request (cores) and memory request=limit (bytes) per row; NaN where a row has no
    valid sample. Negative samples count as missing."""
    if rule.cpu_buffer < 0 or rule.memory_buffer < 0:
        raise ValueError("buffers are fractions of at least 0")
    cpu_arr = _window(clean(cpu), rule.cpu_window_samples)
    mem_arr = _window(clean(memory), rule.memory_window_samples)
    if cpu_arr.shape[0] != mem_arr.shape[0]:
        raise ValueError(f"cpu has {cpu_arr.shape[0]} rows but memory has {mem_arr.shape[0]}")
    cpu_at = quantiles(cpu_arr, [rule.cpu_percentile], cleaned=True)[:, 0]
    mem_at = quantiles(mem_arr, [rule.memory_percentile], cleaned=True)[:, 0]
    return (
        _finish(cpu_at, rule.cpu_buffer, rule.cpu_floor, rule.cpu_cap),
        _finish(mem_at, rule.memory_buffer, rule.memory_floor, rule.memory_cap),
    )


def _shares(arr: FloatArray, n: npt.NDArray[np.int64], limits: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore"):  # NaN samples compare False: they are never "above"
        above = np.count_nonzero(arr > limits[:, None], axis=1)
    share = np.full(arr.shape[0], np.nan)
    ok = (n > 0) & ~np.isnan(limits)
    share[ok] = above[ok] / n[ok]
    return share


def exceed_share(samples: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per row, the share of valid samples strictly above that row's threshold (NaN if none)."""
    arr = clean(samples)
    limits = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if limits.size != arr.shape[0]:
        raise ValueError(f"{arr.shape[0]} rows but {limits.size} thresholds")
    return _shares(arr, valid_counts(arr), limits)


def exceed_shares(samples: np.ndarray, thresholds: np.ndarray, *, cleaned: bool = False) -> np.ndarray:
    """Per row and per column of `thresholds` (rows x k), the share of valid samples above it.
    `cleaned`: the samples already went through `clean` (the engine's matrices), so no copy is made."""
    arr = samples if cleaned and isinstance(samples, np.ndarray) else clean(samples)
    limits = np.asarray(thresholds, dtype=np.float64)
    if limits.ndim != 2 or limits.shape[0] != arr.shape[0]:
        raise ValueError(f"thresholds must be rows x k with {arr.shape[0]} rows, got shape {limits.shape}")
    n = valid_counts(arr)
    out = np.full(limits.shape, np.nan)
    for k in range(limits.shape[1]):  # k is the handful of curve points, never the containers
        out[:, k] = _shares(arr, n, limits[:, k])
    return out


def finish(values: np.ndarray, buffer: float, floor: float, cap: float | None) -> np.ndarray:
    """Buffer, cap and floor applied to percentile values (any shape), as `size` does."""
    return _finish(np.asarray(values, dtype=np.float64), buffer, floor, cap)
