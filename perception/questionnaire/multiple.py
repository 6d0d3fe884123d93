"""The answers to a select-multiple question as one 0/1 indicator per option.

A select-multiple answer is the space-separated list of the chosen codes (``"1 3"``), or,
in KoboToolbox/ODK exports, one 0/1 column per option (``ca_type/1``, ``ca_type.1``).
Both read the same here. Each option becomes an indicator: 1 when the respondent chose
it, 0 when they answered without choosing it, and missing for respondents who did not
answer the question: not asked (the question's ``relevant`` was false, evaluated with
ODK's semantics by :mod:`perception.questionnaire.expressions`), answered with a
declared missing code (don't know, refused) or left blank although asked. Each row says
why it has no answer, so that estimates can count what they leave out.

Examples
--------
>>> q = pc.demo_survey(seed=1).questionnaire
>>> data = pd.DataFrame({"ca_aware": [1, 1, 0, 1], "ca_type": ["1 2", "98", None, "2"]})
>>> answers = option_indicators(data, q.variable("ca_type"))
>>> answers.indicators[["1", "2", "3"]]
     1    2    3
0  1.0  1.0  0.0
1  NaN  NaN  NaN
2  NaN  NaN  NaN
3  0.0  1.0  0.0
>>> answers.reason.tolist()
[None, 98, 'not asked', None]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import QuestionnaireError, format_rows
from .cells import code_text, texts
from .model import Code, Variable

__all__ = ["OptionAnswers", "option_indicators", "option_columns", "NOT_ASKED",
           "NO_ANSWER"]

#: the reason of a row whose question was not asked (its ``relevant`` was false)
NOT_ASKED = "not asked"
#: the reason of a row left blank although the question was asked
NO_ANSWER = "no answer"
#: separators of KoboToolbox/ODK option columns: ``q/option``, ``q.option``, ``q-option``
OPTION_SEPARATORS = ("/", ".", "-")
_TRUE = frozenset({"1", "true", "True", "TRUE"})
_FALSE = frozenset({"0", "false", "False", "FALSE"})


@dataclass(frozen=True)
class OptionAnswers:
    """The answers to one select-multiple question, option by option.

    Attributes
    ----------
    variable : str
        The question.
    options : list of code
        The codes with an indicator: the valid codes in questionnaire order (a "none"
        option among them), then, when missing codes are kept, the missing codes.
    indicators : DataFrame
        One float column per option, named by the code's text: 1 chosen, 0 not chosen,
        NaN for a row without an answer. Same index as the data.
    reason : Series
        Why a row has no answer: a missing code (when they are left out),
        :data:`NOT_ASKED` or :data:`NO_ANSWER`; None for an answered row.
    skip_logic : bool
        Whether the question's ``relevant`` was evaluated (False when it has none or
        the data lacks a column it reads: blank rows are then :data:`NO_ANSWER`).
    """

    variable: str
    options: list[Code]
    indicators: pd.DataFrame
    reason: pd.Series
    skip_logic: bool


def option_columns(columns: Iterable[object], variable: Variable) -> dict[str, Code]:
    """The KoboToolbox/ODK option columns of a select-multiple among ``columns``.

    Examples
    --------
    >>> v = pc.demo_survey(seed=1).questionnaire.variable("ca_type")
    >>> option_columns(["ca_type/1", "ca_type.96", "age", "ca_type/x"], v)
    {'ca_type/1': 1, 'ca_type.96': 96}
    """
    by_text = {code_text(c): c for c in [*variable.codes, *variable.missing]}
    found: dict[str, Code] = {}
    for column in columns:
        column = str(column)
        for sep in OPTION_SEPARATORS:
            prefix = variable.name + sep
            if column.startswith(prefix) and column[len(prefix):] in by_text:
                found[column] = by_text[column[len(prefix):]]
                break
    return found


def _answers_of_options(data: pd.DataFrame, variable: Variable,
                        columns: dict[str, Code]) -> pd.Series:
    """Space-separated answers from 0/1 option columns (all blank, or none chosen:
    no answer, as :func:`perception.read_table` combines them)."""
    order = [*variable.codes, *variable.missing]
    chosen = pd.DataFrame(index=data.index)
    for column, code in sorted(columns.items(), key=lambda item: order.index(item[1])):
        cells = data[column].map(lambda v: None if pd.isna(v) else code_text(v),
                                 na_action="ignore")
        bad = cells.notna() & ~cells.isin(_TRUE | _FALSE)
        if bad.any():
            raise QuestionnaireError(
                f"option column {column!r} of select_multiple {variable.name!r} must hold 0 "
                f"or 1, but rows {format_rows(data.index[bad.to_numpy()])} hold "
                f"{', '.join(map(repr, cells[bad].unique()[:5]))}. Fix: export the option "
                "columns as 0/1, or give the space-separated column instead."
            )
        chosen[code_text(code)] = cells.isin(_TRUE)
    flags = chosen.to_numpy(dtype=bool)
    names = list(chosen.columns)
    return pd.Series([" ".join(n for n, hit in zip(names, row, strict=True) if hit) or None
                      for row in flags], index=data.index, dtype=object)


def _tokens(data: pd.DataFrame, variable: Variable) -> pd.Series:
    """Each row's chosen codes as text (a tuple), or None when blank."""
    name = variable.name
    options = option_columns(data.columns, variable)
    if name in data.columns:
        answers = texts(data[name])
        answers = answers.where(answers.notna() & (answers != ""), None).astype(object)
        if options:  # both forms: they must say the same
            built = _answers_of_options(data, variable, options)
            stated = answers.map(lambda t: frozenset(t.split()), na_action="ignore")
            other = built.map(lambda t: frozenset(t.split()), na_action="ignore")
            differ = (stated.isna() != other.isna()) | (
                stated.notna() & other.notna() & (stated.astype(object) != other.astype(object)))
            if differ.any():
                raise QuestionnaireError(
                    f"select_multiple {name!r}: the column {name!r} and the option columns "
                    f"({', '.join(options)}) disagree on rows "
                    f"{format_rows(data.index[differ.to_numpy()])}. Fix: keep one of the "
                    "two forms, or export the form again."
                )
    elif options:
        answers = _answers_of_options(data, variable, options)
    else:
        raise QuestionnaireError(
            f"the data has no column {name!r} (select_multiple) and no option column such "
            f"as {name}/{code_text(next(iter(variable.codes), 1))}. Fix: give the "
            "space-separated answers or the 0/1 option columns of the export."
        )
    return pd.Series([tuple(t.split()) if isinstance(t, str) else None for t in answers],
                     index=data.index, dtype=object)


