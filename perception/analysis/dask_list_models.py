"""List-experiment diagnostics and regressions of designs on a Dask DataFrame: the
in-memory results, with every sum over rows made on the partitions.

- :func:`indicator_means` -- the diagnostics (:func:`perception.list_design_test`,
  :func:`perception.list_floor_ceiling`) are contrasts of domain means of indicators of
  the count (``count <= y``, ``count == y``) by list: one pass checks the counts and
  lists (the rows at fault come back, numbered across the partitions), the indicators
  are added to each partition and their means and covariance come from the Dask
  estimator (:func:`perception.mean`); the floor and ceiling also count the rows of
  each list and count, one more pass.
- :func:`regression_design` -- the design the regressions fit: the counts and lists
  checked in one pass, the list column as 0/1 numbers partition by partition. The
  linear model is then the Dask ``glm`` (:mod:`perception.survey.dask_models`).
- :func:`fit_ml` -- Imai's ML model. Its iterations are the in-memory ones
  (``list_ml.ml_iterations``: R's ``ictreg`` start, EM, then Newton-Raphson with
  step halving), written once as a generator of requests for sums over the rows. The
  likelihood of a row depends on its covariates, count and list only, so one pass
  groups the rows in the fit by those values and sums their weights (and replicate
  weights) per group; when there are at most ``MAX_PATTERNS`` groups (categorical
  covariates, ages in years), the in-memory fit runs on the groups, each a row weighted
  by its sum (the same sums, added in another order). Otherwise each request is one
  pass over the partitions (an EM iteration takes as many passes as its M-steps' Newton
  steps, about three near the optimum: persist the Dask DataFrame first), all
  replicates refitted in the same passes. Either way the fit uses the pieces of the Dask
  ``glm`` and ``olr`` (:mod:`perception.survey.dask_models`): their first pass (groups
  of the design columns, missing values, the levels of categorical covariates), the
  model matrix built on each partition, the sandwich from the estimating functions
  summed by group of the design columns in a last pass, and the replicate setup. The
  iterates are the in-memory ones but for the order of the sums, so the fit stops after
  the same iterations at the same optimum.

dask is imported only when a pass runs (``import perception`` never loads it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..survey.dask_design import DaskReplicateDesign, with_frame
from ..survey.dask_domains import domain_groups, with_degf
from ..survey.dask_models import (
    ModelSpec,
    PartitionFailure,
    group_by_design,
    guarded,
    map_partitions,
    model_rows,
    partition_lengths,
    prepare_model,
    prior_weights,
    replicate_setup,
    taylor_vcov,
)
from ..survey.dask_reduce import require_dask
from ..survey.dask_weighting import DaskWeightedDesign
from ..survey.distributed import dask_replicate_degf
from ..survey.estimators import mean
from ..survey.models import outcome_values
from ..survey.variance import replicate_vcov
from .list_experiments import (
    _list_codes,
    check_on_dask,
    count_indicator,
    count_table,
    rows_left_out,
)
from .list_ml import (
    MLFit,
    Request,
    Sums,
    _information,
    _observed,
    _scores,
    add_sums,
    fit_list_ml,
    list_log_likelihood,
    ml_iterations,
    ml_sums,
    replicate_refits,
)

__all__ = ["indicator_means", "regression_design", "replicate_degf", "fit_ml",
           "MAX_PATTERNS"]

#: up to this many distinct rows in the fit (covariates, count, list: categorical
#: covariates give few), the ML iterations run on them in memory after one pass; beyond,
#: each request of the iterations is one pass over the partitions
MAX_PATTERNS = 100_000
#: how many partitions' groups one task merges
_FAN_IN = 8


# ---------------------------------------------------------------- diagnostics --
def _used(frame: pd.DataFrame, count: str, treatment: str, others: Sequence[str]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A partition's counts and lists as numbers, and its rows that enter (a count, a
    list and every ``others`` value given; the values were checked by the first pass)."""
    y = pd.to_numeric(frame[count], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    t, _ = _list_codes(frame[treatment])
    used = ~np.isnan(y) & ~np.isnan(t)
    for name in others:
        used &= frame[name].notna().to_numpy()
    return y, t, used


def _with_indicators(frame: pd.DataFrame, count: str, treatment: str, others: list[str],
                     tests: dict[str, tuple[str, int]]) -> pd.DataFrame:
    """A partition with the indicators of the count (NaN on the rows that do not enter,
    as the in-memory design cut to the rows used)."""
    y, _, used = _used(frame, count, treatment, others)
    return frame.assign(**{name: np.where(used, count_indicator(y, test), np.nan)
                           for name, test in tests.items()})


def _count_partition(frame: pd.DataFrame, count: str, treatment: str, by: list[str],
                     kept: str | None) -> dict[tuple, int]:
    """A partition's rows that enter, by (``by`` values, list, count)."""
    y, t, used = _used(frame, count, treatment, by)
    if kept is not None:  # the rows a labelled design leaves out do not enter
        used &= frame[kept].to_numpy(dtype=bool)
    return count_table(frame.loc[used, by], t[used], y[used])


def indicator_means(design: Any, count: str, treatment: str, by_names: list[str], J: int,
                    na_rm: bool, tests: dict[str, tuple[str, int]], counted: bool = False
                    ) -> tuple[pd.DataFrame, dict[tuple, int]]:
    """The means by (``by``, list) of indicators of the count on a Dask DataFrame, as
    the in-memory diagnostics estimate them on the design cut to the rows that enter.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design (a labelled design already prepared: ``prepare_partitions``).
    count, treatment : str
        The count and list columns.
    by_names : list of str
        The domain columns.
    J : int
        The number of control items (counts above J, J + 1 refused).
    na_rm : bool
        Leave out rows missing the count, the list or a ``by`` value.
    tests : dict
        Indicator name -> ``("<=", y)`` or ``("==", y)``.
    counted : bool
        Also count the rows that enter by (``by`` values, list, count): one more pass.

    Returns
    -------
    (DataFrame, dict)
        The mean table of the indicators (``pc.mean``'s, with its keyed covariance) and
        the counts (empty without ``counted``).

    Examples
    --------
    >>> means, _ = indicator_means(d, "le_count", "le_list", [], 4, False,
    ...                            {"le_count<=0": ("<=", 0)})         # doctest: +SKIP
    """
    found = check_on_dask(design, count, treatment, by_names, J, na_rm)
    others = [c for c in by_names if c not in (count, treatment)]
    frame = design.data
    meta = _with_indicators(frame._meta, count, treatment, others, tests)
    work = with_frame(design, frame.map_partitions(_with_indicators, count, treatment, others,
                                                   tests, meta=meta))
    means = mean(work, list(tests), by=[*by_names, treatment], na_rm=True)
    if rows_left_out(found, [count, treatment, *others]):
        # the in-memory means are on the design cut to the rows that enter, whose
        # degrees of freedom are those of these rows
        groups = domain_groups(work, list(tests), [*by_names, treatment], na_rm=True,
                               argument="list experiment")
        with_degf(means, groups.degf_used, means.attrs.get("level", 0.95))
    counts: dict[tuple, int] = {}
    if counted:
        dask = require_dask()
        kept = getattr(design, "kept_column", None)
        read = list(dict.fromkeys([count, treatment, *others, *([kept] if kept else [])]))
        delayed = dask.delayed(_count_partition)
        for part in dask.compute(*[delayed(p, count, treatment, others, kept)
                                   for p in frame[read].to_delayed()]):
            for key, size in part.items():
                counts[key] = counts.get(key, 0) + size
    return means, counts


# ---------------------------------------------------------------- regressions --
def _list_numbers(frame: pd.DataFrame, treatment: str) -> pd.DataFrame:
    """A partition with the list column as 1.0, 0.0 or NaN (patsy reads a number)."""
    values, _ = _list_codes(frame[treatment])
    return frame.assign(**{treatment: values})


def regression_design(design: Any, count: str, treatment: str, n_control_items: int | None,
                      na_rm: bool) -> Any:
    """The design the regressions fit on a Dask DataFrame: its counts and lists checked
    (one pass, the in-memory errors with rows numbered across the partitions), its list
    column as 0/1 numbers. Rows missing the count or the list stay in the design, out of
    the fit (``na_rm``), as the in-memory design cut to the rows used.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design (a labelled design already prepared).
    count, treatment : str
        The count and list columns.
    n_control_items : int or None
        J, when known.
    na_rm : bool
        Leave out rows missing the count or the list (else an error names them).

    Returns
    -------
    DaskSurveyDesign or DaskReplicateDesign

    Raises
    ------
    EstimationError
        The counts or lists fail a check; a post-stratified, raked or calibrated design
        (the Dask models' SEs leave its adjustment out).

    Examples
    --------
    >>> work = regression_design(d, "le_count", "le_list", 4, False)   # doctest: +SKIP
    """
    base = design.base if isinstance(design, DaskReplicateDesign) else design
    if isinstance(base, DaskWeightedDesign):
        raise EstimationError(
            "list_regression of a post-stratified, raked or calibrated design on a Dask "
            "DataFrame is not available: the models on a Dask DataFrame (pc.glm) leave the "
            "adjustment's residuals out of their standard errors. Fit it on the data in "
            "memory (ddf.compute()), or estimate the prevalence by domain with "
            "pc.list_experiment, which takes them in"
        )
    check_on_dask(design, count, treatment, (), n_control_items, na_rm)
    frame = design.data
    meta = _list_numbers(frame._meta, treatment)
    return with_frame(design, frame.map_partitions(_list_numbers, treatment, meta=meta))


def replicate_degf(design: Any, count: str, treatment: str) -> int | None:
    """The degrees of freedom of a replicate design cut to the rows with a count and a
    list (the in-memory linear model's; one pass), None for another design.

    Examples
    --------
    >>> replicate_degf(jackknife, "le_count", "le_list")               # doctest: +SKIP
    39
    """
    if not isinstance(design, DaskReplicateDesign):
        return None
    groups = domain_groups(design, [count, treatment], [], na_rm=True,
                           argument="list experiment")
    return groups.degf_used


def _ml_partition(frame: pd.DataFrame, spec: ModelSpec, start: int, which: str,
                  scales: np.ndarray, J: int, requests: dict[int, Request]) -> dict[int, Sums]:
    """For each fit ``k``: the sums its request asks for (``list_ml.ml_sums``) over
    the partition's rows in the fit (the list heard rides in the model's offset
    column)."""
    rows = model_rows(frame, spec, start)
    priors = prior_weights(rows, spec, which, scales)
    return {k: ml_sums(request, rows.x, rows.y, rows.offset, J, priors[k])
            for k, request in requests.items()}


def _iterate(work: Any, spec: ModelSpec, which: str, scales: np.ndarray, J: int,
             fits: dict[int, Any]) -> dict[int, Any]:
    """Run the ML iterations ``fits`` (generators of ``list_ml.ml_iterations``)
    together: one pass answers every fit's request; each fit's result."""
    requests = {k: next(steps) for k, steps in fits.items()}
    results: dict[int, Any] = {}
    while requests:
        parts = map_partitions(work, _ml_partition, spec, which, scales, J, requests)
        following = {}
        for k in requests:
            answer = functools.reduce(add_sums, [part[k] for part in parts])
            try:
                following[k] = fits[k].send(answer)
            except StopIteration as stop:
                results[k] = stop.value
        requests = following
    return results


def _ml_final_partition(frame: pd.DataFrame, spec: ModelSpec, start: int, scale: float,
                        theta: np.ndarray, J: int, moments: bool, taylor: bool
                        ) -> dict[str, Any]:
    """At the estimate: the pseudo-log-likelihood (weights over their mean) and, for
    the sandwich, the weighted scores summed by group of the design columns and the
    observed information (design weights)."""
    rows = model_rows(frame, spec, start)
    x, y, t, w = rows.x, rows.y, rows.offset, rows.w
    ll_rows, _ = _observed(theta, x, y, t, J)
    out: dict[str, Any] = {"loglik": float((w / scale) @ ll_rows)}
    if taylor:
        scores, parts, _ = _scores(theta, x, y, t, J)
        out["groups"] = group_by_design(rows, spec, scores * w[:, None], moments)
        out["info"] = _information(x, parts, w)
    return out


def _distinct_rows(key: np.ndarray, weights: np.ndarray, limit: int
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct rows of ``key`` and the sums of ``weights`` over each (None: more
    than ``limit``)."""
    if not len(key):
        return key, weights
    distinct, inverse = np.unique(key, axis=0, return_inverse=True)
    if len(distinct) > limit:
        return None
    inverse = inverse.reshape(-1)
    sums = np.column_stack([np.bincount(inverse, weights=weights[:, j], minlength=len(distinct))
                            for j in range(weights.shape[1])])
    return distinct, sums


def _pattern_partition(frame: pd.DataFrame, spec: ModelSpec, start: int, rep_spec: ModelSpec | None,
                       limit: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The partition's rows in the fit grouped by their values (covariates, count,
    list), with their design weights and replicate weights summed."""
    rows = model_rows(frame, spec, start)
    weights = rows.w[:, None]
    if rep_spec is not None:
        R = (rep_spec.factors.shape[1] if rep_spec.replicates == "factors"
             else len(rep_spec.replicate_weights))
        weights = np.column_stack([weights, prior_weights(rows, rep_spec, "rep", np.ones(R)).T])
    return _distinct_rows(np.column_stack([rows.x, rows.y, rows.offset]), weights, limit)


def _merged(parts: list, limit: int) -> Any:
    """Several partitions' groups merged (on a worker): the first failure among them
    passed on, None when one has or all have more than ``limit`` groups."""
    for part in parts:
        if isinstance(part, PartitionFailure):
            return part
    if any(part is None for part in parts):
        return None
    return _distinct_rows(np.vstack([key for key, _ in parts]),
                          np.vstack([sums for _, sums in parts]), limit)


def _patterns(work: Any, spec: ModelSpec, rep_spec: ModelSpec | None, limit: int
              ) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows in the fit grouped by their values over all partitions (one pass, the
    partitions' groups merged _FAN_IN at a time on the workers, so the client receives
    at most ``limit`` groups), None when there are more than ``limit`` groups."""
    dask = require_dask()
    starts = np.concatenate([[0], np.cumsum(partition_lengths(work))[:-1]]).astype(int)
    level = [dask.delayed(guarded)(_pattern_partition, part, spec, int(start), rep_spec,
                                    limit)
             for part, start in zip(work.to_delayed(), starts, strict=True)]
    while len(level) > 1:
        level = [dask.delayed(_merged)(level[i:i + _FAN_IN], limit)
                 for i in range(0, len(level), _FAN_IN)]
    (result,) = dask.compute(level[0])
    if isinstance(result, PartitionFailure):  # bad input: the rows of the first partition at fault
        raise result.error
    return result


def _fit_patterns(patterns: tuple[np.ndarray, np.ndarray], p: int, J: int, n: int,
                  replicate: bool) -> tuple[tuple, float, np.ndarray | None]:
    """The in-memory fit (``list_ml.fit_list_ml``) on the groups of identical rows:
    the fit, the pseudo-log-likelihood and the replicates' refits."""
    key, sums = patterns
    x, y, t = key[:, :p], key[:, p], key[:, p + 1]
    w = sums[:, 0] / (sums[:, 0].sum() / n)  # over their mean in the fit, as in memory
    fit = fit_list_ml(x, y, t, J, w)
    loglik = list_log_likelihood(fit[0], x, y, t, J, w)
    betas = None
    if replicate and fit[3]:
        betas = replicate_refits((sums[:, 1 + r] for r in range(sums.shape[1] - 1)),
                                 sums.shape[1] - 1, x, y, t, J, fit[0], n)
    return fit, loglik, betas


def _fit_passes(work: Any, spec: ModelSpec, rep_spec: ModelSpec | None, sums: np.ndarray | None,
                scale: float, p: int, J: int, n: int) -> tuple[tuple, np.ndarray | None]:
    """The fit with one pass per request of its iterations (all replicates refitted in
    the same passes)."""
    fit = _iterate(work, spec, "main", np.array([scale]), J, {0: ml_iterations(p)})[0]
    betas = None
    if rep_spec is not None and fit[3]:
        assert sums is not None  # with rep_spec
        # each replicate refitted from the estimate, its weights over their mean in the
        # fit (a replicate without weight there: NA, as in memory)
        fits = {r: ml_iterations(p, fit[0]) for r in range(len(sums)) if sums[r] > 0}
        refits = _iterate(work, rep_spec, "rep", np.where(sums > 0, sums / n, 1.0), J, fits)
        betas = np.full((len(sums), 2 * p), np.nan)
        for r, (params, _, _, converged) in refits.items():
            if converged:
                betas[r] = params
    return fit, betas


def fit_ml(design: Any, count: str, rhs: str, treatment: str, J: int, na_rm: bool,
           max_patterns: int | None = None) -> MLFit:
    """Imai's ML model on a design on a Dask DataFrame (see the module notes): the
    estimates, their design-based covariance (the sandwich of the design, or the
    replicate refits) and degrees of freedom of the in-memory fit.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design of :func:`regression_design` (the list column as 0/1 numbers).
    count : str
        The count column.
    rhs : str
        The covariates (the right side of the formula).
    treatment : str
        The list column.
    J : int
        The number of control items.
    na_rm : bool
        Leave rows with a missing covariate, count or list out of the fit.
    max_patterns : int, optional
        Up to this many distinct rows (covariates, count, list), the iterations run on
        them in memory; beyond, one pass over the partitions per request (default
        ``MAX_PATTERNS``).

    Returns
    -------
    MLFit

    Examples
    --------
    >>> fit = fit_ml(work, "le_count", "C(region)", "le_list", 4, False)  # doctest: +SKIP
    >>> fit.converged                                                    # doctest: +SKIP
    True
    """
    formula = f"{count} ~ {rhs}"
    # the list column is read as the model's offset: every partition brings it with
    # the model matrix, and a row without it is out of the fit as a missing covariate
    prepared = prepare_model(design, formula, "gaussian", "identity", na_rm, offset=treatment)
    reader = functools.partial(outcome_values, family="gaussian", formula=formula)
    _, outcome = reader(prepared.y_frame)
    spec = ModelSpec(**{**prepared.spec.__dict__, "outcome": outcome, "reader": reader})
    work, groups, active, plan = prepared.work, prepared.groups, prepared.active, prepared.plan
    terms = list(spec.terms)
    p, n = len(terms), prepared.n
    rep = rep_spec = sums = None
    if prepared.replicate:
        rep, rep_spec, _, sums = replicate_setup(design, groups, spec, active,
                                                  prepared.by_columns, plan)
    patterns = _patterns(work, spec, rep_spec,
                         MAX_PATTERNS if max_patterns is None else max_patterns)
    loglik = np.nan
    if patterns is not None:
        fit, loglik, betas = _fit_patterns(patterns, p, J, n, prepared.replicate)
    else:
        # the weights over their mean in the fit, as in memory
        fit, betas = _fit_passes(work, spec, rep_spec, sums, prepared.mean_weight(rows=True),
                                 p, J, n)
    theta, em, newton, converged = fit
    taylor = converged and not prepared.replicate
    if taylor or patterns is None:
        final = map_partitions(work, _ml_final_partition, spec, prepared.mean_weight(rows=True), theta,
                     J, prepared.moments, taylor)
        if patterns is None:
            loglik = float(np.sum([part["loglik"] for part in final]))
    if not converged:
        return MLFit(theta, None, terms, np.nan, n, loglik, (em, newton), False)
    if rep is not None:
        assert betas is not None  # converged
        vcov = replicate_vcov(betas, theta, rep.scale, rep.rscales, rep.mse)
        # the degrees of freedom of the rows in the fit (the in-memory design cut to them)
        df_design = int(dask_replicate_degf(design, groups, plan, rep,
                                        np.where(active, 0, -1), 1)[0])
    else:
        information = np.sum([part["info"] for part in final], axis=0)
        vcov, df_design = taylor_vcov(prepared.base, groups, final, np.linalg.inv(information),
                                       [*terms, *terms], active, prepared.moments, plan)
    return MLFit(theta, vcov, terms, float(df_design + 1 - 2 * p), n, loglik, (em, newton),
                 True)
