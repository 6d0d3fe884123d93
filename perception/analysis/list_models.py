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

The iterations of the ML fit are written once (:mod:`perception.analysis.list_ml`, a
generator of requests for sums over the rows): answered from the rows in memory, or by
:mod:`perception.analysis.dask_list_models` from the partitions of a Dask DataFrame,
so both paths take the same steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

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
from .list_ml import (
    MLFit,
    _information,
    _scores,
    fit_list_ml,
    list_log_likelihood,
    replicate_refits,
)

__all__ = ["list_regression", "ListRegression", "fit_list_ml", "list_log_likelihood"]

Design = SurveyDesign | ReplicateDesign
Method = Literal["ml", "linear"]

COEFFICIENT_COLUMNS = ["estimate", "se", "t", "p", "ci_low", "ci_high"]


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
