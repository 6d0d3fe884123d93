"""Thematic figures: victimisation and reporting, awareness of and participation in
the community actions, and the distribution of the survey weights."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ...disclosure.suppression import DEFAULT_MIN_CELL
from ...errors import PerceptionError
from . import common, drawing, style

REQUIRED = ("variable", "estimate", "ci_low", "ci_high", "n")


def _group_keys(table: pd.DataFrame, columns: list[str]) -> list[tuple]:
    if not columns:
        return [()]
    frame = table[columns].drop_duplicates()
    try:
        frame = frame.sort_values(columns)
    except TypeError:  # pragma: no cover - unorderable mixed values
        pass
    return [tuple(r) for r in frame.itertuples(index=False)]


def _bars_figure(
    table: pd.DataFrame,
    *,
    group_cols: list[str],
    lang: str,
    labels: Any,
    ax,
    source_note: str | None,
    min_cell: int,
    title: str,
    colour_of=None,
    hatch_of=None,
    groups: list[tuple] | None = None,
) -> Figure:
    lab = common.Labeller(labels, lang)
    rows = list(pd.unique(table["variable"]))
    groups = groups if groups is not None else _group_keys(table, group_cols)
    cells = {}
    for _, r in table.iterrows():
        key = (r["variable"], tuple(r[c] for c in group_cols))
        if key in cells:
            raise PerceptionError(
                f"the table has several rows for variable {key[0]!r} and groups {key[1]}; "
                "give one estimate per cell"
            )
        cells[key] = drawing.cell_of(r)
    group_labels = [" — ".join(lab.value(c, v) for c, v in zip(group_cols, g, strict=True))
                    for g in groups]
    height = 1.8 + 0.22 * len(rows) * len(groups) + (0.25 * math.ceil(len(groups) / 2)
                                                      if len(groups) > 1 else 0)
    with style.house_style():
        fig, ax = common.figure_and_axes(ax, height)
        ax.set_xlabel(common.text("share_valid", lang))
        suppressed = drawing.grouped_bars(
            ax, rows, [lab.variable(r) for r in rows], groups, group_labels, cells, lang=lang,
            min_cell=min_cell, colour_of=colour_of, hatch_of=hatch_of,
        )
        common.set_title(ax, title)
        common.finish(fig, ax, lang, source_note, common.published_n(table, lang),
                       min_cell, suppressed)
    return fig


def plot_victimisation(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    group: str | None = None,
    title: str | None = None,
) -> Figure:
    """Victimisation and reporting: shares with intervals, one bar per group (e.g. wave).

    Parameters
    ----------
    table : shares such as :func:`perception.top_box` returns for the
        victimisation items (``vict_theft``, ``vict_attack``: answer 1) and the
        reporting item among victims (``vict_reported``: answers 1–2), by one domain
        column (``group``).

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> t = pc.top_box(design, ["vict_theft", "vict_attack"], top=[1], by="wave")
    >>> fig = plot_victimisation(t, labels=q)

    Notes
    -----
    R: ``svyby(~I(vict_theft == 1), ~wave, design, svyciprop)`` per item.
    """
    table = common.prepare(table, min_cell, REQUIRED, "plot_victimisation")
    common.check_lang(lang)
    group_col = common.group_key(table, group)
    default = {"fr": "Victimisation au cours des 12 derniers mois et signalement aux FSI",
               "en": "Victimisation in the past 12 months and reporting to the FSI"}[lang]
    return _bars_figure(table, group_cols=[group_col] if group_col else [], lang=lang,
                        labels=labels, ax=ax, source_note=source_note, min_cell=min_cell,
                        title=title or default)


def plot_awareness(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    arm: str = "treated",
    period: str | None = "wave",
    title: str | None = None,
) -> Figure:
    """Awareness of and participation in the community actions, by area and wave.

    Bars are coloured by area (intervention blue, comparison orange) and shaded by wave
    (the first wave hatched), with 95% intervals.

    Parameters
    ----------
    table : shares by ``[arm, period]`` (e.g. :func:`perception.top_box` of
        ``ca_aware`` with ``top=[1]``), one row per variable × area × wave.
    arm : the column of the intervention / comparison areas.
    period : the wave column (``None`` when the table has no waves).

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> t = pc.top_box(design, ["ca_aware"], top=[1], by=["treated", "wave"])
    >>> fig = plot_awareness(t, labels=q)

    Notes
    -----
    R: ``svyby(~I(ca_aware == 1), ~treated + wave, design, svyciprop)``.
    """
    table = common.prepare(table, min_cell, REQUIRED, "plot_awareness")
    common.check_lang(lang)
    group_cols = [c for c in (arm, period) if c is not None]
    for c in group_cols:
        if c not in table.columns:
            raise PerceptionError(
                f"plot_awareness needs the column {c!r} (arm={arm!r}, period={period!r}); "
                f"the table has {', '.join(map(str, table.columns))}"
            )
    periods = common.ordered_unique(table[period]) if period else [None]
    arms = sorted(pd.unique(table[arm]), reverse=True)

    def colour_of(_, key):
        a = key[0]
        try:
            return style.ARM_COLOURS[int(a)]
        except (KeyError, TypeError, ValueError):
            return style.colour(arms.index(a))

    def hatch_of(_, key):
        if period is None or len(periods) < 2:
            return None
        return "xxx" if key[1] == periods[0] else None

    default = {"fr": "Connaissance des actions communautaires et participation",
               "en": "Awareness of the community actions and participation"}[lang]
    present = set(_group_keys(table, group_cols))
    order = [key for key in ([(a, p) for a in arms for p in periods] if period else
                             [(a,) for a in arms]) if key in present]
    return _bars_figure(table, group_cols=group_cols, lang=lang, labels=labels, ax=ax,
                        source_note=source_note, min_cell=min_cell, title=title or default,
                        colour_of=colour_of, hatch_of=hatch_of, groups=order)


_DEFF_COLUMNS = ("deff_kish", "kish_deff", "deff_weighting", "deff_w", "deff")
_NEFF_COLUMNS = ("n_eff", "effective_n", "neff", "n_effective")


def _first_column(table: pd.DataFrame, names) -> str | None:
    return next((c for c in names if c in table.columns), None)


def plot_weight_distribution(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    diagnostics: pd.DataFrame | None = None,
    group: str | None = None,
    title: str | None = None,
) -> Figure:
    """Distribution of the survey weights from a table of binned weights, with the
    design effect due to weighting.

    Parameters
    ----------
    table : one row per weight bin (and group): ``bin_low``, ``bin_high``, ``n``
        (respondents in the bin) and ``estimate`` (their share), as
        :func:`perception.outputs.report.weight_distribution` returns. Bins with fewer than
        ``min_cell`` respondents are drawn as suppressed.
    diagnostics : :func:`perception.weight_diagnostics` output; its Kish design effect
        and effective sample size (overall, or per group) are printed in the figure.
    group : the domain column of the groups (e.g. ``wave``).

    Examples
    --------
    >>> from perception.outputs.report import weight_distribution
    >>> design = pc.demo_survey(seed=1).design()
    >>> bins = weight_distribution(design, by="wave")
    >>> fig = plot_weight_distribution(bins, group="wave",
    ...                                diagnostics=pc.weight_diagnostics(design, by="wave"))

    Notes
    -----
    R: ``hist(weights(design))``; Kish's design effect ``n * sum(w^2) / sum(w)^2``.
    """
    table = common.prepare(table, min_cell, ("bin_low", "bin_high", "estimate", "n"),
                            "plot_weight_distribution")
    common.check_lang(lang)
    domain = [c for c in common.domain_columns(table) if c not in ("bin_low", "bin_high")]
    group_col = group if group is not None else (domain[-1] if domain else None)
    lab = common.Labeller(labels, lang)
    groups = common.ordered_unique(table[group_col]) if group_col else [None]
    edges = sorted(set(table["bin_low"]).union(table["bin_high"]))
    log = table.attrs.get("scale") == "log" and edges[0] > 0
    any_suppressed = False
    with style.house_style(**{"axes.grid.axis": "y"}):
        fig, ax = common.figure_and_axes(ax, 4.0)
        top = float(np.nanmax(table["estimate"].to_numpy(dtype=float)) * 100) if table[
            "estimate"].notna().any() else 10.0
        handles = []
        for g, grp in enumerate(groups):
            sub = table if group_col is None else table[table[group_col] == grp]
            low = sub["bin_low"].to_numpy(dtype=float)
            high = sub["bin_high"].to_numpy(dtype=float)
            if log:  # equal widths on the drawn (logarithmic) axis
                left = low * (high / low) ** (g / len(groups))
                width = low * (high / low) ** ((g + 0.95) / len(groups)) - left
            else:
                width = (high - low) / len(groups)
                left = low + g * width
                width = width * 0.95
            heights = sub["estimate"].to_numpy(dtype=float) * 100
            hidden = sub["suppressed"].to_numpy(dtype=bool)
            colour = style.colour(g)
            ax.bar(left[~hidden], heights[~hidden], width[~hidden], align="edge",
                   color=colour, edgecolor="white", linewidth=0.4, zorder=2)
            for x0, wd in zip(left[hidden], width[hidden], strict=True):
                any_suppressed = True
                stub = Rectangle((x0, 0), wd, top * 0.05, facecolor="white",
                                 edgecolor=style.SUPPRESSED_COLOUR, hatch=style.SUPPRESSED_HATCH,
                                 linewidth=0.6, zorder=2)
                stub.set_gid("suppressed")
                ax.add_patch(stub)
            label = lab.value(group_col, grp) if group_col else common.text("all", lang)
            label += f" ({common.fmt_n(sub['n'].sum(), lang)})"
            if diagnostics is not None:
                extra = _diagnostics_text(diagnostics, group_col, grp, lang)
                label += f"\n{extra}" if extra else ""
            handles.append(Patch(facecolor=colour, label=label))
        if log:
            ax.set_xscale("log")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, top * 1.15)
        ax.set_xlabel(common.text("weight", lang) + (
            {"fr": " (échelle logarithmique)", "en": " (logarithmic scale)"}[lang] if log else ""))
        common.number_axis(ax.xaxis, lang)
        common.number_axis(ax.yaxis, lang)
        ax.set_ylabel(common.text("respondents_share", lang))
        common.legend(ax, handles, ncol=len(handles), fontsize=7.5)  # below: never on a bar
        default = {"fr": "Distribution des poids de sondage",
                   "en": "Distribution of the survey weights"}[lang]
        common.set_title(ax, title or default)
        common.finish(fig, ax, lang, source_note, common.n_summary(
            table.groupby(group_col)["n"].sum() if group_col else [table["n"].sum()], lang),
            min_cell, any_suppressed, intervals=False)
    return fig


def _diagnostics_text(diagnostics: pd.DataFrame, group_col: str | None, grp, lang: str) -> str:
    deff_col = _first_column(diagnostics, _DEFF_COLUMNS)
    neff_col = _first_column(diagnostics, _NEFF_COLUMNS)
    rows = diagnostics
    if group_col is not None and group_col in diagnostics.columns:
        rows = diagnostics[diagnostics[group_col] == grp]
    if len(rows) != 1 or deff_col is None:
        return ""
    parts = [common.text("deff_kish", lang, deff=common.fmt_number(
        float(rows[deff_col].iloc[0]), lang, 2))]
    if neff_col is not None:
        parts.append(common.text("neff", lang, neff=common.fmt_number(
            float(rows[neff_col].iloc[0]), lang)))
    return ", ".join(parts)
