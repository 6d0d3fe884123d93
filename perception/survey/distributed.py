"""Estimates of designs on a Dask DataFrame: every estimate reduced to group totals by
Dask, then the in-memory variance code.

``pc.SurveyDesign(dask_frame, ...)`` returns a
:class:`~perception.survey.dask_design.DaskSurveyDesign`. Its estimators
(:func:`perception.mean`, ``total``, ``ratio``, ``proportion``) make one pass over the
partitions (on the workers of a ``dask.distributed`` cluster when a client is active):
each partition is reduced to sums by (design columns, domain, complete or not) group:
the weights, the weighted shifted values, their squares and the row counts. The client
adds up a few thousand such groups, builds an in-memory :class:`SurveyDesign` on them
(one row per group: the same strata, PSUs at every stage and fpc, so the same stages,
lonely PSUs and degrees of freedom), and hands the per-(PSU, domain) totals to the
engine that the in-memory estimators use (:func:`perception.survey.engine.finish`). The
tables equal the in-memory ones to rounding (partitions are summed in another order).

A design without clusters (each row its own PSU) needs the spread of the rows within
each stratum, so its groups also carry the weighted cross-products of the values
(per-stratum moments); its variance is the one-stage formula on those moments.

The partitions' reduction is :mod:`perception.survey.dask_reduce`, the quantiles
:mod:`perception.survey.dask_quantiles`. dask is an optional import (``pip install
perception[dask]``): ``import perception`` never loads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, EstimationError
from . import intervals
from . import variance as _variance
from .checks import check_columns, column_names, estimate_names
from .dask_design import DaskReplicateDesign, DaskSurveyDesign
from .dask_reduce import (
    _ACTIVE,
    _IN,
    _NONZERO,
    _ONE,
    _ROWS,
    _W,
    _cnt,
    _cross,
    _den,
    _den_sq,
    _gram,
    _levels,
    _moment,
    _num,
    _pilot_shift,
    _Plan,
    _rw,
    _rwa,
    _rwd,
    _rwn,
    _sq,
    reduce_design,
    with_empty_group,
)
from .design import ReplicateDesign, SurveyDesign
from .engine import (
    Domains,
    RatioResult,
    _spread,
    _Totals,
    assemble,
    check_domain_weights,
    domains,
    finish,
    replicate_logit_interval,
)
from .replicates import qr_rank
from .variance import GroupSums


def _group_design(design: DaskSurveyDesign, groups: pd.DataFrame) -> SurveyDesign:
    """The in-memory design on the reduced groups (one row per group, the group's
    weight total as its weight)."""
    return SurveyDesign(groups, weights=_W, strata=design._strata or None,
                        psu=design._psu or None, fpc=design._fpc or None, nest=design._nest,
                        lonely_psu=design.lonely_psu)  # type: ignore[arg-type]


def _make_plan(design: Any, kind: str, names: list[str], den_names: list[str],
               by: list[str], levels: tuple = ()) -> _Plan:
    replicate_weights: tuple[str, ...] = ()
    kept = getattr(design, "kept_column", None)  # a labelled design's rows (dask_labelling)
    if isinstance(design, DaskReplicateDesign):
        if design.base is None:  # replicate-weight columns: no strata nor PSUs
            keys = list(by)
            plan = _Plan(design.options["weights"], tuple(dict.fromkeys(keys)), (),
                         tuple(by), tuple(names), tuple(den_names), kind, (), levels, False,
                         tuple(design.options["replicate_weights"]), True, kept=kept)
            columns = list(design.data.columns)
            for group, argument in ((names, "variables"), (den_names, "denominator"),
                                    (by, "by")):
                check_columns(columns, group, argument, where="the Dask DataFrame")
            return plan
        design = design.base
    moments = not design._psu
    keys = [*design.design_columns, *by]
    plan = _Plan(design._weights, tuple(dict.fromkeys(keys)), tuple(design.design_columns),
                 tuple(by), tuple(names), tuple(den_names), kind, (), levels, moments,
                 replicate_weights, kept=kept)
    columns = list(design.data.columns)
    for group, argument in ((names, "variables"), (den_names, "denominator"), (by, "by")):
        check_columns(columns, group, argument, where="the Dask DataFrame")
    return plan


def _with_shift(design: Any, plan: _Plan) -> _Plan:
    if plan.kind == "proportion":
        return plan
    shift = _pilot_shift(design.data[plan.columns], plan)
    return _Plan(**{**plan.__dict__, "shift": shift})


class _GroupRows:
    """The group design seen by :func:`engine.finish` when its variance needs more than
    first-stage totals (fpc at later stages): one "cluster" per group row, whose score
    totals the design's own variance recursion then sums stage by stage."""

    is_replicate = False

    def __init__(self, design: SurveyDesign) -> None:
        self._design = design

    def totals_vcov(self, totals: np.ndarray, domain: np.ndarray, n_domains: int
                    ) -> np.ndarray:
        G = totals.shape[0]
        k = totals.shape[1] // n_domains
        own = totals.reshape(G, n_domains, k)[np.arange(G), np.maximum(domain, 0)]
        own[domain < 0] = 0.0
        return self._design.score_vcov(own, domain, n_domains)


