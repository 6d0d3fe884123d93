"""What every figure shares: labels in French or English, number formats, the
suppression of small cells, titles, sample sizes and the source note."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ...disclosure.suppression import DEFAULT_MIN_CELL, DEFAULT_MIN_COUNT, publishable
from ...errors import PerceptionError
from ..labelling import Labeller, check_lang
from . import style

Lang = Literal["fr", "en"]
LANGS = ("fr", "en")

__all__ = ["Labeller", "LANGS", "TEXT", "text", "check_lang", "wrap", "prepare"]

#: columns of an estimate table that are not domain (``by``) columns
NON_DOMAIN_COLUMNS = frozenset({
    "variable", "category", "quantile", "estimate", "se", "ci_low", "ci_high", "df",
    "deff", "n", "p", "suppressed", "missing_code", "from", "to", "period", "count",
    "cv", "statistic", "label", "n_from", "n_to", "n_min", "relative", "relative_se",
    "relative_ci_low", "relative_ci_high", "suppression", "flag", "n_category", "n_weighted",
})

#: the words of the figures, by language
TEXT: dict[str, dict[str, str]] = {
    "share": {"fr": "Part des enquêtés (%)", "en": "Share of respondents (%)"},
    "share_valid": {
        "fr": "Part des réponses exprimées (%)", "en": "Share of substantive answers (%)"},
    "points": {"fr": "Variation (points de pourcentage)", "en": "Change (percentage points)"},
    "effect": {"fr": "Effet estimé (points de pourcentage)",
               "en": "Estimated effect (percentage points)"},
    "index": {"fr": "Indice (0–100)", "en": "Index (0–100)"},
    "suppressed": {"fr": "masqué (n\u00a0<\u00a0{min_cell})",
                   "en": "suppressed (n\u00a0<\u00a0{min_cell})"},
    # the key at the foot of a figure: both rules of the suppression
    "suppressed_key": {
        "fr": "masqué (n\u00a0<\u00a0{min_cell}, ou réponse donnée par moins de {min_count} "
              "enquêtés, et les cellules qui permettraient de la retrouver)",
        "en": "suppressed (n\u00a0<\u00a0{min_cell}, or an answer given by fewer than "
              "{min_count} respondents, and the cells that would reveal it)"},
    "suppressed_short": {"fr": "n\u00a0<\u00a0{min_cell}", "en": "n\u00a0<\u00a0{min_cell}"},
    # a cell of a group large enough, hidden for its answer counts
    "suppressed_count": {"fr": "masqué", "en": "suppressed"},
    "source": {
        "fr": "Source : enquête de perception, estimations pondérées (plan de sondage "
              "complexe).",
        "en": "Source: perception survey, weighted estimates (complex sampling design).",
    },
    "intervals": {"fr": "Barres : intervalles de confiance à 95\u00a0%.",
                  "en": "Bars: 95% confidence intervals."},
    "low_precision": {"fr": "pointillés et italique : précision faible (coefficient de "
                            "variation > 30\u00a0% ou moins de 10 degrés de liberté)",
                      "en": "dotted and italic: low precision (coefficient of variation > 30% "
                            "or fewer than 10 degrees of freedom)"},
    "ci": {"fr": "IC à 95\u00a0%", "en": "95% CI"},
    "n_range": {"fr": "n = {low} à {high}", "en": "n = {low} to {high}"},
    "n_eq": {"fr": "n = {n}", "en": "n = {n}"},
    # why cells of groups large enough are hidden (their answer counts)
    "hidden_counts": {"fr": "▨ aussi : réponses données par moins de {k} enquêtés et "
                            "cellules qui permettraient de les retrouver",
                      "en": "▨ also: answers given by fewer than {k} respondents and the "
                            "cells that would reveal them"},
    # what the n of a change or a DiD effect counts (the cell the small-cell rule checks)
    "n_of_change": {"fr": "n : la plus petite des deux vagues comparées",
                    "en": "n: the smaller of the two waves compared"},
    "n_of_effect": {"fr": "n : la plus petite des quatre cellules (zone × vague) comparées",
                    "en": "n: the smallest of the four cells (area × wave) compared"},
    "missing_answers": {"fr": "NSP / refus", "en": "DK / refused"},
    "weight": {"fr": "Poids de sondage", "en": "Survey weight"},
    "respondents_share": {"fr": "Part des enquêtés (%)", "en": "Share of respondents (%)"},
    "deff": {"fr": "Effet de plan", "en": "Design effect"},
    "deff_kish": {"fr": "Effet de plan dû à la pondération (Kish) : {deff}",
                  "en": "Design effect of weighting (Kish): {deff}"},
    "neff": {"fr": "n effectif : {neff}", "en": "effective n: {neff}"},
    "wave": {"fr": "Vague", "en": "Wave"},
    "treated": {"fr": "Zone d'intervention", "en": "Intervention area"},
    "comparison": {"fr": "Zone de comparaison", "en": "Comparison area"},
    "did": {"fr": "Double différence", "en": "Difference-in-differences"},
    "all": {"fr": "Ensemble", "en": "All"},
}


def text(key: str, lang: str, **values) -> str:
    """A word of the figures in ``lang``, with ``values`` filled in."""
    check_lang(lang)
    return TEXT[key][lang].format(**values)


# --------------------------------------------------------------------- numbers --
def fmt_number(value: float, lang: str, decimals: int = 0) -> str:
    """A number in the conventions of ``lang``: ``4 812`` and ``45,3`` in French."""
    if value is None or not np.isfinite(value):
        return "–"
    out = f"{value:,.{decimals}f}"
    if lang == "fr":
        out = out.replace(",", "\u202f").replace(".", ",")
    return out


def fmt_tick(value: float, lang: str) -> str:
    """An axis tick: as few decimals as the value needs, a decimal comma in French."""
    for decimals in (0, 1, 2):
        if abs(round(value, decimals) - value) < 1e-9:
            break
    out = fmt_number(value, lang, decimals)
    return out.replace("-", "\u2212")


def number_axis(axis, lang: str) -> None:
    """Format an axis's tick labels in the conventions of ``lang``."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda x, _: fmt_tick(x, lang)))


