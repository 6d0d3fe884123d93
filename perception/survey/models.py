"""Design-based generalised linear models (R's ``svyglm``).

The point estimate is the weighted maximum (quasi-)likelihood fit with the design
weights as prior weights, found by the same iteratively reweighted least squares as R's
``glm.fit`` (same start, same convergence rule), so coefficients equal R's to rounding.
Standard errors are design-based (:mod:`perception.survey.fitting`, the model core):

- ``SurveyDesign``: the sandwich ``A^-1 B A^-1`` where ``B`` is the design covariance of
  the total of the estimating-function contributions ``x_i w_i (y_i - mu_i) / g'(mu_i)``
  (R's ``svy.varcoef``), computed by the design's own variance engine, so multistage
  sampling, fpc, lonely PSUs and calibration all apply;
- ``ReplicateDesign``: the model is refitted with every replicate's weights and the
  replicate formula applied to the coefficients (R's ``svyglm.svyrep.design``).

Families: gaussian, binomial (R's quasibinomial; logit or probit link; with
``trials=`` for counts of successes), poisson and quasipoisson (log link; with
``offset=`` for rates). t statistics use ``df_residual = design df + 1 - rank``, as R's
``summary.svyglm``.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..deprecation import positional_deprecated, renamed_argument
from ..errors import EstimationError, format_rows
from . import intervals
from .checks import check_design
from .dask_design import refuse_rows
from .design import ReplicateDesign, SurveyDesign
from .families import FAMILY_NAMES, LINKS, Family
from .families import family as make_family
from .fitted import FittedModel
from .fitting import ModelFit, fit_model
from .formulas import ModelFrame, model_frame, new_matrix, split_formula

FamilyName = Literal["gaussian", "binomial", "poisson", "quasipoisson"]
Link = Literal["identity", "logit", "probit", "log"]
PredictScale = Literal["link", "response"]

FAMILIES = FAMILY_NAMES
COEFFICIENT_COLUMNS = ["estimate", "se", "t", "p", "ci_low", "ci_high"]


def outcome_values(y_frame: pd.DataFrame, family: str, formula: str
                   ) -> tuple[np.ndarray, str]:
    """The outcome of a model of ``family`` as floats, and its name: patsy's outcome
    columns ``y_frame``, a two-level factor (or a comparison) coding its last level 1
    for the binomial (the ``outcome`` of ``formulas.model_frame``)."""
    names = list(y_frame.columns)
    if len(names) == 1:
        return y_frame.iloc[:, 0].to_numpy(dtype=float), names[0]
    lhs = formula.split("~", 1)[0].strip()
    if family == "binomial" and len(names) == 2:
        # patsy splits a logical or two-level outcome into indicator columns: as R, the
        # event is "not the first level" (True for a comparison such as I(x == "Yes"))
        return y_frame.iloc[:, 1].to_numpy(dtype=float), names[1]
    raise EstimationError(
        f"the outcome {lhs!r} of formula {formula!r} is categorical with levels "
        f"{', '.join(names)}: family={family!r} needs a numeric outcome"
        + (
            " coded 0/1; build one with I(column == 'level')"
            if family == "binomial"
            else "; use family='binomial' with a 0/1 outcome such as I(column == 'level'), "
            "or pc.olr for an ordered outcome"
        )
    )


# ---------------------------------------------------------------------- result --
@dataclass(frozen=True)
class GLMResult(FittedModel):
    """A fitted design-based GLM.

    Attributes
    ----------
    coefficients : DataFrame
        Indexed by term: ``estimate``, ``se``, ``t``, ``p``, ``ci_low``, ``ci_high`` (t
        interval on ``df_residual`` degrees of freedom).
    vcov : DataFrame
        Design-based covariance of the coefficients (terms × terms).
    df_residual : float
        Degrees of freedom of the t tests: design df + 1 - rank.
    family : str
        "gaussian", "binomial" (R's quasibinomial), "poisson" or "quasipoisson".
    formula : str
        The model formula.
    n : int
        Number of rows that entered the fit.
    dispersion : float
        R's reported dispersion, the design-weighted variance of the Pearson residuals (not
        used by the design-based standard errors).
    iterations : int
        IRLS (Fisher scoring) iterations, as R counts them.
    level : float
        Confidence level of ``ci_low``/``ci_high``.
    design_repr : str
        How the design was described when the model was fitted (for ``summary``).
    link : str
        The link function ("identity", "logit", "probit", "log").
    deviance : float
        The deviance with the weights over their mean (R's ``deviance(fit)``).
    offset : str or None
        The column given as ``offset=`` (or None).
    trials : str or None
        The column given as ``trials=`` (or None).
    """

    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    df_residual: float
    family: str
    formula: str
    n: int
    dispersion: float
    iterations: int
    level: float
    design_repr: str = ""
    link: str = "identity"
    deviance: float = float("nan")
    offset: str | None = None
    trials: str | None = None
    _design_info: object = field(default=None, repr=False)
    _fitted: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    _design: Any = field(default=None, repr=False, compare=False)
    _frame: ModelFrame | None = field(default=None, repr=False, compare=False)
    _model: ModelFit | None = field(default=None, repr=False, compare=False)
    _offset_values: np.ndarray | None = field(default=None, repr=False, compare=False)
    _trials_values: np.ndarray | None = field(default=None, repr=False, compare=False)

    def _family(self) -> Family:
        return make_family(self.family, self.link)

    def model_matrix(self, newdata: pd.DataFrame | None = None) -> pd.DataFrame:
        """The model matrix of the rows used (``newdata=None``) or of ``newdata``.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows with the model's columns; ``None``: the rows used in the fit.

        Returns
        -------
        DataFrame
            One column per term, indexed like the rows.
        """
        if newdata is None:
            refuse_rows(self._design, "model_matrix() or predict() of the rows used")
            return self._fitted
        return new_matrix(self._design_info, self.formula, newdata)

    def _offset_of(self, newdata: pd.DataFrame | None) -> np.ndarray | float:
        if self.offset is None:
            return 0.0
        if newdata is None:
            assert self._offset_values is not None and self._frame is not None
            return self._offset_values[self._frame.rows]
        if self.offset not in newdata.columns:
            raise EstimationError(
                f"the model has offset={self.offset!r}: newdata needs that column too"
            )
        return pd.to_numeric(newdata[self.offset], errors="coerce").to_numpy(dtype=float)

    @renamed_argument("type", "scale")
    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        scale: PredictScale = "link",
    ) -> pd.DataFrame:
        """Predictions with design-based standard errors (R's ``predict.svyglm``).

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict for; ``None`` predicts for the rows used in the fit. A model
            with an offset needs its column in ``newdata`` (R's predict leaves the offset
            out; here it is added to the linear predictor).
        scale : {"link", "response"}
            "link" (linear predictor) or "response" (mean of the outcome: the probability
            for a binomial model); R's ``type``. (Named ``type`` before; ``type=`` still
            works, with a DeprecationWarning, until the next release.)

        Returns
        -------
        DataFrame
            Indexed like ``newdata``, with ``estimate``, ``se`` (delta method for the
            response, as R), ``ci_low`` and ``ci_high`` (t interval on ``df_residual`` on
            the link scale, transformed to the response scale for ``scale="response"``).

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> fit = pc.glm(d, "api00 ~ ell + meals + mobility")
        >>> fit.predict(pd.DataFrame({"ell": [10], "meals": [50], "mobility": [15]})).round(2)
           estimate    se  ci_low  ci_high
        0    662.39  6.91  648.77   676.01

        Notes
        -----
        R: ``predict(fit, newdata, type=, se.fit=TRUE)``; ``SE()`` of the result.
        """
        if scale not in ("link", "response"):
            raise EstimationError(f"scale={scale!r}; choose 'link' or 'response'")
        x = self.model_matrix(newdata)
        xv = x.to_numpy(dtype=float)
        beta = self.coefficients["estimate"].to_numpy()
        v = self.vcov.to_numpy()
        eta = xv @ beta + self._offset_of(newdata)
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", xv, v, xv), 0, None))
        low, high = intervals.t_interval(eta, se, self._ci_df(), self.level)
        fam = self._family()
        if scale == "response":
            d = np.abs(fam.mu_eta(eta))
            estimate, se = fam.linkinv(eta), d * se
            low, high = fam.linkinv(low), fam.linkinv(high)
        else:
            estimate = eta
        return pd.DataFrame(
            {"estimate": estimate, "se": se, "ci_low": low, "ci_high": high}, index=x.index
        )

    def __repr__(self) -> str:
        return (
            f"GLMResult({self.formula!r}, family={self.family!r}, n={self.n}, "
            f"df_residual={self.df_residual:g}, terms={self.terms!r})"
        )

    def summary(self) -> str:
        """An R-like printable table of the coefficients.

        Returns
        -------
        str
            The family, formula and design, then one line per coefficient.

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> fit = pc.glm(d, "api00 ~ ell + meals + mobility")
        >>> print(fit.summary())
        Survey design-based GLM: gaussian family, identity link
        Formula: api00 ~ ell + meals + mobility
        Design:  SurveyDesign(200 rows in domain of 200, 3 strata, 200 PSUs, 1 stage(s), degf=197, lonely_psu='fail')
        <BLANKLINE>
        Coefficients:
                       Estimate    Std. Error    t value    Pr(>|t|)
        Intercept       820.887       10.0777       81.5     < 2e-16 ***
        ell           -0.480587      0.391973      -1.23       0.222
        meals          -3.14154      0.283947      -11.1     < 2e-16 ***
        mobility       0.225713      0.393218      0.574       0.567
        ---
        Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
        <BLANKLINE>
        (Dispersion parameter for gaussian family taken to be 5171.97)
        Residual df: 194 (design df + 1 - number of coefficients); rows used: 200; Fisher scoring iterations: 2
        """
        table = self.coefficients
        family = self._family().r_name
        lines = [
            f"Survey design-based GLM: {family} family, {self.link} link",
            f"Formula: {self.formula}",
        ]
        if self.offset is not None:
            lines.append(f"Offset:  {self.offset}")
        if self.trials is not None:
            lines.append(f"Trials:  {self.trials}")
        if self.design_repr:
            lines.append(f"Design:  {self.design_repr}")
        lines.append("")
        lines += coefficient_lines(table, "t value", "Pr(>|t|)")
        lines += [
            "---",
            "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
            "",
            f"(Dispersion parameter for {family} family taken to be {self.dispersion:.6g})",
            f"Residual df: {self.df_residual:g} (design df + 1 - number of coefficients); "
            f"rows used: {self.n}; Fisher scoring iterations: {self.iterations}",
        ]
        if self.df_residual <= 0:
            lines.append("Zero or negative residual df; p-values not defined")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def coefficient_lines(table: pd.DataFrame, t_name: str, p_name: str) -> list[str]:
    """The ``Coefficients:`` block of a summary (R's ``printCoefmat`` layout)."""
    names = [str(t) for t in table.index]
    width = max([len(s) for s in names] + [4])
    lines = ["Coefficients:",
             f"{'':<{width}}  {'Estimate':>12}  {'Std. Error':>12}  {t_name:>9}  {p_name:>10}"]
    row: Any  # a row of the coefficient table (floats), as itertuples gives it
    for name, row in zip(names, table.itertuples(index=False), strict=True):
        lines.append(
            f"{name:<{width}}  {_num(row.estimate):>12}  {_num(row.se):>12}  "
            f"{_num(row.t, 3):>9}  {_pvalue(row.p):>10} {_stars(row.p)}"
        )
    return lines


def _num(value: float, digits: int = 6) -> str:
    if not np.isfinite(value):
        return "NaN"
    return f"{value:.{digits}g}"


def _pvalue(p: float) -> str:
    if not np.isfinite(p):
        return "NaN"
    return "< 2e-16" if p < 2e-16 else f"{p:.3g}"


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return mark
    return ""


def coefficient_table(coef: np.ndarray, vcov: np.ndarray, terms: list[str],
                      df_residual: float, level: float) -> pd.DataFrame:
    """``estimate, se, t, p, ci_low, ci_high`` indexed by term (t tests on
    ``df_residual``; NaN p-values and intervals without residual df)."""
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coef / se
    if df_residual > 0:
        pval = 2 * stats.t.sf(np.abs(t), df_residual)
        low, high = intervals.t_interval(coef, se, df_residual, level)
    else:
        pval = np.full(len(coef), np.nan)
        low = high = np.full(len(coef), np.nan)
    return pd.DataFrame(
        {"estimate": coef, "se": se, "t": t, "p": pval, "ci_low": low, "ci_high": high},
        index=pd.Index(terms, name="term"),
    )


# ------------------------------------------------------------------------ glm --
def _dispersion(model: ModelFit, mf: ModelFrame, fam: Family, design,
                trials: np.ndarray | None) -> float:
    """R's ``summary.svyglm`` dispersion: ``svyvar(resid(fit, "pearson"), design)``.

    R's Pearson residuals of a svyglm are ``(y - mu) sqrt(prior / pw) / sqrt(V(mu))``
    with ``pw`` the design weights over their mean after rows with missing values were
    dropped: for the design weights alone, the square root of the ratio of the mean
    weight after and before (1 without missing values); times the trials with trials.
    """
    rows = mf.rows
    w_all = design.weight_array
    w = np.where(rows, w_all, 0.0)
    before = w_all if design.is_calibrated else w_all[design.in_domain]
    after = w if design.is_calibrated else w_all[rows]
    factor = after.mean() / before.mean()
    if trials is not None:
        factor = factor * np.where(rows, trials, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (mf.y - model.fit.mu) / np.sqrt(fam.variance(model.fit.mu)) * np.sqrt(factor)
    r = np.where(rows, r, 0.0)
    n = int(rows.sum()) if design.is_replicate else int(np.sum(w != 0))
    mean_r = np.sum(w * r) / np.sum(w)
    return float(np.sum(w * (r - mean_r) ** 2) / np.sum(w) * n / (n - 1))


def _column_values(design, mf_rows: np.ndarray, name: str, argument: str) -> np.ndarray:
    values = pd.to_numeric(design.data[name], errors="coerce")
    bad = values.isna().to_numpy() & design.data[name].notna().to_numpy()
    if bad.any():
        raise EstimationError(
            f"column {name!r} ({argument}) is not numeric: rows "
            f"{format_rows(design.data.index[bad])}"
        )
    out = values.to_numpy(dtype=float)
    return np.where(mf_rows, out, 0.0)


def _dask_glm(design, formula: str, family: str, link: str | None, na_rm: bool,
              level: float, offset: str | None, trials: str | None) -> GLMResult:
    """``glm`` of a design on a Dask DataFrame: the sums made on the partitions
    (:mod:`perception.survey.dask_models`), the same result object."""
    from .dask_models import glm as dask_glm
    from .formulas import dask_model_design

    fitted_on, excluded = dask_model_design(design, formula,
                                       [c for c in (offset, trials) if c is not None])
    fit = dask_glm(fitted_on, formula, family=family, link=link, na_rm=na_rm,
                   offset=offset, trials=trials,
                   reader=functools.partial(outcome_values, family=family, formula=formula))
    coefficients = coefficient_table(fit.coef, fit.vcov, fit.terms, fit.df_residual, level)
    coefficients.attrs.update(excluded)  # answers the questionnaire left out
    index = coefficients.index
    return GLMResult(
        coefficients=coefficients,
        vcov=pd.DataFrame(fit.vcov, index=index, columns=index.copy()),
        df_residual=fit.df_residual, family=family, formula=formula, n=fit.n,
        dispersion=fit.dispersion, iterations=fit.iterations, level=level,
        design_repr=repr(design), link=fit.link, deviance=fit.deviance, offset=offset,
        trials=trials, _design_info=fit.design_info,
        _fitted=pd.DataFrame(columns=fit.terms), _design=design,
    )


@positional_deprecated("family", "na_rm", "level")
def glm(
    design: SurveyDesign | ReplicateDesign,
    formula: str,
    *,
    family: FamilyName = "gaussian",
    na_rm: bool = False,
    level: float = 0.95,
    link: Link | None = None,
    offset: str | None = None,
    trials: str | None = None,
) -> GLMResult:
    """Fit a design-based generalised linear model (R's ``svyglm``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design (subsets and weighted designs included).
    formula : str
        Patsy formula on the design's columns, e.g. ``"api00 ~ ell + meals"``,
        ``"trusts_police ~ C(region) + treated * wave"``. Categorical terms with ``C()``
        (string columns are categorical anyway); columns whose name has a dot are quoted:
        ``Q("sch.wide")``. Besides the columns, a formula may use ``np``, ``log``, ``exp``,
        ``sqrt`` and ``abs``.
    family : {"gaussian", "binomial", "poisson", "quasipoisson"}
        "gaussian" (identity link); "binomial" (R's ``quasibinomial()``): the outcome must
        lie in [0, 1] (a 0/1 item, a share, a comparison such as
        ``I(Q("sch.wide") == "Yes")``), or be a count of successes with ``trials``;
        "poisson" or "quasipoisson" (log link) for counts, with ``offset`` for rates. Both
        count families give the same coefficients and design-based SEs, as in R.
    na_rm : bool
        Leave rows with a missing model variable (offset and trials included) out of the
        fit (they stay in the design with zero weight, so every PSU still enters the
        variance); otherwise a missing value raises an error naming the columns.
    level : float
        Confidence level of ``ci_low``/``ci_high``.
    link : str, optional
        "logit" (default) or "probit" for the binomial; the other families have one.
    offset : str, optional
        A column added to the linear predictor with coefficient 1 (R's ``offset()``), e.g.
        the log of the exposure for a rate: ``offset="log_pop"``.
    trials : str, optional
        For ``family="binomial"``, the column of the number of trials; the outcome is then
        the number of successes (R's ``cbind(successes, trials - successes)``).

    Returns
    -------
    GLMResult
        With ``.coefficients`` (term-indexed DataFrame: ``estimate``, ``se``, ``t``, ``p``,
        ``ci_low``, ``ci_high``), ``.vcov``, ``.df_residual``, ``.summary()`` and
        ``.predict()``.

    Raises
    ------
    EstimationError
        for an unknown column, missing values (without ``na_rm``), a binomial outcome
        outside [0, 1] (or successes outside 0..trials), negative counts, collinear
        terms, or perfect separation.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> fit = pc.glm(d, "api00 ~ ell + meals + mobility")
    >>> fit.coefficients[["estimate", "se", "p"]].round(4)
               estimate       se       p
    term
    Intercept  820.8873  10.0777  0.0000
    ell         -0.4806   0.3920  0.2217
    meals       -3.1415   0.2839  0.0000
    mobility     0.2257   0.3932  0.5666

    Pupils tested per enrolled pupil, a rate (quasi-Poisson with an offset):

    >>> rates = d.with_data(d.data.assign(log_enroll=np.log(d.data["enroll"])))
    >>> rate = pc.glm(rates, "api_stu ~ stype + meals", family="quasipoisson",
    ...               offset="log_enroll")
    >>> rate.coefficients[["estimate", "se"]].round(4)
                estimate      se
    term
    Intercept    -0.1702  0.0192
    stype[T.H]   -0.0456  0.0277
    stype[T.M]   -0.0177  0.0218
    meals         0.0002  0.0003

    Notes
    -----
    R: ``svyglm(api00 ~ ell + meals + mobility, design)``; ``family="binomial"`` is
    ``family=quasibinomial()`` (``quasibinomial("probit")`` with ``link="probit"``),
    with trials ``svyglm(cbind(s, n - s) ~ x, design, family=quasibinomial())``;
    ``svyglm(y ~ x + offset(log_pop), design, family=quasipoisson())``. Term names
    follow patsy (``Intercept``, ``C(stype)[T.H]``, ``treated:wave``), where R writes
    ``(Intercept)``, ``stypeH``. Aliased (collinear) terms raise an error where R
    reports ``NA``. For replicate designs with trials, the replicate refits keep the
    trials in their weights (R's ``svyglm.svyrep.design`` loses them).
    """
    on_dask = getattr(design, "is_dask", False)
    if not on_dask:
        check_design(design)
    split_formula(formula)
    if family not in FAMILIES:
        raise EstimationError(
            f"family={family!r} is not supported; choose one of {', '.join(FAMILIES)} "
            "('binomial' is R's quasibinomial)"
        )
    if link is not None and link not in LINKS[family]:
        raise EstimationError(
            f"link={link!r} does not go with family={family!r}; choose "
            f"{' or '.join(map(repr, LINKS[family]))}"
        )
    if trials is not None and family != "binomial":
        raise EstimationError(
            f"trials= goes with family='binomial' (counts of successes), not {family!r}"
        )
    intervals.check_level(level)
    if on_dask:
        return _dask_glm(design, formula, family, link, na_rm, level, offset, trials)
    fam = make_family(family, link)
    extra = [c for c in (offset, trials) if c is not None]
    for argument, name in (("offset", offset), ("trials", trials)):
        if name is not None and (not isinstance(name, str) or name not in design.data.columns):
            raise EstimationError(
                f"{argument}={name!r} is not a column of the design's data"
            )
    mf = model_frame(design, formula, na_rm, lambda y: outcome_values(y, family, formula), extra)
    offset_values = None if offset is None else _column_values(design, mf.rows, offset, "offset")
    trials_values = None
    y = mf.y
    if trials is not None:
        trials_values = _column_values(design, mf.rows, trials, "trials")
        negative = mf.rows & (trials_values < 0)
        if negative.any():
            raise EstimationError(
                f"trials {trials!r} are negative in rows "
                f"{format_rows(design.data.index[negative])}"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(trials_values > 0, mf.y / trials_values, 0.0)
    model = fit_model(design, mf.x, y, mf.rows, fam, mf.terms, repr(formula), mf.outcome,
                      offset=offset_values, trials=trials_values)
    if model.discarded:
        warnings.warn(
            f"{model.discarded} replicate(s) gave NA results (a term of {formula!r} has no "
            "weight in them) and were discarded from the variance, as R's svrVar does",
            UserWarning, stacklevel=2,
        )
    frame = mf if trials is None else ModelFrame(mf.x, y, mf.rows, mf.terms, mf.outcome,
                                                 mf.design_info)
    dispersion = _dispersion(model, frame, fam, design, trials_values)
    coefficients = coefficient_table(model.fit.coef, model.vcov, mf.terms,
                                     model.df_residual, level)
    # answers the questionnaire left out (missing codes, skipped questions)
    coefficients.attrs.update(n_excluded=mf.n_excluded, excluded=mf.excluded)
    index = coefficients.index
    fitted = pd.DataFrame(mf.x[mf.rows], index=design.data.index[mf.rows], columns=mf.terms)
    return GLMResult(
        coefficients=coefficients,
        vcov=pd.DataFrame(model.vcov, index=index, columns=index.copy()),
        df_residual=model.df_residual,
        family=family,
        formula=formula,
        n=int(mf.rows.sum()),
        dispersion=dispersion,
        iterations=model.fit.iterations,
        level=level,
        design_repr=repr(design),
        link=fam.link,
        deviance=model.fit.deviance,
        offset=offset,
        trials=trials,
        _design_info=mf.design_info,
        _fitted=fitted,
        _design=design,
        _frame=frame,
        _model=model,
        _offset_values=offset_values,
        _trials_values=trials_values,
    )