class _Moments:
    """The variance of a design without clusters from per-(stratum, domain) moments:
    each row is its own PSU, so the one-stage variance needs, in each stratum, the
    total and the sum of outer products of the rows' scores."""

    is_replicate = False

    def __init__(self, groups: pd.DataFrame, group_design: SurveyDesign,
                 coefficients: tuple[np.ndarray, np.ndarray]) -> None:
        self._groups = groups
        self._design = group_design
        self._coefficients = coefficients  # a row's score: w (a + b . parts)

    def totals_vcov(self, totals: np.ndarray, domain: np.ndarray, n_domains: int
                    ) -> np.ndarray:
        return _moment_vcov(self._groups, self._design, domain, totals, self._coefficients)


def _stratum_stage(group_design: SurveyDesign, groups: pd.DataFrame) -> _variance.Stage:
    """The one stage of a design without clusters, with its real sample sizes: one
    pseudo-cluster per stratum, holding the stratum's rows."""
    first = group_design._stages[0]
    rows = groups[_ROWS].to_numpy(dtype=float)
    n_h = np.bincount(first.stratum, weights=rows, minlength=first.n_strata)
    H = first.n_strata
    popsize = first.popsize
    if group_design._fpc_columns:
        # the population sizes from the fpc column and the real sample sizes (the group
        # design's own counts are groups, not rows)
        name = group_design._fpc_columns[0]
        values = np.zeros(H)
        values[first.stratum] = groups[name].to_numpy(dtype=float)
        popsize = values if bool(np.any(values > 1)) else n_h / values
        small = popsize < n_h - 1e-9
        if small.any():
            h = int(np.flatnonzero(small)[0])
            raise DesignError(
                f"fpc column {name!r} is smaller than the sample in stratum "
                f"{first.stratum_labels[h]!r} ({popsize[h]:g} < {n_h[h]:g} rows): give the "
                "population size of each stratum"
            )
    return _variance.Stage(
        stratum=np.arange(H), cluster=np.arange(H), cluster_stratum=np.arange(H),
        cluster_parent=np.zeros(H, dtype=np.int64), n_sampled=n_h, popsize=popsize,
        stratum_labels=first.stratum_labels, description=first.description,
    )


