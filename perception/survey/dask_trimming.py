"""``trim_weights`` of a design on a Dask DataFrame (R's ``trimWeights``).

Trimming caps the weights at the limits and shares what was cut equally among the
weights that were inside them; strict trimming repeats until none is outside. Each
repetition is one pass over the partitions, which return per weight column only the
row count, the amount cut and the rows inside the limits; the client turns them into
the pass's share, and every pass so far is replayed on each partition's original
weights (a list of scalars, no chain of Dask graphs). The result is the same kind of
design whose weight columns are the trimmed ones, lazily, partition by partition: a
plain design's weights, or a design of replicate-weight columns' full-sample and
every replicate column (each replicate among its rows of positive weight, as in
memory).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from ..errors import WeightingError, format_rows
from . import margins as _m
from .dask_design import SUBSET, DaskReplicateDesign, DaskSurveyDesign
from .dask_reduce import _require_dask, _values
from .labelling import with_derived

_SHOWN = 10  # rows named in a message


def _trimmed_values(frame: pd.DataFrame, columns: list[str], positive: list[bool],
                    lower: float, upper: float, shares: list[np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, C) weights of a partition after the passes whose shares are ``shares``
    (one (C,) array per pass), and which rows take part in each column (all rows, or
    those of positive weight for a replicate column)."""
    values = np.column_stack([
        _values(frame, name, "replicate_weights" if positive[j] else "weights")
        for j, name in enumerate(columns)]) if len(frame) else np.zeros((0, len(columns)))
    active = np.where(np.asarray(positive)[None, :], values > 0, True)
    if SUBSET in frame.columns:  # only the rows of a subset take part, as in memory
        active &= frame[SUBSET].to_numpy(dtype=bool)[:, None]
    for share in shares:
        outside = (values < lower) | (values > upper)
        clipped = np.clip(values, lower, upper)
        values = np.where(active, np.where(outside, clipped, clipped + share[None, :]),
                          values)
    return values, active


def _trim_pass(frame: pd.DataFrame, columns: list[str], positive: list[bool],
               lower: float, upper: float, shares: list[np.ndarray]
               ) -> tuple[np.ndarray, int, list[list[int]]]:
    """One partition's (6, C) sums after ``shares`` (rows, weights, rows outside the
    limits, amount cut, rows inside, invalid weights), its length and the first rows
    of invalid weight of each column (run on the workers)."""
    values, active = _trimmed_values(frame, columns, positive, lower, upper, shares)
    invalid = ~np.isfinite(values) | (values < 0)
    outside = active & ((values < lower) | (values > upper))
    cut = np.where(outside, values - np.clip(values, lower, upper), 0.0)
    sums = np.vstack([active.sum(axis=0), np.where(active, values, 0.0).sum(axis=0),
                      outside.sum(axis=0), cut.sum(axis=0), (active & ~outside).sum(axis=0),
                      invalid.sum(axis=0)])
    return sums, len(frame), [np.flatnonzero(invalid[:, j])[:_SHOWN].tolist()
                              for j in range(len(columns))]


def _trimmed_partition(frame: pd.DataFrame, columns: list[str], positive: list[bool],
                       lower: float, upper: float, shares: list[np.ndarray]
                       ) -> pd.DataFrame:
    """A partition with its weight columns trimmed (all columns rebuilt at once)."""
    values, _ = _trimmed_values(frame, columns, positive, lower, upper, shares)
    adjusted = {name: values[:, j] for j, name in enumerate(columns)}
    return pd.DataFrame({c: adjusted[c] if c in adjusted else frame[c] for c in frame.columns},
                        index=frame.index)


def _sums(design: Any, columns: list[str], positive: list[bool], lower: float,
          upper: float, shares: list[np.ndarray]) -> tuple[np.ndarray, list[list[int]]]:
    """The (6, C) sums of :func:`_trim_pass` over the partitions, and each column's
    first rows of invalid weight numbered in the whole Dask DataFrame."""
    dask = _require_dask()
    delayed = dask.delayed(_trim_pass)
    read = [*columns, *([SUBSET] if SUBSET in design._source.columns else [])]
    parts = dask.compute(*[delayed(part, columns, positive, lower, upper, shares)
                           for part in design._source[read].to_delayed()])
    invalid: list[list[int]] = [[] for _ in columns]
    offset = 0
    for _, length, rows in parts:
        for j, first in enumerate(rows):
            invalid[j] += [offset + r for r in first]
        offset += length
    return np.sum([sums for sums, _, _ in parts], axis=0), invalid