def fmt_pct(value: float, lang: str, decimals: int = 0, sign: bool = False) -> str:
    """A proportion as a percentage (``0.453`` -> ``45 %`` / ``45%``)."""
    if value is None or not np.isfinite(value):
        return "–"
    number = fmt_number(abs(value) * 100 if sign else value * 100, lang, decimals)
    if sign:
        number = ("+" if value > 0 else "−" if value < 0 else "±") + number
    return number + ("\u202f%" if lang == "fr" else "%")


def fmt_n(n: float, lang: str) -> str:
    return "n = " + fmt_number(float(n), lang)


def published_n(table: pd.DataFrame, lang: str) -> str:
    """The range of the respondents of the published cells of ``table`` (a suppressed
    cell's size never shows): the count the small-cell rule applied to."""
    from ...tables import smallest_count

    shown = table
    if "suppressed" in table.columns:
        shown = table[~table["suppressed"].astype(bool)]
    note = n_summary(smallest_count(shown) if len(shown) else [], lang)
    if "suppression" in table.columns:
        why = table["suppression"].astype(str)
        small = why[why.str.startswith("count < ")]
        if len(small) or why.eq("complementary").any():
            k = small.iloc[0].removeprefix("count < ") if len(small) else DEFAULT_MIN_COUNT
            note = "; ".join(p for p in (note, text("hidden_counts", lang, k=k)) if p)
    return note


def n_summary(n: Iterable[float], lang: str) -> str:
    """``n = 412`` or ``n = 120 à 4 812`` for a set of cells."""
    values = [float(v) for v in n if np.isfinite(v)]
    if not values:
        return ""
    low, high = min(values), max(values)
    if low == high:
        return text("n_eq", lang, n=fmt_number(low, lang))
    return text("n_range", lang, low=fmt_number(low, lang), high=fmt_number(high, lang))


# ---------------------------------------------------------------------- labels --
def wrap(label: str, width: int = 28) -> str:
    """Break a long label over lines of at most ``width`` characters."""
    return "\n".join(textwrap.wrap(str(label), width=width, break_long_words=False)) or str(label)


