"""Tables for reading: the one builder behind the CLI's tables, the report's tables and
the exported workbooks.

:func:`readable_table` turns a result table (``pc.proportion``, ``pc.mean``,
``pc.top_box``, ``pc.change``, ``DiDResult.effects`` ...) into a :class:`ReadableTable`:
labelled columns in French or English, percentages with one decimal, means with two,
totals rounded with thousands separators, the interval as ``[a ; b]`` (French) or
``(a–b)`` (English), ``n`` and the weighted ``N`` when known, a ``reliability`` column,
suppressed cells marked, and a note saying what the table counts. Its ``data`` keeps the
full precision with the label columns (the CSV); its ``text`` is what a reader sees
(Markdown, HTML, PDF, Word); its ``cells`` hold the rounded numbers a workbook formats.

Small cells are suppressed by :mod:`perception.disclosure` (:func:`publishable`), never
here.

Examples
--------
>>> demo = pc.demo_survey(seed=1)
>>> t = pc.top_box(demo.design(), "trust_police", by="wave")
>>> rt = readable_table(t, statistic="proportion", labels=demo.questionnaire, lang="en")
>>> rt.text.iloc[0].tolist()
['Baseline', '51.9', '(49.3–54.5)', '3,828', 'ok']
>>> rt.title, rt.headers
('The National Police', ['Survey wave', '%', '95% CI', 'n', 'Reliability'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..disclosure.suppression import (
    DEFAULT_MAX_CV,
    DEFAULT_MIN_CELL,
    DEFAULT_MIN_COUNT,
    publishable,
)
from ..errors import PerceptionError
from ..tables import smallest_count
from .labelling import Labeller, check_lang, domain_columns, label_table
from .numbers import fmt_interval, fmt_number, fmt_p, fmt_signed

Statistic = Literal["proportion", "mean", "total", "index", "ratio", "quantile", "deff"]
STATISTICS: tuple[str, ...] = ("proportion", "mean", "total", "index", "ratio", "quantile",
                               "deff")

#: fewest degrees of freedom of a reliable estimate (fewer: the interval rests on too
#: few PSUs for its variance to be trusted)
MIN_DF = 10
#: the reliability values of the CSV and their words in each language
RELIABILITY = {
    "ok": {"fr": "ok", "en": "ok"},
    "low": {"fr": "faible", "en": "low"},
    "suppressed": {"fr": "masquée", "en": "suppressed"},
}
#: decimals of the estimate (and its interval) shown for each statistic
DECIMALS = {"proportion": 1, "mean": 2, "total": 0, "index": 1, "ratio": 2, "quantile": 2,
            "deff": 2}

_WORDS: dict[str, dict[str, str]] = {
    "indicator": {"fr": "Indicateur", "en": "Indicator"},
    "answer": {"fr": "Réponse", "en": "Answer"},
    "waves": {"fr": "Vagues", "en": "Waves"},
    "period": {"fr": "Période", "en": "Period"},
    "proportion": {"fr": "%", "en": "%"},
    "mean": {"fr": "Moyenne", "en": "Mean"},
    "total": {"fr": "Total", "en": "Total"},
    "index": {"fr": "Indice", "en": "Index"},
    "ratio": {"fr": "Ratio", "en": "Ratio"},
    "quantile": {"fr": "Quantile", "en": "Quantile"},
    "deff": {"fr": "Effet de plan", "en": "Design effect"},
    "change_points": {"fr": "Variation (points)", "en": "Change (points)"},
    "change": {"fr": "Variation", "en": "Change"},
    "did_points": {"fr": "Effet (points)", "en": "Effect (points)"},
    "did": {"fr": "Effet", "en": "Effect"},
    "ci": {"fr": "IC à {level} %", "en": "{level}% CI"},
    "n_weighted": {"fr": "N pondéré", "en": "Weighted N"},
    "reliability": {"fr": "Fiabilité", "en": "Reliability"},
    "suppressed": {"fr": "masqué", "en": "suppressed"},
    "level_of": {"fr": "Quantile", "en": "Quantile"},
}


def word(key: str, lang: str, **values: Any) -> str:
    """A word of the tables in ``lang``."""
    return _WORDS[key][lang].format(**values)


@dataclass(frozen=True)
class Column:
    """A column of a readable table: its header, and how its cells are written.

    ``kind``: "text" (labels), "number" (``decimals`` places), "count" (whole number),
    "interval" or "p" (text in every format).
    """

    key: str
    header: str
    kind: Literal["text", "number", "count", "interval", "p"] = "text"
    decimals: int = 0


@dataclass(frozen=True)
class ReadableTable:
    """A result table ready to be read.

    Attributes
    ----------
    name : short name (file and sheet name).
    title : what the table shows, in the table's language.
    note : what it counts, the interval, the reliability rule, the suppression rule.
    lang : "fr" or "en".
    columns : the :class:`Column` of each shown column, in order.
    cells : the shown values, one column per ``Column.key``: rounded numbers for the
        number and count columns (NaN when suppressed or unknown), text for the others.
    text : every shown value as text in the table's language (headers are the keys).
    data : the full-precision table with its label columns and ``reliability`` (the CSV).
    """

    name: str
    title: str
    note: str
    lang: str
    columns: list[Column]
    cells: pd.DataFrame
    text: pd.DataFrame
    data: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> list[str]:
        """The column headers as shown."""
        return [c.header for c in self.columns]

    def shown(self) -> pd.DataFrame:
        """The text table with its headers (for printing)."""
        out = self.text.copy()
        out.columns = self.headers
        return out


def reliability(table: pd.DataFrame, *, contrast: bool | None = None,
                max_cv: float = DEFAULT_MAX_CV, min_df: int = MIN_DF) -> pd.Series:
    """``ok``, ``low`` or ``suppressed`` for each row of a published table.

    A level (a share, a mean, a total) is ``low`` when its coefficient of variation
    ``se / |estimate|`` exceeds ``max_cv`` or its ``df`` is below ``min_df``. A change
    or a DiD effect (``contrast``; default: the table has ``from``/``to`` or
    ``period``) is judged on its ``df`` alone, since a coefficient of variation means
    nothing near zero; its respondents count through the suppression (``n_from``,
    ``n_to``, ``n_min``).

    Examples
    --------
    >>> t = pd.DataFrame({"estimate": [0.5, 0.05, 0.4], "se": [0.05, 0.02, 0.04],
    ...                   "df": [40, 40, 6], "n": [300, 300, 300]})
    >>> reliability(publishable(t)).tolist()
    ['ok', 'low', 'low']
    """
    if contrast is None:
        contrast = {"from", "to"} <= set(table.columns) or "period" in table.columns
    estimate = pd.to_numeric(table["estimate"], errors="coerce")
    se = pd.to_numeric(table["se"], errors="coerce") if "se" in table.columns else None
    df = (pd.to_numeric(table["df"], errors="coerce") if "df" in table.columns
          else pd.Series(np.inf, index=table.index))
    low = df < min_df
    if not contrast and se is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = se / estimate.abs()
        low = low | (cv > max_cv)
    out = pd.Series(np.where(low, "low", "ok"), index=table.index, dtype=object)
    if "suppressed" in table.columns:
        out[table["suppressed"].astype(bool).to_numpy()] = "suppressed"
    return out


# ---------------------------------------------------------------- weighted sizes --
def add_weighted_n(table: pd.DataFrame, design: Any, questionnaire: Any = None
                   ) -> pd.DataFrame:
    """``table`` with ``n_weighted``: the sum of the weights of the respondents each row
    rests on (those in its domain who answered its variable), when it can be matched to
    the row's ``n``; NaN when it cannot (a derived variable, a change, a DiD effect).

    The respondents are counted again from the design and kept only when their number
    equals the row's ``n``, so a weighted N never describes other people than ``n``.
    """
    if "variable" not in table.columns or {"from", "to"} <= set(table.columns):
        return table.assign(n_weighted=np.nan)
    data = design.data
    weights = np.asarray(design.weight_array, dtype=float)
    inside = np.asarray(design.in_domain, dtype=bool) & (weights > 0)
    by = [c for c in domain_columns(table) if c in data.columns]
    keep_codes = "missing_code" in table.columns
    values = np.full(len(table), np.nan)
    for i, (_, row) in enumerate(table.iterrows()):
        variable = row["variable"]
        if variable not in data.columns:
            continue
        answered = data[variable].notna().to_numpy().copy()
        if questionnaire is not None and not keep_codes and variable in questionnaire:
            codes = questionnaire.missing_codes(variable)
            if codes:
                answered &= ~pd.to_numeric(data[variable], errors="coerce").isin(codes).to_numpy()
        mask = (inside & answered).copy()
        for column in by:
            mask &= (data[column] == row[column]).to_numpy()
        if int(mask.sum()) == int(row["n"]):
            values[i] = weights[mask].sum()
    return table.assign(n_weighted=values)


# --------------------------------------------------------------------- builder --
def _kind_of(table: pd.DataFrame) -> Literal["level", "change", "did"]:
    if {"from", "to"} <= set(table.columns):
        return "change"
    if "period" in table.columns:
        return "did"
    return "level"


def readable_table(
    table: pd.DataFrame,
    *,
    statistic: Statistic = "proportion",
    labels: Any = None,
    lang: str = "fr",
    min_cell: int = DEFAULT_MIN_CELL,
    min_count: int | None = DEFAULT_MIN_COUNT,
    title: str | None = None,
    note: str | None = None,
    name: str = "table",
    level: float | None = None,
    points: bool | None = None,
) -> ReadableTable:
    """Turn a result table into a :class:`ReadableTable`.

    Parameters
    ----------
    table : a result table with ``estimate`` and ``n`` (and ``se``, ``ci_low``,
        ``ci_high``, ``df`` when known); a change (``from``/``to``) or DiD effects
        (``period``) too. Suppressed first by :func:`publishable` unless it has a
        ``suppressed`` column already.
    statistic : what ``estimate`` is: "proportion" (a share, shown as % with one
        decimal), "mean" (two decimals), "total" (whole, thousands separated), "index",
        "ratio", "quantile". For a change or an effect, the statistic of its levels.
    labels : the questionnaire, a mapping or a list of these (the label columns of a
        labelled design's tables are used as they are).
    lang : "fr" or "en".
    min_cell, min_count : the suppression thresholds (:func:`publishable`): groups of
        fewer than ``min_cell`` respondents, answers given by fewer than ``min_count``
        (with the cells that would reveal them).
    title, note : the title, and a sentence put before the generated note (the domain
        of a ``--where``, the answers left out ...).
    name : a short name for the file or sheet.
    level : the confidence level (default the table's ``attrs["level"]``, else 0.95).
    points : write a change of proportions in percentage points (default: when
        ``statistic`` is "proportion").
    """
    check_lang(lang)
    if statistic not in STATISTICS:
        raise PerceptionError(f"statistic={statistic!r} is not known; choose one of "
                              f"{', '.join(STATISTICS)}")
    if not isinstance(table, pd.DataFrame) or "estimate" not in table.columns:
        raise PerceptionError("readable_table takes a result table with an 'estimate' column "
                              "(as pc.mean, pc.proportion, pc.change ... return)")
    if level is None:
        raw_level = table.attrs.get("level", 0.95)
        level = float(raw_level) if isinstance(raw_level, int | float) else 0.95
    kind = _kind_of(table)
    published = publishable(table, min_cell, min_count)
    labelled = label_table(published, labels, lang)
    labelled["reliability"] = reliability(labelled, contrast=kind != "level")
    labelled.attrs = {k: v for k, v in published.attrs.items()
                      if isinstance(v, str | int | float | bool)}
    lab = Labeller(labels, lang)
    scale = 100.0 if statistic == "proportion" else 1.0
    decimals = DECIMALS[statistic]
    if points is None:
        points = statistic == "proportion"
    columns: list[Column] = []
    cells: dict[str, list[Any]] = {}
    text: dict[str, list[str]] = {}
    hidden = labelled["suppressed"].astype(bool).to_numpy()

    def add_text(key: str, header: str, values: Any) -> None:
        columns.append(Column(key, header, "text"))
        cells[key] = list(values)
        text[key] = list(values)

    for column in domain_columns(table):
        add_text(column, lab.variable(column), labelled[f"{column}_label"].astype(str))
    variables = list(pd.unique(table["variable"])) if "variable" in table.columns else []
    if len(variables) > 1:  # one variable: the title names it
        add_text("variable", word("indicator", lang), labelled["variable_label"].astype(str))
    if "category" in table.columns:
        add_text("category", word("answer", lang), labelled["category_label"].astype(str))
    if "quantile" in table.columns:
        add_text("quantile", word("level_of", lang),
                 [fmt_number(v, lang, 2) for v in table["quantile"]])
    if kind == "change":
        arrow = [f"{a} → {b}" for a, b in zip(labelled["from_label"], labelled["to_label"],
                                               strict=True)]
        add_text("waves", word("waves", lang), arrow)
    if kind == "did":
        add_text("period", word("period", lang), labelled["period_label"].astype(str))

    header_key = {"level": statistic,
                  "change": "change_points" if points else "change",
                  "did": "did_points" if points else "did"}[kind]
    estimate = pd.to_numeric(labelled["estimate"], errors="coerce").to_numpy(dtype=float) * scale
    shown_decimals = 1 if (kind != "level" and points) else decimals
    columns.append(Column("estimate", word(header_key, lang), "number", shown_decimals))
    cells["estimate"] = [np.nan if h else round(v, shown_decimals) if np.isfinite(v) else np.nan
                         for v, h in zip(estimate, hidden, strict=True)]
    fmt = fmt_signed if kind != "level" else fmt_number
    text["estimate"] = [word("suppressed", lang) if h else fmt(v, lang, shown_decimals)
                        for v, h in zip(estimate, hidden, strict=True)]
    if {"ci_low", "ci_high"} <= set(labelled.columns):
        lows = pd.to_numeric(labelled["ci_low"], errors="coerce").to_numpy(dtype=float) * scale
        highs = pd.to_numeric(labelled["ci_high"], errors="coerce").to_numpy(dtype=float) * scale
        intervals = [fmt_interval(a, b, lang, shown_decimals) for a, b in zip(lows, highs,
                                                                             strict=True)]
        columns.append(Column("ci", word("ci", lang, level=fmt_number(level * 100, lang)),
                              "interval"))
        cells["ci"] = intervals
        text["ci"] = intervals
    if kind != "level" and "p" in labelled.columns:
        ps = [("" if h else fmt_p(p, lang)) for p, h in zip(labelled["p"], hidden, strict=True)]
        columns.append(Column("p", "p", "p"))
        cells["p"] = ps
        text["p"] = ps
    counts = smallest_count(labelled).to_numpy(dtype=float)
    # a change or an effect shows the smallest of the cells it rests on (the count the
    # small-cell rule applied to); a level, its respondents
    sizes = counts if kind != "level" else labelled["n"].to_numpy(dtype=float)
    columns.append(Column("n", "n", "count"))
    cells["n"] = [np.nan if h else n for n, h in zip(sizes, hidden, strict=True)]
    # a suppressed cell shows only that it is small, never its size
    text["n"] = ["<\u00a0" + fmt_number(min_cell, lang) if h and c < min_cell
                 else "–" if h else fmt_number(n, lang)
                 for n, c, h in zip(sizes, counts, hidden, strict=True)]
    if "n_weighted" in labelled.columns and labelled["n_weighted"].notna().any():
        big = pd.to_numeric(labelled["n_weighted"], errors="coerce").to_numpy(dtype=float)
        rounded = [np.nan if h or not np.isfinite(v) else float(_round_total(v))
                   for v, h in zip(big, hidden, strict=True)]
        columns.append(Column("n_weighted", word("n_weighted", lang), "count"))
        cells["n_weighted"] = rounded
        text["n_weighted"] = [fmt_number(v, lang) if np.isfinite(v) else "–" for v in rounded]
    words = [RELIABILITY[r][lang] for r in labelled["reliability"]]
    columns.append(Column("reliability", word("reliability", lang), "text"))
    cells["reliability"] = words
    text["reliability"] = words

    full_note = " ".join(p for p in (note, table_note(
        statistic=statistic, kind=kind, lang=lang, level=level, min_cell=min_cell,
        points=bool(points), weighted="n_weighted" in cells,
        any_suppressed=bool(hidden.any()), missing_codes="missing_code" in table.columns,
        # cells of groups large enough, hidden for their answer counts
        min_count=min_count if bool((hidden & (counts >= min_cell)).any()) else None,
    )) if p)
    return ReadableTable(
        name=name,
        title=title or _default_title(variables, lab, lang),
        note=full_note,
        lang=lang,
        columns=columns,
        cells=pd.DataFrame(cells),
        text=pd.DataFrame(text),
        data=labelled.reset_index(drop=True),
    )


def _round_total(value: float) -> float:
    """A weighted count rounded to a precision it has: to the unit below 1,000, then
    to three significant digits (12 345 -> 12 300)."""
    if abs(value) < 1000:
        return round(value)
    digits = int(np.floor(np.log10(abs(value)))) - 2
    return round(value, -digits)


def _default_title(variables: list, lab: Labeller, lang: str) -> str:
    if len(variables) == 1:
        return lab.variable(str(variables[0]))
    return {"fr": "Estimations", "en": "Estimates"}[lang]


def table_note(*, statistic: str, kind: str, lang: str, level: float, min_cell: int,
               points: bool, weighted: bool, any_suppressed: bool,
               missing_codes: bool = False, min_count: int | None = None) -> str:
    """The note under a table: what it counts, the interval, n and N, reliability and
    suppression."""
    pct = fmt_number(level * 100, lang)
    if lang == "fr":
        what = {
            "proportion": "Pourcentages pondérés des enquêtés de chaque ligne"
                          + (" (non-réponses comprises)" if missing_codes else
                             " ayant répondu"),
            "mean": "Moyennes pondérées des réponses exprimées",
            "total": "Totaux pondérés (effectifs estimés de la population)",
            "index": "Indice pondéré (0–100)",
            "ratio": "Ratios de totaux pondérés",
            "quantile": "Quantiles pondérés",
            "deff": "Effets de plan : variance de l'estimation rapportée à celle d'un sondage "
                    "aléatoire simple de même taille",
        }[statistic]
        if kind == "change":
            what = ("Variation entre deux vagues (la plus récente moins la plus ancienne)"
                    + (", en points de pourcentage" if points else "")
                    + ", avec sa valeur p")
        elif kind == "did":
            what = ("Effet estimé par double différence (zone d'intervention moins zone de "
                    "comparaison, par rapport à la première vague)"
                    + (", en points de pourcentage" if points else "") + ", avec sa valeur p")
        parts = [
            what + ".",
            f"IC à {pct} % : intervalle de confiance qui tient compte du plan de sondage "
            "(strates, grappes, poids).",
            "n : enquêtés sur lesquels repose l'estimation"
            + (" (pour une variation, la plus petite des deux vagues ; pour un effet, la plus "
               "petite des cellules comparées)" if kind != "level" else "")
            + (" ; N pondéré : effectif correspondant de la population, arrondi." if weighted
               else "."),
            ("Fiabilité faible : moins de 10 degrés de liberté." if kind != "level" else
             "Fiabilité faible : coefficient de variation supérieur à 30 % ou moins de 10 "
             "degrés de liberté ; à interpréter avec prudence."),
        ]
        if any_suppressed and min_count is not None:
            parts.append(f"Masqué : estimation reposant sur moins de {min_cell} enquêtés, ou "
                         f"réponse donnée par moins de {min_count} enquêtés et les cellules "
                         "qui permettraient de la retrouver ; non publiée.")
        elif any_suppressed:
            parts.append(f"Masqué : estimation reposant sur moins de {min_cell} enquêtés, non "
                         "publiée.")
    else:
        what = {
            "proportion": "Weighted percentages of the respondents of each row"
                          + (" (nonresponse included)" if missing_codes else
                             " who answered"),
            "mean": "Weighted means of the substantive answers",
            "total": "Weighted totals (estimated population counts)",
            "index": "Weighted index (0–100)",
            "ratio": "Ratios of weighted totals",
            "quantile": "Weighted quantiles",
            "deff": "Design effects: the variance of each estimate over that of a simple "
                    "random sample of the same size",
        }[statistic]
        if kind == "change":
            what = ("Change between two waves (later minus earlier)"
                    + (", in percentage points" if points else "") + ", with its p-value")
        elif kind == "did":
            what = ("Difference-in-differences effect (intervention minus comparison area, "
                    "relative to the first wave)"
                    + (", in percentage points" if points else "") + ", with its p-value")
        parts = [
            what + ".",
            f"{pct}% CI: confidence interval accounting for the sampling design (strata, "
            "clusters, weights).",
            "n: respondents the estimate rests on"
            + (" (for a change, the smaller of its two waves; for an effect, the smallest "
               "cell compared)" if kind != "level" else "")
            + ("; weighted N: the population they stand for, rounded." if weighted else "."),
            ("Low reliability: fewer than 10 degrees of freedom." if kind != "level" else
             "Low reliability: coefficient of variation above 30% or fewer than 10 degrees "
             "of freedom; interpret with caution."),
        ]
        if any_suppressed and min_count is not None:
            parts.append(f"Suppressed: the estimate rests on fewer than {min_cell} "
                         f"respondents, or the answer was given by fewer than {min_count} "
                         "respondents, with the cells that would reveal it; not published.")
        elif any_suppressed:
            parts.append(f"Suppressed: the estimate rests on fewer than {min_cell} "
                         "respondents and is not published.")
    return " ".join(parts)


# --------------------------------------------------------------------- crosstab --
def crosstab_table(
    table: pd.DataFrame,
    *,
    row: str,
    col: str,
    percent: Literal["row", "col"] = "row",
    labels: Any = None,
    lang: str = "fr",
    min_cell: int = DEFAULT_MIN_CELL,
    min_count: int | None = DEFAULT_MIN_COUNT,
    title: str | None = None,
    note: str | None = None,
    test: Any = None,
    name: str = "table",
) -> ReadableTable:
    """A crosstab for reading: one line per level of ``row``, one column per level of
    ``col``, each cell the percentage and its interval; ``n`` of each line.

    Parameters
    ----------
    table : with ``percent="row"``, ``pc.proportion(design, col, by=row)`` (each line
        sums to 100); with ``percent="col"``, ``pc.proportion(design, row, by=col)``.
    test : the Rao–Scott test of :func:`perception.chisq` (``statistic``, ``ndf``,
        ``ddf``, ``p``), written under the table.
    """
    check_lang(lang)
    if percent not in ("row", "col"):
        raise PerceptionError(f"percent must be 'row' or 'col', got {percent!r}")
    line, across = (row, col) if percent == "row" else (col, row)
    long = readable_table(table, statistic="proportion", labels=labels, lang=lang,
                          min_cell=min_cell, min_count=min_count, name=name)
    data = long.data
    lab = Labeller(labels, lang)
    lines = list(pd.unique(data[line]))
    categories = list(pd.unique(data["category"]))
    columns = [Column(line, lab.variable(line), "text")]
    cells: dict[str, list[Any]] = {line: [lab.value(line, v) for v in lines]}
    for c in categories:
        key = f"category:{c}"
        columns.append(Column(key, lab.value(across, c), "text"))
        cells[key] = []
    columns.append(Column("n", "n", "text"))
    cells["n"] = []
    for v in lines:
        sub = data[data[line] == v]
        for c in categories:
            r = sub[sub["category"] == c]
            if not len(r):
                cells[f"category:{c}"].append("")
                continue
            r = r.iloc[0]
            if bool(r["suppressed"]):
                cells[f"category:{c}"].append(word("suppressed", lang))
                continue
            flag = " *" if r["reliability"] == "low" else ""
            cells[f"category:{c}"].append(
                f"{fmt_number(r['estimate'] * 100, lang, 1)} "
                f"{fmt_interval(r['ci_low'] * 100, r['ci_high'] * 100, lang, 1)}{flag}")
        first = sub.iloc[0]
        small = bool(sub["suppressed"].all()) and float(first["n"]) < min_cell
        cells["n"].append(f"<\u00a0{fmt_number(min_cell, lang)}" if small
                          else fmt_number(first["n"], lang))
    frame = pd.DataFrame(cells)
    pct = fmt_number(float(table.attrs.get("level", 0.95)) * 100, lang)
    if lang == "fr":
        what = (f"Pourcentages en ligne pondérés (chaque ligne fait 100 %), intervalle de "
                f"confiance à {pct} % entre crochets. * fiabilité faible (coefficient de "
                "variation supérieur à 30 % ou moins de 10 degrés de liberté).")
        if long.data["suppressed"].any():
            what += f" Masqué : moins de {min_cell} enquêtés" + (
                f", ou réponse donnée par moins de {min_count} enquêtés (et les cellules qui "
                "permettraient de la retrouver)." if min_count is not None else ".")
    else:
        what = (f"Weighted row percentages (each line sums to 100%), {pct}% confidence "
                "interval in brackets. * low reliability (coefficient of variation above "
                "30% or fewer than 10 degrees of freedom).")
        if long.data["suppressed"].any():
            what += f" Suppressed: fewer than {min_cell} respondents" + (
                f", or an answer given by fewer than {min_count} respondents (with the cells "
                "that would reveal it)." if min_count is not None else ".")
    if percent == "col":
        what = what.replace("en ligne", "en colonne").replace("chaque ligne", "chaque colonne"
                            ).replace("row percentages", "column percentages").replace(
                            "each line", "each column")
    if test is not None:
        what += " " + rao_scott_sentence(test, lang)
    default = (f"{lab.variable(row)} × {lab.variable(col)}")
    data = long.data
    if test is not None:  # the CSV carries the test too, on every line
        data = data.assign(**{f"rao_scott_{k}": float(getattr(test, k))
                              for k in ("statistic", "ndf", "ddf", "p")})
    return ReadableTable(name=name, title=title or default,
                         note=" ".join(p for p in (note, what) if p), lang=lang,
                         columns=columns, cells=frame, text=frame.copy(), data=data,
                         extra={"test": test})


def rao_scott_sentence(test: Any, lang: str) -> str:
    """The Rao–Scott test in one sentence: ``F = 2,55 ; ddl = 12,5 et 374,2 ; p = 0,003``."""
    stat, ndf, ddf, p = (float(getattr(test, k)) for k in ("statistic", "ndf", "ddf", "p"))
    p_text = fmt_p(p, lang)
    p_text = p_text if p_text.startswith("<") else "= " + p_text
    if lang == "fr":
        return (f"Test d'indépendance de Rao–Scott (F du second ordre) : F = "
                f"{fmt_number(stat, lang, 2)} ; ddl = {fmt_number(ndf, lang, 1)} et "
                f"{fmt_number(ddf, lang, 1)} ; p {p_text}.")
    return (f"Rao–Scott test of independence (second-order F): F = {fmt_number(stat, lang, 2)}, "
            f"df = {fmt_number(ndf, lang, 1)} and {fmt_number(ddf, lang, 1)}, p {p_text}.")
