"""Before and after: changes between waves (forest plot), difference-in-differences
over waves, and effects by subgroup."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...disclosure.suppression import DEFAULT_MIN_CELL
from ...errors import PerceptionError
from ...tables import smallest_count
from . import common, drawing, style

FOREST_REQUIRED = ("estimate", "ci_low", "ci_high", "n")


def _is_blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _forest_layout(table: pd.DataFrame, group_col: str | None):
    """The domain columns of the rows and whether the table is stacked from several
    ``by=`` (each row then has at most one non-blank domain column)."""
    domains = [c for c in common.domain_columns(table) if c != group_col]
    stacked = len(domains) > 1 and all(
        sum(not _is_blank(r[c]) for c in domains) <= 1 for _, r in table.iterrows())
    return domains, stacked


def _row_key(row: pd.Series, domains: list[str], stacked: bool) -> tuple:
    if not domains:
        return ("variable", row["variable"])
    if stacked:
        filled = [c for c in domains if not _is_blank(row[c])]
        return (filled[0], row[filled[0]]) if filled else ("__all__", None)
    return tuple((c, row[c]) for c in domains)


def _forest_rows(table: pd.DataFrame, lab: common.Labeller, lang: str,
                 group_col: str | None) -> tuple[list, list[str], list[str], bool]:
    """Row keys and labels of a forest plot.

    Rows are the values of the domain columns (a table stacked from several ``by=``
    is labelled "column: value"); without domain columns, the variables.
    """
    domains, stacked = _forest_layout(table, group_col)
    keys, labels = [], []
    for _, r in table.iterrows():
        key = _row_key(r, domains, stacked)
        if not domains:
            label = lab.variable(key[1])
        elif stacked:
            col, value = key
            sep = " : " if lang == "fr" else ": "
            label = (common.text("all", lang) if col == "__all__"
                     else f"{lab.variable(col)}{sep}{lab.value(col, value)}")
        else:
            label = " — ".join(lab.value(c, v) for c, v in key)
        key, label = common.option_key(r, key, label, lab, alone=not domains)
        if key in keys:
            continue
        keys.append(key)
        labels.append(label)
    return keys, labels, domains, stacked


def _forest(
    table: pd.DataFrame,
    *,
    lang: str,
    labels: Any,
    ax,
    source_note: str | None,
    min_cell: int,
    group_col: str | None,
    title: str,
    xlabel: str,
    subtitle: str | None,
    overall: pd.DataFrame | None = None,
) -> Figure:
    lab = common.Labeller(labels, lang)
    keys, row_labels, domains, stacked = _forest_rows(table, lab, lang, group_col)
    groups = common.ordered_unique(table[group_col]) if group_col else [None]
    cells = {}
    for _, r in table.iterrows():
        key, _ = common.option_key(r, _row_key(r, domains, stacked), "", lab, True)
        cells[(key, r[group_col] if group_col else None)] = drawing.cell_of(r)
    if overall is not None:
        overall = common.prepare(overall, min_cell, FOREST_REQUIRED, "overall")
        key = ("__overall__", None)
        keys = [*keys, key]
        row_labels = [*row_labels, common.text("all", lang)]
        for _, r in overall.iterrows():
            cells[(key, r[group_col] if group_col else None)] = drawing.cell_of(r)
    group_labels = [lab.value(group_col, g) if group_col else "" for g in groups]
    finite = [v for c in cells.values() for v in (c.low, c.high) if np.isfinite(v)]
    span = max([abs(v) for v in finite] + [0.05]) * 100 * 1.08
    height = 1.7 + 0.27 * len(keys) * max(1, min(len(groups), 3)) ** 0.6
    with style.house_style():
        fig, ax = common.figure_and_axes(ax, height)
        ax.set_xlabel(xlabel)
        suppressed = drawing.dot_whisker(
            ax, keys, row_labels, groups, group_labels, cells, lang=lang, min_cell=min_cell,
            scale=100.0, zero_line=True, marker="s", xlim=(-span, span),
        )
        if overall is not None:
            labels_ = ax.get_yticklabels()
            labels_[-1].set_fontweight("bold") if labels_ else None
            ax.axhline(0.5, color="#BBBBBB", linewidth=0.6)
        common.set_title(ax, title, subtitle)
        # the counts the small-cell rule checked (a change: its smaller wave)
        def shown(t: pd.DataFrame) -> list:  # a suppressed cell's size never shows
            return list(smallest_count(t[~t["suppressed"].astype(bool)]))

        n_all = shown(table) + (shown(overall) if overall is not None else [])
        common.finish(fig, ax, lang, source_note, _n_note(table, n_all, lang), min_cell,
                       suppressed)
    return fig


def _n_note(table: pd.DataFrame, n_all: list, lang: str) -> str:
    """The range of the n shown, and what they count when it is not the rows of one
    estimate (a change: its smaller wave; a DiD effect: its smallest cell)."""
    summary = common.n_summary(n_all, lang)
    kind = ("n_of_effect" if "n_min" in table.columns
            else "n_of_change" if "n_from" in table.columns else None)
    if not summary or kind is None:
        return summary
    return f"{summary} ({common.text(kind, lang)})"


def plot_change(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    overall: pd.DataFrame | None = None,
    group: str | None = None,
    over: str = "wave",
    title: str | None = None,
) -> Figure:
    """Forest plot of changes between waves (later minus earlier), by domain.

    Parameters
    ----------
    table : :func:`perception.change` output (by e.g. ``cercle``). A change is
        suppressed when ``n_from`` or ``n_to`` (its two waves' respondents) is below
        ``min_cell``, and the ``n`` shown is the smaller of the two.
    overall : the same change for the whole sample, drawn as the last row.
    group : a column whose values are drawn as coloured groups (e.g. ``variable`` when
        several items are compared).
    over : the wave column, for the labels of ``from`` and ``to``.

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> ch = pc.change(design, "trust_police", over="wave", by="cercle")
    >>> fig = plot_change(ch, labels=q)

    Notes
    -----
    R: ``svyby(~y, ~cercle + wave, design, svymean, covmat=TRUE)`` + ``svycontrast``,
    drawn as a forest plot.
    """
    table = common.prepare(table, min_cell, (*FOREST_REQUIRED, "variable"), "plot_change")
    common.check_lang(lang)
    lab = common.Labeller(labels, lang)
    variables = list(pd.unique(table["variable"]))
    subtitle = None
    if {"from", "to"} <= set(table.columns):
        pairs = table[["from", "to"]].drop_duplicates()
        if len(pairs) == 1:
            a, b = pairs.iloc[0]
            subtitle = (f"{lab.value(over, a)} → {lab.value(over, b)}")
    if group is None and len(variables) > 1 and common.domain_columns(table):
        group = "variable"
    if group == "variable":
        table = table.copy()
    if len(variables) == 1:
        default = {"fr": f"Évolution : {lab.variable(variables[0])}",
                   "en": f"Change: {lab.variable(variables[0])}"}[lang]
    else:
        default = {"fr": "Évolution entre les vagues", "en": "Change between waves"}[lang]
    group_col = group
    if group_col is not None and group_col not in table.columns:
        raise PerceptionError(f"group={group_col!r} is not a column of the table")
    fig = _forest(table, lang=lang, labels=labels, ax=ax, source_note=source_note,
                  min_cell=min_cell, group_col=group_col, title=title or default,
                  xlabel=common.text("points", lang), subtitle=subtitle, overall=overall)
    return fig


def plot_effects(
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
    """Forest plot of effects (e.g. DiD effects by subgroup or by item), with intervals.

    Parameters
    ----------
    table : ``DiDResult.effects`` (an effect is suppressed, and its ``n`` shown, by
        ``n_min``: the smallest of its four treated x period cells). Subgroup tables
        from several
        ``by=`` may be stacked (``pd.concat``): each row then has one non-blank domain
        column and is labelled "column: value"; a row with every domain column blank is
        the whole sample. Without domain columns the rows are the variables.
    group : column drawn as coloured groups (default ``period`` when there are several
        later periods, as in an event study).

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> effects = [pc.did(design, "trust_police", by=b).effects for b in ["sex", "age_grp"]]
    >>> fig = plot_effects(pd.concat(effects), labels=q)

    Notes
    -----
    R: the ``treated:factor(wave)`` coefficients of ``svyglm(y ~ group * treated *
    factor(wave))``, drawn as a forest plot.
    """
    table = common.prepare(table, min_cell, FOREST_REQUIRED, "plot_effects")
    common.check_lang(lang)
    if "variable" not in table.columns:
        table = table.assign(variable="")
    if group is None and "period" in table.columns and table["period"].nunique() > 1:
        group = "period"
    if group is not None and group not in table.columns:
        raise PerceptionError(f"group={group!r} is not a column of the table")
    lab = common.Labeller(labels, lang)
    variables = [v for v in pd.unique(table["variable"]) if v]
    if common.domain_columns(table) and len(variables) == 1:
        default = {"fr": f"Effet des actions par sous-groupe : {lab.variable(variables[0])}",
                   "en": f"Effect of the actions by subgroup: {lab.variable(variables[0])}"}[lang]
    else:
        default = {"fr": "Effet estimé des actions (double différence)",
                   "en": "Estimated effect of the actions (difference-in-differences)"}[lang]
    subtitle = None
    if "period" in table.columns and group != "period" and table["period"].nunique() == 1:
        period = table["period"].iloc[0]
        subtitle = {"fr": f"{lab.value('wave', period)}, par rapport à la première vague",
                    "en": f"{lab.value('wave', period)}, relative to the first wave"}[lang]
    return _forest(table, lang=lang, labels=labels, ax=ax, source_note=source_note,
                   min_cell=min_cell, group_col=group, title=title or default,
                   xlabel=common.text("effect", lang), subtitle=subtitle)


def plot_did(
    cells: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    effects: pd.DataFrame | None = None,
    treated: str = "treated",
    period: str = "wave",
    title: str | None = None,
) -> Figure:
    """Intervention and comparison areas over the waves, with 95% intervals.

    Parameters
    ----------
    cells : ``DiDResult.cells`` for one variable: the cell means by ``treated`` and
        ``period`` (``estimate``, ``ci_low``, ``ci_high``, ``n``).
    effects : ``DiDResult.effects`` to print the estimated effect of each later period
        in the figure (suppressed when its smallest cell, ``n_min``, is small).
    treated, period : the columns of the arms and the waves.

    Examples
    --------
    >>> res = pc.did(pc.demo_survey(seed=1).design(), "trust_police")
    >>> fig = plot_did(res.cells, effects=res.effects)

    Notes
    -----
    R: ``svyby(~y, ~treated + wave, design, svymean)`` drawn over the waves; the effect
    is the ``treated:factor(wave)`` coefficient of ``svyglm(y ~ treated * factor(wave))``.
    """
    cells = common.prepare(cells, min_cell, ("estimate", "ci_low", "ci_high", "n", treated,
                                              period), "plot_did")
    common.check_lang(lang)
    if "variable" in cells.columns and cells["variable"].nunique() > 1:
        raise PerceptionError(
            "plot_did draws one variable; filter the cells table to one variable first "
            f"(it has {', '.join(map(str, pd.unique(cells['variable'])))})"
        )
    extra = [c for c in common.domain_columns(cells) if c not in (treated, period)]
    if extra:
        raise PerceptionError(
            f"plot_did draws one domain; the cells table is also by {extra}: filter it first"
        )
    lab = common.Labeller(labels, lang)
    periods = common.ordered_unique(cells[period])
    x = np.arange(len(periods), dtype=float)
    arms = sorted(pd.unique(cells[treated]), reverse=True)
    any_suppressed = False
    with style.house_style(**{"axes.grid.axis": "y"}):
        fig, ax = common.figure_and_axes(ax, 4.2)
        for a, arm in enumerate(arms):
            sub = cells[cells[treated] == arm].set_index(period)
            colour = style.ARM_COLOURS.get(int(arm), style.colour(a)) if _is_01(arm) else style.colour(a)
            xs, ys, lo, hi = [], [], [], []
            offset = (a - (len(arms) - 1) / 2) * 0.06
            for i, p in enumerate(periods):
                if p not in sub.index:
                    continue
                r = sub.loc[p]
                if bool(r["suppressed"]) or not np.isfinite(r["estimate"]):
                    any_suppressed = True
                    common.mark_suppressed(ax, x[i] + offset, 0.5, lang, min_cell,
                                            transform=ax.get_xaxis_transform(), ha="center")
                    continue
                xs.append(x[i] + offset)
                ys.append(r["estimate"] * 100)
                lo.append((r["estimate"] - r["ci_low"]) * 100)
                hi.append((r["ci_high"] - r["estimate"]) * 100)
                # labels outside the lines (first wave left, later waves right), the
                # higher arm's above the lower's, so no label sits on a mark
                side = -1 if i == 0 else 1
                others = [float(o["estimate"]) for _, o in cells[
                    (cells[period] == p) & (cells[treated] != arm)].iterrows()
                    if np.isfinite(o["estimate"])]
                higher = not others or r["estimate"] >= max(others)
                t = ax.annotate(
                    f"{common.fmt_number(r['estimate'] * 100, lang)}\n{common.fmt_n(r['n'], lang)}",
                    (x[i] + offset, r["estimate"] * 100), xytext=(side * 12, 5 if higher else -5),
                    textcoords="offset points", ha="right" if side < 0 else "left",
                    va="bottom" if higher else "top", fontsize=6.8, color=colour)
                t.set_gid("n")
            label = lab.value(treated, arm)
            if label == str(arm) and _is_01(arm):
                label = common.text("treated" if int(arm) == 1 else "comparison", lang)
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt="-o", color=colour, capsize=3,
                        linewidth=1.8, markersize=6, label=label, zorder=3)
        ax.set_xticks(x, [lab.value(period, p) for p in periods])
        ax.set_xlim(-0.75, len(periods) - 0.25)
        ax.set_ylabel(common.text("share_valid", lang))
        common.number_axis(ax.yaxis, lang)
        lows = cells["ci_low"].dropna() * 100
        highs = cells["ci_high"].dropna() * 100
        if len(lows):
            pad = max((highs.max() - lows.min()) * 0.25, 5)
            # a share's axis starts at zero: a change is never drawn larger than it is
            ax.set_ylim(0, min(highs.max() + pad * 1.4, 100))
        common.legend(ax, ncol=len(arms))
        variable = str(cells["variable"].iloc[0]) if "variable" in cells.columns else ""
        default = {"fr": f"Zones d'intervention et de comparaison : {lab.variable(variable)}",
                   "en": f"Intervention and comparison areas: {lab.variable(variable)}"}[lang]
        subtitle = None
        if effects is not None:
            eff = common.prepare(effects, min_cell, ("estimate", "ci_low", "ci_high", "n"),
                                  "effects")
            if "variable" in eff.columns and variable:
                eff = eff[eff["variable"] == variable]
            parts = []
            for _, r in eff.iterrows():
                when = lab.value(period, r["period"]) if "period" in eff.columns else ""
                if bool(r["suppressed"]):
                    parts.append(f"{when} : " + common.text("suppressed", lang, min_cell=min_cell))
                    any_suppressed = True
                    continue
                ci = (f"[{common.fmt_number(r['ci_low'] * 100, lang, 1)} ; "
                      f"{common.fmt_number(r['ci_high'] * 100, lang, 1)}]" if lang == "fr" else
                      f"[{common.fmt_number(r['ci_low'] * 100, lang, 1)}, "
                      f"{common.fmt_number(r['ci_high'] * 100, lang, 1)}]")
                est = common.fmt_number(r["estimate"] * 100, lang, 1)
                sign = "+" if r["estimate"] > 0 else ""
                pts = "pts" if lang == "fr" else "pts"
                parts.append(f"{when} : {sign}{est} {pts} {ci}" if lang == "fr"
                             else f"{when}: {sign}{est} {pts} {ci}")
            if parts:
                subtitle = common.text("did", lang) + (" — " if lang == "fr" else " — ") + "; ".join(parts)
        common.set_title(ax, title or default, subtitle)
        common.finish(fig, ax, lang, source_note, common.published_n(cells, lang),
                       min_cell, any_suppressed)
    return fig


def _is_01(value) -> bool:
    try:
        return float(value) in (0.0, 1.0)
    except (TypeError, ValueError):
        return False
