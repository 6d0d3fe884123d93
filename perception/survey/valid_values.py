"""The values a labelled design analyses: missing codes and skipped questions left out,
types checked, result tables labelled.

A design that knows its questionnaire (``SurveyDesign(..., questionnaire=q)``) leaves out
of every estimate the answers that are not answers: the declared missing codes (8
refused, 9 don't know ...) and the blanks of skip logic (the question's ``relevant`` is
false: "not asked"), whatever ``na_rm`` says; any other missing value still follows
``na_rm``. This module is the one place that does it, for every estimator, model, index
and figure:

- :func:`prepare` turns a design and the columns of an analysis into a
  :class:`Prepared`: the same design with the left-out values blank and their rows
  outside its domain (as R's ``na.rm = TRUE`` subsets a design: every PSU and stratum
  still enters the variance), the count of what was left out and why, row by row;
- :meth:`Prepared.finish` adds to a result table, after its own columns, ``n_excluded``,
  ``excluded`` ("8 Refused: 12; 9 Don't know: 30; not asked: 400"), ``variable_label``,
  ``category_label`` (a table with categories) and ``<by>_label`` for each ``by``
  column, in the design's language.

``missing_codes="keep"`` (on the design or per call) keeps the missing codes as values
(a proportion table then shows the don't-know share); skipped questions stay out, since
a blank is not an answer. A design without a questionnaire passes through unchanged.

Examples
--------
>>> d = pc.demo_survey(seed=1).design()
>>> p = prepare(d, ["trust_police"], [])
>>> int(p.excluded.sum()) == int(d.data["trust_police"].isin([8, 9]).sum())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError
from .labelling import NOT_ASKED, check_missing_codes, code_reason

#: why a derived variable is blank: a source was a missing code, blank or not asked
NOT_COMPUTED = {"fr": "non calculée (source manquante ou non posée)",
                "en": "not computed (a source missing or not asked)"}
#: variable types whose codes name categories: never averaged or totalled
NOMINAL_TYPES = frozenset({"categorical", "text", "select_multiple"})
#: the columns :meth:`Prepared.finish` adds (with ``<by>_label`` for each ``by`` column)
LABELLED_COLUMNS = ("n_excluded", "excluded", "variable_label", "category_label")
#: the analyses that treat a column as a quantity
QUANTITIES = frozenset({"mean", "total", "ratio", "quantile", "index", "model response"})


@dataclass(frozen=True)
class Prepared:
    """A design ready for one analysis, and what it left out.

    Attributes
    ----------
    design : SurveyDesign or ReplicateDesign
        The design to analyse: the left-out values blank (``<NA>``) and their rows
        outside the domain (weight zero). The caller's design unchanged when nothing is
        left out.
    original : SurveyDesign or ReplicateDesign
        The design as given.
    reasons : tuple of str
        Why a value was left out, labelled in the design's language ("9 Don't know",
        "not asked", prefixed by the column when the analysis reads several).
    codes : ndarray of int
        For each row of the data, the index of its reason in ``reasons`` (-1: kept).
    by : tuple of str
        The domain columns of the analysis.
    """

    design: Any
    original: Any
    reasons: tuple[str, ...]
    codes: np.ndarray
    by: tuple[str, ...]

    @property
    def excluded(self) -> np.ndarray:
        """Rows of the data left out of the analysis by the questionnaire."""
        return self.codes >= 0

    @property
    def labelled(self) -> bool:
        """Whether the design knows its questionnaire (its tables get label columns)."""
        return self.original.questionnaire is not None

    def finish(self, table: pd.DataFrame, *, by: Sequence[str] | None = None,
               over: str | None = None, variables: bool = True) -> pd.DataFrame:
        """``table`` with ``n_excluded``, ``excluded`` and the label columns added last
        (a labelled design), else ``table`` itself.

        Parameters
        ----------
        table : DataFrame
            A result table of the prepared design.
        by : sequence of str, optional
            Its domain columns (default: those given to :func:`prepare`).
        over : str, optional
            The wave column of a change table: its rows count the left-out answers of
            their ``from`` and ``to`` waves.
        variables : bool
            False for a table without a ``variable`` column (a model's coefficients):
            only ``n_excluded`` and ``excluded``.
        """
        if not self.labelled:
            return table
        by = list(self.by if by is None else by)
        out = table.copy()
        if over is None:
            counts = self._counts(out, by)
        else:
            counts = []
            ends = [self._counts(out.assign(**{over: out[end]}), [*by, over])
                    for end in ("from", "to")]
            for first, second in zip(*ends, strict=True):
                both = dict(first)
                for k, v in second.items():
                    both[k] = both.get(k, 0) + v
                counts.append(both)
        out["n_excluded"] = [sum(c.values()) for c in counts]
        out["excluded"] = ["; ".join(f"{self.reasons[k]}: {v}" for k, v in sorted(c.items()))
                           for c in counts]
        if variables:
            add_labels(out, self.original, [*by, *([] if over is None else ["from", "to"])],
                       over)
        out.attrs = dict(table.attrs)
        out.attrs["lang"] = self.original.lang  # the language of its label columns
        return out

    def _counts(self, table: pd.DataFrame, by: list[str]) -> list[dict[int, int]]:
        """For each row of ``table``, the left-out rows of its domain by reason."""
        inside = self.original.in_domain & self.excluded
        if not inside.any():
            return [{} for _ in range(len(table))]
        data = self.original.data
        rows = np.flatnonzero(inside)
        reasons = self.codes[rows]
        by = [c for c in by if c in table.columns and c in data.columns]
        left = data[by].iloc[rows].reset_index(drop=True).assign(_reason=reasons)
        return counts_by_row(left.groupby([*by, "_reason"], dropna=True, observed=True).size(),
                             table, by)


def counts_by_row(sizes: pd.Series, table: pd.DataFrame, by: list[str]
                  ) -> list[dict[int, int]]:
    """For each row of ``table``, the left-out rows of its domain by reason, from
    ``sizes``: the left-out rows counted by (``by`` values, reason) -- one count per
    (domain, reason), so a group-by of the rows, not a loop over them.

    Examples
    --------
    >>> sizes = pd.Series([3, 4], index=pd.MultiIndex.from_tuples([(1, 0), (2, 1)]))
    >>> counts_by_row(sizes, pd.DataFrame({"g": [1, 2, 3]}), ["g"])
    [{0: 3}, {1: 4}, {}]
    """
    if not by:
        whole: dict[int, int] = {}
        for key, size in sizes.items():
            reason = int(key[-1] if isinstance(key, tuple) else key)  # type: ignore[arg-type]
            whole[reason] = whole.get(reason, 0) + int(size)
        return [dict(whole) for _ in range(len(table))]
    grouped: dict[tuple, dict[int, int]] = {}
    for key, size in sizes.items():
        assert isinstance(key, tuple)  # (by values ..., reason)
        cell = grouped.setdefault(_key(key[:-1]), {})
        cell[int(key[-1])] = cell.get(int(key[-1]), 0) + int(size)
    return [dict(grouped.get(_key(row), {}))
            for row in table[by].itertuples(index=False, name=None)]


def _key(values: tuple) -> tuple:
    """A domain key comparable whatever the dtype (1, 1.0 and np.int64(1) are one key)."""
    out = []
    for v in values:
        if isinstance(v, float | np.floating) and float(v).is_integer():
            v = int(v)
        elif isinstance(v, np.integer):
            v = int(v)
        out.append(v)
    return tuple(out)


def prepare(design, columns: Sequence[str], by: Sequence[str] = (), *,
            missing_codes: str | None = None, purpose: str | None = None) -> Prepared:
    """The design to analyse ``columns`` (and the ``by`` columns) with, and what it left out.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The design; one without a questionnaire is returned as it is.
    columns : sequence of str
        The analysed columns (variables, model terms, index items).
    by : sequence of str
        The domain columns (their missing codes are left out too).
    missing_codes : {"exclude", "keep"}, optional
        Overrides the design's setting for this analysis.
    purpose : str, optional
        What the analysis does with ``columns``: "mean", "total", "ratio", "quantile",
        "index" or "model response" refuse a nominal, text or identifier column.

    Returns
    -------
    Prepared

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> p = prepare(d, ["trust_police"], ["wave"], missing_codes="keep")
    >>> bool(p.excluded.any())
    False
    >>> prepare(d, ["commune"], purpose="mean")
    Traceback (most recent call last):
    ...
    perception.errors.EstimationError: 'commune' is a text variable ...
    """
    keep = check_missing_codes(missing_codes if missing_codes is not None
                               else design.missing_codes) == "keep"
    q = design.questionnaire
    if q is None:
        # no row left out: a read-only view of one -1 rather than a vector to fill
        return Prepared(design, design, (), np.broadcast_to(np.int64(-1), len(design.data)),
                        tuple(by))
    lang = design.lang
    data = design.data
    names = list(dict.fromkeys([*columns, *by]))
    if purpose in QUANTITIES:
        for name in columns:
            check_quantity(q, name, purpose)
    codes, candidates, blanked = exclusions(q, lang, data, names, keep)
    present = np.unique(codes[codes >= 0])
    if not present.size:
        return Prepared(design, design, (), codes, tuple(by))
    # the reasons met, in the order of the candidates (each variable in turn)
    position = np.full(len(candidates), -1, dtype=np.int64)
    position[present] = np.arange(present.size)
    codes = np.where(codes >= 0, position[np.maximum(codes, 0)], -1)
    reasons = tuple(candidates[i] for i in present)
    analysed = design.with_data(data.assign(**blanked)) if blanked else design
    analysed = analysed.subset(codes < 0)
    return Prepared(analysed, design, reasons, codes, tuple(by))


def exclusions(q, lang: str | None, data: pd.DataFrame, names: Sequence[str], keep: bool
               ) -> tuple[np.ndarray, list[str], dict[str, pd.Series]]:
    """Why each row of ``data`` is left out of an analysis of ``names``, row by row.

    Every reason the questionnaire allows for ``names`` is a candidate, in a fixed
    order (each variable in turn: its missing codes, "not asked", "not computed"), so
    that the rows of several pieces of the data (the partitions of a Dask DataFrame)
    number their reasons alike. A row takes the first reason that applies.

    Parameters
    ----------
    q : Questionnaire
        The design's questionnaire.
    lang : str or None
        The language of the reasons.
    data : DataFrame
        The rows (with the columns the skip logic reads).
    names : sequence of str
        The analysed and domain columns.
    keep : bool
        Keep the missing codes as values (only skipped questions and blank derived
        values are left out).

    Returns
    -------
    codes : ndarray of int
        Each row's reason among the candidates (-1: kept).
    candidates : list of str
        The reasons, labelled in ``lang``.
    blanked : dict
        The columns holding missing codes, with those codes blank.

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> codes, reasons, _ = exclusions(demo.questionnaire, "en", demo.waves,
    ...                                ["trust_police"], False)
    >>> reasons
    ['8 Refused', "9 Don't know / haven't heard enough"]
    >>> int((codes == 1).sum()) == int((demo.waves["trust_police"] == 9).sum())
    True
    """
    names = [name for name in names if name in q]
    several = sum(_can_exclude(q.variable(name)) for name in names) > 1
    codes = np.full(len(data), -1, dtype=np.int64)
    candidates: list[str] = []
    blanked: dict[str, pd.Series] = {}
    for name in names:
        if name not in data.columns:
            continue
        var = q.variable(name)
        prefix = f"{name} " if several else ""
        column = data[name]
        if not keep and var.missing:
            for code, labels in var.missing.items():
                hit = _equals(column, code) & (codes < 0)
                codes[hit] = len(candidates)
                candidates.append(f"{prefix}{code_reason(code, labels, lang)}")
            coded = _equals_any(column, list(var.missing))
            if coded.any():
                blanked[name] = _blank(column, coded)
        if var.relevant_expr is not None:
            skipped = column.isna().to_numpy() & (codes < 0)
            if skipped.any():
                applies = var.relevant_expr.evaluate(data).to_numpy(dtype=bool)
                codes[skipped & ~applies] = len(candidates)
            candidates.append(f"{prefix}{NOT_ASKED.get(lang or 'en', 'not asked')}")
        if getattr(var, "derived", False):
            # missing in, missing out: a blank derived value is left out like its source
            hit = column.isna().to_numpy() & (codes < 0)
            codes[hit] = len(candidates)
            candidates.append(f"{prefix}{NOT_COMPUTED.get(lang or 'en', NOT_COMPUTED['en'])}")
    return codes, candidates, blanked


def valid_frame(design, columns: Sequence[str], *, missing_codes: str | None = None
                ) -> pd.DataFrame:
    """The design's data with the questionnaire's missing codes of ``columns`` blank,
    column by column (an index or a top-box share reads each item's valid answers).

    A design without a questionnaire, or ``missing_codes="keep"``, gives its data as is.

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> valid = valid_frame(d, ["trust_police"])
    >>> bool(valid["trust_police"].isin([8, 9]).any()), str(valid["trust_police"].dtype)
    (False, 'Int64')
    """
    q = design.questionnaire
    data = design.data
    keep = check_missing_codes(missing_codes if missing_codes is not None
                               else design.missing_codes) == "keep"
    if q is None or keep:
        return data
    blanked = {}
    for name in columns:
        if name in q and name in data.columns and q.variable(name).missing:
            coded = _equals_any(data[name], list(q.variable(name).missing))
            if coded.any():
                blanked[name] = _blank(data[name], coded)
    return data.assign(**blanked) if blanked else data


def _can_exclude(var) -> bool:
    return (bool(var.missing) or var.relevant_expr is not None
            or bool(getattr(var, "derived", False)))


def _equals(column: pd.Series, code: Any) -> np.ndarray:
    return _equals_any(column, [code])


def _equals_any(column: pd.Series, codes: list) -> np.ndarray:
    """Rows holding one of ``codes`` (a code 9 matches 9, 9.0 and "9")."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = [float(c) for c in codes if _is_number(c)]
        return column.isin(numbers).to_numpy(dtype=bool, na_value=False)
    texts = {str(c) for c in codes}
    return column.astype("string").isin(texts).to_numpy(dtype=bool, na_value=False)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _blank(column: pd.Series, rows: np.ndarray) -> pd.Series:
    """``column`` with ``rows`` blank, integers kept integers (``Int64``)."""
    if pd.api.types.is_integer_dtype(column) and not isinstance(column.dtype, pd.Int64Dtype):
        column = column.astype("Int64")
    return column.mask(rows)


def check_quantity(q, name: str, purpose: str) -> None:
    """Refuse to treat a nominal, text or identifier column as a quantity.

    Examples
    --------
    >>> q = pc.demo_survey(seed=1).questionnaire
    >>> check_quantity(q, "trust_police", "mean")
    >>> check_quantity(q, "resp_id", "total")
    Traceback (most recent call last):
    ...
    perception.errors.EstimationError: 'resp_id' is an identifier ...
    """
    if name not in q:
        return
    var = q.variable(name)
    if var.role == "id" or var.type in NOMINAL_TYPES:
        what = ("an identifier" if var.role == "id"
                else f"a {var.type} variable")
        fix = (f"use pc.proportion(design, {name!r}) (on the command line: --stat "
               "proportion) for the share of each of its categories" if var.role != "id" else "it names respondents: count "
               "them with pc.total of a column of ones, or use it as psu=")
        raise EstimationError(
            f"{name!r} is {what} in questionnaire {q.id!r}: its values name categories, "
            f"not quantities, so a {purpose} of it means nothing. Fix: {fix}."
        )


# -------------------------------------------------------------------- labels --
def add_labels(table: pd.DataFrame, design, by: list[str], over: str | None = None
               ) -> None:
    """Add ``variable_label``, ``category_label`` (a table with a ``category`` column)
    and ``<by>_label`` for each ``by`` column to ``table``, in place, in the design's
    language (a name the questionnaire does not know is its own label); the values of
    the columns ``from`` and ``to`` are those of the wave column ``over``."""
    q = design.questionnaire
    lang = design.lang
    if "variable" in table.columns:
        table["variable_label"] = [variable_label(q, v, lang) for v in table["variable"]]
    if "category" in table.columns:
        variables = (table["variable"] if "variable" in table.columns
                     else [None] * len(table))
        table["category_label"] = [
            value_label(q, v, c, lang) if v is not None else str(c)
            for v, c in zip(variables, table["category"], strict=True)
        ]
    for column in by:
        if column in table.columns:
            source = over if column in ("from", "to") and over else column
            table[f"{column}_label"] = [value_label(q, source, v, lang)
                                        for v in table[column]]


def variable_label(q, name: Any, lang: str | None) -> str:
    """The wording of variable ``name`` (of each side of a ratio "a/b"), else the name.

    Examples
    --------
    >>> q = pc.demo_survey(seed=1).questionnaire
    >>> variable_label(q, "cercle", "en")
    'Cercle (2009 boundaries)'
    """
    name = str(name)
    if name in q:
        return q.label(name, lang) or name
    if "/" in name:
        return " / ".join(variable_label(q, part, lang) for part in name.split("/"))
    return name


def value_label(q, name: Any, value: Any, lang: str | None) -> str:
    """The label of answer ``value`` of variable ``name`` (a wave by the questionnaire's
    ``waves:``), else the value as text ("" for a blank).

    Examples
    --------
    >>> q = pc.demo_survey(seed=1).questionnaire
    >>> value_label(q, "cercle", 11.0, "en")
    'Mopti'
    """
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    elif isinstance(value, np.integer):
        value = int(value)
    name = str(name)
    if name not in q:
        return str(value)
    if q.roles.get("wave") == name:
        found = q.wave_label(value, lang)
        if found:
            return found
    labels = q.labels(name, lang)
    for key in (value, str(value)):
        if key in labels and labels[key]:
            return labels[key]
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            return value
        return labels.get(number) or value
    return str(value)