def _moment_vcov(groups: pd.DataFrame, group_design: SurveyDesign, domain: np.ndarray,
                 totals: np.ndarray, coefficients: tuple[np.ndarray, np.ndarray]
                 ) -> np.ndarray:
    """V = sum_h scale_h (S_h - s_h s_h' / n_h) with S_h the sum over the stratum's rows
    of z z' (from the moments) and s_h its total; lonely strata as R's ``onestage``."""
    a, b = coefficients  # score of a row in domain d, column j: a[d, j] + b[d, j] . part
    D, k = a.shape
    first = group_design._stages[0]
    stage = _stratum_stage(group_design, groups)
    H = stage.n_strata
    scale, lonely = _variance.cluster_scales(stage)
    lonely_psu = group_design.lonely_psu
    if lonely.any() and lonely_psu == "fail":
        bad = np.flatnonzero(lonely)
        names = ", ".join(repr(stage.stratum_labels[h]) for h in bad[:5])
        raise DesignError(
            f"stratum {names} has only one PSU (sampled unit), so its variance cannot be "
            "estimated. Fix: merge it with a similar stratum, or choose lonely_psu='adjust' "
            "(centre at the grand mean), 'average', 'certainty' or 'remove' when building "
            "the design."
        )
    P = b.shape[2] + 1  # the pieces: 1, then the parts
    moments = np.zeros((len(groups), P, P))
    for i in range(P):
        for j in range(i, P):
            m = groups[_moment(i, j)].to_numpy(dtype=float)
            moments[:, i, j] = m
            moments[:, j, i] = m
    inside = domain >= 0
    # per (stratum, domain): the sum of w^2 piece piece'
    cells = np.zeros((H, D, P, P))
    np.add.at(cells, (first.stratum[inside], domain[inside]), moments[inside])
    # coefficient matrix of each domain: z_j = w (a_j + b_j . parts) -> C (k, P)
    C = np.concatenate([a[:, :, None], b], axis=2)  # (D, k, P)
    S = np.zeros((H, D * k, D * k))
    for d in range(D):
        block = np.einsum("jp,hpq,lq->hjl", C[d], cells[:, d], C[d])
        S[:, d * k:(d + 1) * k, d * k:(d + 1) * k] = block
    # the stratum totals of the scores: totals are (H, D*k), one pseudo-cluster a stratum
    n_h = stage.n_sampled
    outer = np.einsum("hi,hj->hij", totals, totals)
    if lonely_psu == "adjust":
        centred = np.where(lonely[:, None, None], S, S - outer / np.maximum(n_h, 1)[:, None, None])
    else:
        centred = S - outer / np.maximum(n_h, 1)[:, None, None]
    if lonely_psu in ("remove", "certainty", "average"):
        centred = np.where(lonely[:, None, None], 0.0, centred)
    v = np.einsum("h,hij->ij", scale, centred)
    if lonely_psu == "average" and lonely.any():
        present = np.zeros((H, D), dtype=bool)
        present[first.stratum[inside], domain[inside]] = True
        n_str = present.sum(axis=0).astype(float)
        n_ok = (present & ~lonely[:, None]).sum(axis=0).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(n_str == 0, 1.0, np.where(n_ok > 0, n_str / n_ok, np.nan))
        factor = np.repeat(np.sqrt(ratio), k)
        v = v * np.outer(factor, factor)
    return v


