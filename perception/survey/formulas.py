"""Model formulas: from a patsy formula and a design to the model matrix of the rows in
the fit, as R's ``model.frame`` + ``model.matrix`` with ``na.action = na.omit``.

A formula names the design's columns (quoted ``Q("sch.wide")`` when the name has a dot)
and may call patsy's helpers (``C``, ``I``, ...) and a few numpy functions; anything else
is refused before patsy evaluates it (patsy runs formulas as Python code). Rows outside
the domain or missing a model variable stay in the design with zero weight, so every PSU
still enters the variance.
"""

from __future__ import annotations

import ast
import difflib
import io
import keyword
import re
import tokenize
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError, format_rows

# names a formula may use besides the data's columns (patsy adds C, I, Q, ...)
FORMULA_NAMESPACE = {"np": np, "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}


def formula_names(formula: str) -> list[str]:
    """Names and quoted strings (``Q("sch.wide")``) the formula refers to."""
    names: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(formula).readline):
            if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
                names.append(tok.string)
            elif tok.type == tokenize.STRING:
                try:
                    names.append(str(ast.literal_eval(tok.string)))
                except (ValueError, SyntaxError):  # pragma: no cover - only a hint
                    pass
    except (tokenize.TokenError, IndentationError):
        pass
    return names


def model_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """The data columns a formula uses, in order of appearance."""
    seen: list[str] = []
    columns = {str(c): c for c in data.columns}
    for name in formula_names(formula):
        if name in columns and columns[name] not in seen:
            seen.append(columns[name])
    return seen


