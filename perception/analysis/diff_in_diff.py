"""Difference-in-differences: the effect of community actions as the treated x period
interaction of a design-based linear regression (R's ``svyglm(y ~ treated *
factor(wave))``), with an event study for several waves, a pre-trend test, subgroup
effects and a test of their equality.

One design holds every wave; a village (PSU) revisited at several waves keeps one PSU
id, so the covariance between waves enters every standard error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import special

from ..deprecation import positional_deprecated, renamed_argument
from ..errors import EstimationError, format_rows
from ..survey import intervals
from ..survey.checks import (
    check_columns,
    column_names,
    numeric_values,
)
from ..survey.covariance import attach_covariance, covariance_of
from ..survey.dask_design import with_frame
from ..survey.dask_domains import domain_groups, flagged_rows, with_degf
from ..survey.dask_labelling import option_outcomes, prepare_partitions
from ..survey.design import ReplicateDesign, SurveyDesign
from ..survey.engine import active_rows, domains
from ..survey.estimators import mean
from ..survey.families import family
from ..survey.fitting import fit_model, fit_weights
from ..survey.multiple_choice import is_select_multiple, option_design, relabel_options
from ..survey.valid_values import add_labels, prepare
from ..tables import smallest_count
from .changes import (
    checked_outcomes,
    linear_combination,
    ordered_values,
    plain_label,
    two_sided_p,
)

__all__ = ["did", "DiDResult", "EFFECT_COLUMNS", "TEST_COLUMNS", "COEFFICIENT_COLUMNS"]

Design = SurveyDesign | ReplicateDesign


#: result columns of ``DiDResult.effects``, after the ``by`` columns (``n``: rows of the
#: four treated x period cells the effect contrasts; ``n_min``: rows of the smallest)
EFFECT_COLUMNS = ["variable", "period", "estimate", "se", "ci_low", "ci_high", "df", "p",
                  "n", "n_min"]


TEST_COLUMNS = ["variable", "periods", "statistic", "ndf", "ddf", "p"]


COEFFICIENT_COLUMNS = ["variable", "term", "estimate", "se", "t", "p", "ci_low", "ci_high", "df"]


def _wald_f(beta: np.ndarray, vcov: np.ndarray, ddf: float) -> tuple[float, int, float]:
    """Wald F test that ``beta`` is zero: (F, ndf, p), as R's ``regTermTest``."""
    q = beta.shape[0]
    try:
        chisq = float(beta @ np.linalg.solve(vcov, beta))
    except np.linalg.LinAlgError:
        chisq = float(beta @ np.linalg.pinv(vcov) @ beta)
    f = chisq / q
    p = float(special.fdtrc(q, ddf, f)) if ddf > 0 else float("nan")
    return f, q, p


# -------------------------------------------------------------------- regression --
@dataclass(frozen=True)
class _LinearFit:
    """A design-based weighted least-squares fit (R's gaussian ``svyglm``)."""

    terms: list[str]
    beta: np.ndarray
    vcov: np.ndarray
    df_residual: int


def _fit_linear(design, X: np.ndarray, y: np.ndarray, active: np.ndarray,
                terms: list[str], outcome: str = "y") -> _LinearFit:
    """Design-based linear regression of ``y`` on the columns of ``X`` (R's ``svyglm``)
    on the rows ``active``: the model core's Gaussian fast path (one weighted least
    squares; the sandwich from per-PSU totals; replicate refits from per-PSU sufficient
    statistics). Rows outside ``active`` get weight zero but keep their PSU in the
    variance, as in R.
    """
    x = np.where(active[:, None], X, 0.0)
    y = np.where(active, y, 0.0)
    what = (f"the DiD of {outcome!r} (a covariate constant within treated x period cells, "
            "or one that repeats by= or treated=)")
    model = fit_model(design, x, y, active, family("gaussian"), terms, what, outcome)
    if model.discarded:
        warnings.warn(
            f"{model.discarded} replicate(s) gave NA results (a term of the DiD of "
            f"{outcome!r} has no weight in them) and were discarded from the variance, as "
            "R's svrVar does", UserWarning, stacklevel=3,
        )
    return _LinearFit(terms, model.fit.coef, model.vcov, int(model.df_residual))


#: squared share of a column of the cells' design matrix left unexplained above which
#: the Cholesky factor certifies full rank (as the model core's Gaussian fast path)
_CERTAIN = 1e-8


def _fit_cells(design, rows: np.ndarray, cell: np.ndarray, n_cells: int, M: np.ndarray,
               y: np.ndarray, terms: list[str]) -> _LinearFit | None:
    """The saturated DiD (no covariates) from per-(PSU, cell) totals: every row of a
    treated x period (x subgroup) cell has the same row ``M[cell]`` of the design
    matrix, so ``X'WX = M' diag(W_c) M``, ``X'Wy = M' S_c`` and the per-PSU totals of the
    estimating functions ``x_i w_i (y_i - fitted_i)`` are ``(T_wy - fitted T_w) M``:
    two sums over the rows instead of an (n, p) design matrix. The same numbers as
    :func:`_fit_linear` (R's ``svyglm``) up to the order of the sums; None (the general
    path decides, and words its errors) for a replicate design, weighting steps or a
    design matrix whose rank the Cholesky factor cannot certify.

    ``cell`` is the cell of each row of ``rows`` (a vector over those rows).
    """
    if design.is_replicate or not design.totals_path:
        return None
    prior, (group, n_groups) = fit_weights(design), design.score_groups()
    if not rows.all():  # every row used: no copies
        prior, group, y = prior[rows], group[rows], y[rows]
    index = group * n_cells + cell
    size = n_groups * n_cells
    t_w = np.bincount(index, weights=prior, minlength=size).reshape(n_groups, n_cells)
    t_wy = np.bincount(index, weights=prior * y, minlength=size).reshape(n_groups, n_cells)
    w_c, s_c = t_w.sum(axis=0), t_wy.sum(axis=0)
    gram = M.T @ (M * w_c[:, None])
    diagonal = np.diag(gram).copy()
    try:
        chol = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        return None
    if np.any(np.diag(chol) ** 2 <= _CERTAIN * diagonal) or np.any(diagonal <= 0):
        return None
    p = M.shape[1]
    l_inv = np.linalg.solve(chol, np.eye(p))
    bread = l_inv.T @ l_inv
    beta = bread @ (M.T @ s_c)
    beta = beta + bread @ (M.T @ (s_c - w_c * (M @ beta)))  # one step of refinement
    scores = (t_wy - t_w * (M @ beta)) @ M  # (G, p) per-PSU estimating functions
    fit_design = design if rows.all() or np.array_equal(rows, design.in_domain) \
        else design.subset(rows)
    vcov = fit_design.totals_vcov(scores @ bread)
    return _LinearFit(terms, beta, vcov, int(fit_design.degf + 1 - p))


def _is_numeric(dtype) -> bool:
    """A covariate entered as it is (else as treatment-coded dummies)."""
    return (pd.api.types.is_numeric_dtype(dtype) and not isinstance(
        dtype, pd.CategoricalDtype)) or pd.api.types.is_bool_dtype(dtype)


def _factor_covariates(design, names: Sequence[str]) -> frozenset[str]:
    """The covariates a labelled design's questionnaire says name categories (coded by
    numbers or not): entered as dummies, as R's factors. A text, select-multiple or
    identifier covariate is refused."""
    q = design.questionnaire
    if q is None:
        return frozenset()
    factors = set()
    for name in names:
        if name not in q:
            continue
        var = q.variable(name)
        if var.role == "id" or var.type in ("text", "select_multiple"):
            what = "an identifier" if var.role == "id" else f"a {var.type} variable"
            raise EstimationError(
                f"covariate {name!r} is {what} in questionnaire {q.id!r}: it cannot adjust "
                "a DiD. Fix: give a categorical or numeric question instead (a "
                "select-multiple question's options are 0/1 columns: give those)."
            )
        if var.type == "categorical":
            factors.add(name)
    return frozenset(factors)