def _totals(groups: pd.DataFrame, plan: _Plan, cluster: np.ndarray, n_clusters: int,
            dom: Domains, k: int) -> _Totals:
    """The engine's totals by (cluster, domain) from the group sums."""
    sums = GroupSums(cluster, n_clusters, dom.codes, dom.count)

    def col(name: str) -> np.ndarray:
        return groups[name].to_numpy(dtype=float)

    active = groups[_ACTIVE].to_numpy(dtype=bool)
    weights = sums(np.where(active, col(_W), 0.0))
    n_rows = sums.by_domain(np.where(active, col(_ROWS), 0.0))
    n_nonzero = sums.by_domain(np.where(active, col(_NONZERO), 0.0))
    num = np.stack([sums(col(_num(j))) for j in range(k)], axis=2)
    if plan.indicators:
        # the denominator laid out as the numerators, so that an indicator equal to 1 on
        # every row sums to exactly its denominator (a share of 1, a score of 0)
        den = np.ascontiguousarray(np.broadcast_to(weights[:, :, None], num.shape))
        return _Totals(np.zeros(k), num, den, weights, num.sum(axis=0), None, None,
                       n_nonzero, n_rows)
    sq = np.stack([sums.by_domain(col(_sq(j))) for j in range(k)], axis=1)
    shift = np.asarray(plan.shift, dtype=float)
    if plan.kind == "total":
        return _Totals(shift, num, None, weights, sq, None, None, n_nonzero, n_rows)
    if plan.kind == "mean":
        return _Totals(shift, num, weights, weights, sq, None, None, n_nonzero, n_rows)
    den = np.stack([sums(col(_den(j))) for j in range(k)], axis=2)
    cross = np.stack([sums.by_domain(col(_cross(j))) for j in range(k)], axis=1)
    den_sq = np.stack([sums.by_domain(col(_den_sq(j))) for j in range(k)], axis=1)
    return _Totals(shift, num, den, weights, sq, cross, den_sq, n_nonzero, n_rows)


