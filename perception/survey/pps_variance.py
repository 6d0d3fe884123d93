"""Variance of samples drawn with probability proportional to size, without replacement.

``SurveyDesign(data, fpc="p", pps=...)`` reads ``fpc`` as each unit's inclusion
probability, as R's ``svydesign(pps=)`` does:

- ``pps="brewer"``: Brewer's approximation. The variance is the usual between-PSU
  variance with each PSU's own finite population correction ``1 - pi_i`` (R keeps a
  ``survey.design2``: strata, several stages, lonely PSUs and weighting all work as
  without pps). It lives in the variance engine (:mod:`perception.survey.variance`,
  ``Stage.unit_popsize``); this module only checks the argument.
- ``pps="overton"``, ``"hartley-rao"`` or a matrix of joint inclusion probabilities:
  the Horvitz--Thompson variance ``t' D t`` of the PSU totals ``t`` of the linearised
  scores, with ``D_ij = 1 - pi_i pi_j / pi_ij`` (R's ``Dcheck``). Overton's and
  Hartley--Rao's approximations of ``pi_ij`` give ``D`` in closed form within each
  stratum (:class:`JointVariance` never forms the matrix); a given matrix is used as
  R's ``ppsmat`` uses it. One stage only, as in R.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, format_rows
from .checks import check_columns
from .stages import DesignColumns, plain
from .variance import Stage

#: the named approximations of ``pps=`` (a matrix of joint probabilities is the other form)
PPS_METHODS = ("brewer", "overton", "hartley-rao")


@dataclass(frozen=True)
class PPSOption:
    """The checked ``pps``, ``psum`` and ``pps_tolerance`` arguments of a design.

    ``method`` is one of :data:`PPS_METHODS` or ``"joint"`` (``joint`` holds the matrix
    as given).
    """

    method: str
    joint: Any = None
    psum: Any = None
    tolerance: float = 1e-4

    @property
    def horvitz_thompson(self) -> bool:
        """Whether the variance is the Horvitz--Thompson form ``t' D t`` (every method
        but Brewer's)."""
        return self.method != "brewer"

    def describe(self) -> str:
        """The option as the design prints it."""
        return "joint probabilities" if self.method == "joint" else self.method


def pps_option(pps: Any, psum: Any, tolerance: float,
               columns: DesignColumns | None = None) -> PPSOption | None:
    """Check the ``pps`` arguments of a design (and, given its ``columns``, that it has
    the fpc and the stages they need); ``None`` without pps.

    Examples
    --------
    >>> pps_option("brewer", None, 1e-4).method
    'brewer'
    >>> pps_option(None, None, 1e-4) is None
    True
    """
    option = _option(pps, psum, tolerance)
    if option is not None and columns is not None:
        check_pps_columns(option, columns.n_stages, columns.fpc)
    return option


def _option(pps: Any, psum: Any, tolerance: float) -> PPSOption | None:
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (
            np.isfinite(tolerance) and tolerance >= 0):
        raise DesignError(f"pps_tolerance must be a number >= 0, got {tolerance!r}")
    if pps is None or pps is False:
        if psum is not None:
            raise DesignError("psum is Hartley-Rao's sum of squared probabilities: give it "
                              "with pps='hartley-rao'")
        return None
    if isinstance(pps, str):
        method = pps.lower()
        if method not in PPS_METHODS:
            raise DesignError(
                f"pps={pps!r} is not a method; choose one of {', '.join(PPS_METHODS)}, or "
                "give the matrix of joint inclusion probabilities of the PSUs"
            )
        if psum is not None and method != "hartley-rao":
            raise DesignError(f"psum belongs to pps='hartley-rao', not pps={pps!r}")
        return PPSOption(method, psum=psum, tolerance=float(tolerance))
    if isinstance(pps, (pd.DataFrame, np.ndarray)) or hasattr(pps, "__array__"):
        if psum is not None:
            raise DesignError("psum belongs to pps='hartley-rao', not to a matrix of joint "
                              "inclusion probabilities")
        return PPSOption("joint", joint=pps, tolerance=float(tolerance))
    raise DesignError(
        f"pps must be one of {', '.join(map(repr, PPS_METHODS))} or a matrix (DataFrame "
        f"or array) of joint inclusion probabilities, got {type(pps).__name__}"
    )


