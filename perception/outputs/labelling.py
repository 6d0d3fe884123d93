"""Labels of result tables: the wording of each variable and of each of its answers, in
French or English, from the questionnaire (or a mapping).

:func:`label_table` is the one place where a result table gets its label columns
(``variable_label``, ``category_label``, ``<by>_label``) when the estimator did not
give them. Tables of a labelled design (``SurveyDesign(..., questionnaire=q, lang=)``)
come with these columns already (:mod:`perception.survey.valid_values`): outputs read
them, and :func:`label_table` only fills the cells that repeat a value the design's
questionnaire does not label (a derived indicator named by a mapping).

Examples
--------
>>> q = pc.demo_survey(seed=1).questionnaire
>>> t = pd.DataFrame({"wave": [0, 1], "variable": ["trust_police"] * 2,
...                   "estimate": [0.4, 0.5], "n": [400, 410]})
>>> label_table(t, q, "en")[["wave_label", "variable_label"]].values.tolist()
[['Baseline', 'The National Police'], ['Endline', 'The National Police']]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..errors import PerceptionError

LANGS = ("fr", "en")

#: columns of a result table that hold statistics, counts or flags, never a domain
STATISTIC_COLUMNS = frozenset({
    "variable", "category", "quantile", "estimate", "se", "ci_low", "ci_high", "df",
    "deff", "n", "p", "suppressed", "missing_code", "from", "to", "period", "count",
    "cv", "statistic", "label", "n_from", "n_to", "n_min", "relative", "relative_se",
    "relative_ci_low", "relative_ci_high", "suppression", "flag", "n_excluded",
    "excluded", "reliability", "n_weighted", "t", "n_category",
})


def check_lang(lang: str) -> None:
    """``lang`` is one of the report languages, or a clear error."""
    if lang not in LANGS:
        raise PerceptionError(f"lang={lang!r} is not available; choose 'fr' or 'en'")


class Labeller:
    """Labels of variables and of their values in one language.

    ``labels`` may be a questionnaire (any object with ``label(name, lang)`` and
    ``labels(name, lang)``), a mapping ``{name: text}`` / ``{name: {code: text}}``
    (plain, or per language ``{"fr": {...}, "en": {...}}``), or a list of these, the
    first that knows a name winning. Unknown names are shown as they are. The values of
    a questionnaire's wave variable are named by its ``waves:`` labels first.
    """

    def __init__(self, labels: Any = None, lang: str = "fr") -> None:
        check_lang(lang)
        self.lang = lang
        if labels is None:
            sources: list = []
        elif isinstance(labels, list | tuple):
            sources = list(labels)
        else:
            sources = [labels]
        self._sources = []
        for source in sources:
            if isinstance(source, Mapping) and set(source) and set(source) <= set(LANGS):
                source = source.get(lang, {})
            self._sources.append(source)

    def variable(self, name: str) -> str:
        """The label of variable ``name``."""
        for source in self._sources:
            if isinstance(source, Mapping):
                value = source.get(name)
                if isinstance(value, str):
                    return value
                if isinstance(value, Mapping) and isinstance(value.get("label"), str):
                    return value["label"]
            elif hasattr(source, "label"):
                try:
                    found = source.label(name, self.lang)
                except (PerceptionError, KeyError):
                    continue
                if found:
                    return found
        return str(name)

    def value(self, column: str, value: Any) -> str:
        """The label of answer ``value`` of variable ``column``."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        for source in self._sources:
            if isinstance(source, Mapping):
                table = source.get(column)
                if isinstance(table, Mapping):
                    table = table.get("values", table)
                    for key in (value, str(value)):
                        if key in table and isinstance(table[key], str):
                            return table[key]
            elif hasattr(source, "labels"):
                wave = _wave_label(source, column, value, self.lang)
                if wave:
                    return wave
                try:
                    found = source.labels(column, self.lang)
                except (PerceptionError, KeyError):
                    continue
                for key in (value, str(value)):
                    if key in found and found[key]:
                        return found[key]
        return str(value)