# ---------------------------------------------------------------------- tables --
def prepare(table: pd.DataFrame, min_cell: int, required: Sequence[str],
            figure: str) -> pd.DataFrame:
    """Check a result table's columns and pass it through the small-cell suppression
    (groups under ``min_cell``, answers given by fewer than ``DEFAULT_MIN_COUNT`` with
    the cells that would reveal them); a table published already stays as it is."""
    # a missing ``n`` is left to suppress_small_cells: a DisclosureError that says why
    check_table(table, [c for c in required if c != "n"], figure, required)
    return publishable(table, min_cell if min_cell is not None else DEFAULT_MIN_CELL)


def check_table(table: Any, columns: Sequence[str], figure: str,
                needs: Sequence[str] | None = None) -> None:
    """Refuse anything but a result table with rows and ``columns`` (the message lists
    ``needs``, by default ``columns``)."""
    if not isinstance(table, pd.DataFrame):
        raise PerceptionError(
            f"{figure} takes a result table (a pandas DataFrame such as pc.mean(...) "
            f"returns), got {type(table).__name__}"
        )
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise PerceptionError(
            f"{figure}: the table has no column(s) {', '.join(map(repr, missing))}; it needs "
            f"{', '.join(needs or columns)} (columns of the result tables of perception). It "
            f"has: {', '.join(map(str, table.columns))}"
        )
    if len(table) == 0:
        raise PerceptionError(f"{figure}: the table has no rows, there is nothing to draw")


def domain_columns(table: pd.DataFrame) -> list[str]:
    """The ``by`` columns of a result table (those before ``variable``)."""
    columns = list(table.columns)
    if "variable" in columns:
        return [c for c in columns[: columns.index("variable")] if c not in NON_DOMAIN_COLUMNS]
    return [c for c in columns if c not in NON_DOMAIN_COLUMNS]


def group_key(table: pd.DataFrame, group: str | None, exclude: Sequence[str] = ()) -> str | None:
    """The column that colours the groups: ``group`` or the last domain column."""
    if group is not None:
        if group not in table.columns:
            raise PerceptionError(
                f"group={group!r} is not a column of the table; choose one of "
                f"{', '.join(domain_columns(table)) or '(no domain column)'}"
            )
        return group
    candidates = [c for c in domain_columns(table) if c not in exclude]
    return candidates[-1] if candidates else None


def ordered_unique(values: pd.Series) -> list:
    out = list(pd.unique(values))
    try:
        return sorted(out)
    except TypeError:
        return out


# ---------------------------------------------------------------------- figure --
OWN_FIGURE = "perception-figure"


def figure_and_axes(ax: Axes | None, height: float, width: float = style.FIGURE_WIDTH
                    ) -> tuple[Figure, Axes]:
    """The caller's axes, or a new figure (marked as ours: title, legend and source note
    then use the whole figure)."""
    if ax is not None:
        if not isinstance(ax, Axes):
            raise PerceptionError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
        fig = ax.figure  # of an axes in a subfigure: the root figure, the one to save
        return (fig if isinstance(fig, Figure) else fig.figure), ax
    fig = style.new_figure(width, height)
    fig.set_gid(OWN_FIGURE)
    return fig, fig.axes[0]


def own_figure(ax: Axes) -> bool:
    return ax.figure.get_gid() == OWN_FIGURE and len(ax.figure.axes) <= 2


def title_of(fig: Figure) -> str:
    """The title of a figure drawn by perception (figure title or first axes' title)."""
    sup = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    if sup:
        return sup.replace("\n", " ")
    for ax in fig.axes:
        for loc in ("left", "center"):
            found = ax.get_title(loc=loc)
            if found:
                return found.replace("\n", " ")
    return ""


def legend(ax: Axes, handles=None, ncol: int = 2, **kwargs):
    """A legend centred under the axes (below the tick labels and axis label), kept in
    the axes' layout box so that nothing overlaps it."""
    from matplotlib.transforms import ScaledTranslation

    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    if not handles:
        return None
    for handle in handles:
        label = handle.get_label()
        if label and len(label) > 34:
            handle.set_label(wrap(label, 34))
    below = 6 + (13 if ax.xaxis.get_ticklabels() else 0) + (14 if ax.get_xlabel() else 0)
    offset = ScaledTranslation(0, -below / 72, ax.figure.dpi_scale_trans)
    return ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                     bbox_transform=ax.transAxes + offset, ncol=ncol, frameon=False,
                     **kwargs)