def check_pps_columns(option: PPSOption, n_stages: int, fpc: list[str]) -> None:
    """A pps design needs the inclusion probabilities in ``fpc``; the Horvitz--Thompson
    forms have one stage (R: "Multistage PPS sampling not supported with this method")."""
    if not fpc:
        raise DesignError(
            f"pps={option.describe()!r} needs fpc: the column of each PSU's inclusion "
            "probability (fpc='pi'), as R's svydesign(fpc=~pi, pps=...)"
        )
    if option.horvitz_thompson and n_stages > 1:
        raise DesignError(
            f"pps={option.describe()!r} supports one stage of sampling, as in R "
            "('Multistage PPS sampling not supported with this method'). Use "
            "pps='brewer' for a multistage design (psu=['village', 'household'], "
            "fpc=['pi', 'f2']), or give the first stage alone (psu='village', fpc='pi') "
            "with the overall weights (weights=...)"
        )
    if len(fpc) < n_stages:
        raise DesignError(
            f"pps with {n_stages} stages needs one fpc column per stage (the PSUs' "
            f"inclusion probabilities, then the sampling fraction of each later stage); "
            f"got {len(fpc)}"
        )


# ------------------------------------------------------- Horvitz-Thompson variance --
@dataclass(frozen=True)
class JointVariance:
    """Horvitz--Thompson covariance ``t' D t`` of first-stage cluster totals ``t``.

    Either ``matrix`` holds ``D`` (C x C; from joint probabilities), or ``D`` is
    structured within strata as Overton's and Hartley--Rao's approximations are:
    ``D_ii = 1 - pi_i`` and, for ``i != j`` in the same stratum ``h``,
    ``D_ij = (a_i + a_j + c_h) / (n_h - 1)``, zero across strata and for the ``zero``
    pairs (R's ``fbar == 1``).

    Attributes
    ----------
    prob : (C,) each cluster's inclusion probability.
    stratum : (C,) each cluster's stratum code.
    n_sampled : (H,) clusters sampled in each stratum.
    a, c : (C,) and (H,) terms of the structured ``D`` (unused with ``matrix``).
    zero : (m, 2) pairs of clusters whose ``D_ij`` R sets to zero.
    matrix : (C, C) ``D`` given in full, or ``None``.
    """

    prob: np.ndarray
    stratum: np.ndarray
    n_sampled: np.ndarray
    a: np.ndarray | None = None
    c: np.ndarray | None = None
    zero: np.ndarray | None = None
    matrix: np.ndarray | None = None

    def vcov(self, totals: np.ndarray) -> np.ndarray:
        """Covariance (m, m) of the column sums of ``totals`` (C, m), the clusters' totals
        of the linearised scores (one block of columns per domain).

        Examples
        --------
        >>> jv = overton(np.array([0.5, 0.5]), np.zeros(2, dtype=int), np.array([2.0]))
        >>> jv.vcov(np.array([[1.0], [3.0]]))  # D = [[.5, -.5], [-.5, .5]]
        array([[2.]])
        """
        t = np.asarray(totals, dtype=float)
        return _negative_as_nan(self.quadratic_form(t), t, self._largest_entry())

    def _largest_entry(self) -> float:
        """A bound on ``|D_ij|`` (for telling a negative variance from rounding)."""
        if self.matrix is not None:
            return float(np.abs(self.matrix).max()) if self.matrix.size else 0.0
        return 2.0  # |1 - pi|, |(pi_i + pi_j) / 2 - 1| and |pi_i + pi_j - 1 - p2bar| <= 2

    def quadratic_form(self, t: np.ndarray) -> np.ndarray:
        """``t' D t`` for totals ``t`` (C, m), negative variances kept as they are."""
        if self.matrix is not None:
            return t.T @ self.matrix @ t
        assert self.a is not None and self.c is not None  # structured form
        n_strata = self.n_sampled.shape[0]
        v = (t * (1.0 - self.prob)[:, None]).T @ t
        with np.errstate(divide="ignore"):
            k = np.where(self.n_sampled > 1, 1.0 / (self.n_sampled - 1.0), 0.0)
        # sum over i != j of (a_i + a_j + c) t_i t_j', by strata, from stratum sums
        s = _stratum_sums(t, self.stratum, n_strata)
        sa = _stratum_sums(t * self.a[:, None], self.stratum, n_strata)
        cross = (k[:, None] * sa).T @ s
        v = v + cross + cross.T + (k[:, None] * self.c[:, None] * s).T @ s
        own = k[self.stratum] * (2.0 * self.a + self.c[self.stratum])
        v = v - (t * own[:, None]).T @ t
        if self.zero is not None and len(self.zero):
            i, j = self.zero[:, 0], self.zero[:, 1]
            coef = k[self.stratum[i]] * (self.a[i] + self.a[j] + self.c[self.stratum[i]])
            pair = (t[i] * coef[:, None]).T @ t[j]
            v = v - pair - pair.T
        return v

    def matrix_form(self) -> np.ndarray:
        """``D`` as a dense (C, C) matrix (for checks and small designs)."""
        if self.matrix is not None:
            return self.matrix
        assert self.a is not None and self.c is not None  # structured form
        same = self.stratum[:, None] == self.stratum[None, :]
        n = self.n_sampled[self.stratum]
        with np.errstate(divide="ignore", invalid="ignore"):
            d = (self.a[:, None] + self.a[None, :] + self.c[self.stratum][:, None]) / (
                n[:, None] - 1.0)
        d = np.where(same, d, 0.0)
        if self.zero is not None and len(self.zero):
            d[self.zero[:, 0], self.zero[:, 1]] = 0.0
            d[self.zero[:, 1], self.zero[:, 0]] = 0.0
        np.fill_diagonal(d, 1.0 - self.prob)
        return d


