"""Scales and indices: Likert distributions, top-box shares, composite indices,
Cronbach's alpha and item nonresponse.

Every function takes a design (or, for the descriptive ones, a plain DataFrame) and
returns a tidy table. Estimates with standard errors come from :func:`perception.mean`
and :func:`perception.proportion`, so they carry the design's variance (and equal R's
``survey``). The questionnaire's missing-value codes (Afrobarometer: 7 not applicable,
8 refused, 9 don't know; 97/98/99 for multi-digit items) are handled explicitly: shown
as their own categories or excluded before the shares are computed, as the caller
chooses, never silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..deprecation import positional_deprecated, renamed_argument
from ..errors import EstimationError, format_rows
from ..survey.attached import stack_tables
from ..survey.checks import check_columns, check_design, is_design
from ..survey.covariance import attach_covariance, covariance_of
from ..survey.estimators import mean, proportion
from ..survey.valid_values import LABELLED_COLUMNS, prepare, valid_frame

if TYPE_CHECKING:  # pragma: no cover
    from ..questionnaire.model import Questionnaire
    from ..survey.design import ReplicateDesign, SurveyDesign

    Design = SurveyDesign | ReplicateDesign

#: missing-value codes used when neither ``questionnaire`` nor ``missing`` is given
#: (Afrobarometer)
DEFAULT_MISSING_CODES: tuple[int, ...] = (7, 8, 9)

#: category code of a system-missing answer (NaN) in :func:`likert` tables
SYSTEM_MISSING = -1

#: reason of each missing code, by the Afrobarometer convention on its last digit
_REASONS = {7: "not_applicable", 8: "refused", 9: "dont_know"}
NONRESPONSE_REASONS = ("dont_know", "refused", "not_applicable", "other_code", "missing")

DontKnow = Literal["separate", "exclude"]

ESTIMATE_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "df", "deff", "n"]


# ----------------------------------------------------------------------- helpers --
def _item_list(items: str | Sequence[str], argument: str = "variables") -> list[str]:
    if isinstance(items, str):
        return [items]
    names = list(items)
    if not names or not all(isinstance(n, str) for n in names):
        raise EstimationError(
            f"{argument} must be one column name or a list of column names, got {items!r}"
        )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise EstimationError(f"{argument} names {', '.join(map(repr, dup))} more than once")
    return names


def _questionnaire_of(design, questionnaire: Any) -> Any:
    """The questionnaire given, else the design's (a labelled design): its missing codes
    are those left out, as every estimator of the design does."""
    return questionnaire if questionnaire is not None else design.questionnaire


def _missing_codes(item: str, q: Any, missing: Any) -> tuple[float, ...]:
    """Missing-value codes of ``item``: from ``missing`` (a sequence, or a mapping item ->
    sequence), else from the questionnaire ``q``, else ``DEFAULT_MISSING_CODES``."""
    if missing is not None:
        if isinstance(missing, Mapping):
            codes = missing.get(item, ())
        else:
            codes = missing
        return tuple(float(c) for c in codes)
    if q is not None:
        return tuple(float(c) for c in _questionnaire_codes(q, item, "missing"))
    return tuple(float(c) for c in DEFAULT_MISSING_CODES)


def _questionnaire_codes(q: Any, item: str, kind: Literal["valid", "missing"]) -> list:
    """Valid or missing codes of ``item`` read from a questionnaire (duck-typed, so any
    object with ``missing_codes(name)`` / ``codes(name)`` or the mapping methods works)."""
    if kind == "missing":
        getter = getattr(q, "missing_codes", None)
    else:
        getter = getattr(q, "valid_codes", None) or getattr(q, "codes", None)
    if getter is None:
        raise EstimationError(
            f"questionnaire={type(q).__name__} does not describe the {kind} codes of "
            f"{item!r}; pass a perception.Questionnaire, or give the codes explicitly with "
            "missing=..."
        )
    value = getter(item)
    if isinstance(value, Mapping):
        return list(value)
    return list(value or [])


def _numeric_codes(data: pd.DataFrame, name: str) -> np.ndarray:
    col = data[name]
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(object)
    converted = pd.to_numeric(col, errors="coerce")
    bad = converted.isna() & col.notna()
    if bad.any():
        raise EstimationError(
            f"column {name!r} must hold numeric answer codes, but rows "
            f"{format_rows(data.index[bad.to_numpy()])} hold values such as "
            f"{col[bad].iloc[0]!r}; recode the answers to the questionnaire's codes"
        )
    return converted.to_numpy(dtype=float, na_value=np.nan)


def _check_scale_values(data, name, values, valid_mask, allowed, what) -> None:
    """Raise when a valid (non-missing) answer is outside the allowed codes/range."""
    bad = valid_mask & ~allowed
    if bad.any():
        examples = ", ".join(f"{v:g}" for v in pd.unique(values[bad])[:5])
        raise EstimationError(
            f"column {name!r} has {int(bad.sum())} answer(s) outside {what} in rows "
            f"{format_rows(data.index[bad])} (values {examples}). Declare them as missing "
            "codes (missing=... or the questionnaire), or fix the data."
        )


def _check_by(design, by: list[str]) -> None:
    check_columns(design.data, by, "by")
    for name in by:
        miss = design.data[name].isna().to_numpy() & design.in_domain
        if miss.any():
            raise EstimationError(
                f"by column {name!r} has {int(miss.sum())} missing value(s) in rows "
                f"{format_rows(design.data.index[miss])}; fill them in or leave those rows "
                "out with design.subset() before estimating by domain"
            )


def _with_columns(design, columns: dict[str, Any]):
    """The same design over a copy of its data with ``columns`` replaced or added.

    The caller's frame is never touched: ``assign`` returns a new frame.
    """
    return design.with_data(design.data.assign(**columns))


def _by_names(by) -> list[str]:
    if by is None:
        return []
    return _item_list(by, "by")


def _keep_covariance(out: pd.DataFrame, tables: list[pd.DataFrame], labels: list[str],
                     by_names: list[str]) -> None:
    """The covariance of a one-item table (its rows as ``out`` holds them); ``None`` for
    several items, each estimated on its own."""
    covariance = covariance_of(tables[0]).to_numpy() if len(tables) == 1 else None
    attach_covariance(out, covariance, [*by_names, *labels])


def _check_dont_know(dont_know: str) -> None:
    if dont_know not in ("separate", "exclude"):
        raise EstimationError(
            f"dont_know={dont_know!r} is not an option; choose 'separate' (missing codes "
            "shown as their own categories) or 'exclude' (left out before the shares)"
        )


# ------------------------------------------------------------------------ likert --
@positional_deprecated("by", "dont_know", "level")
@renamed_argument("items", "variables")
@renamed_argument("q", "questionnaire")
def likert(
    design: Design,
    variables: str | Sequence[str],
    *,
    by: str | Sequence[str] | None = None,
    dont_know: DontKnow = "separate",
    level: float = 0.95,
    questionnaire: Questionnaire | None = None,
    missing: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    method: Literal["logit", "beta", "mean", "xlogit", "asin"] = "logit",
) -> pd.DataFrame:
    """Weighted distribution of Likert items over their response options, with SEs.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    variables : str or sequence of str
        The items: column(s) holding the answer codes (e.g. ``trust_police`` coded 0–3).
    by : str or sequence of str, optional
        Domain column(s), estimated inside the full design.
    dont_know : {"separate", "exclude"}
        "separate" shows each missing code present (8 refused, 9 don't know...) as its own
        category, and a system-missing answer (NaN) as category ``-1``, so the shares of
        each item add to 1 over all respondents. "exclude" leaves the missing codes and NaN
        out before the shares are computed, so the shares of the substantive options add to
        1.
    level : float
        Confidence level.
    questionnaire : Questionnaire, optional
        Gives each item's codes and missing codes.
    missing : sequence of int or mapping of str to sequence of int, optional
        Missing codes (a sequence for every item, or a mapping item -> codes); overrides
        ``questionnaire``. Default without either: 7, 8, 9.
    method : {"logit", "beta", "mean", "xlogit", "asin"}
        Proportion interval of each share, as ``perception.proportion``.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``variable``, ``category`` (the answer code), ``estimate``,
        ``se``, ``ci_low``, ``ci_high``, ``df``, ``deff``, ``n``, ``missing_code`` (True
        for refused / don't know / not applicable / system missing) and ``n_category``
        (the respondents who gave the answer). The scale's codes come
        first in ascending order (all of them when the questionnaire lists them, with share
        0 when nobody chose one), then the missing codes. ``attrs["vcov"]`` holds the
        covariance when one item is given.

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> t = pc.likert(d, ["trust_police", "trust_gend"], by="wave")
    >>> t[(t["wave"] == 0) & (t["variable"] == "trust_police")][
    ...     ["category", "estimate", "se", "missing_code"]].round(3)
       category  estimate     se  missing_code
    0         0     0.202  0.009         False
    1         1     0.258  0.009         False
    2         2     0.291  0.009         False
    3         3     0.206  0.010         False
    4         8     0.013  0.002          True
    5         9     0.030  0.003          True
    >>> t.groupby(["wave", "variable"])["estimate"].sum().round(12).unique()  # 1 per item
    array([1.])

    Notes
    -----
    R: ``svymean(~factor(trust_police), design)`` ("separate", with the missing codes
    as levels) or ``svymean(~factor(trust_police), subset(design, !trust_police %in%
    c(8, 9)))`` ("exclude"); intervals as ``svyciprop``. Domains use ``svyby``.
    """
    check_design(design)
    _check_dont_know(dont_know)
    names = _item_list(variables)
    by_names = _by_names(by)
    check_columns(design.data, names, "variables")
    _check_by(design, by_names)
    data = design.data
    inside = design.in_domain
    tables = []
    for name in names:
        values = _numeric_codes(data, name)
        miss_codes = _missing_codes(name, _questionnaire_of(design, questionnaire), missing)
        is_missing_code = np.isin(values, miss_codes)
        is_nan = np.isnan(values)
        valid = ~is_missing_code & ~is_nan
        if questionnaire is not None:
            try:
                scale = sorted(float(c) for c in _questionnaire_codes(questionnaire, name,
                                                                      "valid"))
            except (TypeError, ValueError):
                raise EstimationError(
                    f"item {name!r} has text codes in the questionnaire; likert() needs "
                    "numeric answer codes (e.g. 0-3)"
                ) from None
            _check_scale_values(
                data, name, values, valid & inside, np.isin(values, scale),
                "the questionnaire's codes " + ", ".join(f"{c:g}" for c in scale),
            )
        else:
            scale = sorted(pd.unique(values[valid & inside]).tolist())
        if dont_know == "separate":
            extra = sorted(pd.unique(values[is_missing_code & inside]).tolist())
            if (is_nan & inside).any():
                extra.append(float(SYSTEM_MISSING))
            coded = np.where(is_nan, float(SYSTEM_MISSING), values)
            categories = [*scale, *extra]
            na_rm = False
        else:
            extra = []
            coded = np.where(valid, values, np.nan)
            categories = scale
            na_rm = True
        if not (valid & inside).any() and (dont_know == "exclude" or not categories):
            raise EstimationError(
                f"item {name!r} has no substantive answer in the design's domain, so its "
                "distribution cannot be estimated; check the missing codes"
            )
        # categories come from the rows of the domain; rows outside it (weight zero)
        # may hold other codes and are blanked, which changes no estimate
        coded = np.where(inside, coded, np.nan)
        column = pd.Series(
            pd.Categorical(coded, categories=categories), index=data.index, name=name
        )
        table = proportion(
            _with_columns(design, {name: column}), name, by=by_names or None,
            method=method, na_rm=na_rm, level=level,
        )
        table["category"] = table["category"].astype(float).astype(int)
        table["missing_code"] = table["category"].isin([int(c) for c in extra])
        # new columns come last: the answer counts after missing_code
        table = table[[*(c for c in table.columns if c != "n_category"), "n_category"]]
        tables.append(table)
    out = stack_tables(tables)
    out.attrs = {"level": level, "method": method, "dont_know": dont_know}
    if design.lang is not None:  # the language of the label columns
        out.attrs["lang"] = design.lang
    # one item: the proportion table's covariance; items estimated apart have none
    _keep_covariance(out, tables, ["variable", "category"], by_names)
    return out


# ----------------------------------------------------------------------- top box --
@positional_deprecated("top", "by", "dont_know", "level")
@renamed_argument("items", "variables")
@renamed_argument("q", "questionnaire")
def top_box(
    design: Design,
    variables: str | Sequence[str],
    *,
    top: int | Sequence[int] = (2, 3),
    by: str | Sequence[str] | None = None,
    dont_know: DontKnow = "exclude",
    level: float = 0.95,
    questionnaire: Questionnaire | None = None,
    missing: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    method: Literal["logit", "beta", "mean", "xlogit", "asin"] = "logit",
) -> pd.DataFrame:
    """Share of respondents answering in the top categories (e.g. trust "somewhat" or
    "a lot": codes 2 and 3 of the trust items).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    variables : str or sequence of str
        The items: column(s) holding the answer codes.
    top : int or sequence of int
        The codes counted as "top".
    by : str or sequence of str, optional
        Domain column(s), estimated inside the full design.
    dont_know : {"exclude", "separate"}
        "exclude" (default) computes the share among substantive answers; "separate" keeps
        refused / don't know in the denominator as "not top". System-missing answers (NaN:
        not asked) are always left out.
    level : float
        Confidence level.
    questionnaire : Questionnaire, optional
        Gives each item's codes and missing codes.
    missing : sequence of int or mapping of str to sequence of int, optional
        Missing codes (a sequence for every item, or a mapping item -> codes); overrides
        ``questionnaire``. Default without either: 7, 8, 9.
    method : {"logit", "beta", "mean", "xlogit", "asin"}
        Proportion interval of each share, as ``perception.proportion``.

    Returns
    -------
    DataFrame
        The ``by`` columns, ``variable``, ``estimate``, ``se``, ``ci_low``, ``ci_high``,
        ``df``, ``deff``, ``n`` (respondents in the denominator), ``n_category`` (those
        among them in the top box). ``attrs["vcov"]`` holds the covariance when one item
        is given.

    Examples
    --------
    Trust "somewhat" (2) or "a lot" (3), among those who answered:

    >>> d = pc.demo_survey(seed=1).design()
    >>> t = pc.top_box(d, ["trust_police", "trust_gend"], top=(2, 3), by="wave")
    >>> t[["wave", "variable", "estimate", "se", "n"]].round(3)
       wave      variable  estimate     se     n
    0     0  trust_police     0.519  0.013  3828
    1     1  trust_police     0.578  0.012  3826
    2     0    trust_gend     0.584  0.013  3780
    3     1    trust_gend     0.636  0.011  3781

    Notes
    -----
    R: ``svyciprop(~I(trust_police %in% 2:3), subset(design, !trust_police %in% c(8, 9)),
    method="logit")`` for the estimate, SE and interval; ``svyby`` for domains.
    """
    check_design(design)
    _check_dont_know(dont_know)
    names = _item_list(variables)
    by_names = _by_names(by)
    check_columns(design.data, names, "variables")
    _check_by(design, by_names)
    data = design.data
    tables = []
    for name in names:
        indicator = top_box_scores(data, name, top=top, dont_know=dont_know,
                                   questionnaire=_questionnaire_of(design, questionnaire),
                                   missing=missing)
        if not (indicator.notna().to_numpy() & design.in_domain).any():
            raise EstimationError(
                f"item {name!r} has no substantive answer in the design's domain"
            )
        column = pd.Series(
            pd.Categorical(indicator.to_numpy(), categories=[0.0, 1.0]), index=data.index,
            name=name,
        )
        table = proportion(
            _with_columns(design, {name: column}), name, by=by_names or None,
            method=method, na_rm=True, level=level,
        )
        table = table[table["category"].astype(float) == 1.0]
        # the covariance of the kept rows, now told apart without their category
        covariance = covariance_of(table).to_numpy()
        added = ("category", *LABELLED_COLUMNS, *(f"{b}_label" for b in by_names))
        table = table.drop(columns=[c for c in added if c in table.columns])
        attach_covariance(table, covariance, [*by_names, "variable"])
        # a labelled design: the answers left out of this item, and its labels
        table = prepare(design, [name], by_names,
                        missing_codes="keep" if dont_know == "separate" else None
                        ).finish(table)
        tables.append(table)
    out = stack_tables(tables)
    out.attrs = {"level": level, "method": method, "dont_know": dont_know,
                 "top": tuple(int(c) for c in np.atleast_1d(top))}
    if design.lang is not None:  # the language of the label columns
        out.attrs["lang"] = design.lang
    _keep_covariance(out, tables, ["variable"], by_names)
    return out


@positional_deprecated("top", "dont_know")
@renamed_argument("item", "variable")
@renamed_argument("q", "questionnaire")
def top_box_scores(
    data: pd.DataFrame,
    variable: str,
    *,
    top: int | Sequence[int] = (2, 3),
    dont_know: DontKnow = "exclude",
    questionnaire: Questionnaire | None = None,
    missing: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
) -> pd.Series:
    """Respondent-level top-box indicator: 1 in the top codes, 0 for another answer,
    NaN when not asked (and, with ``dont_know="exclude"``, for a missing code).

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    variable : str
        The item: the column holding the answer codes.
    top : int or sequence of int
        The codes counted as "top".
    dont_know : {"exclude", "separate"}
        "exclude" (default) gives NaN for a missing code; "separate" gives 0.
    questionnaire : Questionnaire, optional
        Gives the item's codes and missing codes.
    missing : sequence of int or mapping of str to sequence of int, optional
        Missing codes (a sequence, or a mapping item -> codes); overrides ``questionnaire``.
        Default without either: 7, 8, 9.

    Returns
    -------
    Series
        The indicator (1.0, 0.0 or NaN), indexed like ``data`` and named after the item.

    Examples
    --------
    >>> df = pd.DataFrame({"trust_police": [0, 2, 3, 9, None]})
    >>> top_box_scores(df, "trust_police", missing=(8, 9)).tolist()
    [0.0, 1.0, 1.0, nan, nan]
    """
    _check_dont_know(dont_know)
    check_columns(data, [variable], "variable")
    top_given = np.atleast_1d(top).tolist()
    top_codes = [float(c) for c in top_given]
    if not top_codes:
        raise EstimationError("top must name at least one answer code, e.g. top=(2, 3)")
    values = _numeric_codes(data, variable)
    miss_codes = _missing_codes(variable, questionnaire, missing)
    overlap = set(top_codes) & set(miss_codes)
    if overlap:
        raise EstimationError(
            f"top={tuple(top_given)} includes missing code(s) {sorted(overlap)} of {variable!r}; "
            "give substantive answer codes only"
        )
    keep = ~np.isnan(values)
    if dont_know == "exclude":
        keep &= ~np.isin(values, miss_codes)
    indicator = np.where(keep, np.isin(values, top_codes).astype(float), np.nan)
    return pd.Series(indicator, index=data.index, name=variable)


# ------------------------------------------------------------------------- index --
@positional_deprecated("scale", "min_items", "reverse")
@renamed_argument("items", "variables")
@renamed_argument("q", "questionnaire")
def index_scores(
    data: pd.DataFrame,
    variables: str | Sequence[str],
    *,
    min_items: int | None = None,
    scale: tuple[float, float] = (0, 3),
    reverse: Sequence[str] = (),
    questionnaire: Questionnaire | None = None,
    missing: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
) -> pd.Series:
    """Respondent-level composite index on 0–100: the mean of the valid items, each
    rescaled as ``100 (x - low) / (high - low)``.

    Missing codes and NaN are left out of each respondent's mean; a respondent with
    fewer than ``min_items`` valid items (default: half of the items, rounded up) gets
    NaN. Items in ``reverse`` are turned around (``high + low - x``) first.

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    variables : str or sequence of str
        The items: columns of answer codes on ``scale``.
    min_items : int, optional
        Smallest number of valid items for a respondent's index (default half of the items,
        rounded up).
    scale : tuple of (float, float)
        (low, high) of the answer codes, e.g. (0, 3) for the trust items.
    reverse : sequence of str
        Items whose high codes mean low trust (turned around first).
    questionnaire : Questionnaire, optional
        Gives each item's codes and missing codes.
    missing : sequence of int or mapping of str to sequence of int, optional
        Missing codes (a sequence for every item, or a mapping item -> codes); overrides
        ``questionnaire``. Default without either: 7, 8, 9.

    Returns
    -------
    Series
        The index (0-100, NaN with too few valid items), indexed like ``data`` and named
        ``index``.

    Examples
    --------
    >>> df = pd.DataFrame({"a": [0, 3, 9], "b": [3, 3, 1]})
    >>> index_scores(df, ["a", "b"], missing=(8, 9)).round(1).tolist()
    [50.0, 100.0, 33.3]
    """
    names = _item_list(variables)
    check_columns(data, names, "variables")
    rev = _item_list(reverse, "reverse") if len(reverse) else []
    unknown = [r for r in rev if r not in names]
    if unknown:
        raise EstimationError(f"reverse names {unknown} which are not among the items {names}")
    low, high = _check_scale(scale)
    k = len(names)
    if min_items is None:
        min_items = math.ceil(k / 2)
    if not (isinstance(min_items, int | np.integer) and 1 <= min_items <= k):
        raise EstimationError(
            f"min_items must be a whole number between 1 and the number of items ({k}), "
            f"got {min_items!r}"
        )
    scores = np.full((len(data), k), np.nan)
    for j, name in enumerate(names):
        values = _numeric_codes(data, name)
        valid = ~np.isnan(values) & ~np.isin(values, _missing_codes(name, questionnaire,
                                                                      missing))
        _check_scale_values(
            data, name, values, valid, (values >= low) & (values <= high),
            f"the scale {low:g}–{high:g}",
        )
        x = np.where(valid, values, np.nan)
        if name in rev:
            x = high + low - x
        scores[:, j] = 100.0 * (x - low) / (high - low)
    n_valid = np.sum(~np.isnan(scores), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(n_valid >= min_items, np.nansum(scores, axis=1) / n_valid, np.nan)
    return pd.Series(result, index=data.index, name="index")


def _check_scale(scale) -> tuple[float, float]:
    try:
        low, high = (float(s) for s in scale)
    except (TypeError, ValueError):
        raise EstimationError(
            f"scale must be a pair (low, high) of the answer codes' range, got {scale!r}"
        ) from None
    if not high > low:
        raise EstimationError(f"scale=({low:g}, {high:g}): high must be above low")
    return low, high


@positional_deprecated("by", "min_items", "scale", "level")
@renamed_argument("items", "variables")
@renamed_argument("q", "questionnaire")
def index(
    design: Design,
    variables: str | Sequence[str],
    *,
    by: str | Sequence[str] | None = None,
    min_items: int | None = None,
    scale: tuple[float, float] = (0, 3),
    reverse: Sequence[str] = (),
    name: str = "index",
    level: float = 0.95,
    questionnaire: Questionnaire | None = None,
    missing: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
) -> pd.DataFrame:
    """Composite index on 0–100 with its design-based SE.

    Each respondent's index is the mean of their valid items rescaled to 0–100
    (``index_scores``); the table is ``perception.mean`` of that score, leaving
    out respondents with fewer than ``min_items`` valid items (``n`` counts the others).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design.
    variables : str or sequence of str
        The items: columns of answer codes on ``scale``.
    by : str or sequence of str, optional
        Domain column(s), estimated inside the full design.
    min_items : int, optional
        Smallest number of valid items for a respondent's index (default half of the items,
        rounded up).
    scale : tuple of (float, float)
        (low, high) of the answer codes, e.g. (0, 3) for the trust items.
    reverse : sequence of str
        Items whose high codes mean low trust (turned around first).
    name : str
        The ``variable`` of the result.
    level : float
        Confidence level.
    questionnaire : Questionnaire, optional
        Gives each item's codes and missing codes.
    missing : sequence of int or mapping of str to sequence of int, optional
        Missing codes (a sequence for every item, or a mapping item -> codes); overrides
        ``questionnaire``. Default without either: 7, 8, 9.

    Returns
    -------
    DataFrame
        The columns of ``perception.mean``: ``by`` columns, ``variable``, ``estimate``,
        ``se``, ``ci_low``, ``ci_high``, ``df``, ``deff``, ``n``.

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> t = pc.index(d, ["trust_police", "trust_gend", "trust_gn"], by="wave")
    >>> t[["wave", "variable", "estimate", "se", "n"]].round(2)
       wave variable  estimate    se     n
    0     0    index     54.78  0.74  3959
    1     1    index     59.14  0.69  3955

    Notes
    -----
    R: ``design <- update(design, idx = <row means of the rescaled valid items>)`` then
    ``svymean(~idx, design, na.rm=TRUE)`` (``svyby`` for domains).
    """
    check_design(design)
    by_names = _by_names(by)
    _check_by(design, by_names)
    if not isinstance(name, str) or not name:
        raise EstimationError(f"name must be a non-empty column name, got {name!r}")
    # a labelled design's missing codes blank, item by item (survey/valid_values)
    scores = index_scores(valid_frame(design, _item_list(variables)), variables,
                          min_items=min_items, scale=scale, reverse=reverse,
                          questionnaire=_questionnaire_of(design, questionnaire),
                          missing=missing)
    if not (scores.notna().to_numpy() & design.in_domain).any():
        raise EstimationError(
            "no respondent in the design's domain has enough valid items for the index; "
            "lower min_items or check the missing codes"
        )
    table = mean(
        _with_columns(design, {name: scores.rename(name)}), name, by=by_names or None,
        na_rm=True, level=level,
    )
    table.attrs["items"] = tuple(_item_list(variables))
    table.attrs["scale"] = _check_scale(scale)
    return table


# ---------------------------------------------------------------- Cronbach alpha --
def _frame_and_weights(design_or_frame, weights: str | None):
    if is_design(design_or_frame):
        if weights is not None:
            raise EstimationError(
                "weights= is for a DataFrame; a design brings its own weights"
            )
        inside = design_or_frame.in_domain
        data = design_or_frame.data
        w = np.asarray(design_or_frame.weight_array, dtype=float)
        return data, np.where(inside, w, 0.0), inside
    if isinstance(design_or_frame, pd.DataFrame):
        data = design_or_frame
        if weights is None:
            w = np.ones(len(data))
        else:
            check_columns(data, [weights], "weights")
            w = pd.to_numeric(data[weights], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(w) | (w < 0)
            if bad.any():
                raise EstimationError(
                    f"weights column {weights!r} has missing, negative or infinite values "
                    f"in rows {format_rows(data.index[bad])}"
                )
        return data, w, np.ones(len(data), dtype=bool)
    raise EstimationError(
        f"expected a perception design or a pandas DataFrame, got {type(design_or_frame).__name__}"
    )


def _alpha(cov: np.ndarray) -> float:
    k = cov.shape[0]
    total = cov.sum()
    if k < 2 or total <= 0:
        return float("nan")
    return float(k / (k - 1) * (1.0 - np.trace(cov) / total))


@renamed_argument("items", "variables")
@renamed_argument("q", "questionnaire")
def cronbach_alpha(
    design_or_frame: Design | pd.DataFrame,
    variables: Sequence[str],
    *,
    weights: str | None = None,
    questionnaire: Questionnaire | None = None,
    missing: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
) -> pd.DataFrame:
    """Cronbach's alpha of a scale, weighted by the design weights.

    ``alpha = k / (k - 1) * (1 - sum_i var(x_i) / var(sum_i x_i))`` with the variances
    taken from the weighted covariance matrix of the items over respondents with every
    item valid (missing codes and NaN leave the respondent out). The weights' scale
    cancels, so multiplying every weight by a constant leaves alpha unchanged; equal
    weights give the usual unweighted alpha.

    Parameters
    ----------
    design_or_frame : SurveyDesign, ReplicateDesign or DataFrame
        A design (its weights, rows in its domain) or a DataFrame (``weights`` names a
        weight column; default equal weights).
    variables : sequence of str
        The items: at least two columns of answer codes.
    weights : str, optional
        The weight column of a DataFrame (a design brings its own weights).
    questionnaire : Questionnaire, optional
        Gives each item's missing codes.
    missing : sequence of int or mapping of str to sequence of int, optional
        Missing codes (a sequence for every item, or a mapping item -> codes); overrides
        ``questionnaire``. Default without either: 7, 8, 9.

    Returns
    -------
    DataFrame
        One row per ``variable``: first the whole scale (``kind`` "scale", ``variable`` the
        items joined by "+", ``alpha``), then one row per item (``kind`` "item_dropped":
        ``alpha`` of the scale without the item and ``item_rest_corr``, the weighted
        correlation of the item with the sum of the others), with ``n_items`` and ``n``
        (complete respondents).

    Examples
    --------
    >>> df = pd.DataFrame({"a": [0, 1, 2, 3], "b": [0, 1, 3, 3], "c": [1, 1, 2, 3]})
    >>> round(float(cronbach_alpha(df, ["a", "b", "c"])["alpha"].iloc[0]), 5)
    0.95625

    Notes
    -----
    R (unweighted): ``psych::alpha(x)`` (``raw_alpha``, ``alpha.drop``, ``r.drop``).
    Weighted: ``S <- cov.wt(x, wt = w)$cov; k / (k - 1) * (1 - sum(diag(S)) / sum(S))``.
    """
    names = _item_list(variables)
    if len(names) < 2:
        raise EstimationError("cronbach_alpha needs at least two items")
    data, w, inside = _frame_and_weights(design_or_frame, weights)
    check_columns(data, names, "variables")
    x = np.column_stack([_numeric_codes(data, c) for c in names])
    for j, name in enumerate(names):
        x[np.isin(x[:, j], _missing_codes(name, questionnaire, missing)), j] = np.nan
    complete = inside & ~np.isnan(x).any(axis=1) & (w > 0)
    n = int(complete.sum())
    if n < 2:
        raise EstimationError(
            f"only {n} respondent(s) answer every item of {names}; alpha needs at least two"
        )
    xc, wc = x[complete], w[complete]
    cov = np.cov(xc, rowvar=False, aweights=wc)
    rows = [{"kind": "scale", "variable": "+".join(names), "alpha": _alpha(cov),
             "item_rest_corr": np.nan, "n_items": len(names), "n": n}]
    for j, name in enumerate(names):
        others = [i for i in range(len(names)) if i != j]
        rest = xc[:, others].sum(axis=1)
        c = np.cov(np.column_stack([xc[:, j], rest]), rowvar=False, aweights=wc)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])
        sub = cov[np.ix_(others, others)]
        rows.append({"kind": "item_dropped", "variable": name,
                     "alpha": _alpha(sub) if len(others) >= 2 else np.nan,
                     "item_rest_corr": float(r), "n_items": len(others), "n": n})
    return pd.DataFrame(rows)


# ------------------------------------------------------------- item nonresponse --
def _reason(code: float) -> str:
    return _REASONS.get(int(code) % 10, "other_code") if float(code).is_integer() else "other_code"


@positional_deprecated("questionnaire")
@renamed_argument("items", "variables")
@renamed_argument("q", "questionnaire")
def item_nonresponse(
    design_or_frame: Design | pd.DataFrame,
    variables: str | Sequence[str],
    *,
    questionnaire: Questionnaire | None = None,
    by: str | Sequence[str] | None = None,
    missing: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    weights: str | None = None,
) -> pd.DataFrame:
    """Shares of don't know, refused, not applicable and missing answers per item.

    Codes are classed by the Afrobarometer convention on their last digit (7 not
    applicable, 8 refused, 9 don't know; 97/98/99 and 997/998/999 alike); NaN counts
    as "missing" (not asked or not recorded).

    Parameters
    ----------
    design_or_frame : SurveyDesign, ReplicateDesign or DataFrame
        A design (weighted shares over its domain) or a DataFrame (unweighted, or weighted
        by the ``weights`` column).
    variables : str or sequence of str
        The items: columns of answer codes.
    questionnaire : Questionnaire, optional
        Gives each item's missing codes (else ``missing``, else 7, 8, 9).
    by : str or sequence of str, optional
        Domain column(s).
    missing : sequence of int or mapping of str to sequence of int, optional
        Missing codes (a sequence for every item, or a mapping item -> codes); overrides
        ``questionnaire``.
    weights : str, optional
        The weight column of a DataFrame (a design brings its own weights).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``variable``, ``category`` (one of "dont_know", "refused",
        "not_applicable", "other_code", "missing" and "any" for their sum), ``estimate``
        (share), ``count`` (respondents) and ``n`` (respondents in the cell).

    Examples
    --------
    >>> df = pd.DataFrame({"a": [0, 9, 8, 1], "b": [1, 1, 9, None]})
    >>> t = item_nonresponse(df, ["a", "b"])
    >>> t.loc[t["category"] == "any", "estimate"].tolist()
    [0.5, 0.5]

    Notes
    -----
    R: ``svymean(~I(x == 9) + I(x == 8) + I(is.na(x)), design)`` per item.
    """
    names = _item_list(variables)
    data, w, inside = _frame_and_weights(design_or_frame, weights)
    check_columns(data, names, "variables")
    by_names = _by_names(by)
    check_columns(data, by_names, "by")
    if by_names:
        bad = data[by_names].isna().any(axis=1).to_numpy() & inside
        if bad.any():
            raise EstimationError(
                f"by column(s) {by_names} have missing values in rows "
                f"{format_rows(data.index[bad])}; fill them in or leave those rows out"
            )
        keys = data.loc[inside, by_names].drop_duplicates().sort_values(by_names)
        groups = [dict(zip(by_names, row, strict=True)) for row in keys.itertuples(index=False)]
    else:
        groups = [{}]
    rows = []
    for group in groups:
        member = inside.copy()
        for col, value in group.items():
            member &= (data[col] == value).to_numpy()
        wg = np.where(member, w, 0.0)
        total_w = wg.sum()
        n = int(member.sum())
        for name in names:
            values = _numeric_codes(data, name)
            codes = _missing_codes(name, questionnaire, missing)
            flags = {reason: np.zeros(len(data), dtype=bool) for reason in NONRESPONSE_REASONS}
            for code in codes:
                flags[_reason(code)] |= values == code
            flags["missing"] = np.isnan(values)
            any_flag = np.logical_or.reduce(list(flags.values()))
            for reason, flag in [*flags.items(), ("any", any_flag)]:
                rows.append({
                    **group, "variable": name, "category": reason,
                    "estimate": float(wg[flag].sum() / total_w) if total_w > 0 else np.nan,
                    "count": int((flag & member).sum()), "n": n,
                })
    return pd.DataFrame(rows)
