"""Design-based ordinal regression: the proportional-odds (cumulative logit or probit)
model of an ordered outcome such as a four-point Likert item (R's ``svyolr``).

``P(Y <= k | x) = F(zeta_k - x'beta)``: one set of slopes ``beta`` for every split of
the categories, cut-points ``zeta`` named like R's (``"1|2"``, ``"2|3"``, ...). The
point estimate maximises the design-weighted log-likelihood
(:mod:`perception.survey.cumulative_link`); the standard errors are design-based:

- ``SurveyDesign``: the sandwich, the design covariance of the totals of the per-row
  scores times the inverse Hessian (R's ``svyolr``: ``svyrecvar(gmini %*% solve(H))``),
  from their per-PSU totals;
- ``ReplicateDesign``: the model refitted with each replicate's weights and the
  replicate formula (R's ``svyolr.svyrep.design``).

:meth:`OLRResult.proportional_odds_test` checks the assumption of one set of slopes by
a design-based Wald test comparing the binary models at each cut-point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from . import cumulative_link as kernel
from . import intervals
from .checks import check_design
from .dask_design import refuse_rows
from .families import family as make_family
from .fitted import FittedModel
from .fitting import (
    check_rank,
    fit_model,
    influence_vcov,
    replicate_coefficients,
    sandwich,
)
from .formulas import model_frame, new_matrix, split_formula
from .models import coefficient_lines, coefficient_table

Link = Literal["logit", "probit"]

#: columns of :meth:`OLRResult.proportional_odds_test`
PO_TEST_COLUMNS = ["term", "chisq", "ndf", "ddf", "statistic", "p"]
#: columns of :meth:`OLRResult.predict`
PREDICT_COLUMNS = ["row", "category", "estimate", "se", "ci_low", "ci_high"]


def _label(value) -> str:
    """A category as R prints a factor level: ``1`` rather than ``1.0``."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _ordinal_outcome(y_frame: pd.DataFrame, formula: str) -> tuple[np.ndarray, str, list]:
    """Category codes 0..K-1 (by the order of the levels), the outcome's name and its
    levels among the rows: a numeric outcome's sorted values, a categorical's levels."""
    names = list(y_frame.columns)
    if len(names) == 1:
        values = y_frame.iloc[:, 0].to_numpy(dtype=float)
        levels = sorted(np.unique(values))
        codes = np.searchsorted(levels, values)
        return codes, names[0], list(levels)
    # patsy: one indicator column per level, "name[level]"
    lhs = formula.split("~", 1)[0].strip()
    levels = [n[n.index("[") + 1: -1] if n.endswith("]") and "[" in n else n for n in names]
    codes = np.argmax(y_frame.to_numpy(dtype=float), axis=1)
    return codes, lhs, levels