def _negative_as_nan(v: np.ndarray, t: np.ndarray, largest: float) -> np.ndarray:
    """Variances below zero beyond rounding become NaN, with a warning.

    The Horvitz--Thompson form with approximate joint probabilities (Overton,
    Hartley--Rao, or a matrix with entries set to zero by the tolerance) is not always
    positive: R's ``SE`` is then ``NaN`` (the square root of a negative number), and so
    is the standard error here, rather than a zero that would look exact.
    """
    bound = largest * np.abs(t).sum(axis=0) ** 2
    negative = np.diag(v) < -1e-12 * bound
    if not negative.any():
        return v
    warnings.warn(
        f"the Horvitz-Thompson variance estimate is negative for {int(negative.sum())} "
        "estimate(s) (the approximate joint inclusion probabilities allow it): their "
        "standard error is NaN, as in R. Brewer's approximation (pps='brewer') is never "
        "negative",
        UserWarning,
        stacklevel=4,
    )
    v = v.copy()
    v[np.flatnonzero(negative), np.flatnonzero(negative)] = np.nan
    return v


def _stratum_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    out = np.zeros((n_groups, values.shape[1]))
    np.add.at(out, codes, values)
    return out


def overton(prob: np.ndarray, stratum: np.ndarray, n_sampled: np.ndarray) -> JointVariance:
    """Overton's approximation ``pi_ij = 2 (n - 1) pi_i pi_j / (2 n - pi_i - pi_j)``:
    ``D_ij = ((pi_i + pi_j) / 2 - 1) / (n_h - 1)`` (R's ``overton2Dcheck``; a pair of
    certainty units has ``D_ij = 0``, which the formula gives exactly)."""
    return JointVariance(prob=prob, stratum=stratum, n_sampled=n_sampled, a=prob / 2.0,
                         c=np.full(n_sampled.shape[0], -1.0))


