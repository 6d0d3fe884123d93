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
- :func:`fit_ml` -- Imai's ML model, with the passes of the Dask ``glm`` and ``olr``
  (:mod:`perception.survey.dask_models`): its first pass (groups of the design columns,
  missing values, the levels of categorical covariates), its model matrix built on each
  partition, its Newton state with step halving, its sandwich from the estimating
  functions summed by group of the design columns and its replicate refits. Each step
  is one pass that sums the weighted log-likelihood, its gradient and information over
  the partitions.

The ML iterations differ from the in-memory ones (EM, then Newton): EM's slow steps
would be one pass each. The start is the in-memory one (R's ``ictreg`` start, one pass
per Newton step of its two logistic regressions), then Newton-Raphson on the observed
likelihood, each step halved until the likelihood does not fall; where the observed
information is not positive definite (far from the optimum) the step uses the
complete-data information instead (an EM-gradient step, Lange 1995: always uphill).
Both stop when a Newton step is below ``NEWTON_TOL`` (1e-10; relative to ``1 + |b|``
here), so both are within about that distance of the same optimum.

dask is imported only when a pass runs (``import perception`` never loads it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..survey.dask_design import with_frame
from ..survey.dask_domains import domain_groups, with_degf
from ..survey.dask_models import (
    _by_design,
    _map,
    _model_rows,
    _Newton,
    _newton_step,
    _prepare,
    _priors,
    _replicate_setup,
    _Spec,
    _taylor_vcov,
)
from ..survey.dask_reduce import _require_dask
from ..survey.estimators import mean
from ..survey.models import outcome_values
from .list_diagnostics import count_indicator, count_table
from .list_experiments import _list_codes, check_on_dask, rows_left_out
from .list_models import (
    NEWTON_TOL,
    MLFit,
    _information,
    _observed,
    _scores,
    logistic_moments,
    logistic_newton,
    start_excess,
)

__all__ = ["indicator_means", "regression_design", "fit_ml", "MAX_STEPS"]

#: steps of the ML fit on a Dask DataFrame (EM-gradient and Newton steps, one pass each,
#: step halvings included) before it gives up
MAX_STEPS = 200


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
        dask = _require_dask()
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

    Examples
    --------
    >>> work = regression_design(d, "le_count", "le_list", 4, False)   # doctest: +SKIP
    """
    check_on_dask(design, count, treatment, (), n_control_items, na_rm)
    frame = design.data
    meta = _list_numbers(frame._meta, treatment)
    return with_frame(design, frame.map_partitions(_list_numbers, treatment, meta=meta))


def _ml_sums(theta: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int,
             w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The weighted log-likelihood, its gradient, the observed information and the
    complete-data information (EM's: the blocks of the two regressions, no cross block)
    at ``theta``, summed over rows."""
    rows_ll, _ = _observed(theta, x, y, t, J)
    ll = float(np.sum(np.where(w != 0, w * rows_ll, 0.0)))
    scores, parts, _ = _scores(theta, x, y, t, J)
    complete = np.column_stack([parts[:, 0] + parts[:, 2], parts[:, 1] + parts[:, 2],
                                np.zeros(len(y))])
    return ll, scores.T @ w, _information(x, parts, w), _information(x, complete, w)


def _ml_partition(frame: pd.DataFrame, spec: _Spec, start: int, which: str,
                  scales: np.ndarray, J: int, points: dict[int, np.ndarray]) -> dict[int, tuple]:
    """For each fit ``k`` of ``points``: :func:`_ml_sums` over the partition's rows in
    the fit (the list heard rides in the model's offset column)."""
    rows = _model_rows(frame, spec, start)
    priors = _priors(rows, spec, which, scales)
    return {k: _ml_sums(theta, rows.x, rows.y, rows.offset, J, priors[k])
            for k, theta in points.items()}


def _start_partition(frame: pd.DataFrame, spec: _Spec, start: int, scales: np.ndarray,
                     J: int, psi: np.ndarray | None, beta: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and information of a starting regression at ``beta`` over the
    partition's rows: the control items' (control list, ``psi`` None) or the sensitive
    item's (treatment list, the excess over the control items' expected count)."""
    rows = _model_rows(frame, spec, start)
    w = _priors(rows, spec, "main", scales)[0]
    x, y, t = rows.x, rows.y, rows.offset
    if psi is None:
        keep = t == 0
        return logistic_moments(x[keep], y[keep], float(J), w[keep], beta)
    keep = t == 1
    return logistic_moments(x[keep], start_excess(x[keep], y[keep], psi, J), 1.0, w[keep],
                            beta)


def _start(work: Any, spec: _Spec, scales: np.ndarray, J: int) -> np.ndarray:
    """The in-memory starting values (``list_models._start``), one pass per Newton step
    of each starting regression."""
    p = len(spec.terms)

    def moments(psi: np.ndarray | None):
        def summed(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            parts = _map(work, _start_partition, spec, scales, J, psi, beta)
            return (np.sum([g for g, _ in parts], axis=0),
                    np.sum([h for _, h in parts], axis=0))
        return summed

    psi = logistic_newton(moments(None), np.zeros(p))
    delta = logistic_newton(moments(psi), np.zeros(p))
    return np.concatenate([delta, psi])


def _positive_definite(matrix: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.isfinite(matrix)))


def _maximise(work: Any, spec: _Spec, which: str, scales: np.ndarray, J: int,
              states: list[_Newton]) -> list[list[int]]:
    """Newton-Raphson with step halving for the fits ``states`` together, one pass per
    step (``dask_models``' Newton state); the complete-data information replaces the
    observed one where that is not positive definite. Returns each fit's (EM-gradient,
    Newton) steps."""
    steps = [[0, 0] for _ in states]
    while True:
        todo = {k: s.point for k, s in enumerate(states) if not s.done}
        if not todo:
            return steps
        parts = _map(work, _ml_partition, spec, which, scales, J, todo)
        for k in todo:
            pieces = [part[k] for part in parts]
            value = float(np.sum([piece[0] for piece in pieces]))
            gradient = np.sum([piece[1] for piece in pieces], axis=0)
            observed = np.sum([piece[2] for piece in pieces], axis=0)
            newton = _positive_definite(observed)
            information = observed if newton else np.sum([piece[3] for piece in pieces],
                                                         axis=0)
            before = states[k].iteration
            _newton_step(states[k], value, gradient, -information, MAX_STEPS, NEWTON_TOL)
            if states[k].iteration > before:  # a new step, from this point's information
                steps[k][int(newton)] += 1
    return steps


def _ml_final_partition(frame: pd.DataFrame, spec: _Spec, start: int, theta: np.ndarray,
                        J: int, moments: bool) -> dict[str, Any]:
    """The weighted scores summed by group of the design columns and the observed
    information (design weights) at the estimate."""
    rows = _model_rows(frame, spec, start)
    scores, parts, _ = _scores(theta, rows.x, rows.y, rows.offset, J)
    return {"groups": _by_design(rows, spec, scores * rows.w[:, None], moments),
            "info": _information(rows.x, parts, rows.w)}


def fit_ml(design: Any, count: str, rhs: str, treatment: str, J: int, na_rm: bool) -> MLFit:
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
    prepared = _prepare(design, formula, "gaussian", "identity", na_rm, offset=treatment)
    reader = functools.partial(outcome_values, family="gaussian", formula=formula)
    _, outcome = reader(prepared.y_frame)
    spec = _Spec(**{**prepared.spec.__dict__, "outcome": outcome, "reader": reader})
    work, groups, active, plan = prepared.work, prepared.groups, prepared.active, prepared.plan
    terms = list(spec.terms)
    n_par = 2 * len(terms)
    # the weights over their mean in the fit, as in memory (the likelihood's scale)
    scale = np.array([prepared.mean_weight(rows=True)])
    main = [_Newton(_start(work, spec, scale, J))]
    em, newton = _maximise(work, spec, "main", scale, J, main)[0]
    state = main[0]
    theta = state.theta if state.theta is not None else state.point
    converged = bool(state.converged and not state.failed)
    if converged and prepared.replicate:
        rep, rep_spec, df_design, sums = _replicate_setup(
            design, groups, spec, active, prepared.by_columns, plan)
        states = [_Newton(theta.copy()) for _ in sums]
        for r, total in enumerate(sums):
            if not total > 0:  # no weight in the fit: NA, as in memory
                states[r].done = True
        _maximise(work, rep_spec, "rep", np.where(sums > 0, sums, 1.0), J, states)
        betas = np.full((len(sums), n_par), np.nan)
        for r, fitted in enumerate(states):
            if fitted.converged and not fitted.failed:
                betas[r] = fitted.theta
        vcov: np.ndarray | None = rep._vcov_replicates(betas, theta)
    elif converged:
        final = _map(work, _ml_final_partition, spec, theta, J, prepared.moments)
        information = np.sum([part["info"] for part in final], axis=0)
        converged = _positive_definite(information)  # a maximum, not a saddle
        vcov, df_design = (_taylor_vcov(prepared.base, groups, final,
                                        np.linalg.inv(information), [*terms, *terms],
                                        active, prepared.moments, plan)
                           if converged else (None, 0))
    if not converged:
        return MLFit(theta, None, terms, np.nan, prepared.n, float(state.value), (em, newton),
                     False, first="EM-gradient {} steps")
    return MLFit(theta, vcov, terms, float(df_design + 1 - n_par), prepared.n,
                 float(state.value), (em, newton), True, first="EM-gradient {} steps")
