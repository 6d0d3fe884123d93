"""Post-stratification, raking and calibration of replicate-weight columns on Dask.

A replicate design given by weight columns (``pc.ReplicateDesign(dask_frame, ...)``)
is adjusted as in memory, where every replicate is post-stratified, raked or calibrated
like the full-sample weights (R's methods for ``svyrep.design``). Those adjustments act
by *cell* (each combination of the margins' columns): every row of a cell gets its
cell's factor, in each weight column. So:

- one pass sums the full-sample and every replicate weight column by cell
  (:func:`~perception.survey.dask_weighting.cell_design`), and the in-memory adjustment
  of that replicate design of cells gives each (cell, weight column) its factor;
- the result is again a replicate design of weight columns, the Dask DataFrame's weight
  columns multiplied by their cells' factors, lazily, partition by partition. Every
  estimator of replicate-weight columns then runs on it unchanged, and a further
  adjustment works as on the first (adjustments chain as in memory);
- when R recomputes the degrees of freedom (post-stratification, raking, a linear
  calibration without bounds: the rank of the adjusted replicate weights minus one), a
  second pass reduces each partition's adjusted replicate weights to the R factor of
  their QR decomposition, whose singular values are theirs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import WeightingError
from . import calibration as _c
from .dask_design import DaskReplicateDesign
from .dask_reduce import _require_dask


def cell_index(frame: pd.DataFrame, columns: tuple[str, ...], cells: pd.DataFrame
               ) -> np.ndarray:
    """The cell of each row of ``frame``: its position in ``cells`` (one row per
    combination of ``columns``); an error for a combination that is not there.

    Examples
    --------
    >>> cells = pd.DataFrame({"s": ["a", "b"]})
    >>> cell_index(pd.DataFrame({"s": ["b", "a", "b"]}), ("s",), cells).tolist()
    [1, 0, 1]
    """
    if not columns:
        return np.zeros(len(frame), dtype=np.int64)
    columns = tuple(columns)
    if len(columns) == 1:
        index = pd.Index(cells[columns[0]]).get_indexer(frame[columns[0]])
    else:
        index = pd.MultiIndex.from_frame(cells[list(columns)]).get_indexer(
            pd.MultiIndex.from_frame(frame[list(columns)]))
    if (index < 0).any():  # the data changed since the weighting: never a silent weight
        row = int(np.flatnonzero(index < 0)[0])
        raise WeightingError(
            f"row {row} of a partition has a combination of {', '.join(columns)} that was "
            "not in the data when the design was weighted; weight the design again"
        )
    return index


def _adjusted_partition(frame: pd.DataFrame, derive: Any, columns: tuple[str, ...],
                        cells: pd.DataFrame, factors: np.ndarray, weights: list[str]
                        ) -> pd.DataFrame:
    """One partition with its weight columns times their cells' factors (margins that
    are derived variables computed from the partition, as the design does)."""
    keys = frame if all(c in frame.columns for c in columns) else derive(frame)
    index = cell_index(keys, columns, cells)
    adjusted = {name: pd.to_numeric(frame[name]).to_numpy(dtype=float) * factors[index, j]
                for j, name in enumerate(weights)}
    # a new frame of all the columns at once: replacing many columns one by one would
    # fragment it (pandas then warns at every later insertion)
    return pd.DataFrame({c: adjusted[c] if c in adjusted else frame[c] for c in frame.columns},
                        index=frame.index)


def _r_factor(frame: pd.DataFrame) -> tuple[np.ndarray, float]:
    """The R factor of a partition's (rows x R) replicate weights (the rows themselves
    when fewer than R), and their largest absolute value."""
    matrix = frame.to_numpy(dtype=float)
    if not matrix.size:
        return np.zeros((0, frame.shape[1])), 0.0
    top = float(np.abs(matrix).max())
    if matrix.shape[0] > matrix.shape[1]:
        matrix = np.asarray(np.linalg.qr(matrix, mode="r"))
    return matrix, top


def _rank_degf(frame: Any, columns: list[str]) -> int:
    """R's recomputed degf of adjusted replicate weights: the rank of the (rows x R)
    matrix (``tol = 1e-5`` times its largest value, as in memory) minus one, from the
    stacked R factors of the partitions (a tall-skinny QR: the same singular values)."""
    dask = _require_dask()
    delayed = dask.delayed(_r_factor)
    parts = dask.compute(*[delayed(part) for part in frame[columns].to_delayed()])
    stacked = np.vstack([matrix for matrix, _ in parts])
    top = max(value for _, value in parts)
    if not stacked.size or top == 0:
        return -1
    if stacked.shape[0] > stacked.shape[1]:
        stacked = np.asarray(np.linalg.qr(stacked, mode="r"))
    return int(np.linalg.matrix_rank(stacked, tol=1e-5 * top)) - 1


def weighted_columns(design: DaskReplicateDesign, columns: tuple[str, ...],
                     cells: pd.DataFrame, before: np.ndarray, after: np.ndarray,
                     recompute_degf: bool) -> DaskReplicateDesign:
    """The replicate-weight-column design ``design`` with each weight column multiplied
    by its cell's factor ``after / before``.

    Parameters
    ----------
    design : DaskReplicateDesign
        A design of replicate-weight columns (``base`` None).
    columns : tuple of str
        The margins' columns.
    cells : DataFrame
        Their values, one row per cell.
    before, after : ndarray
        (C, 1 + R) totals of the full-sample and replicate weights of each cell, before
        and after the in-memory adjustment of the cells' replicate design.
    recompute_degf : bool
        Whether the adjustment recomputes the degrees of freedom (as R does after a
        post-stratification, a raking or a linear calibration without bounds).

    Returns
    -------
    DaskReplicateDesign
        The adjusted design: the same columns, options and questionnaire, the weight
        columns replaced lazily.

    Examples
    --------
    >>> weighted_columns(rep, ("stype",), cells, before, after, True)  # doctest: +SKIP
    """
    options = dict(design.options)
    weights = [options["weights"], *options["replicate_weights"]]
    factors = _c.safe_divide(after, before)  # a cell of weight 0 keeps its 0
    q = design.questionnaire
    derive = q.derive if q is not None else None
    source = design._source
    meta = _adjusted_partition(source._meta, derive, columns, cells, factors, weights)
    frame = source.map_partitions(_adjusted_partition, derive, columns, cells, factors,
                                  weights, meta=meta)
    out = DaskReplicateDesign(None, options, frame, design.labelling)
    if recompute_degf:
        out.options["degf"] = _rank_degf(out.data, list(options["replicate_weights"]))
    return out