def hartley_rao(prob: np.ndarray, stratum: np.ndarray, n_sampled: np.ndarray,
                p2bar: np.ndarray) -> JointVariance:
    """Hartley and Rao's approximation: ``D_ij = (pi_i + pi_j - 1 - p2bar_h) / (n_h - 1)``
    with ``p2bar_h`` the stratum's population sum of squared probabilities over ``n_h``
    (R's ``HRDcheck``; ``D_ij = 0`` where ``pi_i + pi_j == 1`` exactly, as R sets it)."""
    return JointVariance(prob=prob, stratum=stratum, n_sampled=n_sampled, a=prob.copy(),
                         c=-(1.0 + p2bar), zero=_pairs_summing_to_one(prob, stratum))


def _pairs_summing_to_one(prob: np.ndarray, stratum: np.ndarray) -> np.ndarray:
    """(m, 2) pairs ``i < j`` of one stratum with ``prob[i] + prob[j] == 1`` exactly (in
    floating point, as R's ``outer(prob, prob, "+") == 1``), found by sorting: no
    (C, C) matrix."""
    order = np.lexsort((prob, stratum))
    bounds = np.flatnonzero(np.diff(stratum[order])) + 1
    pairs = []
    for members in np.split(order, bounds):
        p = prob[members]  # ascending
        # candidates within a few ulps of 1 - p; the exact sum decides
        lo = np.searchsorted(p, 1.0 - p - 1e-15, side="left")
        hi = np.searchsorted(p, 1.0 - p + 1e-15, side="right")
        for a in np.flatnonzero(hi > lo):
            for b in range(lo[a], hi[a]):
                i, j = members[a], members[b]
                if i < j and prob[i] + prob[j] == 1.0:
                    pairs.append((i, j))
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


