"""The argument checks of every function that takes a design or columns of data.

One place for "is this a design", "which columns", "do they exist" and "is it a number",
so every function says the same thing the same way: the message names the column, the
rows at fault and the fix. The error class is the caller's (a design raises
:class:`~perception.DesignError`, an estimator :class:`~perception.EstimationError`,
weighting :class:`~perception.WeightingError`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, TypeGuard

import numpy as np
import pandas as pd

from ..errors import DesignError, EstimationError, PerceptionError, format_rows
from .base import _BaseDesign

#: the fix given when an analysed column is not numeric
NUMERIC_FIX = ("Use pc.proportion() for a categorical variable, or convert the column to "
               "numbers.")


def is_design(value: Any) -> TypeGuard[_BaseDesign]:
    """Whether ``value`` is a design (:class:`~perception.SurveyDesign` or
    :class:`~perception.ReplicateDesign`).

    Examples
    --------
    >>> is_design(pc.SurveyDesign(pd.DataFrame({"y": [1.0, 2.0]}))), is_design("d")
    (True, False)
    """
    return isinstance(value, _BaseDesign)


def check_design(
    design: Any, error: type[PerceptionError] = EstimationError, function: str | None = None
) -> None:
    """Raise ``error`` unless ``design`` is a design; ``function`` names the caller.

    Examples
    --------
    >>> check_design(pd.DataFrame(), function="rake")
    Traceback (most recent call last):
    ...
    perception.errors.EstimationError: the design given to rake() must be a perception.SurveyDesign or ReplicateDesign, got DataFrame; build one with pc.SurveyDesign(data, weights=..., strata=..., psu=...)
    """
    if not is_design(design):
        what = "design" if function is None else f"the design given to {function}()"
        if getattr(design, "is_dask", False):
            raise error(
                f"{what} is a design on a Dask DataFrame, which this function does not "
                "take yet (pc.mean, total, ratio, proportion, quantile, glm, olr, change, "
                "did, the list-experiment functions, poststratify, rake, calibrate, "
                "adjust_nonresponse, trim_weights and weight_diagnostics do): build the "
                "design on the data in memory (ddf.compute()), or on a sample of it"
            )
        raise error(
            f"{what} must be a perception.SurveyDesign or ReplicateDesign, got "
            f"{type(design).__name__}; build one with pc.SurveyDesign(data, weights=..., "
            "strata=..., psu=...)"
        )


def column_names(
    spec: Any, argument: str, error: type[PerceptionError] = EstimationError,
    required: bool = False,
) -> list[str]:
    """Column names given as one name, a list of names or None (no column).

    Examples
    --------
    >>> column_names("api00", "variables"), column_names(["a", "b"], "by"), column_names(None, "by")
    (['api00'], ['a', 'b'], [])
    """
    if spec is None:
        names: list[Any] = []
    elif isinstance(spec, str):
        names = [spec]
    else:
        try:
            names = list(spec)
        except TypeError:
            names = [spec]
    if not all(isinstance(n, str) for n in names) or (required and not names):
        raise error(f"{argument} must be a column name or a list of column names, got {spec!r}")
    return names


def check_columns(
    data: pd.DataFrame | Sequence[str], names: Sequence[str], argument: str,
    error: type[PerceptionError] = EstimationError, where: str = "the data",
) -> None:
    """Raise ``error`` for a column of ``names`` that ``data`` (a frame, or the column
    names of a source read later, called ``where`` in the message) does not have (with
    the closest names), or has more than once.

    Examples
    --------
    >>> check_columns(pd.DataFrame({"api00": [1]}), ["api00"], "variables")
    >>> check_columns(pd.DataFrame({"api00": [1]}), ["api0"], "variables")
    Traceback (most recent call last):
    ...
    perception.errors.EstimationError: unknown column 'api0' given as variables: the data has no such column. Did you mean 'api00'? Available columns: api00
    """
    columns = data.columns if isinstance(data, pd.DataFrame) else pd.Index(list(data))
    for name in names:
        if name not in columns:
            close = difflib.get_close_matches(str(name), [str(c) for c in columns], n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise error(
                f"unknown column {name!r} given as {argument}: {where} has no such column."
                f"{hint} Available columns: {', '.join(map(str, list(columns)[:30]))}"
                + (" ..." if len(columns) > 30 else "")
            )
    if columns.has_duplicates:
        duplicated = set(columns[columns.duplicated()])
        bad = [n for n in names if n in duplicated]
        if bad:
            raise error(
                f"column {bad[0]!r} ({argument}) appears more than once in {where}; "
                "rename the duplicates first."
            )


def check_variables(design: Any, names: Sequence[str], argument: str) -> None:
    """A design and at least one of its columns to analyse (:class:`EstimationError`)."""
    check_design(design)
    if not names:
        raise EstimationError(f"give at least one column name as {argument}")
    check_columns(design.data, names, argument)


def check_no_missing(data: pd.DataFrame, names: Sequence[str], argument: str) -> None:
    """Raise :class:`~perception.DesignError` for missing values in a design column."""
    for name in names:
        missing = data[name].isna().to_numpy()
        if missing.any():
            rows = data.index[missing]
            raise DesignError(
                f"column {name!r} ({argument}) has {missing.sum()} missing value(s) in rows "
                f"{format_rows(rows)}. Every row needs its {argument}: fill them in or drop "
                "those rows explicitly before building the design."
            )


def numeric_values(
    data: pd.DataFrame, name: str, argument: str | None = None,
    error: type[PerceptionError] = EstimationError, fix: str = NUMERIC_FIX,
) -> np.ndarray:
    """A column as float64 (a view when it already is one; missing values NaN), or
    ``error`` naming the rows that hold something other than a number.

    Examples
    --------
    >>> numeric_values(pd.DataFrame({"y": [1, 2]}), "y")
    array([1., 2.])
    """
    col = data[name]
    if col.dtype == np.float64:
        return col.to_numpy()
    if pd.api.types.is_bool_dtype(col):
        return col.astype(float).to_numpy()
    if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
        converted = pd.to_numeric(col, errors="coerce")
        bad = converted.isna() & col.notna()
        if bad.any():
            role = f" ({argument})" if argument else ""
            raise error(
                f"column {name!r}{role} is not numeric: rows "
                f"{format_rows(data.index[bad.to_numpy()])} hold values such as "
                f"{col[bad].iloc[0]!r}. {fix}"
            )
        col = converted
    return col.to_numpy(dtype=float, na_value=np.nan)


def estimate_names(variables: Any, denominators: Any, kind: str
                   ) -> tuple[list[str], list[str]]:
    """The analysed columns of a mean, total or ratio, and a ratio's denominators (one
    per numerator; a single one serves them all).

    Examples
    --------
    >>> estimate_names(["api00", "api99"], "enroll", "ratio")
    (['api00', 'api99'], ['enroll', 'enroll'])
    """
    names = column_names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable to estimate")
    den_names = column_names(denominators, "denominator") if kind == "ratio" else []
    if kind == "ratio":
        if len(den_names) == 1 and len(names) > 1:
            den_names = den_names * len(names)
        if len(den_names) != len(names):
            raise EstimationError(
                f"{len(names)} numerator(s) but {len(den_names)} denominator(s): give one "
                "denominator, or one per numerator"
            )
    return names, den_names


def check_probabilities(quantiles: Any) -> list[float]:
    """The probabilities of a quantile call, each between 0 and 1.

    Examples
    --------
    >>> check_probabilities(0.5), check_probabilities([0.25, 0.75])
    ([0.5], [0.25, 0.75])
    """
    probs = [float(q) for q in np.atleast_1d(quantiles)]
    bad = [q for q in probs if not 0 <= q <= 1]
    if bad or not probs:
        raise EstimationError(
            f"quantiles must be probabilities between 0 and 1, got {bad or probs}"
        )
    return probs