def set_title(ax: Axes, title: str, subtitle: str | None = None) -> None:
    """Title (bold, wrapped, never cut) and an optional grey subtitle.

    In our own figures the title is the figure's title, left-aligned on the figure, and
    the subtitle the axes' title; in the caller's axes both go above the axes.
    """
    from matplotlib.transforms import ScaledTranslation

    if own_figure(ax):
        ax.figure.suptitle(wrap(title, 78), x=0.01, ha="left", fontsize=11.5,
                           fontweight="bold")
        if subtitle:
            ax.set_title(wrap(subtitle, 95), loc="left", fontsize=8.5, color="#444444",
                         fontweight="normal", pad=14)
        return
    sub_lines = 0
    if subtitle:
        wrapped = wrap(subtitle, 80)
        sub_lines = wrapped.count("\n") + 1
        offset = ScaledTranslation(0, 12 / 72, ax.figure.dpi_scale_trans)
        artist = ax.text(0, 1.0, wrapped, transform=ax.transAxes + offset, ha="left",
                         va="bottom", fontsize=8.5, color="#555555")
        artist.set_gid("subtitle")
    pad = 14 + (11 * sub_lines + 4 if sub_lines else 0)
    ax.set_title(wrap(title, 60), loc="left", fontsize=11, fontweight="bold", pad=pad)


def finish(fig: Figure, ax: Axes, lang: str, source_note: str | None, n_note: str,
           min_cell: int, any_suppressed: bool, *, intervals: bool = True) -> Figure:
    """Source note, what the marks are (the intervals only when drawn), the sample sizes
    of the published cells and the suppression key at the foot of the figure."""
    note = source_note if source_note is not None else text("source", lang)
    parts = [note]
    if intervals:
        parts.append(text("intervals", lang))
    if n_note:
        parts.append(n_note + ".")
    if any_suppressed:
        parts.append("▨ " + text("suppressed_key", lang, min_cell=min_cell,
                                 min_count=DEFAULT_MIN_COUNT) + ".")
    footer = wrap(" ".join(parts), 130)
    if not source_note_of(fig):
        artist = fig.supxlabel(footer, x=0.01, ha="left", fontsize=7, color="#555555")
        artist.set_gid("source_note")
    return fig


def source_note_of(fig: Figure) -> str:
    """The source note written at the foot of a figure."""
    return fig.get_supxlabel() if hasattr(fig, "get_supxlabel") else ""


def mark_suppressed(ax: Axes, x: float, y: float, lang: str, min_cell: int, *,
                    transform=None, ha: str = "left", fontsize: float = 7.5,
                    n: float | None = None):
    """The mark that stands in place of a suppressed value: ``n < 30``, or, for a cell
    of ``n`` respondents hidden for its answer counts, ``masqué``."""
    small = n is None or not n >= min_cell
    artist = ax.text(
        x, y, "▨ " + (text("suppressed_short", lang, min_cell=min_cell) if small
                      else text("suppressed_count", lang)),
        ha=ha, va="center", fontsize=fontsize, color="#666666", style="italic",
        transform=transform if transform is not None else ax.transData,
    )
    artist.set_gid("suppressed")
    return artist


def option_key(row: pd.Series, key: Any, label: str, lab: Labeller, alone: bool
               ) -> tuple[Any, str]:
    """A figure row's key and label with the row's ``category`` when the table has one
    (the levels of a proportion, the options of a select-multiple question): each
    category is a row of its own, labelled by its code's label (``alone``: the label is
    the category's only), never drawn over another.

    Examples
    --------
    >>> row = pd.Series({"variable": "ca_type", "category": 1})
    >>> option_key(row, ("variable", "ca_type"), "Lesquelles ?", Labeller(), True)
    ((('variable', 'ca_type'), 1), '1')
    """
    if "category" not in row.index or row["category"] is None or (
            isinstance(row["category"], float) and pd.isna(row["category"])):
        return key, label
    option = lab.value(str(row["variable"]), row["category"])
    return (key, row["category"]), option if alone else f"{label} — {option}"
