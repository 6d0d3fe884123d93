"""The variance engine: the only module that sums over PSUs and strata.

Taylor linearisation reduces every variance to the design covariance of a matrix of
linearised scores ``U`` (one row per sampled unit, one column per estimate). The design
enters only through per-cluster totals of ``U`` at each stage, computed with sparse
indicator products over integer codes that are built once per design.

The recursion over stages and the treatment of lonely PSUs follow R's ``survey``
package (``svyrecvar``, ``multistage``, ``onestage``, ``onestrat``) exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .errors import DesignError

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
    stratum_labels : labels of the strata, for error messages.
    """

    stratum: np.ndarray
    cluster: np.ndarray
    cluster_stratum: np.ndarray
    cluster_parent: np.ndarray
    n_sampled: np.ndarray
    popsize: np.ndarray
    stratum_labels: tuple
    indicator: sp.csr_matrix = field(repr=False, compare=False)

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
        if domain is None:
            return np.asarray(self.indicator @ scores)
        return group_totals(self.cluster, self.n_clusters, scores, domain, n_domains)


def make_stage(
    stratum: np.ndarray,
    cluster: np.ndarray,
    parent: np.ndarray,
    popsize_rows: np.ndarray | None,
    stratum_labels: tuple,
) -> Stage:
    """Build a :class:`Stage` from per-row integer codes.

    ``stratum`` and ``cluster`` must already be nested (unique across the stage);
    ``parent`` is the row's cluster code at the previous stage; ``popsize_rows`` the
    per-row population size of the row's stratum at this stage (or ``None``).
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
    if popsize_rows is None:
        popsize = np.full(n_strata, np.inf)
    else:
        popsize = np.full(n_strata, np.nan)
        popsize[stratum] = popsize_rows
    indicator = sp.csr_matrix(
        (np.ones(n), (cluster, np.arange(n))), shape=(n_clusters, n)
    )
    return Stage(
        stratum=stratum,
        cluster=cluster,
        cluster_stratum=cluster_stratum,
        cluster_parent=cluster_parent,
        n_sampled=n_sampled,
        popsize=popsize,
        stratum_labels=stratum_labels,
        indicator=indicator,
    )


def group_totals(
    group: np.ndarray,
    n_groups: int,
    scores: np.ndarray,
    domain: np.ndarray | None = None,
    n_domains: int = 1,
) -> np.ndarray:
    """Totals of ``scores`` (n, k) by ``group`` and domain: (n_groups, n_domains * k)."""
    n, k = scores.shape
    if domain is None:
        keep = np.ones(n, dtype=bool)
        rows = group
    else:
        keep = domain >= 0
        rows = group[keep] * n_domains + domain[keep]
    indicator = sp.csr_matrix(
        (np.ones(int(keep.sum())), (rows, np.flatnonzero(keep))),
        shape=(n_groups * n_domains, n),
    )
    out = np.asarray(indicator @ scores)
    return out.reshape(n_groups, n_domains * k)


def _stratum_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Column sums of ``values`` (C, k) within groups given by ``codes`` (C,)."""
    out = np.zeros((n_groups, values.shape[1]))
    np.add.at(out, codes, values)
    return out