def _asked(data: pd.DataFrame, variable: Variable) -> np.ndarray | None:
    """Rows where the question was asked (its ``relevant``), None when it cannot say."""
    expr = variable.relevant_expr
    if expr is None or any(v not in data.columns for v in expr.variables):
        return None
    return expr.evaluate(data).to_numpy(dtype=bool)


def option_indicators(data: pd.DataFrame, variable: Variable, *,
                      keep_missing: bool = False) -> OptionAnswers:
    """One 0/1 indicator per option of a select-multiple question.

    Parameters
    ----------
    data : DataFrame
        The answers: the space-separated column named like the question, or its 0/1
        option columns (``q/option``, ``q.option``), or both (they must agree), and the
        columns its ``relevant`` reads. Never modified.
    variable : Variable
        The question (``questionnaire.variable(name)``), of type select_multiple.
    keep_missing : bool
        Give the missing codes (don't know, refused) an indicator of their own, their
        respondents staying among the answers (``missing_codes="keep"``); by default
        they are left out.

    Returns
    -------
    OptionAnswers

    Raises
    ------
    QuestionnaireError
        A code the question does not declare, a missing code given with other codes, an
        answer recorded where the skip logic says the question was not asked, option
        columns that are not 0/1 or disagree with the space-separated column.

    Examples
    --------
    >>> q = pc.demo_survey(seed=1).questionnaire
    >>> data = pd.DataFrame({"ca_aware": [1, 1], "ca_type/1": [1, 0], "ca_type/2": [1, 1]})
    >>> option_indicators(data, q.variable("ca_type")).indicators[["1", "2"]]
         1    2
    0  1.0  1.0
    1  0.0  1.0
    """
    if variable.type != "select_multiple":
        raise QuestionnaireError(
            f"{variable.name!r} is {variable.type}, not select_multiple: it has one answer "
            "per respondent, not one indicator per option"
        )
    name = variable.name
    tokens = _tokens(data, variable)
    valid = {code_text(c): c for c in variable.codes}
    missing = {code_text(c): c for c in variable.missing}
    options: list[Code] = [*variable.codes, *(variable.missing if keep_missing else [])]
    known = {**valid, **missing}
    unknown = tokens.map(lambda row: any(t not in known for t in row), na_action="ignore")
    unknown = unknown.fillna(False).astype(bool)
    if unknown.any():
        codes = sorted({t for row in tokens[unknown] for t in row if t not in known})
        raise QuestionnaireError(
            f"select_multiple {name!r} has answers that are not its codes ("
            f"{', '.join(map(repr, codes[:5]))}) in rows "
            f"{format_rows(data.index[unknown.to_numpy()])}. Fix: correct the answers or "
            "declare the codes in the questionnaire (pc.validate lists them all)."
        )
    mixed = tokens.map(lambda row: len(row) > 1 and any(t in missing for t in row),
                       na_action="ignore").fillna(False).astype(bool)
    if mixed.any():
        raise QuestionnaireError(
            f"select_multiple {name!r} gives a missing code together with other codes in "
            f"rows {format_rows(data.index[mixed.to_numpy()])}. Fix: a respondent who did "
            f"not answer has the missing code alone ({', '.join(missing)})."
        )
    blank = tokens.isna().to_numpy()
    asked = _asked(data, variable)
    if asked is not None and (~asked & ~blank).any():
        rows = data.index[~asked & ~blank]
        raise QuestionnaireError(
            f"select_multiple {name!r} is answered in rows {format_rows(rows)} although "
            f"the question was not asked there (asked only if {variable.relevant}). Fix: "
            "correct the earlier answers or empty those cells (pc.validate lists them)."
        )
    reason = pd.Series([None] * len(data), index=data.index, dtype=object)
    if asked is None:
        reason[blank] = NO_ANSWER
    else:
        reason[blank & asked] = NO_ANSWER
        reason[blank & ~asked] = NOT_ASKED
    if not keep_missing:
        for text, code in missing.items():
            hit = tokens.map(lambda row, text=text: row == (text,), na_action="ignore")
            reason[hit.fillna(False).astype(bool).to_numpy()] = code
    out = pd.DataFrame(index=data.index)
    answered = reason.isna().to_numpy()
    for code in options:
        text = code_text(code)
        chosen = tokens.map(lambda row, text=text: text in row, na_action="ignore")
        values = chosen.fillna(False).to_numpy(dtype=float)
        out[text] = np.where(answered, values, np.nan)
    return OptionAnswers(name, options, out, reason, asked is not None)
