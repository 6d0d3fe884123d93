"""Select-multiple questions of a labelled design: the share of respondents who chose
each option.

A select-multiple answer (``"1 3"``, or one 0/1 column per option in KoboToolbox
exports) is turned into one 0/1 indicator per option by
:func:`perception.questionnaire.multiple.option_indicators`; the share choosing an
option is the design-based proportion of its indicator among the respondents asked
who answered: those not asked (the question's ``relevant``), those who answered with a
declared missing code (don't know, refused) and, with ``na_rm=True``, those left blank
are out of the denominator, counted in ``n_excluded`` and named in ``excluded``. A
"none" option is an option like the others. The indicators of one question share their
rows, so their estimates, standard errors and covariance are R's
``svymean(~y1 + y2 + ..., design, na.rm = TRUE)`` (``svyby`` for domains), computed by
:func:`perception.proportion`'s engine, intervals included.

:func:`perception.proportion` sends the select-multiple questions of a labelled design
here; :func:`option_design` gives the indicators as columns of the design for the
analyses of :mod:`perception.analysis` (changes, difference-in-differences).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EstimationError, format_rows
from ..questionnaire.cells import code_text
from ..questionnaire.multiple import NO_ANSWER, NOT_ASKED, OptionAnswers, option_indicators
from . import labelling
from .attached import stack_tables
from .covariance import attach_covariance, covariance_of
from .engine import by_missing
from .labelling import check_missing_codes

__all__ = ["is_select_multiple", "select_multiple_names", "option_design", "OptionDesign",
           "option_table", "proportions_with_options", "relabel_options",
           "EXCLUDED_COLUMNS"]

#: the columns appended to a table of option shares
EXCLUDED_COLUMNS = ["n_excluded", "excluded"]

#: the reasons of ``excluded`` in each language (missing codes take their own labels)
_REASON_WORDS = {
    "fr": {NOT_ASKED: labelling.NOT_ASKED["fr"], NO_ANSWER: "sans réponse"},
    "en": {NOT_ASKED: labelling.NOT_ASKED["en"], NO_ANSWER: "no answer"},
}

#: estimates the proportions of the named 0/1 columns of a design, na_rm as given
Estimate = Callable[..., pd.DataFrame]


def is_select_multiple(design, name: object) -> bool:
    """Whether ``name`` is a select-multiple question of a labelled design.

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> is_select_multiple(d, "ca_type"), is_select_multiple(d, "trust_police")
    (True, False)
    """
    q = getattr(design, "questionnaire", None)
    return (q is not None and isinstance(name, str) and name in q
            and q.variable(name).type == "select_multiple")


def select_multiple_names(design, names: Sequence[object]) -> list[str]:
    """The select-multiple questions among ``names`` (none for an unlabelled design)."""
    return [n for n in names if is_select_multiple(design, n)]  # type: ignore[misc]


@dataclass(frozen=True)
class OptionDesign:
    """A design whose data hold a question's option indicators as columns.

    Attributes
    ----------
    design : SurveyDesign or ReplicateDesign
        The design, unlabelled, with one column per option (``ca_type/1`` ...): 1 chosen,
        0 not, NaN for rows without an answer.
    columns : dict
        Each indicator column and its option code.
    answers : OptionAnswers
        The indicators and why each row without an answer has none.
    """

    design: Any
    columns: dict[str, Any]
    answers: OptionAnswers


def option_design(design, name: str, *, na_rm: bool = False,
                  missing_codes: str | None = None) -> OptionDesign:
    """The option indicators of select-multiple ``name`` as columns of the design.

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        A labelled design (``questionnaire=``).
    name : str
        A select-multiple question of its questionnaire.
    na_rm : bool
        Leave out respondents who were asked but left the question blank; otherwise they
        are an error naming the rows (those not asked and missing codes are always
        left out, unless the design keeps missing codes).
    missing_codes : {"exclude", "keep"}, optional
        Overrides the design's setting: "keep" gives each missing code an indicator of
        its own, its respondents among the answers.

    Returns
    -------
    OptionDesign

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> options = option_design(d, "ca_type")
    >>> list(options.columns)[:3]
    ['ca_type/1', 'ca_type/2', 'ca_type/3']
    >>> options.design.data["ca_type/1"].value_counts(dropna=False).to_dict()
    {nan: 6466, 1.0: 839, 0.0: 684}
    """
    q = design.questionnaire
    keep = check_missing_codes(missing_codes if missing_codes is not None
                               else design.missing_codes) == "keep"
    answers = option_indicators(design.data, q.variable(name), keep_missing=keep)
    blank = (answers.reason == NO_ANSWER).to_numpy() & design.in_domain
    if blank.any() and not na_rm:
        rows = design.data.index[blank]
        why = "" if answers.skip_logic else (
            f" (its skip logic, {q.variable(name).relevant!r}, reads columns the data does "
            "not have)" if q.variable(name).relevant else "")
        raise EstimationError(
            f"select_multiple {name!r} is blank in {int(blank.sum())} row(s) where it was "
            f"asked{why}: rows {format_rows(rows)}. Pass na_rm=True to leave them out "
            "(counted in n_excluded), or enter a missing code for them."
        )
    columns: dict[str, object] = {}
    values: dict[str, pd.Series] = {}
    for code in answers.options:
        column = f"{name}/{code_text(code)}"
        columns[column] = code
        values[column] = answers.indicators[code_text(code)]
    inner = design.with_labels(None).with_data(design.data.assign(**values))
    return OptionDesign(inner, columns, answers)


def _excluded_text(counts: pd.Series, variable, lang: str) -> str:
    """``"98 Refus: 3; non posée: 400"``: each reason and its count (``counts``, indexed
    by reason), in ``lang``."""
    words = _REASON_WORDS.get(lang, _REASON_WORDS["en"])
    parts = []
    for code, labels in variable.missing.items():
        if code in counts.index:
            parts.append(f"{labelling.code_reason(code, labels, lang)}: {int(counts[code])}")
    for reason in (NO_ANSWER, NOT_ASKED):
        if reason in counts.index:
            parts.append(f"{words[reason]}: {int(counts[reason])}")
    return "; ".join(parts)


def _domain_codes(design, table: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, list]:
    """Each data row's position among the domains of ``table`` (-1 outside), and the
    domains in table order."""
    rows = design.in_domain & ~by_missing(design, by)
    if not by:
        return np.where(rows, 0, -1), [()]
    keys = list(dict.fromkeys(table[by].itertuples(index=False, name=None)))
    lookup = pd.MultiIndex.from_tuples(keys, names=by) if len(by) > 1 else pd.Index(
        [k[0] for k in keys])
    data_keys = (pd.MultiIndex.from_frame(design.data[by]) if len(by) > 1
                 else design.data[by[0]])
    codes = lookup.get_indexer(data_keys)
    return np.where(rows, codes, -1), keys


def option_table(design, name: str, by: Sequence[str], na_rm: bool,
                 estimate: Estimate, missing_codes: str | None = None) -> pd.DataFrame:
    """The share choosing each option of select-multiple ``name``, one row per option
    (and domain), with ``n_excluded`` and ``excluded``.

    ``estimate(design, columns, na_rm)`` is the proportion estimator the indicator
    columns go through (:func:`perception.proportion` with the caller's ``by``,
    ``method`` and ``level``); ``missing_codes`` overrides the design's setting.
    """
    by = list(by)
    options = option_design(design, name, na_rm=na_rm, missing_codes=missing_codes)
    inner = options.design
    if not na_rm:  # a missing by value is an error, as in every estimator
        from .engine import active_rows

        active_rows(inner, by, by_missing(inner, by), False, "by")
    columns = list(options.columns)
    levels = {c: pd.Categorical(inner.data[c], categories=[0.0, 1.0]) for c in columns}
    inner = inner.with_data(inner.data.assign(**levels))
    table = estimate(inner, columns, True)
    chosen = table[(table["category"] == 1.0).to_numpy()].reset_index(drop=True)
    cov = covariance_of(chosen).to_numpy(dtype=float)
    out = chosen.copy()
    out.attrs = {}
    out["category"] = pd.Series([options.columns[c] for c in chosen["variable"]],
                                index=out.index)
    out["variable"] = name
    codes, keys = _domain_codes(design, out, by)
    reasons = options.answers.reason
    lang = design.lang or design.questionnaire.languages[0]
    variable = design.questionnaire.variable(name)
    n_excluded, excluded = [], []
    for k in range(len(keys)):
        left_out = reasons[(codes == k) & reasons.notna().to_numpy()]
        n_excluded.append(len(left_out))
        excluded.append(_excluded_text(left_out.value_counts(), variable, lang))
    position = [keys.index(row) for row in out[by].itertuples(index=False, name=None)] \
        if by else [0] * len(out)
    out["n_excluded"] = np.asarray(n_excluded, dtype=np.int64)[position]
    out["excluded"] = [excluded[p] for p in position]
    attach_covariance(out, cov, [*by, "variable", "category"])
    out.attrs["level"] = table.attrs.get("level")
    out.attrs["method"] = table.attrs.get("method")
    return out


def proportions_with_options(design, names: Sequence[str], by: Sequence[str], na_rm: bool,
                             estimate: Estimate, missing_codes: str | None = None
                             ) -> pd.DataFrame:
    """:func:`perception.proportion` of ``names`` when some are select-multiple
    questions: their option rows, the other variables' levels as usual, in the order
    of ``names``. One select-multiple question keeps its covariance; the table of
    several variables with different rows has none (estimate them one by one to
    combine their rows)."""
    tables = []
    plain: list[str] = []
    for name in names:
        if is_select_multiple(design, name):
            if plain:
                tables.append(estimate(design, plain, na_rm))
                plain = []
            tables.append(option_table(design, name, by, na_rm, estimate, missing_codes))
        else:
            plain.append(name)
    if plain:
        tables.append(estimate(design, plain, na_rm))
    if len(tables) == 1:
        return tables[0]
    level, method = tables[0].attrs.get("level"), tables[0].attrs.get("method")
    out = stack_tables(tables)
    out.attrs = {"level": level, "method": method, "vcov": None}
    return out


def relabel_options(table: pd.DataFrame, columns: dict[str, Any], name: str
                    ) -> pd.DataFrame:
    """A table of indicator columns (``variable`` = ``ca_type/1`` ...) as option rows:
    ``variable`` = ``name`` and ``category`` = the option's code, inserted after
    ``variable``; a covariance keyed by ``variable`` is keyed by ``category`` too. The
    table is copied.

    Examples
    --------
    >>> t = pd.DataFrame({"variable": ["q/1", "q/2"], "estimate": [0.2, 0.3]})
    >>> relabel_options(t, {"q/1": 1, "q/2": 2}, "q")
      variable  category  estimate
    0        q         1       0.2
    1        q         2       0.3
    """
    if "variable" not in table.columns:
        raise EstimationError("relabel_options needs a table with a variable column")
    out = table.copy()
    out.attrs = {}
    codes = pd.Series([columns[v] for v in table["variable"]], index=out.index)
    out.insert(list(out.columns).index("variable") + 1, "category", codes)
    out["variable"] = name
    cov = table.attrs.get("vcov")
    for key, value in table.attrs.items():
        if key != "vcov":
            out.attrs[key] = value
    if cov is None:
        if "vcov" in table.attrs:
            out.attrs["vcov"] = None
        return out
    keys = list(cov.columns)
    if "variable" not in keys:
        out.attrs["vcov"] = None
        return out
    keys.insert(keys.index("variable") + 1, "category")
    return attach_covariance(out, covariance_of(table).to_numpy(dtype=float), keys)