def onestage_vcov(
    totals: np.ndarray,
    stage: Stage,
    lonely_psu: str,
    parent_multiplier: np.ndarray | None = None,
    n_parents: int = 1,
) -> np.ndarray:
    """Between-cluster covariance at one stage, summed over strata (R's ``onestage``).

    Parameters
    ----------
    totals : (C, k) cluster totals of the scores at this stage.
    stage : the stage's coding.
    lonely_psu : R's ``survey.lonely.psu`` option.
    parent_multiplier : (n_parents,) factor applied to each enclosing cluster's
        contribution (the sampling fraction of the previous stage, as in R's
        ``multistage``); ``None`` at the first stage.
    n_parents : number of enclosing clusters (1 at the first stage).
    """
    k = totals.shape[1]
    n_strata = stage.n_strata
    n_h = stage.n_sampled
    popsize = stage.popsize
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(np.isinf(popsize), 1.0, (popsize - n_h) / popsize)
    scale = np.where(n_h > 1, f * n_h / np.maximum(n_h - 1, 1), f)
    # R: a stratum whose units were all sampled contributes nothing at this stage
    scale = np.where(f < 1e-7, 0.0, scale)

    sums = _stratum_sums(totals, stage.cluster_stratum, n_strata)
    means = sums / np.maximum(n_h, 1)[:, None]
    # R returns zero for a fully sampled stratum before it looks for lonely PSUs
    lonely = (n_h == 1) & (scale > 0)
    centre = means[stage.cluster_stratum]
    if lonely_psu == "adjust":
        # R centres a lonely PSU at zero here (it is not swept): its total enters whole
        centre = np.where(lonely[stage.cluster_stratum][:, None], 0.0, centre)
    dev = totals - centre
    if lonely.any():
        if lonely_psu == "fail":
            bad = [str(stage.stratum_labels[h]) for h in np.flatnonzero(lonely)]
            raise DesignError(
                f"stratum {', '.join(bad)} has only one PSU, so its variance cannot be "
                "estimated. Fix: merge it with a similar stratum, or choose lonely_psu="
                "'adjust' (centre at the grand mean), 'average', 'certainty' or 'remove'."
            )
    row_scale = scale[stage.cluster_stratum]
    if parent_multiplier is not None:
        row_scale = row_scale * parent_multiplier[stage.cluster_parent]
    weighted = dev * np.sqrt(row_scale)[:, None]
    if lonely_psu == "average" and lonely.any():
        # R: lonely strata are NA; the others are scaled by n_strata / n_ok_strata,
        # counted within each enclosing cluster (each call of R's onestage)
        ok_cluster = ~lonely[stage.cluster_stratum]
        weighted = np.where(ok_cluster[:, None], weighted, 0.0)
        parent_of_stratum = np.zeros(n_strata, dtype=np.int64)
        parent_of_stratum[stage.cluster_stratum] = stage.cluster_parent
        n_str = np.bincount(parent_of_stratum, minlength=n_parents).astype(float)
        n_ok = np.bincount(parent_of_stratum[~lonely], minlength=n_parents).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(n_ok > 0, n_str / n_ok, 0.0)
        weighted = weighted * np.sqrt(ratio[stage.cluster_parent])[:, None]
    out = weighted.T @ weighted
    return out if out.shape == (k, k) else np.zeros((k, k))


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
    >>> float(taylor_vcov(np.array([[1.0], [2.0], [3.0], [4.0]]), (st,), "fail", False)[0, 0])
    5.0
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim == 1:
        scores = scores[:, None]
    first = stages[0]
    totals = first.cluster_totals(scores, domain, n_domains)
    v = onestage_vcov(totals, first, lonely_psu)
    if multistage and len(stages) > 1:
        previous = first
        # product of the sampling fractions n/N of every enclosing cluster (R multiplies
        # the whole sub-tree of each cluster by its stage's fraction)
        multiplier = np.ones(first.n_clusters)
        for stage in stages[1:]:
            with np.errstate(divide="ignore", invalid="ignore"):
                frac_by_stratum = previous.n_sampled / previous.popsize
            frac = np.where(np.isinf(previous.popsize), 0.0, frac_by_stratum)
            multiplier = multiplier * frac[previous.cluster_stratum]
            totals = stage.cluster_totals(scores, domain, n_domains)
            v = v + onestage_vcov(
                totals, stage, lonely_psu, multiplier, n_parents=previous.n_clusters
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
    """
    replicates = np.asarray(replicates, dtype=float)
    if replicates.ndim == 1:
        replicates = replicates[:, None]
    finite = np.all(np.isfinite(replicates), axis=1)
    reps = replicates[finite]
    rs = np.asarray(rscales, dtype=float)[finite]
    centre = np.asarray(estimate, dtype=float) if mse else reps.mean(axis=0)
    dev = reps - centre
    return scale * (dev * rs[:, None]).T @ dev