@dataclass(frozen=True)
class OLRResult(FittedModel):
    """A fitted design-based proportional-odds model (``olr``).

    Attributes
    ----------
    coefficients : DataFrame
        Indexed by term, the slopes then the cut-points ``"1|2"``, ...: ``estimate``,
        ``se``, ``t``, ``p``, ``ci_low``, ``ci_high`` (t on ``df_residual``).
    vcov : DataFrame
        Design-based covariance of the slopes and cut-points.
    df_residual : float
        Design df minus the number of slopes (R's ``svyolr``).
    link : str
        "logit" or "probit".
    formula : str
        The model formula.
    categories : tuple of str
        The outcome's categories, in order.
    n : int
        Rows in the fit.
    deviance : float
        ``-2`` times the log-likelihood with the weights over their mean.
    iterations : int
        Newton iterations.
    level : float
        Confidence level of the intervals.
    design_repr : str
        How the design was described when the model was fitted (for ``summary``).
    """

    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    df_residual: float
    link: str
    formula: str
    categories: tuple[str, ...]
    n: int
    deviance: float
    iterations: int
    level: float
    design_repr: str = ""
    _design: Any = field(default=None, repr=False, compare=False)
    _x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False, compare=False)
    _y: np.ndarray = field(default_factory=lambda: np.zeros(0, int), repr=False, compare=False)
    _rows: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False,
                              compare=False)
    _hessian: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False,
                                 compare=False)
    _design_info: object = field(default=None, repr=False, compare=False)
    _slopes: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def slopes(self) -> list[str]:
        """Names of the slope coefficients (the terms without the cut-points)."""
        return list(self._slopes)

    @property
    def cutpoints(self) -> list[str]:
        """Names of the cut-points, R's ``"1|2"``, ``"2|3"``..."""
        return self.terms[len(self._slopes):]

    @property
    def theta(self) -> np.ndarray:
        """The slopes then the cut-points, as one array (the kernel's parameter vector)."""
        return self.coefficients["estimate"].to_numpy(dtype=float)

    def model_matrix(self, newdata: pd.DataFrame | None = None) -> pd.DataFrame:
        """The slopes' model matrix (no intercept) of the rows used or of ``newdata``.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows with the model's columns; ``None``: the rows used in the fit.

        Returns
        -------
        DataFrame
            One column per slope, indexed like the rows.
        """
        if newdata is None:
            refuse_rows(self._design, "model_matrix() of the rows used")
            return pd.DataFrame(self._x[self._rows], index=self._design.data.index[self._rows],
                                columns=self.slopes)
        matrix = new_matrix(self._design_info, self.formula, newdata)
        return matrix.drop(columns=[c for c in matrix.columns if c == "Intercept"])

    def predict(self, newdata: pd.DataFrame | None = None) -> pd.DataFrame:
        """Predicted probability of each category, with delta-method standard errors.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict for (the model's columns); ``None``: the rows used.

        Returns
        -------
        DataFrame
            One row per (row, category): ``row`` (the index of ``newdata``),
            ``category``, ``estimate``, ``se`` and ``ci_low``/``ci_high`` (a t interval on
            the logit of the probability, on ``df_residual``, so it stays within 0 and 1).

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> api["band"] = pd.cut(api["api00"], [0, 600, 700, 800, 1000], labels=[1, 2, 3, 4])
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> fit = pc.olr(d, "band ~ ell + meals + stype")
        >>> fit.predict(pd.DataFrame({"ell": [10], "meals": [50], "stype": ["H"]})).round(3)
           row category  estimate     se  ci_low  ci_high
        0    0        1     0.797  0.076   0.607    0.909
        1    0        2     0.191  0.071   0.087    0.370
        2    0        3     0.011  0.007   0.003    0.036
        3    0        4     0.001  0.000   0.000    0.003

        Notes
        -----
        R has no predict method for ``svyolr``; the reference is ``svycontrast(fit,
        <the probability's expression in the coefficients>)``.
        """
        x = self.model_matrix(newdata)
        q = len(self.categories) - 1
        xv = x.to_numpy(dtype=float)
        probs = kernel.probabilities(self.theta, xv, q, self.link)
        grads = kernel.probability_gradient(self.theta, xv, q, self.link)
        v = self.vcov.to_numpy()
        se = np.sqrt(np.clip(np.einsum("nkp,pq,nkq->nk", grads, v, grads), 0, None))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            logit = np.log(probs / (1 - probs))
            logit_se = se / (probs * (1 - probs))
            low, high = intervals.t_interval(logit, logit_se, self._ci_df(), self.level)
            low, high = 1 / (1 + np.exp(-low)), 1 / (1 + np.exp(-high))
        # a probability of 0 or 1 to double precision (far in a tail): no width
        low = np.where(np.isfinite(logit), low, probs)
        high = np.where(np.isfinite(logit), high, probs)
        k = len(self.categories)
        return pd.DataFrame({
            "row": np.repeat(x.index.to_numpy(), k),
            "category": np.tile(np.array(self.categories, dtype=object), len(x)),
            "estimate": probs.ravel(), "se": se.ravel(),
            "ci_low": low.ravel(), "ci_high": high.ravel(),
        })[PREDICT_COLUMNS]

    def proportional_odds_test(self) -> pd.DataFrame:
        """Design-based test of the proportional-odds assumption (a Brant test).

        The binary models ``P(Y > k)`` at each cut-point ``k`` (``glm`` with the same
        link and terms) all have the ordinal model's slopes when the odds are
        proportional. Their slopes are stacked with their joint design covariance (the
        covariance of the totals of their stacked influence functions; replicate designs:
        of their replicate refits), and the Wald statistic of the differences between
        cut-points is computed for each slope and for all of them together.

        Returns
        -------
        DataFrame
            One row per slope and a last row ``"all"``: ``term``, ``chisq`` (the Wald
            statistic), ``ndf`` (number of differences tested), ``ddf`` (design df minus
            the number of slopes, as the ordinal model's), ``statistic`` (``chisq / ndf``,
            an F on ``(ndf, ddf)``) and ``p``.

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> api["band"] = pd.cut(api["api00"], [0, 600, 700, 800, 1000], labels=[1, 2, 3, 4])
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> pc.olr(d, "band ~ ell + meals + stype").proportional_odds_test().round(4)
                 term    chisq  ndf  ddf  statistic       p
        0  stype[T.H]   0.4484    2  193     0.2242  0.7994
        1  stype[T.M]   1.2440    2  193     0.6220  0.5379
        2         ell  17.0022    2  193     8.5011  0.0003
        3       meals   4.5542    2  193     2.2771  0.1053
        4         all  22.8884    8  193     2.8610  0.0050

        Notes
        -----
        R has no such function; the reference computes the same from separate
        ``svyglm(I(y > k) ~ ..., family = quasibinomial(link))`` fits, their influence
        functions and ``svyrecvar`` (``tests/reference/make_models_more.R``).
        """
        refuse_rows(self._design, "proportional_odds_test()")
        design = self._design
        rows = self._rows
        q = len(self.categories) - 1
        p = len(self._slopes)
        x = np.column_stack([np.ones(len(rows)), self._x])
        terms = ["Intercept", *self._slopes]
        family = make_family("binomial", self.link)
        betas, influence, replicates = [], [], []
        for k in range(q):
            y = (self._y > k).astype(float)
            model = fit_model(design, x, y, rows, family, terms,
                              f"the binary model of category > {self.categories[k]}",
                              separation="warn")
            betas.append(model.fit.coef)
            if design.is_replicate:
                replicates.append(replicate_coefficients(
                    design, x, np.where(rows, y, 0.0), rows, family, None, None,
                    model.fit.coef))
            else:
                influence.append(model.fit.estfun(x) @ model.fit.bread)
        b = np.concatenate(betas)
        if design.is_replicate:
            v = design._vcov_replicates(np.hstack(replicates), b)
        else:
            v = influence_vcov(model.variance_design, np.hstack(influence))
        ddf = self.df_residual
        out = []
        for test in [*range(p), None]:
            slopes = range(p) if test is None else [test]
            d = np.zeros(((q - 1) * len(slopes), len(b)))
            r = 0
            for k in range(1, q):
                for j in slopes:
                    d[r, k * (p + 1) + 1 + j] = 1.0
                    d[r, 1 + j] = -1.0
                    r += 1
            diff = d @ b
            chisq = float(diff @ np.linalg.solve(d @ v @ d.T, diff))
            ndf = d.shape[0]
            out.append({"term": "all" if test is None else self._slopes[test], "chisq": chisq,
                        "ndf": ndf, "ddf": ddf, "statistic": chisq / ndf,
                        "p": float(stats.f.sf(chisq / ndf, ndf, ddf)) if ddf > 0 else np.nan})
        return pd.DataFrame(out)[PO_TEST_COLUMNS]

    def __repr__(self) -> str:
        return (f"OLRResult({self.formula!r}, link={self.link!r}, n={self.n}, "
                f"categories={list(self.categories)!r})")

    def summary(self) -> str:
        """An R-like printable table of the slopes and cut-points.

        Returns
        -------
        str
            The link and formula, the design, then one line per coefficient.

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> api["band"] = pd.cut(api["api00"], [0, 600, 700, 800, 1000], labels=[1, 2, 3, 4])
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> print(pc.olr(d, "band ~ ell + meals + stype").summary())
        Survey design-based proportional-odds model: logit link
        Formula: band ~ ell + meals + stype
        Design:  SurveyDesign(200 rows in domain of 200, 3 strata, 200 PSUs, 1 stage(s), degf=197, lonely_psu='fail')
        <BLANKLINE>
        Coefficients:
                        Estimate    Std. Error    t value    Pr(>|t|)
        stype[T.H]      -4.09547      0.497296      -8.24    2.65e-14 ***
        stype[T.M]      -2.01556      0.377961      -5.33    2.69e-07 ***
        ell           -0.0138092     0.0179655     -0.769       0.443
        meals          -0.110629     0.0155517      -7.11    2.15e-11 ***
        1|2             -8.39767      0.786644      -10.7     < 2e-16 ***
        2|3             -5.33737      0.579082      -9.22     < 2e-16 ***
        3|4              -2.2701      0.448729      -5.06    9.78e-07 ***
        ---
        Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
        <BLANKLINE>
        Residual df: 193 (design df - number of slopes); rows used: 200; deviance: 293.091
        """
        lines = [f"Survey design-based proportional-odds model: {self.link} link",
                 f"Formula: {self.formula}"]
        if self.design_repr:
            lines.append(f"Design:  {self.design_repr}")
        lines.append("")
        lines += coefficient_lines(self.coefficients, "t value", "Pr(>|t|)")
        lines += ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1", "",
                  f"Residual df: {self.df_residual:g} (design df - number of slopes); rows "
                  f"used: {self.n}; deviance: {self.deviance:.6g}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _dask_olr(design, formula: str, link: str, na_rm: bool, level: float) -> OLRResult:
    """``olr`` of a design on a Dask DataFrame: the sums made on the partitions
    (:mod:`perception.survey.dask_models`), the same result object."""
    from .dask_models import olr as dask_olr
    from .formulas import dask_model_design

    fitted_on, excluded = dask_model_design(design, formula)
    fit = dask_olr(fitted_on, formula, link=link, na_rm=na_rm, reader=_ordinal_outcome,
                   label=_label)
    coefficients = coefficient_table(fit.coef, fit.vcov, fit.terms, fit.df_residual, level)
    coefficients.attrs.update(excluded)  # answers the questionnaire left out
    return OLRResult(
        coefficients=coefficients,
        vcov=pd.DataFrame(fit.vcov, index=coefficients.index,
                          columns=coefficients.index.copy()),
        df_residual=fit.df_residual, link=link, formula=formula,
        categories=tuple(_label(v) for v in fit.levels), n=fit.n, deviance=fit.deviance,
        iterations=fit.iterations, level=level, design_repr=repr(design), _design=design,
        _hessian=fit.hessian, _design_info=fit.design_info,
        _slopes=tuple(fit.terms[: len(fit.terms) - len(fit.levels) + 1]),
    )