def trimmed(design: Any, lower: float, upper: float, strict: bool, max_passes: int) -> Any:
    """``pc.trim_weights`` of a design on a Dask DataFrame.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        A design with a weights column, or a design of replicate-weight columns.
    lower, upper : float
        The limits (-inf, inf when not given).
    strict : bool
        Repeat until no weight is outside the limits.
    max_passes : int
        Passes after which strict trimming gives up (as in memory).

    Returns
    -------
    The same kind of design, its weight columns trimmed lazily.

    Examples
    --------
    >>> trimmed(dask_design, -np.inf, 40.0, False, 10_000)              # doctest: +SKIP
    """
    columns, positive, names = _weight_columns(design)
    shares: list[np.ndarray] = []
    first, invalid = _sums(design, columns, positive, lower, upper, shares)
    n, total = first[0], first[1]
    for j, name in enumerate(columns):
        if first[5, j]:
            raise WeightingError(
                f"weights column {name!r} has {int(first[5, j])} missing, infinite or "
                f"negative value(s) in rows {format_rows(invalid[j][:_SHOWN])} (row numbers "
                "in the whole Dask DataFrame); every respondent needs a weight >= 0: fix "
                "or drop those rows before trimming"
            )
    for j, what in enumerate(names):  # in memory's order: the weights, then replicates
        if upper * n[j] < total[j] * (1 - 1e-12):
            raise WeightingError(
                f"upper={upper:g} is impossible for {what}: {int(n[j])} rows capped at "
                f"{upper:g} hold at most {_m.number(upper * n[j])}, below the weights' "
                f"total {_m.number(total[j])}; raise upper"
            )
        if lower * n[j] > total[j] * (1 + 1e-12):
            raise WeightingError(
                f"lower={lower:g} is impossible for {what}: {int(n[j])} rows at {lower:g} "
                f"already hold {_m.number(lower * n[j])}, above the weights' total "
                f"{_m.number(total[j])}; lower it"
            )
    sums = first
    for _ in range(max_passes):
        outside, cut, inside = sums[2], sums[3], sums[4]
        if not outside.any():
            break
        shares.append(np.where((outside > 0) & (inside > 0),
                               cut / np.where(inside > 0, inside, 1.0), 0.0))
        if not strict:
            break
        sums, _ = _sums(design, columns, positive, lower, upper, shares)
    else:
        what = names[int(np.flatnonzero(sums[2] > 0)[0])]
        raise WeightingError(
            f"strict trimming of {what} did not settle in {max_passes} passes; use "
            "strict=False or wider limits"
        )
    source = design._source
    meta = _trimmed_partition(source._meta, columns, positive, lower, upper, shares)
    frame = source.map_partitions(_trimmed_partition, columns, positive, lower, upper,
                                  shares, meta=meta)
    out = copy.copy(design)
    out._source = frame
    out._data = with_derived(frame, design.labelling)
    return out


def _weight_columns(design: Any) -> tuple[list[str], list[bool], list[str]]:
    """The weight columns to trim, whether each is trimmed among its positive rows only
    (replicates), and their names in messages; a clear error for the designs whose
    weights are not columns."""
    if isinstance(design, DaskReplicateDesign):
        if design.base is not None:
            raise WeightingError(
                "trim_weights() of a replicate design built from a design on a Dask "
                "DataFrame is not available: its replicates are factors of the PSUs, "
                "which trimmed replicate weights no longer are. Trim the design, then "
                "build its replicates (pc.trim_weights(d, ...).replicate(...)), or give "
                "replicate-weight columns (pc.ReplicateDesign(ddf, ...))"
            )
        reps = list(design.options["replicate_weights"])
        return ([design.options["weights"], *reps], [False] + [True] * len(reps),
                ["the weights", *(f"replicate {r + 1}" for r in range(len(reps)))])
    if type(design) is not DaskSurveyDesign:  # a weighted design: its weights are computed
        raise WeightingError(
            "trim_weights() of a post-stratified, raked or calibrated design on a Dask "
            "DataFrame is not available: trim the weights before the adjustment, or "
            "compute the data in memory (ddf.compute())"
        )
    if design._weights is None:
        raise WeightingError(
            "trim_weights() of a design on a Dask DataFrame without weights: give its "
            "weights column (weights=)"
        )
    return [design._weights], [False], ["the weights"]
