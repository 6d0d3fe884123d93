"""Bounded allocation: a continuous solution within per-stratum bounds, then whole
numbers by largest remainders.

The continuous allocation is ``x_h = clip(lambda a_h, lo_h, hi_h)`` with ``lambda`` such
that ``sum_h c_h x_h`` meets the target: strata whose share falls below the minimum get
the minimum, strata whose share exceeds their size are taken whole, and the rest share
what is left in proportion to ``a_h`` (the usual "fix and reallocate" rule, solved
exactly). Whole numbers: every ``x_h`` rounded down, then one more unit to the strata
with the largest fractional parts until the total is met (Hamilton's largest-remainder
method; ties go to the stratum listed first). With costs, units are added in that order
only while the budget allows.
"""

from __future__ import annotations

import numpy as np

from ..errors import SamplingError

__all__ = ["bounded_allocation", "largest_remainder", "ROUNDING"]

#: how allocate() rounds (reported in its result)
ROUNDING = "largest remainder (Hamilton)"
# fractional parts closer than this to a whole number are that number (float noise)
_SNAP = 1e-9


def bounded_allocation(a: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: float,
                       cost: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The continuous allocation ``clip(lambda a, lo, hi)`` whose cost ``sum(c x)`` is
    ``target`` (``c = 1`` without costs), and ``lambda``.

    Examples
    --------
    >>> x, lam = bounded_allocation(np.array([1.0, 1, 8]), np.array([2.0, 2, 2]),
    ...                             np.array([10.0, 10, 5]), 12)
    >>> x.tolist(), lam
    ([3.5, 3.5, 5.0], 3.5)
    """
    a = np.asarray(a, dtype=float)
    c = np.ones_like(a) if cost is None else np.asarray(cost, dtype=float)
    low, high = float((c * lo).sum()), float((c * hi).sum())
    if target < low - 1e-9 * max(1.0, low) or target > high + 1e-9 * max(1.0, high):
        raise SamplingError(f"internal: target {target} outside [{low}, {high}]")  # pragma: no cover

    def spent(lam: float) -> float:
        return float((c * np.clip(lam * a, lo, hi)).sum())

    positive = a > 0
    if not positive.any() or target <= low:
        return lo.astype(float).copy(), 0.0
    # spent() is piecewise linear and non-decreasing in lambda, with kinks at lo/a, hi/a
    kinks = np.unique(np.concatenate([lo[positive] / a[positive], hi[positive] / a[positive],
                                      [0.0]]))
    values = np.array([spent(k) for k in kinks])
    if target > values[-1] + 1e-9 * max(1.0, target):
        raise SamplingError("internal: the strata with a positive share cannot take the "
                          "target")  # pragma: no cover - callers check feasibility first
    j = int(np.searchsorted(values, target))
    if j == 0:
        lam = kinks[0]
    elif values[j] == values[j - 1]:
        lam = kinks[j]
    else:
        lam = kinks[j - 1] + (target - values[j - 1]) * (kinks[j] - kinks[j - 1]) / (
            values[j] - values[j - 1])
    return np.clip(lam * a, lo, hi), float(lam)


def largest_remainder(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: int | None = None,
                      cost: np.ndarray | None = None, budget: float | None = None) -> np.ndarray:
    """Whole numbers within ``[lo, hi]`` from the continuous allocation ``x``.

    With ``total``: the numbers sum to ``total``. With ``cost`` and ``budget``: the
    largest-remainder additions stop before the budget is exceeded.

    Examples
    --------
    >>> largest_remainder(np.array([3.5, 3.4, 5.1]), np.array([2, 2, 2]),
    ...                   np.array([10, 10, 10]), total=12).tolist()
    [4, 3, 5]
    """
    x = np.where(np.abs(x - np.round(x)) < _SNAP, np.round(x), x)
    base = np.clip(np.floor(x), lo, hi).astype(np.int64)
    remainder = x - base
    order = np.argsort(-remainder, kind="stable")
    if total is not None:
        short = int(total) - int(base.sum())
        room = order[base[order] < hi[order]]
        if short < 0 or short > room.size:  # pragma: no cover - x sums to total
            raise SamplingError("internal: rounding cannot meet the total")
        base[room[:short]] += 1
        return base
    assert cost is not None and budget is not None
    spent = float((cost * base).sum())
    for h in order:
        if remainder[h] <= 0 or base[h] >= hi[h]:
            continue
        if spent + cost[h] <= budget * (1 + 1e-12):
            base[h] += 1
            spent += cost[h]
    return base