def _wave_label(source: Any, column: str, value: Any, lang: str) -> str | None:
    roles = getattr(source, "roles", None)
    if not isinstance(roles, Mapping) or roles.get("wave") != column:
        return None
    named = getattr(source, "wave_label", None)
    return named(value, lang) if callable(named) else None


def domain_columns(table: pd.DataFrame) -> list[str]:
    """The ``by`` columns of a result table: those before ``variable`` (or, without a
    ``variable`` column, every column that is not a statistic), label columns left out."""
    columns = [c for c in table.columns if not str(c).endswith("_label")]
    if "variable" in columns:
        columns = columns[: columns.index("variable")]
    return [c for c in columns if c not in STATISTIC_COLUMNS]


def label_table(table: pd.DataFrame, labels: Any, lang: str = "fr") -> pd.DataFrame:
    """``table`` with its label columns: ``<by>_label`` after each ``by`` column,
    ``variable_label`` after ``variable``, ``category_label`` after ``category``, the
    labels of the wave's ``from``/``to``/``period`` values (``from_label`` ...).

    A label column the table already has (a labelled design's table) is kept, except
    its cells that only repeat the value (a name the design's questionnaire does not
    know): those get the labels of ``labels``. A table labelled in another language
    (``attrs["lang"]``) is labelled again. The input is not modified.

    Parameters
    ----------
    table : a result table (``pc.proportion``, ``pc.change``, ``DiDResult.effects`` ...).
    labels : the questionnaire, a mapping, or a list of these (first match wins), as
        :class:`Labeller` reads them.
    lang : "fr" or "en".
    """
    lab = labels if isinstance(labels, Labeller) else Labeller(labels, lang)
    out = table.copy()
    if table.attrs.get("lang") not in (None, lang):  # labelled in another language
        out = out.drop(columns=[c for c in out.columns if str(c).endswith("_label")])
    wave_column = _wave_column(labels)
    plan: list[tuple[str, str, Any]] = []  # (column, label column, labeller of a value)
    for column in domain_columns(table):
        plan.append((column, f"{column}_label",
                     lambda v, c=column: lab.value(c, v)))
    if "variable" in table.columns:
        plan.append(("variable", "variable_label", lab.variable))
    if "category" in table.columns:
        variables = table["variable"] if "variable" in table.columns else None
        plan.append(("category", "category_label", None))
    for column in ("from", "to", "period"):
        if column in table.columns:
            plan.append((column, f"{column}_label",
                         lambda v: lab.value(wave_column, v) if wave_column else str(v)))
    for column, label_column, how in plan:
        if column == "category":
            values = [_category_label(lab, var, cat)
                      for var, cat in zip(variables if variables is not None
                                          else [None] * len(out), out["category"], strict=True)]
        else:
            values = [("" if _blank(v) else how(v)) for v in out[column]]
        if label_column in out.columns:
            # the labels of a labelled design's table are kept; where it could only
            # repeat the value (a name its questionnaire does not know), ours are used
            given = out[label_column].tolist()
            out[label_column] = [
                new if _blank(old) or str(old) == _plain(raw) else old
                for old, new, raw in zip(given, values, out[column], strict=True)]
            continue
        out.insert(list(out.columns).index(column) + 1, label_column, values)
    out.attrs = dict(table.attrs)
    return out


def _wave_column(labels: Any) -> str | None:
    sources = labels if isinstance(labels, list | tuple) else [labels]
    for source in sources:
        roles = getattr(source, "roles", None)
        if isinstance(roles, Mapping) and roles.get("wave"):
            return str(roles["wave"])
    return "wave"


def _category_label(lab: Labeller, variable: Any, category: Any) -> str:
    if _blank(category):
        return ""
    if variable is None:
        return str(category)
    return lab.value(str(variable), category)


def _plain(value: Any) -> str:
    """A value as the label that only repeats it (11.0 reads 11)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _blank(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
