"""Sensitive questions: the direct question and the list experiment side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...disclosure.suppression import DEFAULT_MIN_CELL
from ...errors import PerceptionError
from . import common, drawing, style

REQUIRED = ("method", "estimate", "ci_low", "ci_high", "n")

#: the two estimates a figure compares, in drawing order: method -> label by language
METHODS = {
    "direct": {"fr": "Question directe", "en": "Direct question"},
    "list": {"fr": "Expérience de liste", "en": "List experiment"},
}
_TEXT = {
    "axis": {"fr": "Part des adultes (%)", "en": "Share of adults (%)"},
    "title": {"fr": "Question sensible : réponse directe et expérience de liste",
              "en": "Sensitive question: direct answer and list experiment"},
    "n": {"fr": "n : question directe, réponses exprimées ; expérience de liste, la plus "
                "petite des deux listes",
          "en": "n: direct question, substantive answers; list experiment, the smaller of "
                "the two lists"},
}


def plot_list_experiment(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    group: str | None = None,
    title: str | None = None,
    subtitle: str | None = None,
) -> Figure:
    """The share answering "yes" to a sensitive question asked directly, next to the
    prevalence the list experiment estimates, with their intervals, by group (e.g. wave).

    When respondents hide a sensitive answer, the direct estimate lies below the list
    experiment's; the list experiment's interval is wider (each respondent only gives a
    count).

    Parameters
    ----------
    table : the two estimates stacked, one row per group and ``method`` (``"direct"``:
        e.g. :func:`perception.top_box` of the direct question; ``"list"``:
        :func:`perception.list_experiment`), with ``estimate``, ``ci_low``, ``ci_high``,
        ``n`` (and the list experiment's ``n_control``, ``n_treatment``).
    group : the column of the groups (default: the last domain column besides
        ``method``); one line per group.
    subtitle : e.g. the sensitive statement, as read to the respondents.

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> d = demo.design()
    >>> direct = pc.top_box(d, "abuse_hh", top=[1], by="wave", questionnaire=demo.questionnaire)
    >>> listed = pc.list_experiment(d, count="le_count", treatment="le_list", by="wave")
    >>> t = pd.concat([direct.assign(method="direct"), listed.assign(method="list")])
    >>> fig = plot_list_experiment(t, group="wave", labels=demo.questionnaire, lang="en")
    >>> common.title_of(fig)
    'Sensitive question: direct answer and list experiment'
    """
    if isinstance(table, pd.DataFrame) and "method" in table.columns:
        # the lists' counts concern the list experiment's rows: a direct row rests on n
        direct = (table["method"] == "direct").to_numpy()
        table = table.assign(**{c: table[c].where(~direct, table["n"])
                                for c in ("n_control", "n_treatment") if c in table.columns})
    table = common.prepare(table, min_cell, REQUIRED, "plot_list_experiment")
    common.check_lang(lang)
    unknown = sorted(set(map(str, table["method"])) - set(METHODS))
    if unknown:
        raise PerceptionError(
            f"plot_list_experiment: method must be 'direct' or 'list', got {unknown!r}"
        )
    group_col = common.group_key(table, group, exclude=("method",))
    lab = common.Labeller(labels, lang)
    rows = common.ordered_unique(table[group_col]) if group_col else [None]
    methods = [m for m in METHODS if m in set(table["method"])]
    cells = {}
    for _, r in table.iterrows():
        key = (r[group_col] if group_col else None, r["method"])
        if key in cells:
            raise PerceptionError(
                f"plot_list_experiment: several rows for {group_col}={key[0]!r} and method "
                f"{key[1]!r}; give one estimate per group and method"
            )
        cells[key] = drawing.cell_of(r)
    row_labels = [lab.value(group_col, v) if group_col else common.text("all", lang)
                  for v in rows]
    colours = [style.OKABE_ITO["blue"] if m == "direct" else style.OKABE_ITO["vermillion"]
               for m in methods]
    height = 1.9 + 0.55 * len(rows)
    with style.house_style():
        fig, ax = common.figure_and_axes(ax, height)
        ax.set_xlabel(_TEXT["axis"][lang])
        suppressed = drawing.dot_whisker(
            ax, rows, row_labels, methods, [METHODS[m][lang] for m in methods], cells,
            lang=lang, min_cell=min_cell, colours=colours,
        )
        finite = [v for c in cells.values() if not c.suppressed
                  for v in (c.low, c.high, c.estimate) if np.isfinite(v)]
        low = min([0.0, *finite]) * 100
        high = max([*finite, 0.05]) * 100
        ax.set_xlim(low - 0.04 * (high - low), high * 1.08)
        if low < 0:
            ax.axvline(0, color="#333333", linewidth=0.9, zorder=1)
        common.set_title(ax, title or _TEXT["title"][lang], subtitle)
        n_note = common.published_n(table, lang)
        common.finish(fig, ax, lang, source_note, f"{n_note} ({_TEXT['n'][lang]})",
                      min_cell, suppressed)
    return fig