def _covariate_columns(data: pd.DataFrame, names: list[str], active: np.ndarray,
                       levels_of: dict[str, list] | None = None,
                       factors: frozenset[str] = frozenset()
                       ) -> tuple[list[np.ndarray], list[str]]:
    """Numeric covariates as they are; categorical ones (and the ``factors``, whatever
    their dtype) as treatment-coded dummies (of the levels among the ``active`` rows, or
    of ``levels_of``: those of every partition of a Dask DataFrame)."""
    columns, terms = [], []
    for name in names:
        col = data[name]
        if _is_numeric(col.dtype) and name not in factors:
            columns.append(col.to_numpy(dtype=float, na_value=np.nan))
            terms.append(name)
            continue
        levels = levels_of[name] if levels_of is not None else ordered_values(col, active)
        for level_value in levels[1:]:
            columns.append((col == level_value).to_numpy(dtype=float, na_value=0.0))
            terms.append(f"{name}[T.{level_value}]")
    return columns, terms


# -------------------------------------------------------------------------- DiD --
@dataclass(frozen=True, eq=False)
class DiDResult:
    """Difference-in-differences (event study) estimates of ``perception.did``.

    Attributes
    ----------
    effects : DataFrame
        One row per (subgroup, variable, later period): the treated x period interaction
        (the DiD relative to the first period) with its design-based ``se``, ``ci_low``,
        ``ci_high``, ``df`` (residual degrees of freedom, R's ``df.residual``) and ``p``;
        then ``n``, the unweighted rows of the four cells the effect contrasts (treated and
        comparison, at the first period and at ``period``, in the subgroup; the ``n`` of
        those rows of ``cells``), and ``n_min``, the rows of the smallest of the four.
        Without covariates the effect is the DiD of those four cell means, so these are the
        rows it rests on (with covariates, their common slopes also use the other periods'
        rows). Outputs suppress an effect when ``n_min`` is below ``min_cell``. With one
        variable its ``attrs["vcov"]`` holds the effects' covariance, keyed by the ``by``
        columns, ``variable`` and ``period`` (``perception.contrast`` combines effects).
    cells : DataFrame
        Treated x period cell means (``perception.mean`` by ``[*by, treated, period]`` on
        the rows used by the regression).
    pretrend : DataFrame, optional
        Joint Wald F test that the treated x period interactions of the pre-treatment
        periods after the first are zero (one row per subgroup and variable); ``None``
        unless ``post_periods`` leaves two or more pre-periods.
    heterogeneity : DataFrame, optional
        Wald F test that the effects are equal across the ``by`` subgroups, from the
        subgroup-interacted model (jointly over the tested periods and per period); ``None``
        without ``by``.
    coefficients : DataFrame
        Every term of every model: ``variable``, ``term``, ``estimate``, ``se``, ``t``,
        ``p``, ``ci_low``, ``ci_high``, ``df``.
    vcov : dict of str to DataFrame
        Per variable, the covariance of the coefficients (DataFrame by term).
    treated, period : str
        The treatment and period columns of the call.
    by, covariates : tuple of str
        The subgroup and covariate columns of the call.
    periods : tuple
        The periods, in order; the first is the reference.
    post_periods : tuple, optional
        The periods given as ``post_periods`` (``None``: every later period).
    level : float
        Confidence level of the intervals.
    """

    effects: pd.DataFrame
    cells: pd.DataFrame
    pretrend: pd.DataFrame | None
    heterogeneity: pd.DataFrame | None
    coefficients: pd.DataFrame
    vcov: dict[str, pd.DataFrame] = field(repr=False)
    treated: str = "treated"
    period: str = "wave"
    by: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    periods: tuple = ()
    post_periods: tuple | None = None
    level: float = 0.95

    def summary(self) -> str:
        """Printable report: effects, pre-trend and heterogeneity tests.

        Returns
        -------
        str
            The effects table, then the pre-trend and heterogeneity tests when there are
            any.

        Examples
        --------
        >>> d = pc.demo_survey(seed=1).design()
        >>> print(pc.did(d, "trust_police").summary())
        Difference-in-differences: treated x wave (design-based linear model; reference period 0)
        <BLANKLINE>
        Effects (treated x period):
            variable  period  estimate     se  ci95_low  ci95_high  df      p    n  n_min  n_excluded
        trust_police       1    0.2014 0.0505    0.1019     0.3008 289 0.0001 7654   1841         335
        """
        pct = round(100 * self.level)
        lines = [
            f"Difference-in-differences: {self.treated} x {self.period} "
            f"(design-based linear model; reference period {self.periods[0]!r})",
        ]
        if self.covariates:
            lines.append(f"Covariates (additive): {', '.join(self.covariates)}")
        if self.post_periods is not None:
            lines.append(
                "Post-treatment periods: " + ", ".join(map(str, self.post_periods))
                + "; earlier periods are placebo (pre-trend) estimates"
            )
        # the labels and reasons are for tables; the summary keeps the count left out
        effects = self.effects.drop(columns=[c for c in self.effects.columns
                                             if c == "excluded" or str(c).endswith("_label")])
        effects = effects.rename(columns={"ci_low": f"ci{pct}_low", "ci_high": f"ci{pct}_high"})
        if self.post_periods is not None:
            effects.insert(
                list(effects.columns).index("period") + 1, "post",
                effects["period"].isin(self.post_periods),
            )
        lines += ["", "Effects (treated x period):", effects.to_string(index=False,
                                                                       float_format="%.4f")]
        if self.pretrend is not None:
            lines += ["", "Pre-trend test (pre-period interactions = 0):",
                      self.pretrend.to_string(index=False, float_format="%.4f")]
        elif self.post_periods is not None:
            lines += ["", "Pre-trend test: needs two or more pre-treatment periods."]
        if self.heterogeneity is not None:
            lines += ["", f"Heterogeneity across {', '.join(self.by)} (effects equal):",
                      self.heterogeneity.to_string(index=False, float_format="%.4f")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@positional_deprecated("treated", "period", "by", "covariates", "level", "post_periods", "na_rm")
@renamed_argument("var", "variables")
def did(
    design: Design | pd.DataFrame,
    variables: str | Sequence[str],
    *,
    treated: str = "treated",
    period: str = "wave",
    by: str | Sequence[str] | None = None,
    covariates: str | Sequence[str] | None = None,
    level: float = 0.95,
    post_periods: Sequence | None = None,
    na_rm: bool = False,
) -> DiDResult:
    """Difference-in-differences and event study with design-based standard errors.

    Fits the design-based linear model ``y ~ treated * factor(period) [+ covariates]``
    (for a 0/1 outcome: a linear probability model, effects in proportion points) and
    reports the treated x period interactions: with two periods the DiD, with more an
    event study, one effect per later period relative to the first.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign or DataFrame
        The design holding every period; a village revisited at several periods keeps one
        PSU id, so the covariance between periods enters the SEs. Or an estimate table by
        ``[*by, treated, period]`` that carries its covariance, such as the prevalence of
        a list experiment (``pc.list_experiment(d, count=..., treatment=...,
        by=["treated", "wave"])``): the effects are then contrasts of its cells (the
        saturated model's coefficients, R's ``svyby(covmat = TRUE)`` + ``svycontrast``),
        with the table's degrees of freedom; ``by`` defaults to its other domain columns,
        ``cells`` is the table, and covariates are not available. A design on a Dask
        DataFrame (``pc.SurveyDesign(ddf, ...)``, its ``.replicate()`` or
        replicate-weight columns, labelled or not) gives the same result: without
        covariates the saturated model's coefficients are contrasts of the cell means
        summed on the workers, the cells and their PSUs checked in one pass; with them
        the design matrix is built partition by partition and fitted by the Dask
        ``glm``.
    variables : str or sequence of str
        Numeric or 0/1 outcome column(s); one model per outcome. For a table, the value(s)
        of its ``variable`` column.
    treated : str
        0/1 (or boolean) column: the area received the community actions. It should be
        constant within PSU (a warning names the PSUs where it is not).
    period : str
        The wave column (ordered as in ``change``); its first value is the reference period.
    by : str or sequence of str, optional
        Subgroup column(s). The model is then fully interacted with the subgroups (``y ~
        group * treated * factor(period)``): one set of effects per subgroup, and
        ``heterogeneity`` tests that they are equal.
    covariates : str or sequence of str, optional
        Column(s) entering the model additively (common slopes); text or categorical columns
        are treatment-coded (first level dropped), as are a labelled design's categorical
        questions coded by numbers (``sex`` 1/2 enters as ``C(sex)``).
    level : float
        Confidence level of the intervals (t with the model's residual df).
    post_periods : sequence, optional
        The periods in which the actions had started. Periods not listed are pre-treatment:
        their interactions (after the first period) are placebo estimates and ``pretrend``
        tests them jointly. ``None``: every period after the first is post-treatment and no
        pre-trend test is possible.
    na_rm : bool
        Leave out rows with a missing outcome, covariate, treated, period or by value (they
        keep their PSU in the variance, as R's ``svyglm`` does); otherwise a missing value
        is an error naming the column.

    Returns
    -------
    DiDResult
        With ``effects``, ``cells``, ``pretrend``, ``heterogeneity``, ``coefficients``,
        ``vcov`` and ``summary()``.

    Raises
    ------
    EstimationError
        ``period`` with one value; ``treated`` not 0/1; a treated group absent from a
        period; a treated x period cell with fewer than two PSUs (checked when the
        design knows its PSUs: not for replicate weights given as columns); collinear
        covariates.

    Warns
    -----
    UserWarning
        ``treated`` not constant within a PSU, naming the PSUs.

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> res = pc.did(d, "trust_police", treated="treated", period="wave")
    >>> res.effects[["variable", "period", "estimate", "se", "p"]].round(3)
           variable  period  estimate     se    p
    0  trust_police       1     0.201  0.051  0.0

    Notes
    -----
    R: ``svyglm(y ~ treated * factor(wave), design)``; the effects are the
    ``treated:factor(wave)k`` coefficients with ``df = df.residual`` (``degf(design) + 1
    - p``). ``pretrend`` is ``regTermTest`` on the pre-period interactions,
    ``heterogeneity`` is ``regTermTest(fit, ~group:treated:factor(wave))`` in
    ``svyglm(y ~ group * treated * factor(wave))``. Without covariates the model is
    saturated, so each effect equals the DiD of the cell means
    (``svyby(~y, ~wave + treated, design, svymean, covmat = TRUE)`` + ``svycontrast``).
    """
    if isinstance(design, pd.DataFrame):
        return _did_of_table(design, variables, treated, period, by, covariates, level,
                             _period_list(post_periods))
    names = column_names(variables, "variables")
    by_names = column_names(by, "by")
    cov_names = column_names(covariates, "covariates")
    # select-multiple questions of a labelled design: one outcome per option
    on_dask, _, columns = checked_outcomes(design, names)
    intervals.check_level(level)
    for value, argument in ((treated, "treated"), (period, "period")):
        if not isinstance(value, str):
            raise EstimationError(f"{argument} must be a column name, got {value!r}")
    check_columns(columns, [treated], "treated")
    check_columns(columns, [period], "period")
    check_columns(columns, by_names, "by")
    check_columns(columns, cov_names, "covariates")
    roles = [*names, treated, period, *by_names, *cov_names]
    clash = sorted({c for c in roles if roles.count(c) > 1})
    if clash:
        raise EstimationError(
            f"column(s) {', '.join(map(repr, clash))} appear in more than one of variables=, "
            "treated=, period=, by=, covariates=; each column has one role"
        )
    post_periods = _period_list(post_periods)
    if on_dask:
        return _did_on_dask(design, names, treated, period, by_names, cov_names, level,
                            post_periods, na_rm)

    specs: list[tuple[dict, str]] = []
    for name in names:
        for target, outcome, option in _outcomes(design, name, roles[len(names):], na_rm):
            spec = _did_one(target, outcome, treated, period, by_names, cov_names, level,
                            post_periods, na_rm or option is not None)
            if option is not None:  # the indicator column as the question's option
                spec = _option_spec(spec, option, name, design)
            specs.append((spec, outcome))
    return _did_result(specs, treated, period, by_names, cov_names, level, post_periods)


def _did_result(specs: list[tuple[dict, str]], treated: str, period: str,
                by_names: list[str], cov_names: list[str], level: float,
                post_periods) -> DiDResult:
    """The result of the DiDs of each (spec, outcome), stacked outcome after outcome."""
    effects: list[pd.DataFrame] = []
    cells: list[pd.DataFrame] = []
    pretrends: list[pd.DataFrame] = []
    hetero: list[pd.DataFrame] = []
    coefs: list[pd.DataFrame] = []
    vcovs: dict[str, pd.DataFrame] = {}
    periods: list = []
    for spec, outcome in specs:
        _add_spec(spec, outcome, effects, cells, coefs, vcovs, pretrends, hetero)
        periods = spec["periods"]
    return DiDResult(
        effects=_stack(effects),
        cells=_concat_tables(cells),
        pretrend=_stack(pretrends) if pretrends else None,
        heterogeneity=_stack(hetero) if hetero else None,
        coefficients=_stack(coefs),
        vcov=vcovs,
        treated=treated,
        period=period,
        by=tuple(by_names),
        covariates=tuple(cov_names),
        periods=tuple(periods),
        post_periods=None if post_periods is None else tuple(
            p for p in periods if p in {plain_label(q) for q in post_periods}),
        level=level,
    )


def _did_on_dask(design, names: list[str], treated: str, period: str, by_names: list[str],
                 cov_names: list[str], level: float, post_periods, na_rm: bool) -> DiDResult:
    """``did`` of a design on a Dask DataFrame: the saturated model's coefficients as
    contrasts of the treated x period cell means (the Dask estimators' domain means and
    their covariance), which are the in-memory fit's to rounding."""
    specs: list[tuple[dict, str]] = []
    roles = [treated, period, *by_names, *cov_names]
    for name in names:
        if is_select_multiple(design, name):
            # each option's 0/1 indicator an outcome, as in memory (_outcomes)
            if not na_rm:  # the indicators leave rows out: other missing values stay errors
                domain_groups(design, [], roles, na_rm=False, argument="did", order=roles)
            # the indicators join the caller's labelled design, as in memory
            # (_outcomes): the other roles keep their labels (covariates' missing codes
            # out, categories as dummies)
            inner, columns = option_outcomes(design, name, roles, na_rm)
            for column, code in columns.items():
                spec = _labelled_did_on_dask(inner, column, treated, period, by_names,
                                             cov_names, level, post_periods, True,
                                             _factor_covariates(design, cov_names))
                specs.append((_option_spec(spec, {column: code}, name, design), column))
            continue
        specs.append((_labelled_did_on_dask(design, name, treated, period, by_names,
                                            cov_names, level, post_periods, na_rm,
                                            _factor_covariates(design, cov_names)), name))
    return _did_result(specs, treated, period, by_names, cov_names, level, post_periods)


def _labelled_did_on_dask(design, name: str, treated: str, period: str,
                          by_names: list[str], cov_names: list[str], level: float,
                          post_periods, na_rm: bool, factors: frozenset[str]) -> dict:
    """The DiD spec of outcome ``name`` of a (labelled) Dask design: the
    questionnaire's missing codes and skipped questions out, partition by partition
    (survey/dask_labelling.py), counted by domain."""
    prepared = prepare_partitions(design, [name], [treated, period, *by_names, *cov_names],
                                  purpose="mean")
    spec = _did_one_on_dask(prepared.design, name, treated, period, by_names, level,
                            post_periods, na_rm, cov_names, factors)
    cells_by = [*by_names, treated, period]
    if cov_names and prepared.labelled:
        # the cells are means of the outcome over the model's rows and those it leaves
        # out for a reason (a covariate's missing code), counting the outcome's own
        # reasons: the in-memory cells, of the design's subset to those rows
        cells_prepared = prepare_partitions(design, [name], [treated, period, *by_names],
                                            within=cov_names)
        spec["cells"] = cells_prepared.finish(
            mean(cells_prepared.design, name, by=cells_by, na_rm=na_rm, level=level),
            by=cells_by)
    else:
        spec["cells"] = prepared.finish(spec["cells"], by=cells_by)
    spec["effects"] = prepared.finish(spec["effects"], by=by_names)
    return spec


def _option_spec(spec: dict, option: dict, name: str, design) -> dict:
    """A DiD spec of an option's indicator column as rows of select-multiple ``name``
    (``variable`` the question, ``category`` the option's code) and, on a labelled
    design, the question's wording and the option's label as labels."""
    out = {}
    for key, value in spec.items():
        if key not in _OPTION_TABLES or value is None:
            out[key] = value
            continue
        table = relabel_options(value, option, name)
        labels = [c for c in table.columns if c.endswith("_label")]
        if "variable_label" in labels:  # written for the indicator column: rewritten
            by = [c[: -len("_label")] for c in labels
                  if c not in ("variable_label", "category_label")]
            attrs = table.attrs
            table = table.drop(columns=labels)
            table.attrs = attrs
            add_labels(table, design, by)
        out[key] = table
    return out


def _arm_values(values: pd.Series) -> np.ndarray:
    """The treated column as numbers, as :func:`_treated_indicator` reads it."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":
        return values.to_numpy(dtype=float)
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan)
    if values.dtype == object:
        values = values.map(lambda v: int(v) if isinstance(v, bool | np.bool_) else v)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _bad_treated(frame: pd.DataFrame, treated: str, roles: list[str]
                 ) -> dict[str, tuple[np.ndarray, str | None]]:
    """A partition's rows used whose treated value is not 0/1 (run on the workers)."""
    used = ~frame[roles].isna().any(axis=1).to_numpy()
    values = _arm_values(frame[treated])
    return {"treated": (used & (values != 0.0) & (values != 1.0), treated)}


def _did_one_on_dask(design, name: str, treated: str, period: str, by_names: list[str],
                     level: float, post_periods, na_rm: bool,
                     cov_names: Sequence[str] = (),
                     factors: frozenset[str] = frozenset()) -> dict:
    """One outcome's DiD on a Dask DataFrame: the checks of the in-memory DiD on the
    groups of one pass, then the cell means of the Dask estimators (with covariates,
    the regression of the Dask ``glm``; ``factors``: covariates entered as dummies)."""
    roles = [name, treated, period, *by_names, *cov_names]
    dtypes = design.data.dtypes
    numeric_covs = [c for c in cov_names if _is_numeric(dtypes[c]) and c not in factors]
    categorical_covs = [c for c in cov_names if c not in numeric_covs]
    # numeric covariates only leave their missing rows out; categorical ones are group
    # keys (their levels are needed)
    found = domain_groups(design, [name, *numeric_covs],
                          [*by_names, treated, period, *categorical_covs], na_rm=na_rm,
                          argument="did", order=roles)
    if not len(found.rows):
        raise EstimationError(f"no rows left to estimate the DiD of {name!r}")
    if found.lonely and design.lonely_psu == "average":
        # R's svyglm scales the whole fit's variance by the strata it holds, svyby each
        # cell's by its own: the cells' covariance does not give the fit's
        raise EstimationError(
            "lonely_psu='average' with a stratum of a single PSU: the DiD's variance is "
            "scaled by the strata of the whole fit, not of each treated x period cell, "
            "and on a Dask DataFrame it is built from the cells. Choose lonely_psu="
            "'adjust', 'certainty' or 'remove' for this design, or compute the DiD on the "
            "data in memory (ddf.compute())"
        )
    t = _arm_values(found.by[treated])
    if np.any((t != 0.0) & (t != 1.0)):
        bad = flagged_rows(design, roles, _bad_treated, treated, roles)["treated"]
        raise EstimationError(
            f"column {treated!r} (treated) must be 0/1 (or True/False), but rows "
            f"{bad.text} hold {bad.values[0]!r}; recode it as 1 = area with community "
            "actions, 0 = comparison area"
        )
    column = found.by[period]
    dtype = design.data[period].dtype
    if isinstance(dtype, pd.CategoricalDtype) and "__UNKNOWN_CATEGORIES__" not in list(
            dtype.categories):
        column = column.astype(dtype)
    periods = ordered_values(column, np.ones(len(column), dtype=bool))
    if len(periods) < 2:
        only = ", ".join(map(repr, map(plain_label, periods)))
        raise EstimationError(
            f"column {period!r} (period) has a single value ({only}) among the rows used: a "
            "DiD needs a baseline and at least one later period in the same design"
        )
    period_code = pd.Index(periods).get_indexer(column)
    if by_names:
        dom = domains(SimpleNamespace(data=found.by), by_names, np.ones(len(t), dtype=bool))
        group_code, groups = dom.codes, dom.frame
    else:
        group_code, groups = np.zeros(len(t), dtype=np.int64), pd.DataFrame(index=range(1))
    G, K = len(groups), len(periods)
    if found.psu is not None:  # treated within PSU: the rows of each PSU that are treated
        n_psu = len(found.psu_labels or [])
        rows = np.bincount(found.psu, weights=found.rows, minlength=n_psu)
        ones = np.bincount(found.psu, weights=found.rows * t, minlength=n_psu)
        mixed = np.flatnonzero((ones > 0) & (ones < rows))
        if len(mixed):
            _warn_mixed([(found.psu_labels or [])[c] for c in mixed], treated, 8)
    cell = (group_code * 2 + t.astype(np.int64)) * K + period_code
    rows_in = np.bincount(cell, weights=found.rows, minlength=G * 2 * K).astype(np.int64)
    psus_in = None
    if found.rows_are_psus:
        psus_in = rows_in
    elif found.psu is not None:
        psus_in = _distinct_per_cell(cell, found.psu, len(found.psu_labels or []), G * 2 * K)
    _check_cell_counts(rows_in, psus_in, periods, groups, treated, period)

    # the cell means (on the rows used: their degrees of freedom, as the in-memory
    # design cut to them) and the saturated model's coefficients from them
    cells_design = design
    if cov_names and not found.complete:  # rows missing a covariate: not in the cells
        data = design.data
        cells_design = with_frame(design, data.map_partitions(
            _without_covariates, name, list(cov_names),
            meta=_without_covariates(data._meta, name, list(cov_names))))
    table = mean(cells_design, name, by=[*by_names, treated, period], na_rm=na_rm,
                 level=level)
    if not found.complete:
        with_degf(table, found.degf_used, level)
    positions = np.full((G, 2, K), -1, dtype=np.int64)
    keys = {tuple(plain_label(v) for v in row): g
            for g, row in enumerate(groups.itertuples(index=False, name=None))}
    table_arm = _arm_values(table[treated].astype(object)).astype(np.int64)
    table_period = pd.Index(periods).get_indexer(table[period])
    for position in range(len(table)):
        key = tuple(plain_label(v) for v in table[by_names].iloc[position]) if by_names else ()
        positions[keys[key], table_arm[position], table_period[position]] = position
    if cov_names:
        levels_of = {c: _levels_on_dask(design, found.by[c], c) for c in categorical_covs}
        fit, effect_index = _covariate_fit_on_dask(
            design, name, treated, period, by_names, list(cov_names), periods, groups,
            levels_of)
    else:
        df = (found.degf if design.is_replicate else found.degf_used) + 1 - G * 2 * K
        fit, effect_index = _saturated_fit(table["estimate"].to_numpy(dtype=float),
                                           covariance_of(table).to_numpy(dtype=float),
                                           positions, groups, periods, treated, period,
                                           int(df))
    cell_rows = rows_in.reshape(G, 2, K)
    spec = _did_tables(name, fit, effect_index, groups, by_names, periods, cell_rows,
                       cell_rows, period, level, post_periods)
    spec["cells"] = table
    return spec


def _without_covariates(frame: pd.DataFrame, name: str, cov_names: list[str]
                        ) -> pd.DataFrame:
    """One partition with the outcome blank where a covariate is missing."""
    complete = frame[cov_names].notna().all(axis=1)
    values = pd.to_numeric(frame[name], errors="coerce").astype(float)
    return frame.assign(**{name: values.where(complete)})


def _levels_on_dask(design, values: pd.Series, name: str) -> list:
    """A categorical covariate's levels among the rows used, in the in-memory order
    (the column's categories when the Dask DataFrame knows them, else sorted)."""
    dtype = design.data[name].dtype
    if isinstance(dtype, pd.CategoricalDtype) and "__UNKNOWN_CATEGORIES__" not in list(
            dtype.categories):
        values = values.astype(dtype)
    elif pd.api.types.is_integer_dtype(dtype) and pd.api.types.is_float_dtype(values):
        # an integer column's group keys come back as floats when a group of other rows
        # had it blank: its levels are the integers (named "1", not "1.0", as in memory)
        values = values.astype("Int64")
    return ordered_values(values, np.ones(len(values), dtype=bool))


#: prefix of the columns of the DiD's model matrix added to the Dask DataFrame
_COLUMN = "__pc_did_"


def _did_matrix(frame: pd.DataFrame, name: str, treated: str, period: str,
                by_names: list[str], cov_names: list[str], periods: list,
                keys: dict[tuple, int], levels_of: dict[str, list]) -> pd.DataFrame:
    """One partition with the DiD's outcome and model-matrix columns (run on the
    workers): the in-memory design matrix of each row, missing where a role is."""
    roles = [name, treated, period, *by_names, *cov_names]
    used = ~frame[roles].isna().any(axis=1).to_numpy()
    t = np.nan_to_num(_arm_values(frame[treated]))
    period_code = pd.Index(periods).get_indexer(frame[period])
    if by_names:
        group_code = np.array([keys.get(tuple(plain_label(v) for v in row), -1)
                               for row in frame[by_names].itertuples(index=False, name=None)],
                              dtype=np.int64)
    else:
        group_code = np.zeros(len(frame), dtype=np.int64)
    later = list(range(1, len(periods)))
    columns = _design_columns(group_code, t, period_code, len(keys), later)
    columns += _covariate_columns(frame, cov_names, used, levels_of,
                                  frozenset(levels_of))[0]
    y = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    added = {f"{_COLUMN}y": np.where(used, y, np.nan)}
    for i, column in enumerate(columns):
        added[f"{_COLUMN}x{i}"] = np.where(used, column, np.nan)
    return frame.assign(**added)


def _covariate_fit_on_dask(design, name: str, treated: str, period: str,
                           by_names: list[str], cov_names: list[str], periods: list,
                           groups: pd.DataFrame, levels_of: dict[str, list]
                           ) -> tuple[_LinearFit, dict[tuple[int, int], int]]:
    """The DiD with covariates on a Dask DataFrame: the in-memory design matrix built
    partition by partition, fitted by the Dask ``glm`` (Gaussian: one pass for the
    least squares, one for the sandwich), on the rows used (the others stay in the
    design with weight zero, as in memory)."""
    from ..survey.models import glm

    G, K = len(groups), len(periods)
    later = list(range(1, K))
    terms: list[str] = []
    effect_index: dict[tuple[int, int], int] = {}
    for g in range(G):
        prefix = "" if G == 1 else _group_term(groups.iloc[g]) + ":"
        terms += ["Intercept" if G == 1 else prefix.rstrip(":"), f"{prefix}{treated}"]
        terms += [f"{prefix}{period}[T.{plain_label(periods[k])}]" for k in later]
        for k in later:
            effect_index[g, k] = len(terms)
            terms.append(f"{prefix}{treated}:{period}[T.{plain_label(periods[k])}]")
    for cov in cov_names:
        terms += [cov] if cov not in levels_of else [f"{cov}[T.{v}]" for v in levels_of[cov][1:]]
    keys = {tuple(plain_label(v) for v in row): g
            for g, row in enumerate(groups[by_names].itertuples(index=False, name=None))} \
        if by_names else {(): 0}
    data = design.data
    meta = _did_matrix(data._meta, name, treated, period, by_names, cov_names, periods,
                       keys, levels_of)
    frame = data.map_partitions(_did_matrix, name, treated, period, by_names, cov_names,
                                periods, keys, levels_of, meta=meta)
    names = [f"{_COLUMN}x{i}" for i in range(len(terms))]
    formula = f"{_COLUMN}y ~ 0 + " + " + ".join(names)
    def worded(message: str) -> str:  # the model's names, not the work columns'
        message = message.replace(repr(formula), f"the DiD of {name!r}")
        for column, term in sorted(zip(names, terms, strict=True), key=lambda p: -len(p[0])):
            message = message.replace(column, term)
        return message.replace(f"{_COLUMN}y", name)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = glm(with_frame(design, frame), formula, na_rm=True)
    except EstimationError as error:
        raise EstimationError(worded(str(error))) from None
    for warning in caught:
        warnings.warn(worded(str(warning.message)), warning.category, stacklevel=7)
    return (_LinearFit(terms, fit.coefficients["estimate"].to_numpy(dtype=float),
                       fit.vcov.to_numpy(dtype=float), int(fit.df_residual)), effect_index)


#: the tables of a DiD spec that name the outcome in a variable column
_OPTION_TABLES = ("effects", "cells", "coefficients", "pretrend", "heterogeneity")


def _outcomes(design, name: str, roles: list[str], na_rm: bool):
    """The outcomes of variable ``name``: itself, or for a select-multiple question of a
    labelled design each option's indicator (1 chosen, 0 not; the respondents not asked
    or answering with a missing code left out, as in ``proportion``), as (design,
    column, {column: code}) triples."""
    if not is_select_multiple(design, name):
        return [(design, name, None)]
    if not na_rm:  # the indicators leave rows out: other missing values stay errors
        missing = design.data[roles].isna().any(axis=1).to_numpy()
        active_rows(design, roles, missing, False, "did")
    options = option_design(design, name, na_rm=na_rm)
    # the indicators join the caller's labelled design, so that the other roles keep
    # their labels (covariates' missing codes out, categorical ones as dummies)
    target = design.with_data(options.design.data)
    return [(target, column, {column: code}) for column, code in options.columns.items()]


def _add_spec(spec: dict, outcome: str, effects: list, cells: list, coefs: list,
              vcovs: dict, pretrends: list, hetero: list) -> None:
    effects.append(spec["effects"])
    if "cells" in spec:  # a DiD of estimate tables has no cells of its own
        cells.append(spec["cells"])
    coefs.append(spec["coefficients"])
    vcovs[outcome] = spec["vcov"]
    if spec["pretrend"] is not None:
        pretrends.append(spec["pretrend"])
    if spec["heterogeneity"] is not None:
        hetero.append(spec["heterogeneity"])


def _period_list(post_periods):
    """``post_periods`` as a list (one period given alone becomes a list of one)."""
    if post_periods is not None and (
            isinstance(post_periods, str) or not isinstance(
                post_periods, Sequence | np.ndarray | pd.Index | set)):
        return [post_periods]
    return post_periods


def _stack(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The tables of several outcomes one below the other (one table: itself, each
    outcome's tables being built with a fresh 0..n-1 index)."""
    return tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)


def _concat_tables(tables: list[pd.DataFrame]) -> pd.DataFrame:
    if len(tables) == 1:
        return tables[0]
    level = tables[0].attrs.get("level")
    bare = []
    for table in tables:
        table = table.copy()
        table.attrs = {}
        bare.append(table)
    out = pd.concat(bare, ignore_index=True)
    # each variable's cells come from its own rows: no joint covariance is kept
    out.attrs = {"level": level, "vcov": None}
    return out


def _treated_indicator(design, treated: str, active: np.ndarray) -> np.ndarray:
    col = design.data[treated]
    if isinstance(col.dtype, np.dtype) and col.dtype.kind in "biuf":  # numbers already
        values = col.to_numpy(dtype=float)
    elif pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=float, na_value=np.nan)
    else:
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = active & (values != 0.0) & (values != 1.0)
    if bad.any():
        rows = design.data.index[bad]
        example = col[bad].iloc[0]
        raise EstimationError(
            f"column {treated!r} (treated) must be 0/1 (or True/False), but rows "
            f"{format_rows(rows)} hold {example!r}; recode it as 1 = area with community "
            "actions, 0 = comparison area"
        )
    return np.where(active, values, 0.0)


def _psu_labels(design) -> tuple[np.ndarray, pd.Series] | None:
    """PSU code of each row and a label per code, when the design knows its PSUs."""
    if isinstance(design, SurveyDesign):
        codes = design.psu_codes
        if design.psu_columns:
            labels = design.data[design.psu_columns[0]]
        else:
            labels = pd.Series(design.data.index, index=design.data.index)
        return codes, labels
    index = design.psu_codes
    if index is not None:
        return index, pd.Series(index, index=design.data.index)
    return None


def _check_treated_within_psu(design, t: np.ndarray, treated: str, active: np.ndarray) -> None:
    psu = _psu_labels(design)
    if psu is None:
        return
    codes, labels = psu
    # t is 0/1 on the active rows: a PSU is mixed when some but not all of them are 1
    every = bool(active.all())  # no row to leave out: no copies
    used = codes if every else codes[active]
    rows = np.bincount(used, minlength=int(codes.max()) + 1)
    ones = np.bincount(used, weights=t if every else t[active], minlength=rows.size)
    mixed = np.flatnonzero((ones > 0) & (ones < rows))
    if len(mixed):
        first_row = pd.Series(np.arange(len(codes))).groupby(codes).first()
        _warn_mixed([labels.iloc[int(first_row[c])] for c in mixed], treated, 7)


def _warn_mixed(labels: list, treated: str, stacklevel: int) -> None:
    """Warn that ``treated`` varies within the PSUs ``labels`` (``stacklevel``: the
    caller of ``did``, past its argument wrappers)."""
    names = [repr(plain_label(label)) for label in labels]
    warnings.warn(
        f"column {treated!r} (treated) is not constant within {len(names)} PSU(s): "
        f"{format_rows(names)}. Treatment is assigned to areas, so every respondent of "
        "a village should share it; check the treated codes of those PSUs (the DiD is "
        "still computed, with respondents classified by their own code).",
        UserWarning,
        stacklevel=stacklevel,
    )


def _cell_of_rows(group_code: np.ndarray, t: np.ndarray, period_code: np.ndarray,
                  n_periods: int, active: np.ndarray) -> np.ndarray:
    """Cell (group, treated arm, period) of each active row (a vector over them)."""
    if active.all():
        return (group_code * 2 + t.astype(np.int64)) * n_periods + period_code
    return ((group_code[active] * 2 + t[active].astype(np.int64)) * n_periods
            + period_code[active])


def _check_cells(design, cell: np.ndarray, periods: list, groups: pd.DataFrame,
                 treated: str, period: str, active: np.ndarray) -> None:
    """Every (group, treated, period) cell has rows, and at least two PSUs (``cell``:
    the cell of each active row, :func:`_cell_of_rows`)."""
    psu = _psu_labels(design)
    n_periods = len(periods)
    n_cells = len(groups) * 2 * n_periods
    rows_in = np.bincount(cell, minlength=n_cells)
    psus_in = None
    if psu is not None:
        psus_in = _distinct_per_cell(cell, psu[0] if active.all() else psu[0][active],
                                     int(psu[0].max()) + 1, n_cells)
    _check_cell_counts(rows_in, psus_in, periods, groups, treated, period)


def _distinct_per_cell(cell: np.ndarray, psu: np.ndarray, n_psu: int, n_cells: int
                       ) -> np.ndarray:
    """The number of distinct PSUs of each cell (``cell`` and ``psu``: per row or group)."""
    pairs = cell * n_psu + psu
    if n_cells * n_psu > 4 * len(pairs) + 1024:  # sparse: no table
        return np.bincount(np.unique(pairs) // n_psu, minlength=n_cells)
    return (np.bincount(pairs, minlength=n_cells * n_psu) > 0).reshape(
        n_cells, n_psu).sum(axis=1)


def _check_cell_counts(rows_in: np.ndarray, psus_in: np.ndarray | None, periods: list,
                       groups: pd.DataFrame, treated: str, period: str) -> None:
    """Every (group, treated, period) cell has rows and (``psus_in`` given) two PSUs."""
    n_periods = len(periods)
    for g in range(len(groups)):
        where = "" if groups.shape[1] == 0 else " in subgroup " + ", ".join(
            f"{c}={plain_label(v)!r}" for c, v in groups.iloc[g].items())
        for arm in (0.0, 1.0):
            for k, value in enumerate(periods):
                index = (g * 2 + int(arm)) * n_periods + k
                if rows_in[index] == 0:
                    raise EstimationError(
                        f"no {'treated' if arm else 'comparison'} respondents "
                        f"({treated}={int(arm)}) at {period}={plain_label(value)!r}{where}: "
                        "both groups must be observed at every period for a DiD. Drop that "
                        "period (design.subset) or check the treated and period codes."
                    )
                if psus_in is not None and psus_in[index] < 2:
                    raise EstimationError(
                        f"the cell {treated}={int(arm)}, {period}={plain_label(value)!r}{where} "
                        f"has {psus_in[index]} PSU: a design-based DiD needs at least two "
                        "PSUs in every treated x period cell. Merge subgroups (coarser by=) "
                        "or periods, or collect more villages."
                    )


def _did_one(design, name, treated, period, by_names, cov_names, level, post_periods, na_rm):
    # the questionnaire's missing codes and skipped questions out (survey/valid_values)
    # (covariates as domain columns: their codes out too, without the check that the
    # outcome is a quantity; categorical questions enter as dummies)
    factors = _factor_covariates(design, cov_names)
    prepared = prepare(design, [name], [treated, period, *by_names, *cov_names],
                       purpose="mean")
    design = prepared.design
    data = design.data
    y = numeric_values(data, name)
    role_columns = [name, treated, period, *by_names, *cov_names]
    cov_cols, cov_terms = _covariate_columns(data, cov_names, design.in_domain,
                                             factors=factors)
    missing = np.isnan(y)
    for column in (treated, period, *by_names, *cov_names):
        missing |= data[column].isna().to_numpy()
    active = active_rows(design, role_columns, missing, na_rm, "did")
    if not active.any():
        raise EstimationError(f"no rows left to estimate the DiD of {name!r}")
    t = _treated_indicator(design, treated, active)
    if isinstance(data[period].dtype, np.dtype) and data[period].dtype.kind in "iu":
        # integer periods (waves, years): coded in sorted order without hashing
        period_domains = domains(design, [period], active)
        periods = list(period_domains.frame[period])
    else:
        period_domains = None
        periods = ordered_values(data[period], active)
    if len(periods) < 2:
        only = ", ".join(map(repr, map(plain_label, periods)))
        raise EstimationError(
            f"column {period!r} (period) has a single value ({only}) among the rows used: a "
            "DiD needs a baseline and at least one later period in the same design"
        )
    if period_domains is not None:
        period_code = period_domains.codes
    else:
        period_code = np.where(active, pd.Index(periods).get_indexer(data[period]), -1)
    if by_names:
        dom = domains(design, by_names, active)
        group_code, groups = dom.codes, dom.frame
    else:
        group_code = np.where(active, 0, -1)
        groups = pd.DataFrame(index=range(1))
    _check_treated_within_psu(design, t, treated, active)
    cell_of_row = _cell_of_rows(group_code, t, period_code, len(periods), active)
    _check_cells(design, cell_of_row, periods, groups, treated, period, active)

    # design matrix: per subgroup its intercept, treated, periods and interactions
    G, K = len(groups), len(periods)
    later = list(range(1, K))
    period_terms = [f"{period}[T.{plain_label(periods[k])}]" for k in later]
    terms = []
    effect_index: dict[tuple[int, int], int] = {}
    for g in range(G):
        prefix = "" if G == 1 else _group_term(groups.iloc[g]) + ":"
        terms += ["Intercept" if G == 1 else prefix.rstrip(":"), f"{prefix}{treated}"]
        terms += [f"{prefix}{pt}" for pt in period_terms]
        for k, pt in zip(later, period_terms, strict=True):
            effect_index[g, k] = len(terms)
            terms.append(f"{prefix}{treated}:{pt}")
    fit = None
    if not cov_cols:
        # one row per cell (group, arm, period): the cells' design matrix, whose totals
        # give the whole fit
        cell_group, cell_arm, cell_period = np.unravel_index(np.arange(G * 2 * K), (G, 2, K))
        M = np.column_stack(_design_columns(cell_group, cell_arm.astype(float), cell_period,
                                            G, later))
        fit = _fit_cells(design, active, cell_of_row, G * 2 * K, M, y, terms)
    if fit is None:
        columns = _design_columns(group_code, t, period_code, G, later) + cov_cols
        fit = _fit_linear(design, np.column_stack(columns), y, active, terms + cov_terms,
                          name)
    cell_rows = np.bincount(cell_of_row, minlength=G * 2 * K).reshape(G, 2, K)
    spec = _did_tables(name, fit, effect_index, groups, by_names, periods, cell_rows,
                       cell_rows, period, level, post_periods)
    # the cells on the caller's design, so that they count the left-out answers too
    spec["cells"] = mean(prepared.original.subset(active | prepared.excluded), name,
                         by=[*by_names, treated, period], level=level, na_rm=na_rm)
    spec["effects"] = prepared.finish(spec["effects"], by=by_names)
    return spec


def _design_columns(group_code: np.ndarray, t: np.ndarray, period_code: np.ndarray,
                    n_groups: int, later: list[int]) -> list[np.ndarray]:
    """The columns of the DiD's design matrix (per subgroup: its indicator, treated,
    the later periods, treated x later periods), in the order of its terms."""
    columns = []
    for g in range(n_groups):
        ind = (group_code == g).astype(float)
        columns += [ind, ind * t]
        columns += [ind * (period_code == k) for k in later]
        columns += [ind * t * (period_code == k) for k in later]
    return columns


def _did_tables(name: str, fit: _LinearFit, effect_index: dict[tuple[int, int], int],
                groups: pd.DataFrame, by_names: list[str], periods: list,
                cell_rows: np.ndarray, cell_min: np.ndarray, period: str, level: float,
                post_periods) -> dict:
    """Effects, coefficients, pre-trend and heterogeneity tests of a fitted DiD.

    ``fit`` holds the coefficients of the terms (per subgroup: intercept, treated,
    periods, treated x periods), ``effect_index[g, k]`` the position of subgroup g's
    treated x period k term; ``cell_rows`` and ``cell_min`` (subgroups, 2 arms,
    periods) the rows of each cell and the smallest count it rests on (the same for
    a design; a table's cells may rest on several counts).
    """
    G, K = len(groups), len(periods)
    later = list(range(1, K))
    terms = fit.terms
    se_all = np.sqrt(np.clip(np.diag(fit.vcov), 0, None))
    df_resid = fit.df_residual

    # effects: one row per (subgroup, later period); columns built whole, then one frame
    pairs = [(g, k) for g in range(G) for k in later]
    index = [effect_index[g, k] for g, k in pairs]
    est, se = fit.beta[index], se_all[index]
    counts = [cell_rows[g][:, [0, k]].ravel() for g, k in pairs]  # the four cells
    smallest = [cell_min[g][:, [0, k]].ravel() for g, k in pairs]
    low, high = intervals.t_interval(est, se, df_resid, level)
    group_values = [_group_values(groups, g) for g, _ in pairs]
    effects = pd.DataFrame({
        **{c: [values[c] for values in group_values] for c in by_names},
        "variable": [name] * len(pairs), "period": [plain_label(periods[k]) for _, k in pairs],
        "estimate": est, "se": se, "ci_low": low, "ci_high": high,
        "df": np.full(len(pairs), df_resid), "p": two_sided_p(est, se, df_resid),
        "n": np.array([sum(c) for c in counts], dtype=np.int64),
        "n_min": np.array([min(c) for c in smallest], dtype=np.int64),
    })  # columns in the order [*by_names, *EFFECT_COLUMNS]
    # the effects' joint covariance (contrasts between periods or subgroups)
    attach_covariance(effects, fit.vcov[np.ix_(index, index)], [*by_names, "variable", "period"])
    effects.attrs["level"] = level

    with np.errstate(divide="ignore", invalid="ignore"):
        t_values = fit.beta / se_all
    c_low, c_high = intervals.t_interval(fit.beta, se_all, df_resid, level)
    coefficients = pd.DataFrame({"variable": name, "term": terms, "estimate": fit.beta,
                                 "se": se_all, "t": t_values,
                                 "p": two_sided_p(fit.beta, se_all, df_resid), "ci_low": c_low,
                                 "ci_high": c_high, "df": df_resid})  # COEFFICIENT_COLUMNS
    vcov = pd.DataFrame(fit.vcov, index=terms, columns=terms)

    # pre-trend: interactions of the pre-periods after the first
    pretrend = None
    tested = later
    if post_periods is not None:
        post = _post_codes(periods, post_periods, period)
        pre_later = [k for k in later if k not in post]
        tested = [k for k in later if k in post]
        if pre_later:
            prows = []
            for g in range(G):
                idx = [effect_index[g, k] for k in pre_later]
                f, q, p = _wald_f(fit.beta[idx], fit.vcov[np.ix_(idx, idx)], df_resid)
                prows.append({**_group_values(groups, g), "variable": name,
                              "periods": ", ".join(str(plain_label(periods[k])) for k in pre_later),
                              "statistic": f, "ndf": q, "ddf": df_resid, "p": p})
            pretrend = pd.DataFrame(prows)[[*by_names, *TEST_COLUMNS]]

    heterogeneity = None
    if G > 1 and tested:
        hrows = []
        sets = [tested] + ([[k] for k in tested] if len(tested) > 1 else [])
        for ks in sets:
            L = np.zeros(((G - 1) * len(ks), len(terms)))
            r = 0
            for k in ks:
                for g in range(1, G):
                    L[r, effect_index[g, k]] = 1.0
                    L[r, effect_index[0, k]] = -1.0
                    r += 1
            diff, v = linear_combination(fit.beta, fit.vcov, L)
            f, q, p = _wald_f(diff, v, df_resid)
            hrows.append({"variable": name,
                          "periods": ", ".join(str(plain_label(periods[k])) for k in ks),
                          "statistic": f, "ndf": q, "ddf": df_resid, "p": p})
        heterogeneity = pd.DataFrame(hrows)[TEST_COLUMNS]

    return {"effects": effects, "coefficients": coefficients, "vcov": vcov,
            "pretrend": pretrend, "heterogeneity": heterogeneity,
            "periods": [plain_label(p) for p in periods]}


def _saturated_fit(theta: np.ndarray, V: np.ndarray, cell: np.ndarray, groups: pd.DataFrame,
                   periods: list, treated: str, period: str, df: int
                   ) -> tuple[_LinearFit, dict[tuple[int, int], int]]:
    """The coefficients of the saturated model ``y ~ treated * factor(period)`` (per
    subgroup) as contrasts of the cell means ``theta`` (covariance ``V``; ``cell[g, arm,
    k]`` the position of each cell): intercept C0, treated T0 - C0, period k Ck - C0,
    treated x period k (Tk - T0) - (Ck - C0), and where each effect is among them."""
    G, K = cell.shape[0], len(periods)
    later = list(range(1, K))
    terms: list[str] = []
    L_rows: list[np.ndarray] = []
    effect_index: dict[tuple[int, int], int] = {}
    size = len(theta)

    def combination(*weights: tuple[int, float]) -> np.ndarray:
        row = np.zeros(size)
        for position, weight in weights:
            row[position] += weight
        return row

    for g in range(G):
        prefix = "" if G == 1 else _group_term(groups.iloc[g]) + ":"
        c0, t0 = cell[g, 0, 0], cell[g, 1, 0]
        terms += ["Intercept" if G == 1 else prefix.rstrip(":"), f"{prefix}{treated}"]
        L_rows += [combination((c0, 1.0)), combination((t0, 1.0), (c0, -1.0))]
        for k in later:
            terms.append(f"{prefix}{period}[T.{plain_label(periods[k])}]")
            L_rows.append(combination((cell[g, 0, k], 1.0), (c0, -1.0)))
        for k in later:
            effect_index[g, k] = len(terms)
            terms.append(f"{prefix}{treated}:{period}[T.{plain_label(periods[k])}]")
            L_rows.append(combination((cell[g, 1, k], 1.0), (t0, -1.0),
                                      (cell[g, 0, k], -1.0), (c0, 1.0)))
    beta, vcov = linear_combination(theta, V, np.vstack(L_rows))
    return _LinearFit(terms, beta, vcov, df), effect_index


def _post_codes(periods: list, post_periods, period: str) -> set[int]:
    post_list = list(post_periods)
    lookup = {plain_label(p): k for k, p in enumerate(periods)}
    unknown = [p for p in post_list if plain_label(p) not in lookup]
    if unknown:
        raise EstimationError(
            f"post_periods {unknown!r} are not values of column {period!r} (period) among "
            f"the rows used; its values are {[plain_label(p) for p in periods]!r}"
        )
    codes = {lookup[plain_label(p)] for p in post_list}
    if 0 in codes:
        raise EstimationError(
            f"post_periods includes the first period {plain_label(periods[0])!r}, the DiD's "
            "reference: the first period must be before the community actions"
        )
    return codes


def _group_values(groups: pd.DataFrame, g: int) -> dict:
    if groups.shape[1] == 0:
        return {}
    return {c: plain_label(v) for c, v in groups.iloc[g].items()}


def _group_term(row: pd.Series) -> str:
    return ":".join(f"{c}[{plain_label(v)}]" for c, v in row.items())


# ------------------------------------------------------------ DiD of a table --
def _did_of_table(table: pd.DataFrame, variables, treated: str, period: str, by, covariates,
                  level: float, post_periods) -> DiDResult:
    """``did`` of the rows of an estimate table by ``[*by, treated, period]``.

    The coefficients of the saturated model ``y ~ treated * factor(period)`` (per
    subgroup) are linear combinations of the cell estimates: intercept C0, treated
    T0 - C0, period k Ck - C0, treated x period k (Tk - T0) - (Ck - C0); their covariance
    comes from the table's (R's ``svyby(covmat = TRUE)`` then ``svycontrast``). The
    degrees of freedom are the table's.
    """
    names = column_names(variables, "variables")
    intervals.check_level(level)
    if column_names(covariates, "covariates"):
        raise EstimationError(
            "covariates= needs the rows of a design, and a table of estimates has none: give "
            "the design to pc.did (for a list experiment, pc.list_regression takes "
            "covariates)"
        )
    covariance = covariance_of(table)
    identity = [str(c) for c in covariance.index.names if c is not None]
    for column, argument in ((treated, "treated"), (period, "period")):
        if not isinstance(column, str) or column not in identity:
            raise EstimationError(
                f"{argument}={column!r} is not a column that identifies the table's rows "
                f"({identity!r}): estimate the table by [..., treated, period], e.g. "
                f"pc.list_experiment(d, count=..., treatment=..., by=[{treated!r}, {period!r}])"
            )
    group_columns = [c for c in identity if c not in (treated, period, "variable")]
    by_names = column_names(by, "by")
    if by_names and set(by_names) != set(group_columns):
        raise EstimationError(
            f"by={by_names!r} does not match the table: its rows are identified by "
            f"{identity!r}, so the subgroups are {group_columns!r} (leave by=None)"
        )
    by_names = group_columns
    present = set(table["variable"]) if "variable" in table.columns else set()
    unknown = [n for n in names if n not in present]
    if unknown or not names:
        raise EstimationError(
            f"variables={names!r}: the table has the variables {sorted(present)!r}")
    arm = pd.to_numeric(table[treated].astype(object), errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isin(arm, [0.0, 1.0])):
        raise EstimationError(
            f"column {treated!r} (treated) of the table must be 0/1 (or True/False), got "
            f"{sorted(map(str, pd.unique(table[treated])))}"
        )
    periods = ordered_values(table[period], np.ones(len(table), dtype=bool))
    if len(periods) < 2:
        raise EstimationError(
            f"column {period!r} (period) has a single value ({periods!r}) in the table: a "
            "DiD needs a baseline and at least one later period"
        )
    theta_all = table["estimate"].to_numpy(dtype=float)
    V_all = covariance.to_numpy(dtype=float)
    counts_all = table["n"].to_numpy(dtype=np.int64)
    smallest_all = smallest_count(table).to_numpy(dtype=float)
    period_code = pd.Index(periods).get_indexer(table[period])
    effects: list[pd.DataFrame] = []
    coefs: list[pd.DataFrame] = []
    pretrends: list[pd.DataFrame] = []
    hetero: list[pd.DataFrame] = []
    vcovs: dict[str, pd.DataFrame] = {}
    for name in names:
        rows = np.flatnonzero((table["variable"] == name).to_numpy())
        if by_names:
            keys = table.iloc[rows][by_names].astype(object).apply(tuple, axis=1)
            codes, uniques = pd.factorize(keys)
            groups = pd.DataFrame(list(uniques), columns=by_names)
        else:
            codes, groups = np.zeros(len(rows), dtype=np.int64), pd.DataFrame(index=range(1))
        G, K = len(groups), len(periods)
        cell = np.full((G, 2, K), -1, dtype=np.int64)
        for position, code in zip(rows, codes, strict=True):
            cell[code, int(arm[position]), period_code[position]] = position
        empty = np.argwhere(cell < 0)
        if len(empty):
            g_empty, a_empty, k_empty = (int(v) for v in empty[0])
            where = "".join(f", {c}={plain_label(v)!r}" for c, v in
                            _group_values(groups, g_empty).items())
            raise EstimationError(
                f"the table has no row for {treated}={a_empty}, {period}="
                f"{plain_label(periods[k_empty])!r}{where} ({name!r}): a DiD needs both "
                "groups at every period"
            )
        df = int(np.min(table["df"].to_numpy(dtype=float)[rows]))  # the design's df
        fit, effect_index = _saturated_fit(theta_all, V_all, cell, groups, periods, treated,
                                           period, df)
        spec = _did_tables(name, fit, effect_index, groups, by_names, periods,
                           counts_all[cell], smallest_all[cell], period, level, post_periods)
        _add_spec(spec, name, effects, [], coefs, vcovs, pretrends, hetero)
    selected = table[table["variable"].isin(names).to_numpy()]
    return DiDResult(
        effects=_stack(effects),
        cells=selected,
        pretrend=_stack(pretrends) if pretrends else None,
        heterogeneity=_stack(hetero) if hetero else None,
        coefficients=_stack(coefs),
        vcov=vcovs,
        treated=treated,
        period=period,
        by=tuple(by_names),
        covariates=(),
        periods=tuple(plain_label(p) for p in periods),
        post_periods=None if post_periods is None else tuple(
            p for p in periods if p in {plain_label(q) for q in post_periods}),
        level=level,
    )
