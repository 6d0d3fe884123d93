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
"""

from __future__ import annotations

import re
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
        The survey design.
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
    if on_dask:  # the checks in one pass, the fits summed on the workers
        from . import dask_list_models

        work = dask_list_models.regression_design(prepared.design, lhs, treatment,
                                                  n_control_items, na_rm)
    else:
        design = prepared.design
        columns = list_columns(design, lhs, treatment, n_control_items, (), na_rm)
        # the list column as 0.0/1.0 floats (patsy reads it as a number), rows outside NaN
        work = design.with_data(design.data.assign(**{treatment: columns.treatment}))
        work = work.subset(columns.rows)
    if method == "linear":
        return _linear(work, lhs, rhs or "1", treatment, n_control_items, na_rm, level,
                       formula)
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
            formula: str) -> ListRegression:
    full = f"{count} ~ {treatment}" if rhs == "1" else f"{count} ~ ({rhs}) * {treatment}"
    fit = glm(design, full, family="gaussian", na_rm=na_rm, level=level)
    coef = fit.coefficients
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
        n=fit.n, df_residual=float(fit.df_residual), level=level,
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


def logistic_moments(x: np.ndarray, successes: np.ndarray, trials: np.ndarray | float,
                     w: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and the information of a weighted (binomial) logistic regression at
    ``beta`` (sums over the rows: a partition's add up)."""
    mu = special.expit(x @ beta)
    grad = x.T @ (w * (successes - trials * mu))
    hess = x.T @ (x * (w * trials * mu * (1 - mu))[:, None])
    return grad, hess


def logistic_newton(moments, beta: np.ndarray, iterations: int = 25) -> np.ndarray:
    """Newton-Raphson of a logistic regression from ``beta``: ``moments(beta)`` gives
    its gradient and information (over the rows in memory, or the partitions)."""
    for _ in range(iterations):
        grad, hess = moments(beta)
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def _logistic_step(x, successes, trials, w, beta, iterations: int = 25) -> np.ndarray:
    """Weighted (binomial) logistic regression by Newton-Raphson from ``beta``."""
    return logistic_newton(lambda b: logistic_moments(x, successes, trials, w, b), beta,
                           iterations)


def start_excess(x: np.ndarray, y: np.ndarray, psi: np.ndarray, J: int) -> np.ndarray:
    """The treatment list's counts minus their expected control count, clipped to
    0.02..0.98: the outcome of the sensitive item's starting regression."""
    return np.clip(y - J * special.expit(x @ psi), 0.02, 0.98)


def _start(x, y, t, J, w) -> np.ndarray:
    """Starting values: the control items' binomial regression on the control list, the
    sensitive item's logistic regression on the treatment list's counts minus their
    expected control count (clipped to 0..1), as R's ``ictreg`` starts."""
    p = x.shape[1]
    control = t == 0
    psi = _logistic_step(x[control], y[control], np.full(control.sum(), float(J)),
                         w[control], np.zeros(p))
    treated = ~control
    excess = start_excess(x[treated], y[treated], psi, J)
    delta = _logistic_step(x[treated], excess, np.ones(treated.sum()), w[treated], np.zeros(p))
    return np.concatenate([delta, psi])


def fit_list_ml(x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int, w: np.ndarray,
                start: np.ndarray | None = None) -> tuple[np.ndarray, int, int, bool]:
    """Maximise the weighted pseudo-log-likelihood of Imai's ML model.

    EM (the E-step: each treatment-list respondent's posterior probability ``r`` of the
    sensitive item; the M-steps: a weighted logistic regression of ``r`` for the
    sensitive item, a weighted binomial regression of ``y - t r`` out of J for the
    control items) until the likelihood gains less than ``EM_TOL``, then Newton-Raphson
    on the observed likelihood with step halving.

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
    p = x.shape[1]
    params = _start(x, y, t, J, w) if start is None else np.array(start, dtype=float)
    scale = w.sum()
    rows, r = _observed(params, x, y, t, J)
    ll_old = w @ rows / scale
    em = 0  # the iterations done, reported
    treated = t == 1
    x_treated, w_treated, ones = x[treated], w[treated], np.ones(int(treated.sum()))
    trials = np.full(len(y), float(J))
    for em in range(1, EM_MAX_ITER + 1):  # noqa: B007 (em is the count returned)
        delta = _logistic_step(x_treated, r[treated], ones, w_treated, params[:p])
        psi = _logistic_step(x, y - t * r, trials, w, params[p:])
        params = np.concatenate([delta, psi])
        rows, r = _observed(params, x, y, t, J)
        ll = w @ rows / scale
        if abs(ll - ll_old) < EM_TOL:
            break
        ll_old = ll
    converged = False
    newton = 0
    for newton in range(1, NEWTON_MAX_ITER + 1):  # noqa: B007 (returned)
        scores, parts, _ = _scores(params, x, y, t, J)
        info = _information(x, parts, w)
        grad = scores.T @ w
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        base = list_log_likelihood(params, x, y, t, J, w)
        size = 1.0
        while size > 1e-6:  # step halving: the likelihood must not fall
            trial = params + size * step
            if list_log_likelihood(trial, x, y, t, J, w) >= base - 1e-12 * abs(base):
                break
            size /= 2
        params = params + size * step
        if np.max(np.abs(size * step)) < NEWTON_TOL:
            converged = True
            break
    return params, em, newton, converged


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
    iterations : (EM iterations, Newton steps); on a Dask DataFrame (EM-gradient steps,
        Newton steps).
    converged : whether the iterations converged.
    first : the first count of ``iterations`` in words (``{}`` the count), for messages.
    """

    params: np.ndarray
    vcov: np.ndarray | None
    terms: list[str]
    df_residual: float
    n: int
    log_likelihood: float
    iterations: tuple[int, int]
    converged: bool
    first: str = "EM {} iterations"

    @property
    def steps(self) -> str:
        """The iterations done, for a message."""
        em, newton = self.iterations
        return f"{self.first.format(em)}, Newton {newton} steps"


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
    estimates = np.full((design.n_replicates, len(params)), np.nan)
    for r, column in enumerate(design.replicate_weight_columns()):
        wr = column[rows]
        if wr.sum() <= 0:
            continue
        fitted, _, _, converged = fit_list_ml(x, y, t, J, wr / wr.mean(), start=params)
        if converged:
            estimates[r] = fitted
    return replicate_vcov(estimates, params, design.scale, design.rscales, design.mse)
