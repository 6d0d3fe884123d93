"""Regression models of a list experiment, with design-based standard errors.

Who holds the sensitive item? Two models of Imai (2011) relate the count of a list
experiment to covariates x:

- ``method="linear"`` -- the difference-in-means model ``Y = x'b + T x'd + e``: ``x'd`` is
  the probability of the sensitive item (a linear probability model) and ``x'b`` the
  expected count of control items. Fitted as the design-based linear regression
  ``count ~ (x) * treatment`` by :func:`perception.glm` (R's ``svyglm``; the list package's
  ``ictreg(method = "lm")`` without the design), so its SEs are the sandwich of the
  design, or the replicates' refits.
- ``method="ml"`` -- the maximum-likelihood model: the sensitive item is a logistic
  regression, ``P(Z = 1 | x) = g(x'delta)``, and the count of control items a binomial
  one, ``Y(0) | x ~ Binomial(J, g(x'psi))`` (the "constrained" model of Imai 2011: the
  control items do not depend on Z). The weighted pseudo-log-likelihood

      sum_i w_i log[ T_i {g_i b(Y_i - 1) + (1 - g_i) b(Y_i)} + (1 - T_i) b(Y_i) ]

  (``b`` the binomial probabilities) is maximised by the EM algorithm of Imai (2011) --
  the E-step gives each treatment-list respondent's probability of holding the
  sensitive item, the M-steps are weighted logistic and binomial regressions -- and
  polished by Newton-Raphson on the observed likelihood. Its SEs are design-based: the
  sandwich ``A^-1 B A^-1`` with ``A`` the weighted observed information and ``B`` the
  design covariance of the total of the per-respondent scores ``w_i s_i`` (computed by
  the design's variance engine: strata, clusters, fpc, calibration), or, for a
  replicate design, the replicate variance of the refits with each replicate's weights.

The iterations of the ML fit are written once (:func:`ml_iterations`, a generator of
requests for sums over the rows): :func:`fit_list_ml` answers them from the rows in
memory, :mod:`perception.analysis.dask_list_models` from the partitions of a Dask
DataFrame, so both paths take the same steps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from ..errors import EstimationError
from ..survey import intervals
from ..survey.checks import check_design
from ..survey.dask_labelling import prepare_partitions
from ..survey.design import ReplicateDesign, SurveyDesign
from ..survey.fitting import influence_vcov
from ..survey.formulas import model_columns, model_frame
from ..survey.models import coefficient_table, glm, outcome_values
from ..survey.valid_values import prepare
from ..survey.variance import replicate_vcov
from .list_experiments import list_columns

__all__ = ["list_regression", "ListRegression", "fit_list_ml", "list_log_likelihood"]

Design = SurveyDesign | ReplicateDesign
Method = Literal["ml", "linear"]

COEFFICIENT_COLUMNS = ["estimate", "se", "t", "p", "ci_low", "ci_high"]
#: EM: stop when the pseudo-log-likelihood per respondent gains less than this, or after
#: EM_MAX_ITER iterations (EM is slow near the optimum); Newton-Raphson on the observed
#: likelihood then converges quadratically, until the largest step is below NEWTON_TOL
EM_TOL = 1e-8
EM_MAX_ITER = 5000
NEWTON_TOL = 1e-10
NEWTON_MAX_ITER = 50


# ------------------------------------------------------------------ the result --
@dataclass(frozen=True, eq=False)
class ListRegression:
    """A fitted list-experiment regression (``list_regression``).

    Attributes
    ----------
    sensitive : DataFrame
        The model of the sensitive item, indexed by term: ``estimate``, ``se``, ``t``,
        ``p``, ``ci_low``, ``ci_high``. ``method="ml"``: logit coefficients of
        ``P(Z = 1 | x)``; ``"linear"``: coefficients of the probability itself.
    control : DataFrame
        The model of the count of control items, the same columns: ``"ml"``: logit
        coefficients of each control item's probability; ``"linear"``: of the expected
        count.
    vcov : DataFrame
        Design-based covariance of every coefficient, terms named ``sensitive:<term>``
        and ``control:<term>``.
    method : str
        "ml" or "linear", as given.
    formula : str
        The formula, as given.
    treatment : str
        The column of the list heard, as given.
    n_control_items : int or None
        J (None for a linear model fitted without it).
    n : int
        Rows that entered the fit.
    df_residual : float
        Degrees of freedom of the t tests: design df + 1 - number of coefficients (as
        R's ``svyglm``).
    level : float
        Confidence level of the intervals.
    log_likelihood : float or None
        The weighted pseudo-log-likelihood at the estimate, weights scaled to a mean of 1
        (``"ml"``; the log-likelihood itself with equal weights).
    iterations : tuple of int
        EM iterations (``"ml"``) then Newton steps, as ``(em, newton)``.
    """

    sensitive: pd.DataFrame
    control: pd.DataFrame
    vcov: pd.DataFrame
    method: str
    formula: str
    treatment: str
    n_control_items: int | None
    n: int
    df_residual: float
    level: float
    log_likelihood: float | None = None
    iterations: tuple[int, int] = (0, 0)

    def summary(self) -> str:
        """Printable report of both models.

        Returns
        -------
        str
            The title, the size of the fit, then the coefficients of both models.

        Examples
        --------
        >>> d = pc.demo_survey(seed=1).design()
        >>> fit = pc.list_regression(d, "le_count ~ treated", treatment="le_list",
        ...                          n_control_items=4, method="linear")
        >>> print(fit.summary().splitlines()[0])
        List experiment regression (linear, design-based): le_count ~ treated, treatment le_list, J = 4
        """
        what = {"ml": "maximum likelihood", "linear": "linear"}[self.method]
        j = "" if self.n_control_items is None else f", J = {self.n_control_items}"
        lines = [f"List experiment regression ({what}, design-based): {self.formula}, "
                 f"treatment {self.treatment}{j}",
                 f"n = {self.n}, df = {self.df_residual:g}"
                 + ("" if self.log_likelihood is None
                    else f", weighted log-likelihood = {self.log_likelihood:.4f}"), "",
                 "Sensitive item" + (" (logit of its probability):" if self.method == "ml"
                                     else " (its probability):"),
                 self.sensitive.to_string(float_format="%.4f"), "",
                 "Control items" + (" (logit of each item's probability):"
                                    if self.method == "ml" else " (expected count):"),
                 self.control.to_string(float_format="%.4f")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------- the function --
def list_regression(
    design: Design,
    formula: str,
    *,
    treatment: str,
    n_control_items: int | None = None,
    method: Method = "ml",
    na_rm: bool = False,
    level: float = 0.95,
) -> ListRegression:
    """Regress the sensitive item of a list experiment on covariates, design-based.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design; on a Dask DataFrame (``pc.SurveyDesign(ddf, ...)``, its
        ``.replicate()`` or replicate-weight columns) the same fit: the linear model by
        the Dask ``glm``, the ML model's iterations on the rows grouped by their values
        after one pass (one pass per step beyond ``dask_list_models.MAX_PATTERNS``
        groups), its sandwich from the PSU totals of a last pass. A labelled design
        (``questionnaire=``) leaves the declared missing codes of the count, the list
        and the covariates out.
    formula : str
        ``"count ~ covariates"`` (patsy, as ``perception.glm``): the count column, then
        the covariates of both models (``"le_count ~ 1"``: no covariates).
    treatment : str
        The list heard: 1 (or True) treatment list, 0 (or False) control list.
    n_control_items : int, optional
        J, the number of control items (required by ``"ml"``; counts above J on the
        control list or J + 1 on the treatment list are refused).
    method : {"ml", "linear"}
        ``"ml"`` (Imai's maximum-likelihood model, fitted by EM) or ``"linear"`` (the
        difference-in-means model).
    na_rm : bool
        Leave out rows with a missing count, list or covariate (they keep their PSU in
        the variance); otherwise a missing value is an error naming the column.
    level : float
        Confidence level of the intervals (t on ``df_residual``).

    Returns
    -------
    ListRegression
        With ``sensitive``, ``control``, ``vcov`` and ``summary()``.

    Examples
    --------
    Abuse by the security forces in the built-in example, by region (Mopti, where the
    violence has been worst, is the reference; Ségou is region 2):

    >>> d = pc.demo_survey(seed=1).design()
    >>> fit = pc.list_regression(d, "le_count ~ C(region)", treatment="le_list",
    ...                          n_control_items=4, method="ml")
    >>> fit.sensitive[["estimate", "se"]].round(2)
                    estimate    se
    term
    Intercept          -0.79  0.18
    C(region)[T.2]     -0.44  0.27

    The same fit of the waves stored as Parquet files, on a Dask cluster:

    >>> import dask.dataframe as dd                                    # doctest: +SKIP
    >>> big = pc.SurveyDesign(dd.read_parquet("waves/"), weights="w_final",
    ...                       strata="stratum", psu="psu_id")          # doctest: +SKIP
    >>> pc.list_regression(big, "le_count ~ C(region)", treatment="le_list",
    ...                    n_control_items=4).sensitive                # doctest: +SKIP

    Notes
    -----
    R: ``method="linear"`` is ``svyglm(count ~ (x) * treatment, design)``, the coefficients
    of ``treatment`` and its interactions forming the sensitive model; ``list::ictreg(count
    ~ x, treat = "treatment", J = J, method = "ml")`` fits the ML model without weights,
    strata or clusters (its SEs assume simple random sampling). With equal weights and
    one row per PSU the estimates here equal the unweighted ML estimates.
    """
    on_dask = getattr(design, "is_dask", False)
    if not on_dask:
        check_design(design)
    intervals.check_level(level)
    if method not in ("ml", "linear"):
        raise EstimationError(f"method={method!r} is not a model; choose 'ml' or 'linear'")
    if not isinstance(formula, str) or "~" not in formula:
        raise EstimationError(
            f"formula must be 'count ~ covariates' such as 'le_count ~ sex + C(age_grp)', got "
            f"{formula!r}"
        )
    lhs, rhs = (part.strip() for part in formula.split("~", 1))
    if method == "ml" and n_control_items is None:
        raise EstimationError(
            "method='ml' needs n_control_items, the number of control items J (the count of "
            "control items is Binomial(J, p))"
        )
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", lhs) or lhs not in design.data.columns:
        raise EstimationError(
            f"the left side of {formula!r} must be the count column of the list experiment, "
            f"got {lhs!r}"
        )
    if re.search(rf"\b{re.escape(treatment)}\b", rhs):
        raise EstimationError(
            f"the covariates of {formula!r} include the list column {treatment!r}: the models "
            "are interacted with it already; leave it out of the formula"
        )
    # the questionnaire's missing codes and skipped questions out (as list_experiment
    # and the models: survey/valid_values, on a Dask DataFrame survey/dask_labelling.py)
    covariates = [c for c in model_columns(f"{lhs} ~ {rhs or '1'}", design.data) if c != lhs]
    prepared = (prepare_partitions if on_dask else prepare)(
        design, [lhs], [treatment, *covariates], purpose="model response")
    df_design: int | None = None
    if on_dask:  # the checks in one pass, the fits summed on the workers
        from . import dask_list_models

        work = dask_list_models.regression_design(prepared.design, lhs, treatment,
                                                  n_control_items, na_rm)
        # a replicate design's df: of the rows with a count and a list, as the
        # in-memory design cut to them (the Dask glm's are those of the whole design)
        df_design = (dask_list_models.replicate_degf(work, lhs, treatment)
                     if method == "linear" else None)
    else:
        design = prepared.design
        columns = list_columns(design, lhs, treatment, n_control_items, (), na_rm)
        # the list column as 0.0/1.0 floats (patsy reads it as a number), rows outside NaN
        work = design.with_data(design.data.assign(**{treatment: columns.treatment}))
        work = work.subset(columns.rows)
    if method == "linear":
        return _linear(work, lhs, rhs or "1", treatment, n_control_items, na_rm, level,
                       formula, df_design)
    assert n_control_items is not None  # checked above
    J = int(n_control_items)
    if on_dask:
        fit = dask_list_models.fit_ml(work, lhs, rhs or "1", treatment, J, na_rm)
    else:
        fit = _maximum_likelihood(work, lhs, rhs or "1", treatment, J, na_rm)
    if not fit.converged:
        raise EstimationError(
            f"the ML list-experiment model {formula!r} did not converge ({fit.steps}): the "
            "sensitive item may be (nearly) absent or present for a group of the covariates, "
            "or the covariates separate the lists. Drop or merge covariates, or use "
            "method='linear'"
        )
    return _ml_result(fit, formula, treatment, J, level)


def _linear(design, count: str, rhs: str, treatment: str, J, na_rm: bool, level: float,
            formula: str, df_design: int | None = None) -> ListRegression:
    """The linear model by ``glm`` (``df_design``: the design df of the rows with a
    count and a list, when it is not the fit's)."""
    full = f"{count} ~ {treatment}" if rhs == "1" else f"{count} ~ ({rhs}) * {treatment}"
    fit = glm(design, full, family="gaussian", na_rm=na_rm, level=level)
    coef = fit.coefficients
    df_residual = float(fit.df_residual)
    if df_design is not None and df_design + 1 - len(coef) != df_residual:
        df_residual = float(df_design + 1 - len(coef))
        coef = coefficient_table(coef["estimate"].to_numpy(dtype=float),
                                 fit.vcov.to_numpy(dtype=float), list(coef.index),
                                 df_residual, level)
    sensitive_terms, control_terms, names = [], [], {}
    for term in coef.index:
        factors = term.split(":")
        if treatment in factors:
            rest = [f for f in factors if f != treatment]
            label = ":".join(rest) if rest else "Intercept"
            sensitive_terms.append(term)
            names[term] = f"sensitive:{label}"
        else:
            control_terms.append(term)
            names[term] = f"control:{term}"

    def part(terms: list[str]) -> pd.DataFrame:
        out = coef.loc[terms, COEFFICIENT_COLUMNS].copy()
        out.index = pd.Index([names[t].split(":", 1)[1] for t in terms], name="term")
        return out

    vcov = fit.vcov.rename(index=names, columns=names)
    return ListRegression(
        sensitive=part(sensitive_terms), control=part(control_terms), vcov=vcov,
        method="linear", formula=formula, treatment=treatment, n_control_items=J,
        n=fit.n, df_residual=df_residual, level=level,
    )


# ------------------------------------------------------------- the ML model --
def list_log_likelihood(params: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray,
                        J: int, w: np.ndarray | None = None) -> float:
    """The (weighted) log-likelihood of Imai's ML model at ``params = [delta, psi]``.

    Parameters
    ----------
    params : (2p,) the sensitive model's coefficients, then the control items' model's.
    x : (n, p) covariates (with the intercept); y : (n,) counts; t : (n,) 0/1 list heard.
    J : the number of control items. w : (n,) weights (default 1).

    Examples
    --------
    >>> x = np.ones((3, 1)); y = np.array([0.0, 1, 2]); t = np.array([0.0, 1, 1])
    >>> round(list_log_likelihood(np.zeros(2), x, y, t, 1), 4)
    -2.7726
    """
    ll, _ = _observed(params, x, y, t, J)
    weights = np.ones(len(y)) if w is None else w
    return float(weights @ ll)


def _observed(params: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood and the posterior probability of the sensitive item (0 on
    the control list)."""
    p = x.shape[1]
    eta_d, eta_p = x @ params[:p], x @ params[p:]
    log_pi, log_1mpi = -np.logaddexp(0.0, -eta_d), -np.logaddexp(0.0, eta_d)
    log_q, log_1mq = -np.logaddexp(0.0, -eta_p), -np.logaddexp(0.0, eta_p)
    log_b = _log_binomial(y, J, log_q, log_1mq)
    log_b1 = _log_binomial(y - 1, J, log_q, log_1mq)
    treated = t == 1
    yes = log_pi + log_b1
    no = log_1mpi + log_b
    with np.errstate(invalid="ignore"):
        mixture = np.logaddexp(yes, no)
        ll = np.where(treated, mixture, log_b)
        posterior = np.where(treated, np.exp(yes - mixture), 0.0)
    return ll, np.nan_to_num(posterior)


def _log_binomial(k: np.ndarray, J: int, log_q: np.ndarray, log_1mq: np.ndarray
                  ) -> np.ndarray:
    """log P(K = k) for K ~ Binomial(J, q), -inf outside 0..J."""
    inside = (k >= 0) & (k <= J)
    kk = np.where(inside, k, 0.0)
    log_choose = special.gammaln(J + 1) - special.gammaln(kk + 1) - special.gammaln(J - kk + 1)
    return np.where(inside, log_choose + kk * log_q + (J - kk) * log_1mq, -np.inf)


def _scores(params: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row scores (n, 2p), the per-row weights of the Hessian blocks and the
    posterior: ``H_i = -[a xx', c xx'; c xx', b xx']`` with (a, b, c) returned."""
    p = x.shape[1]
    pi = special.expit(x @ params[:p])
    q = special.expit(x @ params[p:])
    _, r = _observed(params, x, y, t, J)
    s_delta = (t * (r - pi))[:, None] * x
    s_psi = (y - t * r - J * q)[:, None] * x
    v = t * r * (1 - r)
    a = t * pi * (1 - pi) - v
    b = J * q * (1 - q) - v
    c = v  # the cross block of -H is +v xx'
    return np.hstack([s_delta, s_psi]), np.column_stack([a, b, c]), r


def _information(x: np.ndarray, parts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weighted observed information ``-sum w_i H_i``."""
    a, b, c = (w * parts[:, k] for k in range(3))
    xa, xb, xc = x.T @ (x * a[:, None]), x.T @ (x * b[:, None]), x.T @ (x * c[:, None])
    return np.block([[xa, xc], [xc, xb]])


def logistic_moments(x: np.ndarray, successes: np.ndarray, trials: float, w: np.ndarray,
                     beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and the information of a weighted (binomial) logistic regression at
    ``beta``: sums over the rows (a partition's add up)."""
    mu = special.expit(x @ beta)
    grad = x.T @ (w * (successes - trials * mu))
    hess = x.T @ (x * (w * trials * mu * (1 - mu))[:, None])
    return grad, hess


def start_excess(x: np.ndarray, y: np.ndarray, psi: np.ndarray, J: int) -> np.ndarray:
    """The treatment list's counts minus their expected control count, clipped to
    0.02..0.98: the outcome of the sensitive item's starting regression."""
    return np.clip(y - J * special.expit(x @ psi), 0.02, 0.98)


# The iterations of the ML fit are written once, as a generator: it yields what it needs
# summed over the rows -- a request -- and receives the sums. ``fit_list_ml`` answers
# from the arrays in memory; on a Dask DataFrame each answer is one pass over the
# partitions (``dask_list_models``), several fits (the replicates) in the same passes.
# A request is a tuple: ("control", beta) and ("treated", psi, beta), the starting
# regressions; ("em", theta, delta, psi), the log-likelihood at theta and the M-steps'
# regressions at delta and psi (None: not needed) with the posterior at theta;
# ("newton", theta), the log-likelihood, its gradient and the observed information.
Request = tuple
Sums = tuple


def ml_sums(request: Request, x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int,
            w: np.ndarray, cache: dict | None = None) -> Sums:
    """The sums over rows that ``request`` asks for (see :func:`ml_iterations`).

    Parameters
    ----------
    request : tuple
        What to sum, and where.
    x, y, t, J, w
        The rows: covariates, counts, lists (0/1), J, weights.
    cache : dict, optional
        Keeps the posterior of the last ``theta`` of an "em" request (the M-steps ask
        several times at one theta).

    Returns
    -------
    tuple
        "control", "treated": (gradient, information) of the regression; "em":
        (log-likelihood, weight total, the sensitive item's M-step moments or None, the
        control items' or None); "newton": (log-likelihood, gradient, information).

    Examples
    --------
    >>> x = np.ones((3, 1)); y = np.array([0.0, 1, 2]); t = np.array([0.0, 1, 1])
    >>> round(ml_sums(("newton", np.zeros(2)), x, y, t, 1, np.ones(3))[0], 4)
    -2.7726
    """
    kind = request[0]
    if kind == "control":
        keep = t == 0
        return logistic_moments(x[keep], y[keep], float(J), w[keep], request[1])
    if kind == "treated":
        keep = t == 1
        return logistic_moments(x[keep], start_excess(x[keep], y[keep], request[1], J), 1.0,
                                w[keep], request[2])
    theta = request[1]
    if kind == "em":
        if cache is not None and cache.get("theta") is theta:
            rows, r = cache["rows"], cache["r"]
        else:
            rows, r = _observed(theta, x, y, t, J)
            if cache is not None:
                cache.update(theta=theta, rows=rows, r=r)
        delta, psi = request[2], request[3]
        keep = t == 1
        return (float(w @ rows), float(w.sum()),
                None if delta is None else logistic_moments(x[keep], r[keep], 1.0, w[keep],
                                                            delta),
                None if psi is None else logistic_moments(x, y - t * r, float(J), w, psi))
    rows, _ = _observed(theta, x, y, t, J)
    scores, parts, _ = _scores(theta, x, y, t, J)
    return float(w @ rows), scores.T @ w, _information(x, parts, w)


def add_sums(a: Any, b: Any) -> Any:
    """Two answers to one request added (a partition's to the others').

    Examples
    --------
    >>> add_sums((1.0, None, np.ones(2)), (2.0, None, np.ones(2)))
    (3.0, None, array([2., 2.]))
    """
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(add_sums(u, v) for u, v in zip(a, b, strict=True))
    return a + b


def _logistic(request, beta: np.ndarray):
    """Newton-Raphson of a starting regression from ``beta`` (``request(beta)`` its
    request); at most 25 steps, until a step is below 1e-10."""
    for _ in range(25):
        grad, hess = yield request(beta)
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def _m_steps(theta: np.ndarray, p: int, first: Sums):
    """The two M-steps of an EM iteration from ``theta`` (the posterior at theta): the
    sensitive item's logistic regression of the posterior on the treatment list and the
    control items' binomial regression of ``y - t r``, each Newton-Raphson from its part
    of theta (at most 25 steps, until a step is below 1e-10), both in the same requests."""
    betas = [theta[:p].copy(), theta[p:].copy()]
    steps = [0, 0]
    done = [False, False]
    sums = first
    while True:
        for k in range(2):
            if done[k]:
                continue
            grad, hess = sums[2 + k]
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
            betas[k] = betas[k] + step
            steps[k] += 1
            done[k] = steps[k] >= 25 or np.max(np.abs(step)) < 1e-10
        if all(done):
            return betas
        sums = yield ("em", theta, None if done[0] else betas[0], None if done[1] else betas[1])


def ml_iterations(p: int, start: np.ndarray | None = None):
    """The iterations of the ML fit (a generator of requests, see :func:`ml_sums`): the
    starting values (R's ``ictreg`` start) unless ``start``; EM until the
    pseudo-log-likelihood per unit of weight gains less than ``EM_TOL``; then
    Newton-Raphson on the observed likelihood with step halving, until a step is below
    ``NEWTON_TOL``. Returns ``(params, EM iterations, Newton steps, converged)``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = np.ones((2000, 1)); t = (rng.random(2000) < 0.5).astype(float)
    >>> y = rng.binomial(3, 0.4, 2000) + t * (rng.random(2000) < 0.3)
    >>> answer = lambda request: ml_sums(request, x, y, t, 3, np.ones(2000))
    >>> params, em, newton, converged = run_iterations(ml_iterations(1), answer)
    >>> converged, em > 0
    (True, True)
    """
    if start is None:
        # the control items on the control list; the sensitive item on the treatment
        # list's counts minus their expected control count
        psi = yield from _logistic(lambda beta: ("control", beta), np.zeros(p))
        delta = yield from _logistic(lambda beta: ("treated", psi, beta), np.zeros(p))
        params = np.concatenate([delta, psi])
    else:
        params = np.array(start, dtype=float)
    # the log-likelihood here and the first steps of the M-steps, in one request
    sums = yield ("em", params, params[:p], params[p:])
    ll_old = sums[0] / sums[1]
    em = 0  # the iterations done, reported
    for em in range(1, EM_MAX_ITER + 1):  # noqa: B007 (em is the count returned)
        delta, psi = yield from _m_steps(params, p, sums)
        params = np.concatenate([delta, psi])
        sums = yield ("em", params, params[:p], params[p:])
        ll = sums[0] / sums[1]
        if abs(ll - ll_old) < EM_TOL:
            break
        ll_old = ll
    converged = False
    newton = 0
    here = yield ("newton", params)
    for newton in range(1, NEWTON_MAX_ITER + 1):  # noqa: B007 (returned)
        base, grad, info = here
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        size = 1.0
        trial = None
        while size > 1e-6:  # step halving: the likelihood must not fall
            trial = yield ("newton", params + size * step)
            if trial[0] >= base - 1e-12 * abs(base):
                break
            trial = None
            size /= 2
        params = params + size * step
        if np.max(np.abs(size * step)) < NEWTON_TOL:
            converged = True
            break
        here = trial if trial is not None else (yield ("newton", params))
    return params, em, newton, converged


def run_iterations(steps, answer) -> Any:
    """Run the generator ``steps`` to its end, ``answer(request)`` answering each
    request; its return value.

    Examples
    --------
    >>> def steps():
    ...     total = yield "a request"
    ...     return total + 1
    >>> run_iterations(steps(), lambda request: 41)
    42
    """
    try:
        request = next(steps)
        while True:
            request = steps.send(answer(request))
    except StopIteration as stop:
        return stop.value


def fit_list_ml(x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int, w: np.ndarray,
                start: np.ndarray | None = None) -> tuple[np.ndarray, int, int, bool]:
    """Maximise the weighted pseudo-log-likelihood of Imai's ML model.

    EM (the E-step: each treatment-list respondent's posterior probability ``r`` of the
    sensitive item; the M-steps: a weighted logistic regression of ``r`` for the
    sensitive item, a weighted binomial regression of ``y - t r`` out of J for the
    control items) until the likelihood gains less than ``EM_TOL``, then Newton-Raphson
    on the observed likelihood with step halving (:func:`ml_iterations`, its sums over
    the rows in memory).

    Returns
    -------
    (params, EM iterations, Newton steps, converged)

    Examples
    --------
    Three control items true with probability 0.4 each, a sensitive item held by 30%:

    >>> rng = np.random.default_rng(3)
    >>> x = np.ones((5000, 1)); t = (rng.random(5000) < 0.5).astype(float)
    >>> y = rng.binomial(3, 0.4, 5000) + t * (rng.random(5000) < 0.3)
    >>> params, *_, converged = fit_list_ml(x, y, t, 3, np.ones(5000))
    >>> np.round(special.expit(params), 2).tolist(), converged
    ([0.31, 0.39], True)
    """
    cache: dict = {}
    return run_iterations(ml_iterations(x.shape[1], start),
                          lambda request: ml_sums(request, x, y, t, J, w, cache))


@dataclass(frozen=True)
class MLFit:
    """A fit of the ML model (in memory or on the partitions of a Dask DataFrame).

    Attributes
    ----------
    params : (2p,) the sensitive model's coefficients, then the control items' model's.
    vcov : (2p, 2p) their design-based covariance (None when not converged).
    terms : the covariates' terms.
    df_residual : design df + 1 - 2p.
    n : rows in the fit.
    log_likelihood : the weighted pseudo-log-likelihood, weights over their mean.
    iterations : (EM iterations, Newton steps).
    converged : whether the iterations converged.
    """

    params: np.ndarray
    vcov: np.ndarray | None
    terms: list[str]
    df_residual: float
    n: int
    log_likelihood: float
    iterations: tuple[int, int]
    converged: bool

    @property
    def steps(self) -> str:
        """The iterations done, for a message."""
        em, newton = self.iterations
        return f"EM {em} iterations, Newton {newton} steps"


def _maximum_likelihood(design, count: str, rhs: str, treatment: str, J: int, na_rm: bool
                        ) -> MLFit:
    model_formula = f"{count} ~ {rhs}"
    mf = model_frame(design, model_formula, na_rm,
                     lambda y: outcome_values(y, "gaussian", model_formula))
    rows = mf.rows
    x = mf.x[rows]
    y = mf.y[rows]
    t = design.data[treatment].to_numpy(dtype=float)[rows]
    w_all = design.weight_array
    w = w_all[rows] / w_all[rows].mean()
    params, em, newton, converged = fit_list_ml(x, y, t, J, w)
    terms = list(mf.terms)
    ll = list_log_likelihood(params, x, y, t, J, w)
    if not converged:
        return MLFit(params, None, terms, np.nan, int(rows.sum()), ll, (em, newton), False)
    p = x.shape[1]
    n_par = 2 * p
    fit_design = design if rows.all() or np.array_equal(rows, design.in_domain) \
        else design.subset(rows)
    if design.is_replicate:
        vcov = _replicate_vcov(fit_design, rows, x, y, t, J, params)
    else:
        scores, parts, _ = _scores(params, x, y, t, J)
        w_raw = w_all[rows]
        info = _information(x, parts, w_raw)
        bread = np.linalg.inv(info)
        influence = np.zeros((len(rows), n_par))
        influence[rows] = (scores * w_raw[:, None]) @ bread
        vcov = influence_vcov(fit_design, influence)
    df = float(fit_design.degf + 1 - n_par)
    return MLFit(params, vcov, terms, df, int(rows.sum()), ll, (em, newton), True)


def _ml_result(fit: MLFit, formula: str, treatment: str, J: int, level: float
               ) -> ListRegression:
    """The result of a converged ML fit: the two models' coefficient tables."""
    assert fit.vcov is not None  # converged
    terms = fit.terms
    p = len(terms)
    labels = [f"sensitive:{term}" for term in terms] + [f"control:{term}" for term in terms]
    table = coefficient_table(fit.params, fit.vcov, labels, fit.df_residual, level)
    return ListRegression(
        sensitive=table.iloc[:p].set_axis(pd.Index(terms, name="term")),
        control=table.iloc[p:].set_axis(pd.Index(terms, name="term")),
        vcov=pd.DataFrame(fit.vcov, index=labels, columns=labels),
        method="ml", formula=formula, treatment=treatment, n_control_items=J,
        n=fit.n, df_residual=fit.df_residual, level=level, log_likelihood=fit.log_likelihood,
        iterations=fit.iterations,
    )


def _replicate_vcov(design, rows, x, y, t, J, params) -> np.ndarray:
    """Replicate covariance of the ML estimates: refit with each replicate's weights."""
    estimates = replicate_refits((column[rows] for column in design.replicate_weight_columns()),
                                 design.n_replicates, x, y, t, J, params, len(y))
    return replicate_vcov(estimates, params, design.scale, design.rscales, design.mse)


def replicate_refits(weights: Iterable[np.ndarray], R: int, x: np.ndarray, y: np.ndarray,
                     t: np.ndarray, J: int, params: np.ndarray, n_rows: int) -> np.ndarray:
    """The ML fit of each replicate from ``params`` (R's refits of a replicate design):
    (R, 2p), NaN for a replicate without weight in the fit or that does not converge.

    Parameters
    ----------
    weights : iterable of (m,) arrays
        Each replicate's weights of the rows (or of groups of identical rows).
    R : int
        The number of replicates.
    x, y, t, J
        The rows (or groups): covariates, counts, lists, J.
    params : (2p,) array
        The full-sample estimates, where each refit starts.
    n_rows : int
        The rows in the fit (the weights are scaled to a mean of 1 over them).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> x = np.ones((4, 1)); y = np.array([0.0, 1, 1, 2]); t = np.array([0.0, 0, 1, 1])
    >>> replicate_refits([np.zeros(4)], 1, x, y, t, 1, np.zeros(2), 4).tolist()
    [[nan, nan]]
    """
    estimates = np.full((R, len(params)), np.nan)
    for r, wr in enumerate(weights):
        total = wr.sum()
        if total <= 0:
            continue
        fitted, _, _, converged = fit_list_ml(x, y, t, J, wr / (total / n_rows), start=params)
        if converged:
            estimates[r] = fitted
    return estimates