# ----------------------------------------------------------- building from a design --
def _first(codes: np.ndarray, n_groups: int) -> np.ndarray:
    first = np.full(n_groups, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first


def cluster_probabilities(stage: Stage) -> np.ndarray:
    """(C,) each first-stage cluster's inclusion probability, ``n_h / N_i`` (R's
    ``allprob``: ``sampsize / popsize`` with ``popsize = sampsize / fpc``)."""
    assert stage.unit_popsize is not None  # pps stages carry the fpc per unit
    return stage.n_sampled[stage.cluster_stratum] / stage.unit_popsize


def _psum_by_stratum(option: PPSOption, data: pd.DataFrame, stage: Stage,
                     strata_column: str | None) -> np.ndarray:
    """(H,) Hartley--Rao's ``psum`` of each stratum: as given (a number, a column
    constant within strata, a mapping stratum -> number), or, as R's ``HR()`` without
    it, the mean inclusion probability of the stratum's sampled PSUs (an unbiased
    estimate of the population's sum of squared probabilities over ``n_h``)."""
    psum = option.psum
    n_strata = stage.n_strata
    if psum is None:
        prob = cluster_probabilities(stage)
        return _stratum_sums(prob[:, None], stage.cluster_stratum, n_strata)[:, 0] / (
            stage.n_sampled)
    first = _first(stage.stratum, n_strata)
    if isinstance(psum, str):
        check_columns(data, [psum], "psum", DesignError)
        values = pd.to_numeric(data[psum], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise DesignError(f"psum column {psum!r} is missing or not a number in rows "
                              f"{format_rows(data.index[bad])}")
        spread = pd.Series(values).groupby(stage.stratum).nunique()
        if (spread > 1).any():
            h = int(spread.index[spread.to_numpy() > 1][0])
            raise DesignError(f"psum column {psum!r} varies within stratum "
                              f"{stage.stratum_labels[h]!r}; give one value per stratum")
        by_stratum = values[first]
    elif isinstance(psum, Mapping):
        labels = (data[strata_column].iloc[first].tolist() if strata_column
                  else [None] * n_strata)
        if strata_column is None:
            raise DesignError("psum as a mapping gives one value per stratum, but the design "
                              "has no strata: give one number")
        missing = [lab for lab in labels if lab not in psum]
        if missing:
            raise DesignError(
                "psum as a mapping gives one value per stratum (keys: the values of the "
                f"strata column {strata_column!r}); no value for stratum "
                f"{', '.join(map(repr, missing[:5]))}"
            )
        by_stratum = np.array([float(psum[lab]) for lab in labels])
    elif isinstance(psum, (int, float)) and not isinstance(psum, bool):
        if strata_column is not None and n_strata > 1:
            raise DesignError(
                "psum is one number but the design has strata: give one value per stratum "
                "(a column, or a mapping stratum -> psum)"
            )
        by_stratum = np.full(n_strata, float(psum))
    else:
        raise DesignError(f"psum must be a number, a column name or a mapping stratum -> "
                          f"number, got {type(psum).__name__}")
    bad = ~np.isfinite(by_stratum) | (by_stratum <= 0) | (by_stratum > 1)
    if bad.any():
        h = int(np.flatnonzero(bad)[0])
        raise DesignError(
            f"psum of stratum {stage.stratum_labels[h]!r} is {float(by_stratum[h])!r}: psum is "
            "the sum over the stratum's population of the squared inclusion probabilities, "
            "divided by the stratum's sample size, a number in (0, 1]"
        )
    return by_stratum


def _psu_labels(data: pd.DataFrame, stage: Stage, psu_column: str | None) -> pd.Index:
    first = _first(stage.cluster, stage.n_clusters)
    if psu_column is None:
        return data.index[first]
    return pd.Index(data[psu_column].iloc[first])


def _joint_matrix(option: PPSOption, data: pd.DataFrame, stage: Stage,
                  psu_column: str | None, prob: np.ndarray) -> np.ndarray:
    """The user's joint probabilities as a (C, C) array in the order of the clusters,
    checked: square, one row and column per PSU, symmetric, diagonal equal to the fpc,
    ``0 < pi_ij <= min(pi_i, pi_j)`` and ``pi_ij >= pi_i + pi_j - 1``."""
    joint = option.joint
    n_psu = stage.n_clusters
    what = "PSU" if psu_column is not None else "row"
    if isinstance(joint, pd.DataFrame):
        ids = _psu_labels(data, stage, psu_column)
        if ids.has_duplicates:
            raise DesignError(
                f"PSU ids of column {psu_column!r} repeat across strata (nest=True), so the "
                "rows and columns of a DataFrame of joint probabilities cannot name them: give "
                "a numpy array in the order the PSUs first appear in the data"
            )
        for axis, side in ((joint.index, "rows"), (joint.columns, "columns")):
            if axis.has_duplicates:
                raise DesignError(f"the joint probabilities have duplicated {side}: "
                                  f"{axis[axis.duplicated()][:5].tolist()}")
            unknown = axis.difference(ids)
            absent = ids.difference(axis)
            if len(unknown) or len(absent):
                parts = []
                if len(absent):
                    parts.append(f"no {side[:-1]} for {what}(s) {absent[:5].tolist()}")
                if len(unknown):
                    parts.append(f"{side} {unknown[:5].tolist()} that are not {what}s of the "
                                 "data (select the surveyed ones: pij.loc[keep, keep])")
                raise DesignError("the joint probabilities do not match the design's "
                                  f"{what}s: " + "; ".join(parts))
        try:
            matrix = joint.loc[ids, ids].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise DesignError("the joint probabilities must be numbers") from None
    else:
        try:
            matrix = np.asarray(joint, dtype=float)
        except (TypeError, ValueError):
            raise DesignError("the joint probabilities must be numbers") from None
        if matrix.shape != (n_psu, n_psu):
            raise DesignError(
                f"the matrix of joint probabilities is {'x'.join(map(str, matrix.shape))} but "
                f"the design has {n_psu} {what}s: give a {n_psu} x {n_psu} matrix, rows and "
                f"columns in the order the {what}s first appear in the data (or a DataFrame "
                f"labelled by {what} id)"
            )
    labels = [plain(v) for v in _psu_labels(data, stage, psu_column)]

    def pairs_text(pairs: tuple) -> str:
        rows, columns = pairs[0][:5], pairs[1][:5]
        return ", ".join(f"({labels[i]!r}, {labels[j]!r})"
                         for i, j in zip(rows, columns, strict=True))

    if not np.isfinite(matrix).all():
        raise DesignError(f"the joint probabilities are missing or infinite for {what}s "
                          f"{pairs_text(np.nonzero(~np.isfinite(matrix)))}")
    asym = np.abs(matrix - matrix.T) > 1e-9
    if asym.any():
        raise DesignError(f"the joint probabilities are not symmetric: pi_ij != pi_ji for "
                          f"{what}s {pairs_text(np.nonzero(np.triu(asym)))}")
    diagonal = np.diag(matrix)
    off = np.abs(diagonal - prob) > 1e-9 * np.maximum(prob, 1e-300)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise DesignError(
            f"the diagonal of the joint probabilities differs from the fpc (the inclusion "
            f"probabilities) for {what}s {[labels[k] for k in np.flatnonzero(off)[:5]]}: e.g. "
            f"{labels[i]!r} has {float(diagonal[i])!r} on the diagonal and {float(prob[i])!r} "
            "in fpc. The diagonal holds "
            "each PSU's own inclusion probability"
        )
    low = np.minimum(prob[:, None], prob[None, :])
    if (matrix <= 0).any():
        raise DesignError(
            f"{what}s {pairs_text(np.nonzero(np.triu(matrix <= 0)))} can never be sampled together "
            "(pi_ij = 0), so the Horvitz-Thompson variance is not defined (systematic PPS "
            "in a fixed order): use pps='brewer', 'overton' or 'hartley-rao'"
        )
    if (matrix > low * (1 + 1e-9)).any():
        raise DesignError(
            f"joint probabilities above the smaller of the two inclusion probabilities for "
            f"{what}s {pairs_text(np.nonzero(np.triu(matrix > low * (1 + 1e-9), k=1)))}: "
            "pi_ij <= min(pi_i, pi_j)"
        )
    floor = prob[:, None] + prob[None, :] - 1.0
    if (matrix < floor - 1e-9).any():
        raise DesignError(
            f"joint probabilities below pi_i + pi_j - 1 for {what}s "
            f"{pairs_text(np.nonzero(np.triu(matrix < floor - 1e-9, k=1)))}: no sampling design "
            "gives them"
        )
    return matrix


def joint_variance(option: PPSOption, data: pd.DataFrame, stage: Stage,
                   strata_column: str | None, psu_column: str | None) -> JointVariance | None:
    """The Horvitz--Thompson variance of a design with ``pps`` (``None`` for Brewer's
    approximation, which the variance engine computes)."""
    if not option.horvitz_thompson:
        return None
    prob = cluster_probabilities(stage)
    stratum, n_sampled = stage.cluster_stratum, stage.n_sampled
    if option.method == "overton":
        return overton(prob, stratum, n_sampled)
    if option.method == "hartley-rao":
        return hartley_rao(prob, stratum, n_sampled,
                           _psum_by_stratum(option, data, stage, strata_column))
    pij = _joint_matrix(option, data, stage, psu_column, prob)
    pi = np.diag(pij)
    # R's pi2Dcheck: (pi_ij - pi_i pi_j) / pi_ij, entries below the tolerance set to zero
    d = (pij - np.outer(pi, pi)) / pij
    d[np.abs(d) < option.tolerance] = 0.0
    return JointVariance(prob=prob, stratum=stratum, n_sampled=n_sampled, matrix=d)
