"""Design-based tests comparing groups: the t test of two means (R's ``svyttest``) and
the rank tests (R's ``svyranktest``: Wilcoxon, van der Waerden, median).

``ttest`` is the difference of two domain means with its design-based SE, the
coefficient of the group in the regression ``y ~ group`` that R fits; its df is the
design's minus one.

``ranktest`` follows Lumley and Scott (2013): each respondent's mid-rank in the
population is estimated from the design weights (``sum of the weights of the smaller
values + half their own``, averaged over ties), transformed to a score (``r / N``;
``qnorm(r / N)``; ``r > N / 2``), and the groups' mean scores are compared by a
weighted regression of the score on the group, whose coefficients get the design
covariance of the totals of their influence functions. Two groups give a t statistic
on ``degf - 1`` df, k groups a Wald F on ``(k - 1, degf - k + 1)`` df.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError, format_rows
from . import intervals
from .checks import check_columns, check_design
from .contrasts import contrast
from .estimators import mean
from .valid_values import prepare

RankTest = Literal["wilcoxon", "vanderWaerden", "median"]
RANK_TESTS = ("wilcoxon", "vanderWaerden", "median")

TTEST_COLUMNS = ["variable", "contrast", "estimate", "se", "ci_low", "ci_high", "df", "t",
                 "p", "n"]
RANKTEST_COLUMNS = ["variable", "test", "contrast", "estimate", "se", "statistic", "ndf",
                    "df", "p", "n"]


# ------------------------------------------------------------------- shared parts --
def _check(design, variable, group, na_rm: bool, caller: str):
    """The design restricted to the rows where ``variable`` and ``group`` are both
    present (R drops the others), and the group levels found there, in order."""
    check_design(design, function=caller)
    for argument, name in (("variable", variable), ("group", group)):
        if not isinstance(name, str):
            raise EstimationError(f"{argument} must be one column name, got {name!r}")
        check_columns(design.data, [name], argument)
    if variable == group:
        raise EstimationError(f"variable and group are the same column {variable!r}")
    # the questionnaire's missing codes and skipped questions out (survey/valid_values)
    design = prepare(design, [variable], [group], purpose="mean").design
    data = design.data
    values = pd.to_numeric(data[variable], errors="coerce")
    bad = values.isna() & data[variable].notna()
    if bad.any():
        raise EstimationError(
            f"column {variable!r} is not numeric: rows {format_rows(data.index[bad])} hold "
            f"{data.loc[bad, variable].iloc[0]!r}. {caller} compares means of a number; "
            "recode the column first"
        )
    missing = (values.isna() | data[group].isna()).to_numpy() & design.in_domain
    if missing.any():
        if not na_rm:
            columns = [c for c in (variable, group)
                       if (data[c].isna().to_numpy() & design.in_domain).any()]
            raise EstimationError(
                f"{', '.join(map(repr, columns))} missing in rows "
                f"{format_rows(data.index[missing])} ({int(missing.sum())} rows): pass "
                "na_rm=True to leave them out (as R does), or impute them"
            )
        design = design.subset(~missing)
    inside = design.in_domain
    levels = _levels(data[group], inside)
    if len(levels) < 2:
        raise EstimationError(
            f"group {group!r} has {len(levels)} value(s) among the rows used "
            f"({', '.join(map(str, levels)) or 'none'}): a comparison needs two or more"
        )
    return design, values.to_numpy(dtype=float), levels


def _levels(column: pd.Series, inside: np.ndarray) -> list:
    """The group's values among the rows used: a categorical's in its order, otherwise
    sorted (R's factor levels)."""
    present = column[inside]
    if isinstance(column.dtype, pd.CategoricalDtype):
        used = set(present.dropna())
        return [c for c in column.cat.categories if c in used]
    return sorted(pd.unique(present.dropna()))


def _total_vcov(design, scores: np.ndarray) -> np.ndarray:
    """Design covariance of the totals ``sum_i w_i s_i`` of the columns of ``scores``
    (R's ``vcov(svytotal(scores, design))``)."""
    w = design.weight_array
    if design.is_replicate:
        replicates = design._replicate_totals(scores)
        return design._vcov_replicates(replicates, (w[:, None] * scores).sum(axis=0))
    return design.score_vcov(w[:, None] * scores)


# ----------------------------------------------------------------------- t test --
def ttest(
    design,
    variable: str,
    group: str,
    *,
    na_rm: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Design-based t test of the difference between two groups' means (R's ``svyttest``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design (subsets included).
    variable : str
        The numeric column compared.
    group : str
        A column with two values among the rows used (a categorical's order, or sorted
        values, say which is first): the difference is second minus first.
    na_rm : bool
        Leave out rows missing ``variable`` or ``group`` (R's default); otherwise a
        missing value raises an error naming the rows.
    level : float
        Confidence level of ``ci_low``/``ci_high``.

    Returns
    -------
    DataFrame
        One row: ``variable``, ``contrast`` (``"Yes - No"``), ``estimate`` (the
        difference of the design-weighted means), ``se``, ``ci_low``, ``ci_high``, ``df``
        (design df minus one), ``t``, ``p`` (two-sided) and ``n`` (rows used).

    Raises
    ------
    EstimationError
        for an unknown or non-numeric column, missing values without ``na_rm``, or a
        group with other than two values.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> pc.ttest(d, "enroll", group="comp_imp")[["contrast", "estimate", "se", "t", "df", "p"]].round(4)
       contrast  estimate       se       t   df       p
    0  Yes - No -228.2822  61.2857 -3.7249  196  0.0003

    Notes
    -----
    R: ``svyttest(enroll ~ comp.imp, design)``: the coefficient of the group in
    ``svyglm(enroll ~ comp.imp, design)``, t on ``df.residual`` = degf - 1.
    """
    intervals.check_level(level)
    used, _, levels = _check(design, variable, group, na_rm, "ttest")
    if len(levels) != 2:
        raise EstimationError(
            f"group {group!r} has {len(levels)} values among the rows used "
            f"({', '.join(map(str, levels))}): a t test compares two groups; use "
            "pc.ranktest or pc.wald_test for more, or subset the design to two of them"
        )
    first, second = levels
    by_group = mean(used, variable, by=group)
    weights = [1.0 if v == second else -1.0 if v == first else 0.0 for v in by_group[group]]
    diff = contrast(by_group, {f"{second} - {first}": weights})
    estimate = float(diff["estimate"].iloc[0])
    se = float(diff["se"].iloc[0])
    df = used.degf - 1
    t = estimate / se if se > 0 else np.nan
    p = float(2 * stats.t.sf(abs(t), df)) if df > 0 else np.nan
    low, high = intervals.t_interval(np.array([estimate]), np.array([se]), df, level)
    return pd.DataFrame({
        "variable": [variable], "contrast": [f"{second} - {first}"], "estimate": [estimate],
        "se": [se], "ci_low": low, "ci_high": high, "df": [df], "t": [t], "p": [p],
        "n": [used.n],
    })[TTEST_COLUMNS]


# -------------------------------------------------------------------- rank tests --
def _rank_scores(y: np.ndarray, w: np.ndarray, test: str) -> np.ndarray:
    """Each row's estimated population mid-rank, as R's ``svyranktest``: cumulative
    weight of the sorted values minus half the row's own, averaged (unweighted) over
    tied values, then the test's score of ``rank / N``."""
    order = np.argsort(y, kind="stable")
    cumulative = np.cumsum(w[order]) - w[order] / 2
    ties = pd.Series(cumulative).groupby(y[order]).transform("mean").to_numpy()
    rank = np.empty_like(ties)
    rank[order] = ties
    share = rank / w.sum()
    if test == "wilcoxon":
        return share
    if test == "vanderWaerden":
        return stats.norm.ppf(share)
    return (share > 0.5).astype(float)


def ranktest(
    design,
    variable: str,
    group: str,
    *,
    test: RankTest = "wilcoxon",
    na_rm: bool = False,
) -> pd.DataFrame:
    """Design-based rank test of a difference between groups (R's ``svyranktest``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design (subsets included).
    variable : str
        The numeric (or ordinal-coded) column compared.
    group : str
        A column with two or more values among the rows used.
    test : {"wilcoxon", "vanderWaerden", "median"}
        "wilcoxon" (ranks; Kruskal–Wallis for k groups), "vanderWaerden" (normal scores)
        or "median" (above the population median).
    na_rm : bool
        Leave out rows missing ``variable`` or ``group`` (R's default); otherwise a
        missing value raises an error naming the rows.

    Returns
    -------
    DataFrame
        One row: ``variable``, ``test``, ``contrast`` (``"Yes - No"`` for two groups, the
        levels for more), ``estimate`` and ``se`` (two groups: the difference in mean rank
        score, second minus first; NaN for more), ``statistic`` (two groups: t; more: the
        Wald F, chi-squared over ``ndf``), ``ndf`` (1, or groups minus one), ``df``
        (denominator df: design df minus ``ndf``), ``p`` and ``n`` (rows used).

    Raises
    ------
    EstimationError
        for an unknown or non-numeric column, missing values without ``na_rm``, an
        unknown ``test``, or a group with one value.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> pc.ranktest(d, "ell", group="comp_imp")[["contrast", "estimate", "statistic", "df", "p"]].round(4)
       contrast  estimate  statistic   df       p
    0  Yes - No   -0.0054    -0.1209  196  0.9039
    >>> pc.ranktest(d, "ell", group="stype")[["statistic", "ndf", "df", "p"]].round(4)
       statistic  ndf   df       p
    0     5.2811    2  195  0.0058

    Notes
    -----
    R: ``svyranktest(ell ~ comp.imp, design, test = "wilcoxon")``; k groups as R's
    ``survey:::multiranktest``, whose result holds the chi-squared in ``parameter`` and
    ``ndf`` in ``statistic``. For replicate designs R's k-group test fails (it needs a
    linearisation design); here it uses the replicate covariance of the same totals, as
    R's two-group test does.
    """
    if test not in RANK_TESTS:
        raise EstimationError(f"test={test!r} is unknown; choose one of {', '.join(RANK_TESTS)}")
    used, values, levels = _check(design, variable, group, na_rm, "ranktest")
    rows = np.flatnonzero(used.in_domain)
    w = used.weight_array[rows]
    score = _rank_scores(values[rows], w, test)
    column = used.data[group].iloc[rows]
    x = np.column_stack(
        [np.ones(len(rows))] + [(column == v).to_numpy(dtype=float) for v in levels[1:]]
    )
    information = x.T @ (w[:, None] * x)
    beta = np.linalg.solve(information, x.T @ (w * score))
    influence = np.zeros((len(used.data), x.shape[1]))
    influence[rows] = (x * (score - x @ beta)[:, None]) @ np.linalg.inv(information)
    vcov = _total_vcov(used, influence)[1:, 1:]
    ndf = len(levels) - 1
    df = used.degf - ndf
    if ndf == 1:
        se = float(np.sqrt(vcov[0, 0]))
        estimate = float(beta[1])
        statistic = estimate / se
        p = float(2 * stats.t.sf(abs(statistic), df))
        label = f"{levels[1]} - {levels[0]}"
    else:
        se = estimate = np.nan
        chisq = float(beta[1:] @ np.linalg.solve(vcov, beta[1:]))
        statistic = chisq / ndf
        p = float(stats.f.sf(statistic, ndf, df))
        label = ", ".join(map(str, levels))
    return pd.DataFrame({
        "variable": [variable], "test": [test], "contrast": [label], "estimate": [estimate],
        "se": [se], "statistic": [statistic], "ndf": [ndf], "df": [df], "p": [p],
        "n": [len(rows)],
    })[RANKTEST_COLUMNS]
