"""Diagnostics of a list experiment: the test for design effects and the counts that
identify respondents.

- :func:`list_design_test` -- Blair & Imai's (2012) test of the no-design-effect
  assumption (hearing the sensitive item must not change the answers to the control
  items), with the proportions of respondent types estimated inside the survey design.
- :func:`list_floor_ceiling` -- the counts at the floor (0) and the ceiling (J on the
  control list, J + 1 on the treatment list): a treatment-list count of 0 or J + 1
  gives the sensitive answer away.

The test
--------
Write Y(0) for a respondent's count of the control items and Z for the sensitive item.
Without design effects and liars, the proportion of respondents of each type (y, z) is
identified from the two lists' distributions of counts:

    pi(y, 1) = P(Y <= y | control) - P(Y <= y | treatment),          y = 0 .. J-1
    pi(y, 0) = P(Y <= y | treatment) - P(Y <= y - 1 | control),      y = 1 .. J

(the others, pi(J, 1) and pi(0, 0), are non-negative by construction). A design effect
shows as a negative proportion. For each z the hypothesis "every pi(y, z) >= 0" is
tested by the likelihood-ratio statistic of a normal vector restricted to the positive
orthant, ``min over mu >= 0 of (pi - mu)' S^-1 (pi - mu)``, whose distribution at the
least favourable point is a mixture of chi-squares (a chi-bar-square; Kudo 1963) with
weights given by the orthant probabilities of ``S``. Components that are clearly
positive (``pi / se > sqrt(log n)``) are left out first (generalized moment selection,
Andrews & Soares 2010). The two p-values (z = 1 and z = 0) are combined by Bonferroni:
twice the smaller, at most 1 -- as R's ``list::ict.test``.

The design-based version replaces the sample proportions by design-based domain means
of the indicators ``count <= y`` on each list, and the binomial covariances by their
design-based covariance (the same estimation engine as every mean: weights, strata,
clusters, calibration, replicates): respondents of one village share their PSU, and the
indicators of the two lists are correlated when the lists were assigned within
villages. The chi-bar-square weights are computed exactly from orthant probabilities (R
uses closed forms up to four components and simulation beyond); with one component left
the test is the one-sided t test on the design's degrees of freedom.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..errors import EstimationError
from ..survey.checks import check_design, column_names
from ..survey.covariance import covariance_of
from ..survey.dask_labelling import prepare_partitions
from ..survey.design import ReplicateDesign, SurveyDesign
from ..survey.estimators import mean
from ..survey.valid_values import prepare
from .changes import plain_label
from .list_experiments import check_arguments, count_indicator, count_table, list_columns

__all__ = ["list_design_test", "ListDesignTest", "list_floor_ceiling", "chi_bar_weights",
           "orthant_probability"]

Design = SurveyDesign | ReplicateDesign

#: columns of ``ListDesignTest.proportions`` after the ``by`` columns
PROPORTION_COLUMNS = ["count", "sensitive", "estimate", "se", "tested"]
#: columns of ``ListDesignTest.tests`` after the ``by`` columns
TEST_COLUMNS = ["sensitive", "statistic", "components", "p"]
#: columns of :func:`list_floor_ceiling` after the ``by`` columns
FLOOR_CEILING_COLUMNS = ["list", "count", "respondents", "share", "se", "n", "reveals",
                         "disclosure"]


# ------------------------------------------------------------- chi-bar-square --
def orthant_probability(cov: np.ndarray) -> float:
    """P(X >= 0) for X ~ N(0, cov): exact up to three dimensions, Genz's algorithm beyond
    (fixed seed, absolute error about 1e-7).

    Examples
    --------
    >>> round(float(orthant_probability(np.array([[1.0, 0.5], [0.5, 1.0]]))), 6)
    0.333333
    """
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    m = cov.shape[0]
    if m == 0:
        return 1.0
    sd = np.sqrt(np.diag(cov))
    r = cov / np.outer(sd, sd)
    if m == 1:
        return 0.5
    if m == 2:
        return float(0.25 + np.arcsin(np.clip(r[0, 1], -1, 1)) / (2 * np.pi))
    if m == 3:
        asin = np.arcsin(np.clip([r[0, 1], r[0, 2], r[1, 2]], -1, 1))
        return float(0.125 + asin.sum() / (4 * np.pi))
    return float(stats.multivariate_normal.cdf(
        np.zeros(m), mean=np.zeros(m), cov=r, allow_singular=True, abseps=1e-9, releps=1e-9,
        maxpts=200_000 * m, rng=np.random.default_rng(20120101)))


def chi_bar_weights(cov: np.ndarray) -> np.ndarray:
    """Weights of the chi-bar-square of a test that a normal mean is in the positive
    orthant: ``w[j]`` is the probability that the projection of ``N(0, cov)`` onto the
    orthant (in the metric of ``cov^-1``) has exactly ``j`` positive components.

    The projection has positive set A when the residual of ``z_A`` on the other
    components is positive and ``cov[B, B]^-1 z_B <= 0`` (B the complement); the two are
    independent, so ``P(A) = P(N(0, cov_AA.B) >= 0) P(N(0, cov_BB^-1) >= 0)`` (Kudo 1963).

    Examples
    --------
    >>> w = chi_bar_weights(np.eye(2))
    >>> w.round(3).tolist()
    [0.25, 0.5, 0.25]
    """
    cov = np.atleast_2d(np.asarray(cov, dtype=float))
    m = cov.shape[0]
    weights = np.zeros(m + 1)
    for size in range(m + 1):
        for A in itertools.combinations(range(m), size):
            B = [i for i in range(m) if i not in A]
            a = list(A)
            if B:
                S_BB = cov[np.ix_(B, B)]
                inv_BB = np.linalg.inv(S_BB)
                partial = cov[np.ix_(a, a)] - cov[np.ix_(a, B)] @ inv_BB @ cov[np.ix_(B, a)]
                weights[size] += orthant_probability(partial) * orthant_probability(inv_BB)
            else:
                weights[size] += orthant_probability(cov)
    return weights / weights.sum()


def _orthant_test(pi: np.ndarray, cov: np.ndarray) -> float:
    """The likelihood-ratio statistic ``min over mu >= 0 of (pi - mu)' cov^-1 (pi - mu)``
    (a non-negative least-squares problem after whitening by the Cholesky factor)."""
    chol = np.linalg.cholesky(cov)
    whiten = np.linalg.inv(chol)
    _, residual = optimize.nnls(whiten, whiten @ pi)
    return float(residual ** 2)


# -------------------------------------------------------------------- the test --
@dataclass(frozen=True, eq=False)
class ListDesignTest:
    """Blair & Imai's test for design effects of ``list_design_test``.

    Attributes
    ----------
    proportions : DataFrame
        The estimated proportions of respondent types: the ``by`` columns, ``count`` (y,
        the count of control items), ``sensitive`` (z), ``estimate``, ``se``
        (design-based) and ``tested`` (whether the component entered the test: not when
        clearly positive, or without variance).
    tests : DataFrame
        One row per subgroup and z: the ``by`` columns, ``sensitive``, ``statistic``
        (likelihood ratio), ``components`` (how many entered), ``p``.
    p : DataFrame
        One row per subgroup: the ``by`` columns and ``p``, the Bonferroni-corrected
        p-value (twice the smaller of the two, at most 1). A small value rejects the
        hypothesis of no design effect.
    n_control_items : int
        J, the number of control items.
    by : tuple of str
        The subgroup columns (empty: one test).
    gms : bool
        Whether the clearly positive proportions were left out (generalized moment
        selection).
    variable : str
        The count column.
    notes : tuple of str
        Notes printed after the summary (e.g. subgroups without a test).
    """

    proportions: pd.DataFrame
    tests: pd.DataFrame
    p: pd.DataFrame
    n_control_items: int
    by: tuple[str, ...] = ()
    gms: bool = True
    variable: str = ""
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """Printable report: proportions, the two tests and the corrected p-value.

        Returns
        -------
        str
            The title, the proportions, the tests and the corrected p-value.

        Examples
        --------
        >>> d = pc.demo_survey(seed=1).design()
        >>> res = pc.list_design_test(d, count="le_count", treatment="le_list",
        ...                           n_control_items=4)
        >>> print(res.summary().splitlines()[0])
        Test for list experiment design effects (Blair & Imai 2012), design-based: le_count, J = 4
        """
        lines = [f"Test for list experiment design effects (Blair & Imai 2012), design-based: "
                 f"{self.variable}, J = {self.n_control_items}", "",
                 "Estimated proportions of respondent types (count of control items y, "
                 "sensitive item z):",
                 self.proportions.to_string(index=False, float_format="%.4f"), "",
                 "Likelihood-ratio tests that every proportion is >= 0:",
                 self.tests.to_string(index=False, float_format="%.4f"), "",
                 "Bonferroni-corrected p-value (below alpha: reject no design effect):",
                 self.p.to_string(index=False, float_format="%.4f")]
        return "\n".join([*lines, *self.notes])

    def __str__(self) -> str:
        return self.summary()


def list_design_test(
    design: Design,
    *,
    count: str,
    treatment: str,
    n_control_items: int,
    by: str | Sequence[str] | None = None,
    gms: bool = True,
    na_rm: bool = False,
) -> ListDesignTest:
    """Test a list experiment for design effects (Blair & Imai 2012), design-based.

    A design effect: hearing the sensitive item changes how respondents answer the
    control items (they count fewer to hide the sensitive one, or react to the list's
    tone). The test estimates the proportion of each respondent type (count of control
    items y, sensitive answer z) from the two lists' distributions of counts; a negative
    proportion is impossible without a design effect. Each proportion is a difference
    of domain means of ``count <= y`` estimated inside the survey design, so its SE
    accounts for weights, strata and clusters (see the module notes for the statistic).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design; on a Dask DataFrame (``pc.SurveyDesign(ddf, ...)``, its
        ``.replicate()`` or replicate-weight columns) the same result, the counts checked
        in one pass and the indicators' means summed on the workers. A labelled design
        (``questionnaire=``) leaves the declared missing codes of the count, the list and
        the ``by`` columns out, as ``list_experiment`` does.
    count : str
        The count column.
    treatment : str
        The list heard (1 treatment, 0 control).
    n_control_items : int
        J, the number of control items.
    by : str or sequence of str, optional
        Subgroup column(s): one test per subgroup.
    gms : bool
        Leave out the clearly positive proportions before the test (generalized moment
        selection, ``pi / se > sqrt(log n)``, as R's default ``gms = TRUE``).
    na_rm : bool
        Leave out rows with a missing count, list or ``by`` value.

    Returns
    -------
    ListDesignTest
        With ``proportions``, ``tests``, ``p`` and ``summary()``.

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> res = pc.list_design_test(d, count="le_count", treatment="le_list",
    ...                           n_control_items=4)
    >>> res.p.round(3)
         p
    0  1.0

    On a Dask DataFrame (a directory of Parquet files), the same result:

    >>> import dask.dataframe as dd                                    # doctest: +SKIP
    >>> big = pc.SurveyDesign(dd.read_parquet("waves/"), weights="w_final",
    ...                       strata="stratum", psu="psu_id")          # doctest: +SKIP
    >>> pc.list_design_test(big, count="le_count", treatment="le_list",
    ...                     n_control_items=4, by="wave").p           # doctest: +SKIP

    Notes
    -----
    R: ``list::ict.test(y, treat, J, gms = TRUE)`` computes the same test on the sample
    proportions with binomial covariances (simple random sampling). With one row per PSU,
    equal weights and no strata, the design-based covariance here is R's times
    ``n / (n - 1)`` of each list. Differences from R: the GMS rule uses each component's
    own standard error (R divides by the spread of the estimated proportions), the
    weights of the chi-bar-square are exact orthant probabilities, and the
    Bonferroni p-value is capped at 1.
    """
    on_dask = getattr(design, "is_dask", False)
    if not on_dask:
        check_design(design)
    by_names = column_names(by, "by")
    if not isinstance(gms, bool):
        raise EstimationError(f"gms must be True or False, got {gms!r}")
    J = _control_items(count, treatment, n_control_items)
    names = {f"{count}<={y}": ("<=", y) for y in range(J + 1)}
    means, _ = _indicator_means(design, count, treatment, J, by_names, na_rm, names)
    return _design_test(means, list(names), by_names, treatment, J, gms, count)


def _control_items(count: str, treatment: str, n_control_items: int) -> int:
    """J, checked (the diagnostics need it)."""
    check_arguments(count, treatment, n_control_items)
    if n_control_items is None:
        raise EstimationError(
            "n_control_items must be the number of control items J (a whole number >= 1), "
            "got None"
        )
    return int(n_control_items)


def _indicator_means(design: Any, count: str, treatment: str, J: int, by_names: list[str],
                     na_rm: bool, tests: dict[str, tuple[str, int]], counted: bool = False
                     ) -> tuple[pd.DataFrame, dict[tuple, int]]:
    """Domain means by (``by``, list) of the indicators ``tests`` of the count (name ->
    ("<=" or "==", value)) among the rows that enter the experiment, with their
    covariance; the questionnaire's missing codes left out (as ``list_experiment``).
    With ``counted``, also the rows that enter by (``by`` values, list, count):
    :func:`count_table`."""
    on_dask = getattr(design, "is_dask", False)
    prepared = (prepare_partitions if on_dask else prepare)(
        design, [count], [treatment, *by_names], purpose="mean")
    if on_dask:  # the checks in one pass, the indicators summed on the workers
        from .dask_list_models import indicator_means

        return indicator_means(prepared.design, count, treatment, by_names, J, na_rm, tests,
                               counted)
    design = prepared.design
    columns = list_columns(design, count, treatment, J, by_names, na_rm)
    indicators = {name: np.where(columns.rows, count_indicator(columns.count, test), np.nan)
                  for name, test in tests.items()}
    work: Any = design.with_data(design.data.assign(**indicators)).subset(columns.rows)
    means = mean(work, list(tests), by=[*by_names, treatment])
    rows = columns.rows
    counts = count_table(design.data.loc[rows, by_names], columns.treatment[rows],
                         columns.count[rows]) if counted else {}
    return means, counts


def _design_test(means: pd.DataFrame, names: list[str], by_names: list[str], treatment: str,
                 J: int, gms: bool, count: str) -> ListDesignTest:
    """The test from the means of ``count <= y`` by (``by``, list) and their covariance."""
    theta = means["estimate"].to_numpy(dtype=float)
    V = covariance_of(means).to_numpy(dtype=float)
    arm = pd.to_numeric(means[treatment].astype(object)).to_numpy(dtype=float)
    position = {(key, a, v): i for i, (key, a, v) in enumerate(zip(
        _group_keys(means, by_names), arm, means["variable"], strict=True))}
    df = float(means["df"].iloc[0])
    keys = _group_keys(means, by_names)
    rows_of: dict[tuple, dict[float, int]] = {}  # respondents of each group's lists
    for key, a, n_rows in zip(keys, arm, means["n"], strict=True):
        rows_of.setdefault(key, {})[a] = int(n_rows)
    prop_rows, test_rows, p_rows = [], [], []
    for key in dict.fromkeys(keys):
        labels = dict(zip(by_names, key, strict=True))
        n = sum(rows_of[key].values())
        L, types = [], []
        for y in range(J):  # pi(y, 1) = P(Y <= y | control) - P(Y <= y | treatment)
            L.append(_weights(position, key, [(0.0, names[y], 1.0), (1.0, names[y], -1.0)],
                              len(theta), labels, treatment))
            types.append((y, 1))
        for y in range(1, J + 1):  # pi(y, 0) = P(Y <= y | treatment) - P(Y <= y-1 | control)
            L.append(_weights(position, key, [(1.0, names[y], 1.0), (0.0, names[y - 1], -1.0)],
                              len(theta), labels, treatment))
            types.append((y, 0))
        Lm = np.vstack(L)
        pi = Lm @ theta
        S = Lm @ V @ Lm.T
        se = np.sqrt(np.clip(np.diag(S), 0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            clear = (pi / se > np.sqrt(np.log(n))) if gms else np.zeros(len(pi), bool)
        tested = (se > 0) & ~clear
        p_values = {}
        for z in (1, 0):
            idx = [i for i, (_, zz) in enumerate(types) if zz == z and tested[i]]
            statistic, p = _test(pi[idx], S[np.ix_(idx, idx)], se[idx], df)
            p_values[z] = p
            test_rows.append({**labels, "sensitive": z, "statistic": statistic,
                              "components": len(idx), "p": p})
        for i, (y, z) in enumerate(types):
            prop_rows.append({**labels, "count": y, "sensitive": z, "estimate": pi[i],
                              "se": se[i], "tested": bool(tested[i])})
        tested_p = [p_values[z] for z in (1, 0) if not np.isnan(p_values[z])]
        p_rows.append({**labels, "p": min(1.0, 2 * min(tested_p)) if tested_p else 1.0})
    notes = () if not gms else (
        "", "Proportions with pi / se > sqrt(log n) were left out of the test (generalized "
        "moment selection).")
    return ListDesignTest(
        proportions=pd.DataFrame(prop_rows, columns=[*by_names, *PROPORTION_COLUMNS]),
        tests=pd.DataFrame(test_rows, columns=[*by_names, *TEST_COLUMNS]),
        p=pd.DataFrame(p_rows, columns=[*by_names, "p"]),
        n_control_items=J, by=tuple(by_names), gms=gms, variable=count, notes=notes,
    )


def _group_keys(table: pd.DataFrame, by_names: list[str]) -> list[tuple]:
    if not by_names:
        return [()] * len(table)
    return [tuple(plain_label(v) for v in row) for row in
            table[by_names].itertuples(index=False, name=None)]


def _weights(position: dict, key: tuple, parts: list[tuple[float, str, float]], size: int,
             labels: dict, treatment: str) -> np.ndarray:
    row = np.zeros(size)
    for arm, name, weight in parts:
        i = position.get((key, arm, name))
        if i is None:
            where = "".join(f", {c}={v!r}" for c, v in labels.items())
            raise EstimationError(
                f"no respondent heard the {'treatment' if arm else 'control'} list "
                f"({treatment} = {int(arm)}{where}): the test compares the two lists"
            )
        row[i] += weight
    return row


def _test(pi: np.ndarray, S: np.ndarray, se: np.ndarray, df: float) -> tuple[float, float]:
    """The statistic and p-value of "every component of pi >= 0"."""
    m = len(pi)
    if m == 0:
        return float("nan"), float("nan")
    if m == 1:  # one-sided t test on the design's degrees of freedom
        tval = float(pi[0] / se[0])
        return tval, float(stats.t.cdf(tval, df) if np.isfinite(df) and df > 0
                           else stats.norm.cdf(tval))
    statistic = _orthant_test(pi, S)
    if statistic <= 0:
        return 0.0, 1.0
    w = chi_bar_weights(S)  # w[j]: j positive components, chi-square with m - j df
    tail = [stats.chi2.sf(statistic, m - j) if m - j > 0 else 0.0 for j in range(m + 1)]
    return statistic, float(np.clip(np.dot(w, tail), 0.0, 1.0))


# --------------------------------------------------------- floor and ceiling --
def list_floor_ceiling(
    design: Design,
    *,
    count: str,
    treatment: str,
    n_control_items: int,
    by: str | Sequence[str] | None = None,
    na_rm: bool = False,
) -> pd.DataFrame:
    """The counts at the floor and the ceiling of each list: who is identified.

    On the treatment list a count of 0 says "no" to the sensitive item and a count of
    J + 1 says "yes": those respondents' sensitive answers can be read from the data, and
    a respondent who wants to hide a "yes" with every control item true must answer J
    (a ceiling effect that biases the prevalence down). On the control list the counts
    0 and J show how often the floor and the ceiling are reached (the share of the
    control list at J estimates the share of treatment-list respondents exposed to the
    ceiling effect).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design; on a Dask DataFrame the same table (the counts checked and
        the respondents counted in a pass each, the shares summed on the workers). A
        labelled design leaves the declared missing codes out, as ``list_experiment``.
    count : str
        The count column.
    treatment : str
        The list heard (1 treatment, 0 control).
    n_control_items : int
        J, the number of control items.
    by : str or sequence of str, optional
        Subgroup column(s).
    na_rm : bool
        Leave out rows with a missing count, list or ``by`` value.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``list`` ("control" or "treatment"), ``count`` (0, J, or
        J + 1), ``respondents`` (unweighted respondents of the list at that count),
        ``share`` (their design-weighted share of the list) and its ``se``, ``n``
        (respondents of the list), ``reveals`` (what the count tells about a respondent)
        and ``disclosure`` (True where respondents' sensitive answers are given away: the
        treatment list at 0 or J + 1 with at least one respondent). Keep the count out of
        public files (restricted data) when ``disclosure`` is True anywhere.

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> t = pc.list_floor_ceiling(d, count="le_count", treatment="le_list",
    ...                           n_control_items=4)
    >>> t[["list", "count", "respondents", "share", "disclosure"]].round(3)
            list  count  respondents  share  disclosure
    0    control      0          266  0.064       False
    1    control      4          344  0.085       False
    2  treatment      0          214  0.054        True
    3  treatment      5           68  0.019        True
    >>> pc.list_floor_ceiling(big, count="le_count", treatment="le_list",
    ...                       n_control_items=4, by="wave")            # doctest: +SKIP
    """
    on_dask = getattr(design, "is_dask", False)
    if not on_dask:
        check_design(design)
    by_names = column_names(by, "by")
    J = _control_items(count, treatment, n_control_items)
    cases = [(0.0, 0, "every control item: no"), (0.0, J, "every control item: yes"),
             (1.0, 0, "the sensitive item: no (and every control item: no)"),
             (1.0, J + 1, "the sensitive item: yes (and every control item: yes)")]
    names = {(arm, value): f"{count}=={value}:{int(arm)}" for arm, value, _ in cases}
    tests = {name: ("==", value) for (_, value), name in names.items()}
    means, counts = _indicator_means(design, count, treatment, J, by_names, na_rm, tests,
                                     counted=True)
    arm_of = pd.to_numeric(means[treatment].astype(object)).to_numpy(dtype=float)
    keys = _group_keys(means, by_names)
    rows = []
    for key in dict.fromkeys(keys):
        labels = dict(zip(by_names, key, strict=True))
        for arm, value, reveals in cases:
            match = np.flatnonzero([(k == key) and (a == arm) and (v == names[arm, value])
                                    for k, a, v in zip(keys, arm_of, means["variable"],
                                                       strict=True)])
            if not len(match):
                raise EstimationError(
                    f"no respondent heard the {'treatment' if arm else 'control'} list "
                    f"({treatment} = {int(arm)}"
                    + "".join(f", {c}={v!r}" for c, v in labels.items()) + ")"
                )
            row = means.iloc[int(match[0])]
            on_list = {y: size for (*k, a, y), size in counts.items()
                       if tuple(k) == key and a == arm}
            respondents = on_list.get(float(value), 0)
            rows.append({**labels, "list": "treatment" if arm else "control", "count": value,
                         "respondents": respondents, "share": float(row["estimate"]),
                         "se": float(row["se"]), "n": sum(on_list.values()),
                         "reveals": reveals,
                         "disclosure": bool(arm == 1.0 and respondents > 0)})
    return pd.DataFrame(rows, columns=[*by_names, *FLOOR_CEILING_COLUMNS])