def olr(
    design,
    formula: str,
    *,
    link: Link = "logit",
    na_rm: bool = False,
    level: float = 0.95,
) -> OLRResult:
    """Fit a design-based proportional-odds model of an ordered outcome (R's ``svyolr``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design (subsets and weighted designs included).
    formula : str
        ``"outcome ~ terms"``. The outcome is ordered: a numeric code (e.g. 0-3 for "not
        at all" to "a lot"; its distinct values in increasing order) or an ordered
        categorical; at least three categories among the rows used. The terms as in
        ``perception.glm``; no intercept is estimated (the cut-points take its place).
    link : {"logit", "probit"}
        "logit" (proportional odds) or "probit".
    na_rm : bool
        Leave rows with a missing model variable out of the fit (they stay in the design
        with zero weight); otherwise a missing value raises an error. Recode "don't know"
        and refusal codes to missing first (or impute them).
    level : float
        Confidence level of ``ci_low``/``ci_high``.

    Returns
    -------
    OLRResult
        With ``.coefficients`` (slopes, then the cut-points ``"1|2"``, ...), ``.vcov``,
        ``.predict()``, ``.proportional_odds_test()`` and ``.summary()``.

    Raises
    ------
    EstimationError
        for an unknown column, missing values (without ``na_rm``), fewer than three
        categories, collinear terms, or a fit that does not converge.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> api["band"] = pd.cut(api["api00"], [0, 600, 700, 800, 1000], labels=[1, 2, 3, 4])
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> fit = pc.olr(d, "band ~ ell + meals + stype")
    >>> fit.coefficients[["estimate", "se"]].round(4)
                estimate      se
    term
    stype[T.H]   -4.0955  0.4973
    stype[T.M]   -2.0156  0.3780
    ell          -0.0138  0.0180
    meals        -0.1106  0.0156
    1|2          -8.3977  0.7866
    2|3          -5.3374  0.5791
    3|4          -2.2701  0.4487

    Notes
    -----
    R: ``svyolr(band ~ ell + meals + stype, design, method = "logistic" | "probit")``.
    R maximises with optim's BFGS, whose default tolerance stops about 1e-5 (relative)
    short of the maximum, and takes the Hessian behind its standard errors from finite
    differences; here Newton's method reaches the maximum and the Hessian is exact (they
    equal R's run with a tight ``control``, ``tests/reference/make_models_more.R``).
    """
    on_dask = getattr(design, "is_dask", False)
    if not on_dask:
        check_design(design, function="olr")
    lhs, _ = split_formula(formula)
    if link not in kernel.LINKS:
        raise EstimationError(f"link={link!r} is unknown; choose 'logit' or 'probit'")
    intervals.check_level(level)
    if on_dask:
        return _dask_olr(design, formula, link, na_rm, level)
    levels_of: dict[str, Any] = {}

    def outcome(y_frame: pd.DataFrame) -> tuple[np.ndarray, str]:
        codes, name, levels = _ordinal_outcome(y_frame, formula)
        levels_of["levels"] = levels
        return codes.astype(float), name

    mf = model_frame(design, formula, na_rm, outcome)
    rows = mf.rows
    y = np.where(rows, mf.y, 0).astype(int)
    used = sorted(np.unique(y[rows]))
    levels = [levels_of["levels"][i] for i in used]
    if len(levels) < 3:
        raise EstimationError(
            f"the outcome {lhs!r} has {len(levels)} categories among the rows used "
            f"({', '.join(map(_label, levels))}): an ordinal model needs three or more; use "
            "pc.glm(..., family='binomial') for two"
        )
    y = np.where(rows, np.searchsorted(used, y), 0)
    keep = [j for j, t in enumerate(mf.terms) if t != "Intercept"]
    slopes = [mf.terms[j] for j in keep]
    x = mf.x[:, keep]
    q = len(levels) - 1
    w = np.where(rows, design.weight_array, 0.0)
    if x.shape[1]:
        check_rank(np.column_stack([rows.astype(float), x]), w, ["Intercept", *slopes],
                   repr(formula))
    fit = kernel.fit(x, y, w, q, link)
    if not fit.converged:
        raise EstimationError(
            f"the ordinal model {formula!r} did not converge: a category may be fully "
            "determined by the terms (separation); merge sparse categories or drop terms"
        )
    bread = np.linalg.inv(-fit.hessian)
    if design.is_replicate:
        betas = np.full((design.n_replicates, len(fit.theta)), np.nan)
        for r, column in enumerate(design.replicate_weight_columns()):
            wr = np.where(rows, column, 0.0)
            if wr.sum() <= 0:
                continue
            refit = kernel.fit(x, y, wr, q, link, theta0=fit.theta)
            if refit.converged:
                betas[r] = refit.theta
        vcov = design._vcov_replicates(betas, fit.theta)
        df_design = design.degf
    else:
        fit_design = design if rows.all() or np.array_equal(rows, design.in_domain) \
            else design.subset(rows)
        scores = kernel.scores(fit.theta, x, y, w, link)
        vcov = sandwich(fit_design, scores, bread)
        df_design = fit_design.degf
    names = slopes + [f"{_label(levels[k])}|{_label(levels[k + 1])}" for k in range(q)]
    df_residual = df_design - len(slopes)
    coefficients = coefficient_table(fit.theta, vcov, names, df_residual, level)
    # answers the questionnaire left out (missing codes, skipped questions)
    coefficients.attrs.update(n_excluded=mf.n_excluded, excluded=mf.excluded)
    deviance = -2 * fit.loglik / w[rows].mean()
    return OLRResult(
        coefficients=coefficients,
        vcov=pd.DataFrame(vcov, index=coefficients.index, columns=coefficients.index.copy()),
        df_residual=df_residual, link=link, formula=formula,
        categories=tuple(_label(v) for v in levels), n=int(rows.sum()), deviance=deviance,
        iterations=fit.iterations, level=level, design_repr=repr(design),
        _design=design, _x=x, _y=y, _rows=rows, _hessian=fit.hessian,
        _design_info=mf.design_info, _slopes=tuple(slopes),
    )