def _score_coefficients(t: _Totals, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """A row's score in domain d, column j, as ``w (a[d, j] + b[d, j] . parts)``: the
    linearisation :func:`engine.finish` uses, written on the summed parts."""
    D, k = t.sq.shape
    n_parts = k if plan.kind != "ratio" else 2 * k
    a = np.zeros((D, k))
    b = np.zeros((D, k, n_parts))
    with np.errstate(divide="ignore", invalid="ignore"):
        if plan.kind == "total":  # w x = w (r + c)
            a[:] = t.shift
            for j in range(k):
                b[:, j, j] = 1.0
        elif plan.kind == "ratio":  # w (r - delta d) / den_total
            den_total = t.den.sum(axis=0)  # type: ignore[union-attr]
            delta = t.num.sum(axis=0) / den_total
            for j in range(k):
                b[:, j, j] = 1.0 / den_total[:, j]
                b[:, j, k + j] = -delta[:, j] / den_total[:, j]
        else:  # means and proportions: w (r - delta) / W
            W = t.weights.sum(axis=0)
            delta = t.num.sum(axis=0) / W[:, None]
            a[:] = -delta / W[:, None]
            for j in range(k):
                b[:, j, j] = 1.0 / W
    return a, b


def _estimate(design: Any, plan: _Plan, na_rm: bool):
    """Group sums, the group design, the domains and the engine's result."""
    weighted = getattr(design, "weighted_estimate", None)
    if weighted is not None:  # post-stratified, raked, calibrated: dask_weighting.py
        return weighted(plan, na_rm)
    if isinstance(design, DaskReplicateDesign):
        return _estimate_replicates(design, plan, na_rm)
    groups = reduce_design(design, plan, na_rm)
    if plan.moments:
        groups = with_empty_group(groups)
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    if not active.any():
        raise EstimationError(
            f"no rows to estimate {', '.join(map(repr, plan.variables))}: every row misses "
            "a value of the variables or by columns"
        )
    _check_some(groups, plan)
    if plan.moments:
        # each row its own PSU: one group per (stratum, domain); the group design's
        # "PSUs" are only used for degf, so they are given the rows' count below
        groups[_ONE] = np.arange(len(groups))
        group_design = SurveyDesign(groups, weights=_W, strata=design._strata or None,
                                    psu=_ONE, fpc=design._fpc or None,
                                    lonely_psu=design.lonely_psu)
    else:
        group_design = _group_design(design, groups)
    dom = domains(group_design, list(plan.by), active)
    check_domain_weights(group_design, dom, list(plan.by))
    k = plan.n_parts
    engine_design: Any
    if plan.moments:
        stratum = group_design._stages[0].stratum
        t = _totals(groups, plan, stratum, group_design._stages[0].n_strata, dom, k)
        engine_design = _Moments(groups, group_design, _score_coefficients(t, plan))
    elif group_design.totals_path:
        t = _totals(groups, plan, group_design.psu_codes, group_design.n_psu, dom, k)
        engine_design = group_design
    else:
        t = _totals(groups, plan, np.arange(len(groups)), len(groups), dom, k)
        engine_design = _GroupRows(group_design)
    result = finish(engine_design, t, dom)
    return groups, group_design, dom, result


def _check_some(groups: pd.DataFrame, plan: _Plan) -> None:
    if not groups[_ACTIVE].to_numpy(dtype=bool).any():
        raise EstimationError(
            f"no rows to estimate {', '.join(map(repr, plan.variables))}: every row misses "
            "a value of the variables or by columns"
        )
    if not (groups[_NONZERO].to_numpy() > 0).any():
        raise DesignError(f"weights column {plan.weights!r} sums to zero: at least one "
                          "weight must be positive")


class _Columns:
    """Replicate-weight columns seen by :func:`engine.finish`: the covariance of the
    replicate estimates summed by Dask (computed before, handed back here)."""

    is_replicate = False

    def __init__(self, vcov: np.ndarray) -> None:
        self._vcov = vcov

    def totals_vcov(self, totals: np.ndarray, domain: np.ndarray, n_domains: int
                    ) -> np.ndarray:
        return self._vcov


def _full_estimate(t: _Totals, plan: _Plan) -> np.ndarray:
    """(D, k) estimates from the totals, as :func:`engine.finish` computes them."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if plan.kind == "total":
            return (t.num + t.shift * t.weights[:, :, None]).sum(axis=0)
        assert t.den is not None  # means and ratios
        den = t.den if t.den.ndim == 3 else t.den[:, :, None]
        return t.shift + t.num.sum(axis=0) / den.sum(axis=0)


def _group_scores(t: _Totals, plan: _Plan) -> np.ndarray:
    """(G, D * k) linearised scores of a ratio (its residual totals), per group."""
    G, D, k = t.num.shape
    assert t.den is not None and t.cross is not None and t.den_sq is not None  # ratios
    den = t.den if t.den.ndim == 3 else t.den[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        den_total = den.sum(axis=0)
        delta = t.num.sum(axis=0) / den_total
        return ((t.num - delta * den) / den_total).reshape(G, D * k)


def _ratio_deff(result, t: _Totals, rep_resid: np.ndarray, full: np.ndarray, design
                ) -> np.ndarray:
    """R's deff of a ratio on a replicate design: the replicate variance of the
    residual totals over the SRS variance (as :func:`engine.ratio_engine`)."""
    D, k = t.sq.shape
    assert t.den is not None and t.cross is not None and t.den_sq is not None  # ratios
    den = t.den if t.den.ndim == 3 else t.den[:, :, None]
    W = t.weights.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        den_total = den.sum(axis=0)
        delta = t.num.sum(axis=0) / den_total
        spread = _spread(t.sq, 2 * delta * t.cross - delta**2 * t.den_sq)
        vsrs = spread / den_total**2 * (W / (t.n_nonzero - 1))[:, None]
        deff_var = np.diag(design._vcov_replicates(rep_resid, full))
        return deff_var.reshape(D, k) / vsrs


def finish_factors(rep: ReplicateDesign, groups: pd.DataFrame, plan: _Plan):
    """The estimate of replicates built as per-group factors (``rep``, the in-memory
    replicate design of the groups): group totals, the domains and the engine's result,
    with the design effect of a ratio."""
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    dom = domains(rep, list(plan.by), active)
    check_domain_weights(rep, dom, list(plan.by))
    codes, n_groups = rep.score_groups()
    t = _totals(groups, plan, codes, n_groups, dom, plan.n_parts)
    result = finish(rep, t, dom)
    if plan.kind == "ratio":
        scores = _group_scores(t, plan)
        deff = _ratio_deff(result, t, rep._replicates_from_totals(scores),
                           scores.sum(axis=0), rep)
        result = RatioResult(result.estimate, result.vcov, deff, result.n,
                             result.replicates)
    return groups, rep, dom, result


def _estimate_replicates(design: DaskReplicateDesign, plan: _Plan, na_rm: bool):
    """A replicate design: per-PSU factors times per-PSU totals (built from a design),
    or the replicate weights' own totals by domain (columns)."""
    groups = reduce_design(design, plan, na_rm)
    _check_some(groups, plan)
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    k = plan.n_parts
    if design.base is not None:
        rep = _group_design(design.base, groups).replicate(**design.options)
        return finish_factors(rep, groups, plan)
    options = design.options
    R = len(plan.replicate_weights)
    rep = ReplicateDesign(groups, weights=_W, replicate_weights=[_rw(r) for r in range(R)],
                          scale=options["scale"], rscales=options["rscales"],
                          mse=options["mse"], degf=options["degf"], method=options["method"])
    dom = domains(rep, list(plan.by), active)
    check_domain_weights(rep, dom, list(plan.by))
    t = _totals(groups, plan, np.zeros(len(groups), dtype=np.int64), 1, dom, k)
    estimate = _full_estimate(t, plan)
    D = dom.count
    inside = dom.codes >= 0
    bins = np.where(inside, dom.codes, D)

    def by_domain(name: str) -> np.ndarray:
        return np.bincount(bins, weights=groups[name].to_numpy(dtype=float),
                           minlength=D + 1)[:D]

    n_parts = k
    rw = np.stack([by_domain(_rwa(r)) for r in range(R)])  # (R, D)
    rn = np.stack([np.stack([by_domain(_rwn(r, j)) for j in range(n_parts)], axis=1)
                   for r in range(R)])  # (R, D, k)
    shift = np.asarray(plan.shift if plan.shift else np.zeros(k), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if plan.kind == "total":
            reps = rn + shift * rw[:, :, None]
        elif plan.kind == "ratio":
            rd = np.stack([np.stack([by_domain(_rwd(r, j)) for j in range(k)], axis=1)
                           for r in range(R)])
            reps = shift + rn / rd
        else:
            reps = shift + rn / rw[:, :, None]
    reps = reps.reshape(R, D * k)
    vcov = rep._vcov_replicates(reps, estimate.ravel())
    result = finish(_Columns(vcov), t, dom)
    result = RatioResult(result.estimate, result.vcov, result.deff, result.n, reps)
    if plan.kind == "ratio":
        assert t.den is not None  # a ratio
        den_total = t.den.sum(axis=0)
        delta = estimate - shift
        rep_resid = ((rn - delta * rd) / den_total).reshape(R, D * k)
        scores = _group_scores(t, plan)
        deff = _ratio_deff(result, t, rep_resid, scores.sum(axis=0), rep)
        result = RatioResult(result.estimate, result.vcov, deff, result.n, reps)
    return groups, rep, dom, result


def _gram_degf(groups: pd.DataFrame, plan: _Plan, rows: np.ndarray) -> int:
    """R's degf of replicate-weight columns on the groups ``rows``: the rank of the
    replicate weights (from their cross-products) minus one."""
    R = len(plan.replicate_weights)
    gram = np.zeros((R, R))
    for a, b in zip(*np.triu_indices(R), strict=True):
        value = float(groups.loc[rows, _gram(int(a), int(b))].sum())
        gram[a, b] = gram[b, a] = value
    if not gram.any():
        return -1
    # a matrix with the same cross-products as the rows' weights: its R factor (and so
    # R's pivoted QR rank) is theirs; eigenvalues at the rounding level of the sums are
    # 0 (a null direction's rounding, once a square root, could pass R's tolerance)
    values, vectors = np.linalg.eigh(gram)
    values = np.where(values > len(values) * np.finfo(float).eps * values.max(), values, 0.0)
    matrix = np.sqrt(np.clip(values, 0, None))[:, None] * vectors.T
    return qr_rank(np.asarray(np.linalg.qr(matrix, mode="r"))) - 1


def _replicate_degf(design: DaskReplicateDesign, groups: pd.DataFrame, plan: _Plan, rep,
                    rows_codes: np.ndarray | None, n_domains: int) -> np.ndarray:
    """Degrees of freedom of a replicate design (by domain, when ``rows_codes``)."""
    if design.base is not None:
        if rows_codes is None:
            return np.array([rep.degf])
        return rep._domain_degf(rows_codes, n_domains)
    given = design.options["degf"]
    if rows_codes is None or (n_domains == 1 and (rows_codes >= 0).all()):
        whole = np.ones(len(groups), dtype=bool)
        return np.array([given if given is not None else _gram_degf(groups, plan, whole)])
    return np.array([_gram_degf(groups, plan, rows_codes == d) for d in range(n_domains)])


def _degf(groups: pd.DataFrame, plan: _Plan, group_design: SurveyDesign,
          rows: np.ndarray | None = None, n_domains: int = 1) -> Any:
    """Degrees of freedom as in memory: PSUs minus strata among rows with a non-zero
    weight (each row a PSU in a design without clusters)."""
    if not plan.moments:
        if rows is None:
            return group_design.degf
        return group_design._domain_degf(rows, n_domains)
    if rows is None:
        return int(_degf(groups, plan, group_design, np.zeros(len(groups), dtype=np.int64))[0])
    first = group_design._stages[0]
    nonzero = groups[_NONZERO].to_numpy(dtype=float)
    inside = rows >= 0
    n_psu = np.bincount(rows[inside], weights=nonzero[inside], minlength=n_domains)
    present = np.zeros((first.n_strata, n_domains), dtype=bool)
    used = inside & (nonzero > 0)
    present[first.stratum[used], rows[used]] = True
    return (n_psu - present.sum(axis=0)).astype(int)


def estimate(design: Any, kind: str, variables, denominators=None, *, by=None,
             na_rm: bool = False, level: float = 0.95) -> pd.DataFrame:
    """``mean``, ``total`` or ``ratio`` of a design on a Dask DataFrame: the table the
    in-memory estimator returns (called by :func:`perception.mean` and the others).

    Parameters
    ----------
    design : DaskSurveyDesign
        The design.
    kind : {"mean", "total", "ratio"}
        The estimator.
    variables : str or sequence of str
        Numeric column(s) (the numerators of a ratio).
    denominators : str or sequence of str, optional
        The denominators of a ratio: one, or one per numerator.
    by : str or sequence of str, optional
        Domain column(s).
    na_rm : bool
        Leave out rows missing a value of the variables or by columns.
    level : float
        Confidence level.

    Returns
    -------
    DataFrame
        The in-memory estimator's table.

    Examples
    --------
    >>> estimate(d, "mean", ["q1", "q2"], by="region")                 # doctest: +SKIP
    """
    intervals.check_level(level)
    names, den_names = estimate_names(variables, denominators, kind)
    by_names = column_names(by, "by")
    plan = _with_shift(design, _make_plan(design, kind, names, den_names, by_names))
    groups, group_design, dom, result = _estimate(design, plan, na_rm)
    if kind == "ratio":
        labels = [{"variable": f"{a}/{b}"} for a, b in zip(names, den_names, strict=True)]
    else:
        labels = [{"variable": v} for v in names]
    df = None
    if plan.moments:
        df = np.full(dom.count, _degf(groups, plan, group_design))
    elif isinstance(design, DaskReplicateDesign):
        df = np.full(dom.count, _replicate_degf(design, groups, plan, group_design, None, 1)[0])
    return assemble(group_design, dom, labels, result.estimate, result.vcov, result.deff,
                    result.n, level, df=df)


def proportion(design: Any, variables, *, by=None,
               method: intervals.PropMethod = "logit",
               na_rm: bool = False, level: float = 0.95) -> pd.DataFrame:
    """Proportions of each level of categorical variable(s) of a design on a Dask
    DataFrame: the table of :func:`perception.proportion`.

    Parameters
    ----------
    design : DaskSurveyDesign
        The design.
    variables : str or sequence of str
        Categorical column(s).
    by : str or sequence of str, optional
        Domain column(s).
    method : {"logit", "beta", "mean", "xlogit", "asin"}
        The interval of each level.
    na_rm : bool
        Leave out rows missing a value of the variables or by columns.
    level : float
        Confidence level.

    Returns
    -------
    DataFrame
        The in-memory table.

    Examples
    --------
    >>> proportion(d, "trust_police", by="region")                     # doctest: +SKIP
    """
    intervals.check_level(level)
    intervals.check_prop_method(method)
    names = column_names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable")
    by_names = column_names(by, "by")
    plan = _make_plan(design, "proportion", names, [], by_names)
    levels = _levels(design.data, names)
    plan = _Plan(**{**plan.__dict__, "levels": levels})
    groups, group_design, dom, result = _estimate(design, plan, na_rm)
    labels = [{"variable": name, "category": value}
              for name, values in zip(names, levels, strict=True) for value in values]
    k = len(labels)
    se = np.sqrt(np.clip(np.diag(result.vcov), 0, None)).reshape(dom.count, k)
    rows_codes = _domain_rows(groups, by_names, dom)
    counts = groups[_ROWS].to_numpy(dtype=float)
    if plan.kept is not None:  # the rows a labelled design leaves out are outside its domain
        counts = groups[_IN].to_numpy(dtype=float)
        rows_codes = np.where(counts > 0, rows_codes, -1)
    if isinstance(design, DaskReplicateDesign):
        df = _replicate_degf(design, groups, plan, group_design, rows_codes, dom.count)
    else:
        df = _degf(groups, plan, group_design, rows_codes, dom.count)
    df = np.broadcast_to(np.asarray(df), (dom.count,))
    inside = rows_codes >= 0
    n_design = np.bincount(rows_codes[inside], weights=counts[inside], minlength=dom.count)
    if method == "logit" and isinstance(design, DaskReplicateDesign):
        low, high = replicate_logit_interval(group_design, None, None, dom, result.estimate,
                                             df, level, result.replicates)
    else:
        low, high = intervals.proportion_interval(result.estimate, se, df[:, None],
                                                  n_design[:, None], method, level)
    table = assemble(group_design, dom, labels, result.estimate, result.vcov, result.deff,
                     result.n, level, low, high, se, df=df)
    # the rows giving each answer in each domain (the outputs' small-count rule)
    active = groups[_ACTIVE].to_numpy(dtype=bool) & (dom.codes >= 0)
    table["n_category"] = np.stack([
        np.bincount(dom.codes[active], weights=groups[_cnt(j)].to_numpy(dtype=float)[active],
                    minlength=dom.count) for j in range(k)], axis=1).ravel().round().astype(int)
    table.attrs["method"] = method
    return table


def _domain_rows(groups: pd.DataFrame, by: list[str], dom: Domains) -> np.ndarray:
    """Domain code of every group whatever its missing variables (by present)."""
    if not by:
        return np.zeros(len(groups), dtype=np.int64)
    present = ~groups[by].isna().any(axis=1).to_numpy()
    if len(by) == 1:
        codes = pd.Index(dom.frame[by[0]]).get_indexer(groups[by[0]])
    else:
        codes = pd.MultiIndex.from_frame(dom.frame).get_indexer(
            pd.MultiIndex.from_frame(groups[by]))
    return np.where(present, codes, -1).astype(np.int64)


#: the replicate degrees of freedom of groups, for other subpackages
dask_replicate_degf = _replicate_degf