def patsy_ready(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Nullable columns (``Int64``, ``Float64``, ``boolean``) as patsy understands them.

    patsy cannot test ``pd.NA``: integers become int64 (float64 with NaN where some are
    missing) and floats float64 with NaN, so that ``C(educ)`` names its levels ``1``,
    not ``1.0``; nullable booleans become objects True/False/None (categorical, like a
    plain bool column).
    """
    changes: dict[str, pd.Series | np.ndarray] = {}
    for column in columns:
        values = frame[column]
        dtype = values.dtype
        if isinstance(dtype, pd.BooleanDtype):
            changes[column] = values.astype(object).where(values.notna(), None)
        elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and (
            pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype)
        ):
            if pd.api.types.is_integer_dtype(dtype) and not values.isna().any():
                changes[column] = values.to_numpy(dtype=np.int64)
            else:
                changes[column] = values.to_numpy(dtype=float, na_value=np.nan)
    return frame.assign(**changes) if changes else frame


def patsy_error(exc: Exception, formula: str, data: pd.DataFrame) -> EstimationError:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    unknown = re.search(r"name '([^']+)' is not defined", message)
    if unknown:
        name = unknown.group(1)
        close = difflib.get_close_matches(name, [str(c) for c in data.columns], n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        dotted = [str(c) for c in data.columns if "." in str(c) and str(c).startswith(name + ".")]
        if dotted:
            hint += (
                f" A column name with a dot such as {dotted[0]!r} must be quoted in a "
                f'formula: Q("{dotted[0]}").'
            )
        return EstimationError(
            f"unknown column {name!r} in formula {formula!r}: the design's data has no such "
            f"column.{hint}"
        )
    return EstimationError(f"cannot build the model matrix of formula {formula!r}: {message}")


#: what a formula may call besides the data's columns: patsy's helpers and the
#: functions of FORMULA_NAMESPACE (patsy evaluates formulas as Python, with builtins)
FORMULA_FUNCTIONS = frozenset({
    "C", "Q", "I", "Treatment", "Sum", "Poly", "Diff", "Helmert", "center", "standardize",
    "scale", "bs", "cr", "cc", "te", *FORMULA_NAMESPACE,
})
#: numpy functions a formula may call as np.<name>
FORMULA_NUMPY = frozenset({
    "log", "log1p", "log2", "log10", "exp", "expm1", "sqrt", "abs", "square", "power",
    "clip", "where", "round", "floor", "ceil", "isnan", "minimum", "maximum", "sign",
    "pi", "e", "nan",
})
FORMULA_KEYWORDS = frozenset({"True", "False", "None", "and", "or", "not", "in", "is"})


def check_formula(formula: str, columns: Iterable[Any], *,
                  table: str = "the design's data") -> None:
    """Refuse a formula naming anything but ``columns``, keyword arguments and the allowed
    functions: patsy evaluates formulas as Python code, so ``__import__('os')`` in a
    formula (from a configuration file, say) would run. ``table`` names where the
    columns come from in the message.

    Examples
    --------
    >>> check_formula("y ~ np.log(x) + C(region)", ["y", "x", "region"])
    >>> check_formula("y ~ open('notes.txt')", ["y"])
    Traceback (most recent call last):
    ...
    perception.errors.EstimationError: unknown column 'open' in formula ...
    """
    columns = {str(c) for c in columns}
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(formula).readline)
                  if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return  # patsy reports the syntax error
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME:
            continue
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if before == ".":
            if i >= 2 and tokens[i - 2].string == "np" and tok.string in FORMULA_NUMPY:
                continue
            raise EstimationError(
                f"formula {formula!r} uses the attribute {tok.string!r}: a formula may only "
                f"call np.{', np.'.join(sorted(FORMULA_NUMPY))} besides the columns. Fix: "
                "compute the variable in the data first, then use its column."
            )
        if (tok.string in columns or tok.string in FORMULA_FUNCTIONS
                or tok.string in FORMULA_KEYWORDS or after == "="):
            continue
        close = difflib.get_close_matches(tok.string, sorted(columns), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        dotted = sorted(c for c in columns if c.startswith(tok.string + "."))
        if dotted:
            hint += (f" A column name with a dot such as {dotted[0]!r} must be quoted in a "
                     f'formula: Q("{dotted[0]}").')
        raise EstimationError(
            f"unknown column {tok.string!r} in formula {formula!r}: {table} has no "
            f"such column, and it is not a function a formula may use "
            f"({', '.join(sorted(FORMULA_FUNCTIONS))}).{hint}"
        )


def formula_environment():
    """The names a formula is evaluated with (patsy's ``eval_env``): numpy as ``np`` and
    the functions :func:`check_formula` allows."""
    import patsy

    return patsy.EvalEnvironment([FORMULA_NAMESPACE])


def dmatrices(formula: str, frame: pd.DataFrame, na_drop: bool):
    import patsy

    check_formula(formula, frame.columns)
    na_action = "drop" if na_drop else patsy.NAAction(NA_types=[])
    try:
        return patsy.dmatrices(
            formula, frame, eval_env=formula_environment(), NA_action=na_action,
            return_type="dataframe",
        )
    except patsy.PatsyError as exc:
        raise patsy_error(exc, formula, frame) from None


@dataclass(frozen=True)
class ModelFrame:
    """The model matrix and outcome of a formula on a design's rows."""

    x: np.ndarray  # (n, p) zero rows outside the fit
    y: np.ndarray  # (n,) zero outside the fit
    rows: np.ndarray  # (n,) bool: row enters the fit (in domain, complete)
    terms: list[str]
    outcome: str
    design_info: object
    n_excluded: int = 0  # rows left out by the questionnaire (survey/valid_values)
    excluded: str = ""  # why


def split_formula(formula: str) -> tuple[str, str]:
    """The outcome and the right-hand side of ``"y ~ x"``."""
    if not isinstance(formula, str) or "~" not in formula:
        raise EstimationError(
            f"formula must be a string 'outcome ~ terms' such as 'api00 ~ ell + meals', got "
            f"{formula!r}"
        )
    lhs, rhs = formula.split("~", 1)
    if not lhs.strip():
        raise EstimationError(f"formula {formula!r} has no outcome left of '~'")
    return lhs.strip(), rhs.strip()


def model_frame(
    design,
    formula: str,
    na_rm: bool,
    outcome: Callable[[pd.DataFrame], tuple[np.ndarray, str]],
    also: Sequence[str] = (),
) -> ModelFrame:
    """The model matrix of ``formula`` on the rows of ``design``'s domain that have every
    model variable (and the columns ``also``, e.g. an offset); ``outcome`` turns patsy's
    outcome columns into the outcome values and their name.

    Without ``na_rm`` a missing model variable raises an error naming the columns and
    rows. Categories absent from the rows of the fit are dropped, as R's ``glm`` does.
    On a labelled design the questionnaire's missing codes and skipped questions are
    left out whatever ``na_rm`` says (:mod:`perception.survey.valid_values`), and an
    outcome that names categories (a nominal or identifier column) is refused.
    """
    from .valid_values import check_quantity, prepare

    columns = model_columns(formula, design.data)
    columns += [c for c in also if c not in columns]
    outcome_name = split_formula(formula)[0].strip()
    if design.questionnaire is not None and outcome_name.isidentifier():
        check_quantity(design.questionnaire, outcome_name, "model outcome")
    prepared = prepare(design, columns)
    design = prepared.design
    data = design.data
    n = len(data)
    inside = np.flatnonzero(design.in_domain)
    frame = patsy_ready(data.iloc[inside].reset_index(drop=True), columns)
    y_frame, x_frame = dmatrices(formula, frame, na_drop=True)
    # a row is missing when patsy drops it, or when any column the formula uses is
    # missing there: patsy evaluates I(x == 1) to False on a missing x, R to NA
    complete_mask = np.zeros(len(frame), dtype=bool)
    complete_mask[y_frame.index.to_numpy()] = True
    raw_missing = (
        frame[columns].isna().any(axis=1).to_numpy() if columns else np.zeros(len(frame), bool)
    )
    complete_mask &= ~raw_missing
    kept = np.flatnonzero(complete_mask)
    if kept.size < len(frame):
        missing_pos = np.flatnonzero(~complete_mask)
        if not na_rm:
            labels = data.index[inside[missing_pos]]
            counts = []
            for column in columns:
                k = int(frame[column].iloc[missing_pos].isna().sum())
                if k:
                    counts.append(f"{column!r} ({k})")
            where = f" in column(s) {', '.join(counts)}" if counts else ""
            raise EstimationError(
                f"the model variables of {formula!r} have missing values{where}, in "
                f"{missing_pos.size} row(s): {format_rows(labels)}. Pass na_rm=True to "
                "leave those rows out of the fit (they stay in the design with zero "
                "weight, as R's svyglm does), or recode them first."
            )
        if kept.size == 0:
            raise EstimationError(
                f"no complete rows left for {formula!r}: every row in the design's domain "
                "has a missing model variable"
            )
    # levels absent from the rows that enter the fit are dropped, as R's glm does
    complete = frame.iloc[kept].reset_index(drop=True)
    shrunk = False
    for column in complete.columns:
        if isinstance(complete[column].dtype, pd.CategoricalDtype):
            used = complete[column].cat.remove_unused_categories()
            if len(used.cat.categories) != len(complete[column].cat.categories):
                complete[column] = used
                shrunk = True
    if shrunk or kept.size < len(frame):
        y_frame, x_frame = dmatrices(formula, complete, na_drop=False)
    y_values, name = outcome(y_frame)
    rows = np.zeros(n, dtype=bool)
    positions = inside[kept]
    rows[positions] = True
    x = np.zeros((n, x_frame.shape[1]))
    x[positions] = x_frame.to_numpy(dtype=float)
    y = np.zeros(n)
    y[positions] = y_values
    return ModelFrame(x, y, rows, list(x_frame.columns), name, x_frame.design_info,
                      int(prepared.excluded[prepared.original.in_domain].sum()),
                      "; ".join(prepared.finish(pd.DataFrame({"variable": [outcome_name]}),
                                                variables=False)["excluded"])
                      if prepared.labelled else "")


def dask_model_design(design: Any, formula: str, also: Sequence[str] = ()
                      ) -> tuple[Any, dict[str, Any]]:
    """The design on a Dask DataFrame a model of ``formula`` is fitted on (a labelled
    design: its partitions prepared, the questionnaire's missing codes and skipped
    questions out of the fit whatever ``na_rm`` says, as in memory) and the coefficient
    table's ``n_excluded`` and ``excluded``.

    Examples
    --------
    >>> fitted_on, attrs = dask_model_design(dask_design, "trust_police ~ sex")  # doctest: +SKIP
    >>> attrs["n_excluded"]                                            # doctest: +SKIP
    54
    """
    from .dask_labelling import prepare
    from .valid_values import check_quantity

    if design.questionnaire is None:
        return design, {"n_excluded": 0, "excluded": ""}
    columns = model_columns(formula, design.data)
    columns += [c for c in also if c not in columns]
    outcome = split_formula(formula)[0].strip()
    if outcome.isidentifier():
        check_quantity(design.questionnaire, outcome, "model outcome")
    prepared = prepare(design, columns)
    counted = prepared.finish(pd.DataFrame({"variable": [outcome]}), variables=False)
    return prepared.design, {"n_excluded": int(counted["n_excluded"].iloc[0]),
                             "excluded": str(counted["excluded"].iloc[0])}


def new_matrix(design_info, formula: str, newdata: pd.DataFrame) -> pd.DataFrame:
    """The model matrix of a fitted formula's right-hand side on ``newdata`` (rows kept
    in order; levels coded as in the fit)."""
    import patsy

    if not isinstance(newdata, pd.DataFrame):
        raise EstimationError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
    newdata = patsy_ready(newdata, model_columns(formula, newdata))
    try:
        (matrix,) = patsy.build_design_matrices(
            [design_info], newdata, NA_action=patsy.NAAction(NA_types=[]),
            return_type="dataframe",
        )
    except patsy.PatsyError as exc:
        raise patsy_error(exc, formula, newdata) from None
    return matrix
