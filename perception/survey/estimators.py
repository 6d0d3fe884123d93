"""Design-based means, totals, ratios and proportions as tidy tables.

Each is a ratio of weighted totals computed by the kernel of
:mod:`perception.survey.engine` (R's ``svymean``, ``svytotal``, ``svyratio`` and
``svymean(~factor(x))`` with ``svyciprop`` intervals); domains (``by=``) are estimated
inside the full design as R's ``svyby`` does. Each table carries the covariance of its
``estimate`` column, keyed by each row's identity, so :func:`perception.contrast`
combines rows with correct SEs however the table was sorted or filtered.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..deprecation import positional_deprecated
from ..errors import EstimationError
from . import intervals
from .checks import check_columns, check_design, column_names, estimate_names
from .design import ReplicateDesign, SurveyDesign
from .engine import (
    Domains,
    active_rows,
    assemble,
    by_missing,
    check_domain_weights,
    collect_levels,
    column_list,
    domains,
    factor_levels,
    fast_estimate,
    finish,
    indicator,
    kept_on_design,
    no_rows_error,
    ratio_engine,
    replicate_logit_interval,
    rows_missing,
    uses_totals_path,
    zero_outside,
)
from .multiple_choice import proportions_with_options, select_multiple_names
from .valid_values import add_labels, prepare

Design = SurveyDesign | ReplicateDesign


def _dask():
    """The estimators of designs on a Dask DataFrame, labelled or not (imported on
    first use)."""
    from . import dask_labelling
    return dask_labelling


# ------------------------------------------------------------------- estimators --
@positional_deprecated("by", "na_rm", "level")
def mean(
    design: Design,
    variables: str | Sequence[str],
    *,
    by: str | Sequence[str] | None = None,
    na_rm: bool = False,
    level: float = 0.95,
    missing_codes: str | None = None,
) -> pd.DataFrame:
    """Design-based means with Taylor or replicate standard errors.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    variables : str or sequence of str
        Column name or list of names (numeric or 0/1).
    by : str or sequence of str, optional
        Domain column(s); each domain is estimated inside the full design.
    na_rm : bool
        Leave out rows with a missing value in any of ``variables`` (or ``by``); otherwise a
        missing value raises an error naming the column.
    level : float
        Confidence level of ``ci_low``/``ci_high`` (t with ``df = design.degf``).
    missing_codes : str, optional
        On a labelled design, "exclude" leaves the questionnaire's missing codes out,
        "keep" analyses them as values (default: the design's setting).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``variable``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``df``, ``deff`` (R's ``deff="replace"``) and ``n`` (rows used). Its
        ``attrs["vcov"]`` is the covariance of ``estimate`` (see ``perception.vcov``).

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> pc.mean(d, ["api00", "api99"])[["variable", "estimate", "se", "deff"]].round(2)
      variable  estimate    se  deff
    0    api00    662.29  9.41  1.17
    1    api99    629.39  9.96  1.20

    Notes
    -----
    R: ``svymean(~api00 + api99, design, deff="replace")`` and
    ``svyby(~api00, ~stype, design, svymean)``. With ``na_rm=True`` rows missing in any
    of the variables are left out of all of them, as in R.
    """
    if getattr(design, "is_dask", False):
        return _dask().estimate(design, "mean", variables, by=by, na_rm=na_rm, level=level,
                                missing_codes=missing_codes)
    return _ratio_estimate(design, variables, None, by, na_rm, level, "mean", missing_codes)


@positional_deprecated("by", "na_rm", "level")
def total(
    design: Design,
    variables: str | Sequence[str],
    *,
    by: str | Sequence[str] | None = None,
    na_rm: bool = False,
    level: float = 0.95,
    missing_codes: str | None = None,
) -> pd.DataFrame:
    """Design-based totals with Taylor or replicate standard errors (R's ``svytotal``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    variables : str or sequence of str
        Column name or list of names (numeric or 0/1).
    by : str or sequence of str, optional
        Domain column(s); each domain is estimated inside the full design.
    na_rm : bool
        Leave out rows with a missing value in any of ``variables`` (or ``by``); otherwise a
        missing value raises an error naming the column.
    level : float
        Confidence level of ``ci_low``/``ci_high`` (t with ``df = design.degf``).
    missing_codes : str, optional
        On a labelled design, "exclude" leaves the questionnaire's missing codes out,
        "keep" analyses them as values (default: the design's setting).

    Returns
    -------
    DataFrame
        The columns of ``perception.mean``: the ``by`` columns, ``variable``, ``estimate``,
        ``se``, ``ci_low``, ``ci_high``, ``df``, ``deff`` and ``n``.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> t = pc.total(d, "enroll", by="stype", na_rm=True)
    >>> t[["stype", "variable", "estimate", "se"]].round(0)
      stype variable   estimate       se
    0     E   enroll  1842584.0  72581.0
    1     H   enroll   997129.0  69239.0
    2     M   enroll   847465.0  55503.0
    """
    if getattr(design, "is_dask", False):
        return _dask().estimate(design, "total", variables, by=by, na_rm=na_rm, level=level,
                                missing_codes=missing_codes)
    return _ratio_estimate(design, variables, None, by, na_rm, level, "total", missing_codes)


@positional_deprecated("by", "na_rm", "level")
def ratio(
    design: Design,
    numerator: str | Sequence[str],
    denominator: str | Sequence[str],
    *,
    by: str | Sequence[str] | None = None,
    na_rm: bool = False,
    level: float = 0.95,
    missing_codes: str | None = None,
) -> pd.DataFrame:
    """Ratio of two totals, e.g. ``api00/api99`` (R's ``svyratio``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    numerator : str or sequence of str
        Numeric column(s) whose total is divided.
    denominator : str or sequence of str
        Numeric column(s) whose total divides: one column for every numerator, or one per
        numerator (paired in order).
    by : str or sequence of str, optional
        Domain column(s); each domain is estimated inside the full design.
    na_rm : bool
        Leave out rows with a missing value in a numerator or denominator (or ``by``);
        otherwise a missing value raises an error naming the column.
    level : float
        Confidence level of ``ci_low``/``ci_high`` (t with ``df = design.degf``).
    missing_codes : str, optional
        On a labelled design, "exclude" leaves the questionnaire's missing codes out,
        "keep" analyses them as values (default: the design's setting).

    Returns
    -------
    DataFrame
        The columns of ``perception.mean``; ``variable`` reads ``"numerator/denominator"``.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> pc.ratio(d, "api00", "api99")[["variable", "estimate", "se"]].round(4)
          variable  estimate      se
    0  api00/api99    1.0523  0.0036
    """
    if getattr(design, "is_dask", False):
        return _dask().estimate(design, "ratio", numerator, denominator, by=by, na_rm=na_rm,
                                level=level, missing_codes=missing_codes)
    return _ratio_estimate(design, numerator, denominator, by, na_rm, level, "ratio",
                           missing_codes)


def _ratio_estimate(design, variables, denominators, by, na_rm, level, kind,
                    missing_codes=None) -> pd.DataFrame:
    check_design(design)
    intervals.check_level(level)
    names, den_names = estimate_names(variables, denominators, kind)
    by_names = column_names(by, "by")
    check_columns(design.data, names, "variables")
    check_columns(design.data, den_names, "denominator")
    check_columns(design.data, by_names, "by")
    # the questionnaire's missing codes and skipped questions out, types checked
    prepared = prepare(design, [*names, *den_names], by_names,
                       missing_codes=missing_codes, purpose=kind)
    design = prepared.design
    if kind != "ratio" and uses_totals_path(design):
        table = fast_estimate(design, names, by_names, kind, level)
        if table is not None:
            return prepared.finish(table)
    data = design.data
    num, missing = column_list(data, names)
    den: list[np.ndarray] | None = None
    if den_names:
        den, den_missing = column_list(data, den_names)
        missing |= den_missing
    missing |= by_missing(design, by_names)
    active = active_rows(design, [*names, *den_names, *by_names], missing, na_rm,
                          "variables" if kind != "ratio" else "ratio")
    if not active.any():
        raise no_rows_error(design, names, by_names)
    dom = domains(design, by_names, active)
    check_domain_weights(design, dom, by_names)
    if not active.all():
        num = zero_outside(num, active)
        if den is not None:
            den = zero_outside(den, active)
    denominator = indicator(active, len(num)) if kind == "mean" else den
    result = ratio_engine(design, num, denominator, dom, ratio_deff=kind == "ratio")
    if kind == "ratio":
        labels = [{"variable": f"{a}/{b}"} for a, b in zip(names, den_names, strict=True)]
    else:
        labels = [{"variable": v} for v in names]
    return prepared.finish(assemble(design, dom, labels, result.estimate, result.vcov,
                                    result.deff, result.n, level))


@positional_deprecated("by", "method", "na_rm", "level")
def proportion(
    design: Design,
    variables: str | Sequence[str],
    *,
    by: str | Sequence[str] | None = None,
    method: intervals.PropMethod = "logit",
    na_rm: bool = False,
    level: float = 0.95,
    missing_codes: str | None = None,
) -> pd.DataFrame:
    """Proportion of each level of categorical variable(s), one row per level.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    variables : str or sequence of str
        Categorical column(s); every level present in the data gets a row.
    by : str or sequence of str, optional
        Domain column(s); each domain is estimated inside the full design.
    method : {"logit", "beta", "mean", "xlogit", "asin"}
        Interval for each level: "logit" (default), "beta" (Korn–Graubard), "mean" (Wald),
        "xlogit", "asin" — the definitions of R's ``svyciprop``.
    na_rm : bool
        Leave out rows with a missing value in any of ``variables`` (or ``by``); otherwise a
        missing value raises an error naming the column.
    level : float
        Confidence level of ``ci_low``/``ci_high``.
    missing_codes : str, optional
        On a labelled design, "exclude" leaves the questionnaire's missing codes out,
        "keep" analyses them as values (default: the design's setting).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``variable``, ``category``, ``estimate``, ``se``, ``ci_low``,
        ``ci_high``, ``df``, ``deff``, ``n``, ``n_category`` (the unweighted rows giving
        the answer: what the outputs' small-count rule reads). Levels are the categories of a categorical
        column, otherwise the sorted values present in the data (also outside a subset, as R
        keeps a factor's levels). The intervals use the degrees of freedom and row count of
        each domain (R's ``svyciprop`` on ``subset(design, ...)``); the "logit" interval of
        a replicate design takes the SE of logit(p) from the replicates, as R's ``svyglm``
        does. A select-multiple question of a labelled design (``questionnaire=``) gives
        one row per option, ``category`` its code: the share of the respondents asked who
        chose it, then ``n_excluded`` and ``excluded`` (not asked, missing codes, blanks
        left out with ``na_rm=True``; see :mod:`perception.survey.multiple_choice`).

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> t = pc.proportion(d, "sch_wide", method="beta")
    >>> t[["variable", "category", "estimate", "se", "ci_low", "ci_high"]].round(3)
       variable category  estimate     se  ci_low  ci_high
    0  sch_wide       No     0.172  0.024   0.127    0.226
    1  sch_wide      Yes     0.828  0.024   0.774    0.873

    Notes
    -----
    R: ``svymean(~factor(x), design)`` for estimates and SEs and
    ``svyciprop(~I(x == level), design, method=)`` for each interval.
    """
    if getattr(design, "is_dask", False):
        return _dask().proportion(design, variables, by=by, method=method, na_rm=na_rm,
                                  level=level, missing_codes=missing_codes)
    check_design(design)
    intervals.check_level(level)
    intervals.check_prop_method(method)
    names = column_names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable")
    by_names = column_names(by, "by")
    if select_multiple_names(design, names):
        # select-multiple questions: one row per option (survey/multiple_choice.py)
        def estimate(d, columns, rm):
            return proportion(d, columns, by=by, method=method, na_rm=rm, level=level,
                              missing_codes=missing_codes)

        check_columns(design.data, by_names, "by")
        options = proportions_with_options(design, names, by_names, na_rm, estimate,
                                           missing_codes)
        add_labels(options, design, by_names)  # after its n_excluded and excluded
        return options
    check_columns(design.data, names, "variables")
    check_columns(design.data, by_names, "by")
    prepared = prepare(design, names, by_names, missing_codes=missing_codes,
                       purpose="proportion")
    design = prepared.design
    data = design.data
    variables_missing = rows_missing(data, names)
    missing = variables_missing | by_missing(design, by_names)
    active = active_rows(design, [*names, *by_names], missing, na_rm, "variables")
    if not active.any():
        raise no_rows_error(design, names, by_names)
    dom = domains(design, by_names, active)
    check_domain_weights(design, dom, by_names)
    labels: list[dict] = []
    all_levels = []
    for name in names:
        values = data[name]
        # the levels of the whole data, as an R factor keeps its levels in a subset or
        # a domain: a level absent from a domain gets a proportion of 0 there
        levels, codes = _levels_of(design, name, values)
        if len(levels) == 0:
            raise EstimationError(f"column {name!r} has no non-missing values in the domain")
        all_levels.append((levels, codes))
        labels.extend({"variable": name, "category": level_value} for level_value in levels)
    num = den = None
    if uses_totals_path(design):
        # one pass per variable: every level's totals by (PSU, domain) at once
        result = finish(design, collect_levels(design, all_levels, dom), dom)
    else:
        num = np.empty((len(data), len(labels)), order="F")
        j = 0
        for name, (levels, _) in zip(names, all_levels, strict=True):
            for level_value in levels:
                num[:, j] = (data[name] == level_value).to_numpy(dtype=bool, na_value=False) & active
                j += 1
        den = indicator(active, num.shape[1])
        result = ratio_engine(design, num, den, dom)
    k = len(labels)
    se = np.sqrt(np.clip(np.diag(result.vcov), 0, None)).reshape(dom.count, k)
    # R's svyciprop on the domain's design: df and nrow of the rows of the domain
    # (also those missing the variable, which svyciprop leaves to svymean's na.rm)
    rows_codes = _domain_rows(design, by_names, dom) if variables_missing.any() else dom.codes
    df = design._domain_degf(rows_codes, dom.count)
    n_design = np.bincount(rows_codes[rows_codes >= 0], minlength=dom.count)
    if method == "logit" and design.is_replicate:
        low, high = replicate_logit_interval(design, num, den, dom, result.estimate, df,
                                              level, result.replicates)
    else:
        low, high = intervals.proportion_interval(
            result.estimate, se, df[:, None], n_design[:, None], method, level
        )
    table = assemble(design, dom, labels, result.estimate, result.vcov, result.deff,
                      result.n, level, low, high, se, df=df)
    table["n_category"] = _category_counts(dom, all_levels)
    table.attrs["method"] = method
    return prepared.finish(table)


def _levels_of(design, name: str, values: pd.Series) -> tuple[list, np.ndarray]:
    """:func:`factor_levels` of a column of the design's data, kept on the design for
    number columns (:func:`~perception.survey.engine.kept_on_design`); codes stored as
    small integers."""
    def coded(column: pd.Series) -> tuple[list, np.ndarray]:
        levels, codes = factor_levels(column)
        return levels, codes.astype(np.int16) if len(levels) < np.iinfo(np.int16).max \
            else codes

    if not (isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf"):
        return factor_levels(values)  # categories are coded already; text is hashed
    return kept_on_design(design, "_levels_cache", name, values, coded)


def _category_counts(dom: Domains, all_levels: list[tuple[list, np.ndarray]]) -> np.ndarray:
    """Rows giving each answer in each domain, in the order of the table's rows (domain
    by domain, the levels of each variable in turn): what the small-count rule of the
    outputs reads (they sum to ``n`` over the levels of a variable)."""
    inside = dom.codes >= 0
    everywhere = bool(inside.all())
    scaled: dict[int, np.ndarray] = {}  # variables with as many levels share the product
    per_variable = []
    for levels, codes in all_levels:
        if everywhere and (not len(codes) or codes.min() >= 0):  # no row to leave out
            if len(levels) not in scaled:
                scaled[len(levels)] = dom.codes * len(levels)
            bins = scaled[len(levels)] + codes
        else:
            keep = inside & (codes >= 0)
            bins = dom.codes[keep] * len(levels) + codes[keep]
        counts = np.bincount(bins, minlength=dom.count * len(levels))
        per_variable.append(counts.reshape(dom.count, len(levels)))
    return np.concatenate(per_variable, axis=1).ravel().astype(int)


def _domain_rows(design, by: list[str], dom: Domains) -> np.ndarray:
    """Domain code of every row of the design's domain, whatever its missing values.

    ``dom.codes`` leaves out rows missing the analysed variables; this keeps them (R's
    ``svyby`` cuts the design by the ``by`` variables alone).
    """
    rows = design.in_domain & ~by_missing(design, by)
    if not by:
        return np.where(rows, 0, -1)
    if len(by) == 1:
        lookup = pd.Index(dom.frame[by[0]])
        codes = lookup.get_indexer(design.data[by[0]])
    else:
        lookup = pd.MultiIndex.from_frame(dom.frame)
        codes = lookup.get_indexer(pd.MultiIndex.from_frame(design.data[by]))
    return np.where(rows, codes, -1).astype(np.int64)

