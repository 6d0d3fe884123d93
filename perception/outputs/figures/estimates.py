"""Figures of estimate tables: trust by actor, an index by domain, a heat map of
domain × actor, and design effects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ...disclosure.suppression import DEFAULT_MIN_CELL
from ...errors import PerceptionError
from ..readable import reliability
from . import common, drawing, style

REQUIRED = ("variable", "estimate", "ci_low", "ci_high", "n")


def _cells(table: pd.DataFrame, row_col: str, group_col: str | None) -> dict:
    cells = {}
    for _, row in table.iterrows():
        key = (row[row_col], row[group_col] if group_col else None)
        if key in cells:
            raise PerceptionError(
                f"the table has several rows for {row_col}={key[0]!r}"
                + (f", {group_col}={key[1]!r}" if group_col else "")
                + "; give one estimate per cell (filter the table or pass group=)"
            )
        cells[key] = drawing.cell_of(row)
    return cells


def _rows_by_estimate(table: pd.DataFrame, row_col: str, group_col: str | None,
                      groups: list) -> list:
    """Rows sorted by the estimate of the last group, highest first (NaN last)."""
    last = table if group_col is None else table[table[group_col] == groups[-1]]
    order = last.sort_values("estimate", ascending=False, na_position="last")[row_col].tolist()
    rest = [r for r in pd.unique(table[row_col]) if r not in order]
    return [*order, *rest]


def _dot_figure(
    table: pd.DataFrame,
    *,
    row_col: str,
    group_col: str | None,
    title: str,
    xlabel: str,
    lang: str,
    labels: Any,
    ax,
    source_note: str | None,
    min_cell: int,
    scale: float,
    sort: bool,
    xlim: tuple[float, float] | None,
    subtitle: str | None = None,
) -> Figure:
    lab = common.Labeller(labels, lang)
    groups = common.ordered_unique(table[group_col]) if group_col else [None]
    rows = (_rows_by_estimate(table, row_col, group_col, groups) if sort
            else list(pd.unique(table[row_col])))
    row_labels = [lab.variable(r) if row_col == "variable" else lab.value(row_col, r) for r in rows]
    group_labels = [lab.value(group_col, g) if group_col else "" for g in groups]
    cells = _cells(table, row_col, group_col)
    height = 1.5 + 0.28 * len(rows) * max(1, min(len(groups), 3)) ** 0.6 + (0.3 if len(groups) > 1 else 0)
    with style.house_style():
        fig, ax = common.figure_and_axes(ax, height)
        ax.set_xlabel(xlabel)
        suppressed = drawing.dot_whisker(
            ax, rows, row_labels, groups, group_labels, cells, lang=lang, min_cell=min_cell,
            scale=scale, xlim=xlim,
        )
        common.set_title(ax, title, subtitle)
        common.finish(fig, ax, lang, source_note, common.published_n(table, lang),
                       min_cell, suppressed)
    return fig


def plot_trust_by_actor(
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
    """Trust in each actor (share trusting "somewhat" or "a lot") with 95% intervals.

    Parameters
    ----------
    table : a share per actor, as :func:`perception.top_box` returns
        (``variable``, ``estimate``, ``ci_low``, ``ci_high``, ``n``), optionally by one
        domain column (e.g. ``wave``) drawn as coloured groups.
    lang : "fr" or "en".
    labels : questionnaire or mapping giving the actors' and groups' labels.
    ax : draw into these axes instead of a new figure.
    source_note : the note at the foot (default: a generic source line).
    min_cell : cells with fewer respondents are suppressed and marked.
    group : the domain column of the groups (default: the table's last domain column).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> t = pc.top_box(design, ["trust_police", "trust_gend"], by="wave")
    >>> fig = plot_trust_by_actor(t, lang="en", labels=q)

    Notes
    -----
    R: ``svyby(~I(trust %in% 2:3), ~wave, design, svyciprop)`` then a dot plot.
    """
    table = common.prepare(table, min_cell, REQUIRED, "plot_trust_by_actor")
    group_col = common.group_key(table, group)
    common.check_lang(lang)
    default = {"fr": "Confiance dans les acteurs (« partiellement » ou « beaucoup »)",
               "en": "Trust in each actor (\"somewhat\" or \"a lot\")"}[lang]
    return _dot_figure(
        table, row_col="variable", group_col=group_col, title=title or default,
        xlabel=common.text("share_valid", lang), lang=lang, labels=labels, ax=ax,
        source_note=source_note, min_cell=min_cell, scale=100.0, sort=True, xlim=(0, 100),
    )


def plot_subgroups(
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
    """A share by subgroup (sex, age group, region ...), groups coloured (e.g. wave).

    Parameters
    ----------
    table : tables of one share by ``[subgroup, group]`` stacked (``pd.concat``): each
        row has one non-blank subgroup column; rows are labelled "column: value".
    group : the column of the coloured groups (e.g. ``wave``).

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> t = pd.concat([pc.top_box(design, "trust_police", by=[b, "wave"])
    ...                for b in ["sex", "age_grp"]])
    >>> fig = plot_subgroups(t, group="wave", labels=q)

    Notes
    -----
    R: ``svyby(~I(trust %in% 2:3), ~sex + wave, design, svyciprop)`` per subgroup.
    """
    table = common.prepare(table, min_cell, REQUIRED, "plot_subgroups")
    common.check_lang(lang)
    if group is not None and group not in table.columns:
        raise PerceptionError(f"group={group!r} is not a column of the table")
    lab = common.Labeller(labels, lang)
    subgroups = [c for c in common.domain_columns(table) if c != group]
    keys: list = []
    row_labels: list[str] = []
    cells = {}
    sep = "\u00a0: " if lang == "fr" else ": "
    for _, r in table.iterrows():
        filled = [c for c in subgroups if not pd.isna(r[c])]
        key = (filled[0], r[filled[0]]) if filled else ("__all__", None)
        label = (common.text("all", lang) if key[0] == "__all__" else
                 f"{lab.variable(key[0])}{sep}{lab.value(key[0], key[1])}")
        # the options of a select-multiple question (a proportion's levels): a row each
        key, label = common.option_key(r, key, label, lab, alone=not filled)
        if key not in keys:
            keys.append(key)
            row_labels.append(label)
        cells[(key, r[group] if group else None)] = drawing.cell_of(r)
    groups = common.ordered_unique(table[group]) if group else [None]
    group_labels = [lab.value(group, g) if group else "" for g in groups]
    height = 1.5 + 0.28 * len(keys) * max(1, min(len(groups), 3)) ** 0.6 + (
        0.3 if len(groups) > 1 else 0)
    with style.house_style():
        fig, ax = common.figure_and_axes(ax, height)
        ax.set_xlabel(common.text("share_valid", lang))
        suppressed = drawing.dot_whisker(
            ax, keys, row_labels, groups, group_labels, cells, lang=lang, min_cell=min_cell,
            scale=100.0, xlim=(0, 100))
        variables = list(pd.unique(table["variable"]))
        default = lab.variable(str(variables[0])) if len(variables) == 1 else ""
        common.set_title(ax, title or default)
        common.finish(fig, ax, lang, source_note, common.published_n(table, lang),
                      min_cell, suppressed)
    return fig


def plot_index(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    row: str | None = None,
    group: str | None = None,
    title: str | None = None,
) -> Figure:
    """A 0–100 index by domain (e.g. cercle), groups coloured (e.g. wave), with intervals.

    Parameters
    ----------
    table : :func:`perception.index` by one or two domain columns.
    row : the domain column of the rows (default the first domain column).
    group : the domain column of the coloured groups (default the other one).

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> t = pc.index(design, ["trust_police", "trust_gend"], by=["cercle", "wave"])
    >>> fig = plot_index(t, row="cercle", group="wave", labels=q)

    Notes
    -----
    R: ``svyby(~idx, ~cercle + wave, design, svymean, na.rm=TRUE)`` then a dot plot.
    """
    table = common.prepare(table, min_cell, REQUIRED, "plot_index")
    common.check_lang(lang)
    domains = common.domain_columns(table)
    row_col = row or (domains[0] if domains else "variable")
    if row_col not in table.columns:
        raise PerceptionError(f"row={row_col!r} is not a column of the table")
    group_col = group if group is not None else next((d for d in domains if d != row_col), None)
    if group_col is not None and group_col not in table.columns:
        raise PerceptionError(f"group={group_col!r} is not a column of the table")
    lab = common.Labeller(labels, lang)
    name = str(table["variable"].iloc[0])
    default = lab.variable(name)
    if default == name:  # no label known: a generic title
        default = {"fr": "Indice (0–100)", "en": "Index (0–100)"}[lang]
    if row_col != "variable":
        default += {"fr": f" par {lab.variable(row_col).lower()}",
                    "en": f" by {lab.variable(row_col).lower()}"}[lang]
    return _dot_figure(
        table, row_col=row_col, group_col=group_col, title=title or default,
        xlabel=common.text("index", lang), lang=lang, labels=labels, ax=ax,
        source_note=source_note, min_cell=min_cell, scale=1.0, sort=True, xlim=(0, 100),
    )


def plot_heatmap(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    row: str | None = None,
    groups: Mapping[Any, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Heat map of a share by domain (rows, e.g. cercle) × actor (columns).

    Suppressed cells are grey, hatched and marked, with no value; cells of low precision
    (coefficient of variation above 30% or fewer than 10 degrees of freedom, when the
    table has ``se`` and ``df``) keep their value, in italics, under a light hatch; each
    row shows the range of its published cells' respondents.

    Parameters
    ----------
    table : :func:`perception.top_box` by one domain column.
    row : the domain column of the rows (default the table's domain column).
    groups : each row value's group (e.g. cercle -> region): rows are grouped under a
        bold heading per group.

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> trust_items = ["trust_police", "trust_gend", "trust_gn", "trust_army"]
    >>> t = pc.top_box(design, trust_items, by="cercle")
    >>> fig = plot_heatmap(t, labels=q)

    Notes
    -----
    R: ``svyby(~I(trust %in% 2:3), ~cercle, design, svymean)`` then ``image()``.
    """
    table = common.prepare(table, min_cell, ("variable", "estimate", "n"), "plot_heatmap")
    common.check_lang(lang)
    domains = common.domain_columns(table)
    row_col = row or (domains[0] if domains else None)
    if row_col is None or row_col not in table.columns:
        raise PerceptionError(
            "plot_heatmap needs a domain column for the rows (e.g. a table by='cercle'); "
            f"got columns {', '.join(map(str, table.columns))}"
        )
    lab = common.Labeller(labels, lang)
    cols = list(pd.unique(table["variable"]))
    mean_by_col = table.groupby("variable", sort=False)["estimate"].mean()
    cols = sorted(cols, key=lambda c: -np.nan_to_num(mean_by_col.get(c, np.nan), nan=-1))
    values_of_rows = common.ordered_unique(table[row_col])
    # the layout: a heading per group, then its rows
    layout: list[tuple[str, Any]] = []
    if groups:
        order = list(dict.fromkeys(groups.get(v, "") for v in values_of_rows))
        for name in order:
            layout.append(("group", name))
            layout += [("row", v) for v in values_of_rows if groups.get(v, "") == name]
    else:
        layout = [("row", v) for v in values_of_rows]
    position = {v: i for i, (kind, v) in enumerate(layout) if kind == "row"}
    values = np.full((len(layout), len(cols)), np.nan)
    hidden = np.zeros((len(layout), len(cols)), dtype=bool)
    low = np.zeros((len(layout), len(cols)), dtype=bool)
    flags = reliability(table) if {"se", "df"} & set(table.columns) else None
    n_of_row: dict = {}
    for k, (_, r) in enumerate(table.iterrows()):
        i, j = position[r[row_col]], cols.index(r["variable"])
        values[i, j] = r["estimate"] * 100
        hidden[i, j] = bool(r["suppressed"])
        low[i, j] = flags is not None and flags.iloc[k] == "low"
        if not hidden[i, j]:  # a suppressed cell's size is never shown
            n_of_row.setdefault(i, []).append(float(r["n"]))
    height = 1.9 + 0.34 * len(layout)
    with style.house_style(**{"axes.grid": False}):
        fig, ax = common.figure_and_axes(ax, height)
        masked = np.ma.masked_invalid(np.where(hidden, np.nan, values))
        image = ax.imshow(masked, cmap=style.SEQUENTIAL_CMAP, vmin=0, vmax=100, aspect="auto")
        image.set_gid("heatmap")
        cmap = image.get_cmap()
        for i, (kind, _) in enumerate(layout):
            if kind == "group":
                continue
            for j in range(len(cols)):
                if hidden[i, j] or not np.isfinite(values[i, j]):
                    patch = Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="#EEEEEE",
                                      edgecolor=style.SUPPRESSED_COLOUR,
                                      hatch=style.SUPPRESSED_HATCH, linewidth=0.4)
                    patch.set_gid("suppressed")
                    ax.add_patch(patch)
                    continue
                r, g, b, _ = cmap(values[i, j] / 100)
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.55
                if low[i, j]:
                    cue = Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="none",
                                    edgecolor="white" if dark else "#555555",
                                    hatch="..", linewidth=0)
                    cue.set_gid("low_precision")
                    ax.add_patch(cue)
                t = ax.text(j, i, common.fmt_number(values[i, j], lang), ha="center",
                            va="center", fontsize=7.5, color="white" if dark else "black",
                            style="italic" if low[i, j] else "normal")
                t.set_gid("value")
        for i, (kind, _) in enumerate(layout):
            if kind == "group":
                continue
            ns = n_of_row.get(i, [])
            label = (common.fmt_number(min(ns), lang) if ns and min(ns) == max(ns) else
                     f"{common.fmt_number(min(ns), lang)}–{common.fmt_number(max(ns), lang)}"
                     if ns else "")
            t = ax.text(len(cols) - 0.5 + 0.12, i, label, ha="left", va="center", fontsize=7,
                        color="#555555", clip_on=False)
            t.set_gid("n")
        head = ax.text(len(cols) - 0.5 + 0.12, -0.5, "n", ha="left",
                       va="bottom", fontsize=7.5, fontweight="bold", color="#555555")
        head.set_gid("n_header")
        ax.set_xticks(np.arange(len(cols)), [common.wrap(lab.variable(c), 24) for c in cols],
                      fontsize=7.5)
        ax.xaxis.tick_top()
        for tick in ax.get_xticklabels():
            tick.set(rotation=35, ha="left", va="bottom", rotation_mode="anchor")
        indent = "    " if groups else ""
        ax.set_yticks(np.arange(len(layout)),
                      [str(v) if kind == "group" else indent + lab.value(row_col, v)
                       for kind, v in layout])
        for tick, (kind, _) in zip(ax.get_yticklabels(), layout, strict=True):
            if kind == "group":
                tick.set_fontweight("bold")
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.08, shrink=0.6)
        bar.set_label(common.text("share_valid", lang))
        default = {"fr": "Confiance par cercle et par acteur (« partiellement » ou « beaucoup »)",
                   "en": "Trust by cercle and actor (\"somewhat\" or \"a lot\")"}[lang]
        common.set_title(ax, title or default)
        shown_n = table.loc[~table["suppressed"].astype(bool), "n"]
        note = common.n_summary(shown_n, lang)
        if low.any():
            note += (". ⁘ " + common.text("low_precision", lang))
        common.finish(fig, ax, lang, source_note, note, min_cell, bool(hidden.any()),
                      intervals=False)
    return fig


