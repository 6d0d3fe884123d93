"""The variance engine: the only module that sums over PSUs and strata.

Taylor linearisation reduces every variance to the design covariance of a matrix of
linearised scores ``U`` (one row per sampled unit, one column per estimate). The design
enters only through per-cluster totals of ``U`` at each stage, computed with
``np.bincount`` over integer codes that are built once per design (one pass over the
rows per column, every domain at once: a domain is a block of columns).

The recursion over stages and the treatment of lonely PSUs follow R's ``survey``
package (``svyrecvar``, ``multistage``, ``onestage``, ``onestrat``) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DesignError, format_rows

if TYPE_CHECKING:
    import pandas as pd

LONELY_PSU_OPTIONS = ("fail", "remove", "certainty", "adjust", "average")


@dataclass(frozen=True)
class Stage:
    """One sampling stage, coded for fast group sums.

    Attributes
    ----------
    stratum : (n,) int codes of the stratum of each row at this stage, unique across the
        whole stage (a later stage's strata are nested in the earlier stage's clusters).
    cluster : (n,) int codes of the sampled unit (PSU, SSU, ...) of each row at this stage,
        unique across the whole stage.
    cluster_stratum : (C,) stratum code of each cluster.
    cluster_parent : (C,) code of the enclosing cluster of the previous stage (0 at stage 1).
    n_sampled : (H,) number of clusters sampled in each stratum (R's ``fpc$sampsize``).
    popsize : (H,) population number of clusters in each stratum, ``inf`` when unknown.
    unit_popsize : (C,) population size of each cluster's stratum as its own fpc implies
        (``n_h / pi_i`` for a cluster drawn with inclusion probability ``pi_i``), or
        ``None``: PPS designs (R's ``pps = "brewer"``) carry their fpc per unit, so the
        finite population correction ``1 - pi_i`` is each unit's own.
    stratum_labels : labels of the strata, for error messages.
    description : what the stage is, for error messages ("stage 1: strata 'stype',
        PSUs 'dnum'").
    row_labels : the data's row labels (index), for error messages.
    """

    stratum: np.ndarray
    cluster: np.ndarray
    cluster_stratum: np.ndarray
    cluster_parent: np.ndarray
    n_sampled: np.ndarray
    popsize: np.ndarray
    stratum_labels: tuple
    description: str = ""
    row_labels: pd.Index | None = field(default=None, repr=False, compare=False)
    unit_popsize: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def n_clusters(self) -> int:
        return int(self.cluster_stratum.shape[0])

    @property
    def n_strata(self) -> int:
        return int(self.n_sampled.shape[0])

    def cluster_totals(
        self, scores: np.ndarray, domain: np.ndarray | None = None, n_domains: int = 1
    ) -> np.ndarray:
        """Sum the rows of ``scores`` (n, k) within each cluster.

        With ``domain`` (integer code per row, -1 outside every domain) the scores of
        each domain form their own block of columns: the result is (C, n_domains * k)
        with column ``d * k + j`` for domain ``d`` and score ``j``. A domain is thus a
        column of the score matrix without an (n, n_domains * k) matrix being formed.
        """
        return group_totals(self.cluster, self.n_clusters, scores, domain, n_domains)


def make_stage(
    stratum: np.ndarray,
    cluster: np.ndarray,
    parent: np.ndarray,
    popsize_rows: np.ndarray | None,
    stratum_labels: tuple,
    description: str = "",
    row_labels: pd.Index | None = None,
    per_unit: bool = False,
) -> Stage:
    """Build a :class:`Stage` from per-row integer codes.

    ``stratum`` and ``cluster`` must already be nested (unique across the stage);
    ``parent`` is the row's cluster code at the previous stage; ``popsize_rows`` the
    per-row population size of the row's stratum at this stage (or ``None``); with
    ``per_unit`` it is each cluster's own (PPS: ``n_h / pi_i``, constant within the
    cluster, not within the stratum).
    """
    n = cluster.shape[0]
    n_clusters = int(cluster.max()) + 1 if n else 0
    first = np.full(n_clusters, -1, dtype=np.int64)
    # first row of each cluster (reverse assignment keeps the smallest index)
    first[cluster[::-1]] = np.arange(n - 1, -1, -1)
    cluster_stratum = stratum[first]
    cluster_parent = parent[first]
    n_strata = int(stratum.max()) + 1 if n else 0
    n_sampled = np.bincount(cluster_stratum, minlength=n_strata).astype(float)
    unit_popsize = None
    if popsize_rows is None:
        popsize = np.full(n_strata, np.inf)
    elif per_unit:
        popsize = np.full(n_strata, np.nan)  # no single population size per stratum
        unit_popsize = np.asarray(popsize_rows, dtype=float)[first]
    else:
        popsize = np.full(n_strata, np.nan)
        popsize[stratum] = popsize_rows
    return Stage(
        stratum=stratum,
        cluster=cluster,
        cluster_stratum=cluster_stratum,
        cluster_parent=cluster_parent,
        n_sampled=n_sampled,
        popsize=popsize,
        stratum_labels=stratum_labels,
        description=description,
        row_labels=row_labels,
        unit_popsize=unit_popsize,
    )


def group_totals(
    group: np.ndarray,
    n_groups: int,
    scores: np.ndarray,
    domain: np.ndarray | None = None,
    n_domains: int = 1,
) -> np.ndarray:
    """Totals of ``scores`` (n, k) by ``group`` and domain: (n_groups, n_domains * k).

    Column ``d * k + j`` holds the totals of score ``j`` over the rows of domain ``d``;
    rows with ``domain < 0`` are left out. One ``bincount`` per score column: no
    indicator matrix is built, so the cost is a single pass over the rows.
    """
    scores = np.asarray(scores, dtype=float)
    n, k = scores.shape
    if domain is None:
        index = np.asarray(group)
        size = n_groups
        n_domains = 1
    else:
        # rows outside every domain go to an extra last bin, dropped below
        size = n_groups * n_domains
        index = np.where(domain >= 0, group * n_domains + domain, size)
    out = np.empty((size + 1, k))
    columns = scores.T if scores.flags.f_contiguous or k == 1 else np.ascontiguousarray(scores.T)
    for j in range(k):
        out[:, j] = np.bincount(index, weights=columns[j], minlength=size + 1)
    return out[:size].reshape(n_groups, n_domains * k)


class GroupSums:
    """Sums of row vectors by (group, domain), the combined index built once.

    ``group`` (n,) codes 0..G-1 (PSUs, or any clusters); ``domain`` (n,) codes
    0..D-1 with -1 for rows outside every domain (left out), or ``None`` (one domain
    holding every row); ``complete`` says that ``domain`` has no -1. Calling the object
    on a vector of length n returns its (G, D) totals in one ``np.bincount`` pass;
    :meth:`by_domain` returns the (D,) totals.

    Examples
    --------
    >>> sums = GroupSums(np.array([0, 0, 1]), 2, np.array([0, 1, 1]), 2)
    >>> sums(np.array([1.0, 2.0, 4.0])).tolist()
    [[1.0, 2.0], [0.0, 4.0]]
    """

    def __init__(self, group: np.ndarray, n_groups: int, domain: np.ndarray | None = None,
                 n_domains: int = 1, complete: bool = False) -> None:
        self.n_groups = int(n_groups)
        self.n_domains = int(n_domains)
        if domain is None:
            self._index, self._domain = np.asarray(group), None
            self._size = self.n_groups
        else:
            size = self.n_groups * self.n_domains
            self._size = size + 1
            index = group * self.n_domains
            index += domain
            if complete:  # ``domain`` has no -1: no row to leave out
                self._index, self._domain = index, domain
                return
            inside = domain >= 0
            # rows outside every domain go to an extra last bin, dropped
            self._index = np.where(inside, index, size)
            self._domain = np.where(inside, domain, self.n_domains)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return self.shaped(np.bincount(self._index, weights=values, minlength=self._size))

    @property
    def n_bins(self) -> int:
        """Length of the flat sums of :meth:`add_to` (the (G, D) cells and a bin for
        the rows left out)."""
        return self._size

    def add_to(self, out: np.ndarray, values: np.ndarray) -> None:
        """Add the flat (:attr:`n_bins`,) sums of ``values`` to ``out``: the inner step
        of a blocked pass, without reshaping each block's sums (:meth:`shaped` after)."""
        out += np.bincount(self._index, weights=values, minlength=self._size)

    def shaped(self, flat: np.ndarray) -> np.ndarray:
        """(..., G, D) totals from (..., :attr:`n_bins`) flat sums."""
        cells = self.n_groups * self.n_domains
        return flat[..., :cells].reshape(*flat.shape[:-1], self.n_groups, self.n_domains)

    def rows(self, start: int, stop: int) -> GroupSums:
        """The same sums over rows ``start:stop`` only (views of the codes, no copy):
        the values passed are then vectors of length ``stop - start``."""
        part = object.__new__(GroupSums)
        part.__dict__.update(self.__dict__)
        part.__dict__.pop("_scaled", None)  # cached over every row
        part._index = self._index[start:stop]
        if self._domain is not None:
            part._domain = self._domain[start:stop]
        return part

    def by_level(self, codes: np.ndarray, n_levels: int, values: np.ndarray) -> np.ndarray:
        """(G, D, n_levels) totals of ``values`` by group, domain and level (``codes``
        0..n_levels-1, -1 left out): every level of a categorical variable in one pass."""
        size = (self._size + 1) * n_levels
        if len(codes) and codes.min() >= 0:  # no level to leave out (integer codes)
            scaled = self.__dict__.setdefault("_scaled", {})  # variables share a level count
            if n_levels not in scaled:
                scaled[n_levels] = self._index * n_levels
            index = scaled[n_levels] + codes
        else:
            index = np.where(codes >= 0, self._index * n_levels + codes, size - 1)
        out = np.bincount(index, weights=values, minlength=size)
        cells = self.n_groups * self.n_domains * n_levels
        return out[:cells].reshape(self.n_groups, self.n_domains, n_levels)

    def by_domain(self, values: np.ndarray) -> np.ndarray:
        if self._domain is None:
            return np.array([values.sum()])
        return np.bincount(self._domain, weights=values,
                           minlength=self.n_domains + 1)[: self.n_domains]


def totals_vcov(
    totals: np.ndarray,
    stage: Stage,
    lonely_psu: str,
    domain: np.ndarray | None = None,
    n_domains: int = 1,
) -> np.ndarray:
    """Ultimate-cluster covariance from first-stage cluster totals (C, n_domains * k) of
    the scores, already summed (R's ``svyrecvar`` with one stage, or without later-stage
    fpc). ``domain`` (per row) only serves ``lonely_psu="average"`` (the strata holding
    rows of each domain)."""
    present = None
    if lonely_psu == "average":
        present = stratum_presence(stage, domain, n_domains if domain is not None else 1)
    return onestage_vcov(totals, stage, lonely_psu, present=present)


def _stratum_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``values`` (C, k) within groups given by ``codes`` (C,).

    Rows sorted by group (stable), then ``np.add.reduceat``: the rows of a group are
    added in their order, as ``np.add.at`` would, without its per-element overhead."""
    out = np.zeros((n_groups, values.shape[1]))
    if values.shape[0] == 0 or values.shape[1] == 0:
        return out
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    present = counts > 0
    out[present] = np.add.reduceat(values[order], starts[present], axis=0)
    return out


def stratum_presence(
    stage: Stage, domain: np.ndarray | None = None, n_domains: int = 1
) -> np.ndarray:
    """(H, n_domains) mask: does stratum h hold at least one row of domain d?

    R estimates a domain on the design cut to the domain's rows, so a stratum without
    such rows does not count among the strata of R's ``onestage`` (which matters for
    ``lonely_psu="average"``).
    """
    present = np.zeros((stage.n_strata, n_domains), dtype=bool)
    if domain is None:
        present[stage.stratum, :] = True
    else:
        rows = domain >= 0
        present[stage.stratum[rows], domain[rows]] = True
    return present


def cluster_scales(stage: Stage) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's factor in the between-cluster variance, and the lonely strata.

    Returns ``(scale, lonely)``: (C,) ``f n_h / (n_h - 1)`` (``f`` alone when
    ``n_h = 1``), with ``f = (N - n_h) / N`` the stratum's finite population correction
    (1 without an fpc), or each unit's own ``f = 1 - pi_i`` under PPS
    (:attr:`Stage.unit_popsize`); and (H,) the strata with one sampled unit that still
    have variance to estimate.

    Notes
    -----
    R: ``survey:::onestrat``, which takes ``f`` per row and then per cluster; a stratum
    whose every ``f`` is below 1e-7 (sampled exhaustively, or PPS units all taken with
    certainty) contributes nothing, before lonely PSUs are looked for.
    """
    n_h = stage.n_sampled
    if stage.unit_popsize is None:
        popsize = stage.popsize
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(np.isinf(popsize), 1.0, (popsize - n_h) / popsize)
        scale = np.where(n_h > 1, f * n_h / np.maximum(n_h - 1, 1), f)
        # R: a stratum whose units were all sampled contributes nothing at this stage
        scale = np.where(f < 1e-7, 0.0, scale)
        # R returns zero for a fully sampled stratum before it looks for lonely PSUs
        return scale[stage.cluster_stratum], (n_h == 1) & (scale > 0)
    n_c = n_h[stage.cluster_stratum]
    popsize = stage.unit_popsize
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(np.isinf(popsize), 1.0, (popsize - n_c) / popsize)
    scale = np.where(n_c > 1, f * n_c / np.maximum(n_c - 1, 1), f)
    exhaustive = np.bincount(stage.cluster_stratum, weights=(f >= 1e-7).astype(float),
                             minlength=stage.n_strata) == 0
    scale = np.where(exhaustive[stage.cluster_stratum], 0.0, scale)
    return scale, (n_h == 1) & ~exhaustive


def sampling_fractions(stage: Stage) -> np.ndarray:
    """(C,) the fraction ``n_h / N`` of each cluster's stratum that was sampled (its own
    inclusion probability under PPS; 0 without an fpc): R's ``multistage`` multiplies
    the variance within a cluster by it."""
    if stage.unit_popsize is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            frac_by_stratum = stage.n_sampled / stage.popsize
        frac = np.where(np.isinf(stage.popsize), 0.0, frac_by_stratum)
        return frac[stage.cluster_stratum]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = stage.n_sampled[stage.cluster_stratum] / stage.unit_popsize
    return np.where(np.isinf(stage.unit_popsize), 0.0, frac)


def onestage_vcov(
    totals: np.ndarray,
    stage: Stage,
    lonely_psu: str,
    parent_multiplier: np.ndarray | None = None,
    n_parents: int = 1,
    present: np.ndarray | None = None,
) -> np.ndarray:
    """Between-cluster covariance at one stage, summed over strata (R's ``onestage``).

    Parameters
    ----------
    totals : (C, B * k) cluster totals of the scores at this stage, one block of k
        columns per domain (B = 1 without domains).
    stage : the stage's coding.
    lonely_psu : R's ``survey.lonely.psu`` option.
    parent_multiplier : (n_parents,) factor applied to each enclosing cluster's
        contribution (the sampling fraction of the previous stage, as in R's
        ``multistage``); ``None`` at the first stage.
    n_parents : number of enclosing clusters (1 at the first stage).
    present : (H, B) mask of the strata holding rows of each domain block (see
        :func:`stratum_presence`); only ``lonely_psu="average"`` uses it.

    Notes
    -----
    R: ``survey:::onestage`` and ``survey:::onestrat`` with
    ``options(survey.adjust.domain.lonely = FALSE)``. A stratum with one PSU sampled
    that is not exhaustively sampled is "lonely": "fail" raises, "remove" and
    "certainty" centre it on itself (no contribution), "adjust" centres it at zero
    (the grand mean of the scores), "average" leaves it out and scales the other
    strata of the same enclosing cluster by (strata / strata with variance), counting
    only strata that hold rows of the domain; with no stratum left the variance is NaN.
    """
    n_strata = stage.n_strata
    n_h = stage.n_sampled
    row_scale, lonely = cluster_scales(stage)

    sums = _stratum_sums(totals, stage.cluster_stratum, n_strata)
    means = sums / np.maximum(n_h, 1)[:, None]
    centre = means[stage.cluster_stratum]
    if lonely_psu == "adjust":
        # R centres a lonely PSU at zero here (it is not swept): its total enters whole
        centre = np.where(lonely[stage.cluster_stratum][:, None], 0.0, centre)
    dev = totals - centre
    if lonely.any() and lonely_psu == "fail":
        raise DesignError(lonely_message(stage, lonely))
    if parent_multiplier is not None:
        row_scale = row_scale * parent_multiplier[stage.cluster_parent]
    weighted = dev * np.sqrt(row_scale)[:, None]
    if lonely_psu == "average" and lonely.any():
        weighted = _average_lonely(weighted, stage, lonely, n_parents, present)
    return weighted.T @ weighted


def _average_lonely(
    weighted: np.ndarray,
    stage: Stage,
    lonely: np.ndarray,
    n_parents: int,
    present: np.ndarray | None,
) -> np.ndarray:
    """R's "average": drop lonely strata, scale the rest by n_strata / n_ok_strata.

    The counts are taken within each enclosing cluster (each call of R's ``onestage``)
    and each domain block (R cuts the design to the domain's rows).
    """
    n_strata = stage.n_strata
    n_blocks = 1 if present is None else present.shape[1]
    k = weighted.shape[1] // n_blocks
    if present is None:
        present = np.ones((n_strata, 1), dtype=bool)
    weighted = np.where(lonely[stage.cluster_stratum][:, None], 0.0, weighted)
    parent_of_stratum = np.zeros(n_strata, dtype=np.int64)
    parent_of_stratum[stage.cluster_stratum] = stage.cluster_parent
    n_str = np.zeros((n_parents, n_blocks))
    n_ok = np.zeros((n_parents, n_blocks))
    np.add.at(n_str, parent_of_stratum, present.astype(float))
    np.add.at(n_ok, parent_of_stratum, (present & ~lonely[:, None]).astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        # no stratum with variance left: R's 0 * n_strata / 0 is NaN
        ratio = np.where(n_str == 0, 1.0, np.where(n_ok > 0, n_str / n_ok, np.nan))
    factor = np.repeat(np.sqrt(ratio), k, axis=1)  # (n_parents, n_blocks * k)
    return weighted * factor[stage.cluster_parent]


def lonely_message(stage: Stage, lonely: np.ndarray) -> str:
    """Error message for strata with a single sampled unit under lonely_psu="fail"."""
    bad = np.flatnonzero(lonely)
    names = ", ".join(repr(stage.stratum_labels[h]) for h in bad[:5])
    more = f" (and {bad.size - 5} more)" if bad.size > 5 else ""
    rows = np.flatnonzero(np.isin(stage.stratum, bad))
    labels = stage.row_labels[rows] if stage.row_labels is not None else rows
    where = f" ({stage.description})" if stage.description else ""
    return (
        f"stratum {names}{more}{where} has only one PSU (sampled unit), so its variance "
        f"cannot be estimated (rows {format_rows(labels)}). Fix: merge it with a similar "
        "stratum, or choose lonely_psu='adjust' (centre at the grand mean), 'average', "
        "'certainty' or 'remove' when building the design."
    )


def taylor_vcov(
    scores: np.ndarray,
    stages: tuple[Stage, ...],
    lonely_psu: str,
    multistage: bool,
    domain: np.ndarray | None = None,
    n_domains: int = 1,
) -> np.ndarray:
    """Design covariance of the column totals of ``scores`` (R's ``svyrecvar``).

    With ``multistage`` (fpc given) later stages add their within-cluster variance,
    multiplied by the earlier stage's sampling fraction, as R's default does; otherwise
    the ultimate-cluster (with-replacement at stage 1) variance is returned.
    With ``domain`` the scores are split into one block of columns per domain (see
    :meth:`Stage.cluster_totals`) and the covariance is over all blocks.

    Examples
    --------
    >>> import numpy as np
    >>> st = make_stage(np.zeros(4, int), np.arange(4), np.zeros(4, int), None, ("all",))
    >>> v = taylor_vcov(np.array([[1.0], [2.0], [3.0], [4.0]]), (st,), "fail", False)
    >>> round(float(v[0, 0]), 6)  # n/(n-1) * sum (z - mean)^2 = 4/3 * 5, as R's svytotal
    6.666667

    Notes
    -----
    R: ``survey:::svyrecvar`` (``multistage``, ``onestage``, ``onestrat``).
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        scores = scores[:, None]
    n_blocks = 1 if domain is None else n_domains

    def present(stage: Stage) -> np.ndarray | None:
        if lonely_psu != "average":
            return None
        return stratum_presence(stage, domain, n_blocks)

    first = stages[0]
    totals = first.cluster_totals(scores, domain, n_domains)
    v = onestage_vcov(totals, first, lonely_psu, present=present(first))
    if multistage and len(stages) > 1:
        previous = first
        # product of the sampling fractions n/N of every enclosing cluster (R multiplies
        # the whole sub-tree of each cluster by its stage's fraction)
        multiplier = np.ones(first.n_clusters)
        for stage in stages[1:]:
            multiplier = multiplier * sampling_fractions(previous)
            totals = stage.cluster_totals(scores, domain, n_domains)
            v = v + onestage_vcov(
                totals, stage, lonely_psu, multiplier, n_parents=previous.n_clusters,
                present=present(stage),
            )
            multiplier = multiplier[stage.cluster_parent]
            previous = stage
    return v


def replicate_vcov(
    replicates: np.ndarray,
    estimate: np.ndarray,
    scale: float,
    rscales: np.ndarray,
    mse: bool,
) -> np.ndarray:
    """Replicate covariance ``scale * sum_r rscales_r (t_r - c)(t_r - c)'`` (R's ``svrVar``).

    ``c`` is the mean of the replicate estimates, or the full-sample estimate when
    ``mse`` is true. Replicates whose estimate is not finite are dropped, as R does.

    A replicate can be non-finite in some columns only (a small domain, or a rare level,
    left without weight by that replicate): it is dropped from those columns alone, as
    R's ``svyby`` estimates each domain (and ``svyciprop`` each level) on its own, so
    one empty domain never changes the variance of another. Each column's centre comes
    from its own finite replicates; a covariance uses the replicates finite in both.
    """
    replicates = np.asarray(replicates, dtype=float)
    if replicates.ndim == 1:
        replicates = replicates[:, None]
    rs_all = np.asarray(rscales, dtype=float)
    finite = np.isfinite(replicates)
    rows = finite.all(axis=1)
    if (finite == rows[:, None]).all():  # each replicate finite everywhere or nowhere
        reps = replicates[rows]
        rs = rs_all[rows]
        if mse:
            centre = np.asarray(estimate, dtype=float)
        else:
            # R's svrVar: the mean of the replicates that carry weight (rscales > 0)
            used = reps[rs > 0]
            centre = used.mean(axis=0) if used.shape[0] else np.full(reps.shape[1], np.nan)
        dev = reps - centre
        return scale * (dev * rs[:, None]).T @ dev
    if mse:
        centre = np.asarray(estimate, dtype=float)
    else:
        weighted = finite & (rs_all > 0)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = np.where(weighted, replicates, 0.0).sum(axis=0) / weighted.sum(axis=0)
    dev = np.where(finite, replicates - centre, 0.0)
    return scale * (dev * rs_all[:, None]).T @ dev