def plot_design_effects(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    group: str | None = None,
    kish: float | None = None,
    title: str | None = None,
) -> Figure:
    """Design effects (``deff``) of a set of estimates, with the weighting design effect.

    Parameters
    ----------
    table : an estimate table with a ``deff`` column (e.g. :func:`perception.mean`).
    kish : the design effect due to weighting alone (Kish), drawn as a dashed line.

    Examples
    --------
    >>> design = pc.demo_survey(seed=1).design()
    >>> t = pc.mean(design, ["trust_police", "ca_aware"], by="wave")
    >>> fig = plot_design_effects(t, kish=1.4)

    Notes
    -----
    R: ``svymean(~y, design, deff="replace")`` then a dot chart of ``deff()``.
    """
    table = common.prepare(table, min_cell, ("variable", "deff", "n"), "plot_design_effects")
    common.check_lang(lang)
    group_col = common.group_key(table, group)
    lab = common.Labeller(labels, lang)
    groups = common.ordered_unique(table[group_col]) if group_col else [None]
    rows = list(pd.unique(table["variable"]))
    cells = {}
    for _, r in table.iterrows():
        cells[(r["variable"], r[group_col] if group_col else None)] = drawing.Cell(
            float(r["deff"]), np.nan, np.nan, float(r["n"]), bool(r["suppressed"]))
    height = 1.6 + 0.3 * len(rows) * max(1, min(len(groups), 3)) ** 0.6
    with style.house_style():
        fig, ax = common.figure_and_axes(ax, height)
        ax.set_xlabel(common.text("deff", lang))
        suppressed = drawing.dot_whisker(
            ax, rows, [lab.variable(r) for r in rows], groups,
            [lab.value(group_col, g) if group_col else "" for g in groups], cells,
            lang=lang, min_cell=min_cell, scale=1.0, marker="D",
        )
        ax.axvline(1.0, color="#333333", linewidth=0.9, zorder=1)
        finite = [c.estimate for c in cells.values() if np.isfinite(c.estimate)]
        upper = max([*finite, kish or 0, 1.0]) * 1.12
        ax.set_xlim(0, upper)
        if kish is not None and np.isfinite(kish):
            line = ax.axvline(kish, color=style.OKABE_ITO["vermillion"], linestyle="--",
                              linewidth=1.1, zorder=1)
            line.set_gid("kish")
            ax.text(kish, 1.0, " " + common.text("deff_kish", lang,
                                                   deff=common.fmt_number(kish, lang, 2)),
                    transform=ax.get_xaxis_transform(), ha="left", va="bottom", fontsize=7,
                    color=style.OKABE_ITO["vermillion"])
        default = {"fr": "Effets de plan des principales estimations",
                   "en": "Design effects of the main estimates"}[lang]
        common.set_title(ax, title or default)
        common.finish(fig, ax, lang, source_note, common.published_n(table, lang),
                       min_cell, suppressed, intervals=False)
    return fig
