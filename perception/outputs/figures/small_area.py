"""Small-area estimates with their precision: one line per area, grouped by region.

Each area shows its model-based estimate (the Fay–Herriot EBLUP, or the synthetic
estimate of an area without a sample) with the interval ``estimate ± z·rMSE``, and for
comparison its direct estimate with the direct interval, drawn only when the area has at
least ``min_cell`` respondents: model-based estimates are not cell counts, the direct
estimate of a small area is. Areas are sorted by their estimate within each group.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory
from scipy import stats

from ...disclosure.suppression import DEFAULT_MIN_CELL, check_count
from ...errors import PerceptionError
from . import common, style

REQUIRED = ("estimate", "ci_low", "ci_high")

TEXT = {
    "title": {"fr": "Estimations sur petits domaines et leur précision",
              "en": "Small-area estimates and their precision"},
    "subtitle": {
        "fr": "Modèle de Fay–Herriot ({method}) : estimation ± {z} × racine de l'EQM ; "
              "estimation directe pour comparaison",
        "en": "Fay–Herriot model ({method}): estimate ± {z} × root-MSE; direct estimate "
              "for comparison"},
    "model": {"fr": "Estimation sur petit domaine (EBLUP) ± {z} × racine de l'EQM",
              "en": "Small-area estimate (EBLUP) ± {z} × root-MSE"},
    "synthetic": {"fr": "Zone non enquêtée : estimation synthétique",
                  "en": "Area without a sample: synthetic estimate"},
    "direct": {"fr": "Estimation directe (si n ≥ {min_cell}), IC à {level} %",
               "en": "Direct estimate (if n ≥ {min_cell}), {level}% CI"},
    "source": {
        "fr": "Source : enquête de perception ; estimations sur petits domaines (modèle de "
              "Fay–Herriot, {method}, EQM de {mse}). L'estimation directe et n ne sont "
              "montrés que pour les zones d'au moins {min_cell} enquêtés.",
        "en": "Source: perception survey; small-area estimates (Fay–Herriot model, {method}, "
              "{mse} MSE). The direct estimate and n are shown only for areas with at "
              "least {min_cell} respondents."},
    "estimate": {"fr": "Estimation", "en": "Estimate"},
    "not_sampled": {"fr": "non enquêtée", "en": "no sample"},
}

COLOURS = {"model": style.OKABE_ITO["blue"], "synthetic": "#6E6E6E",
           "direct": style.OKABE_ITO["orange"]}


def _text(key: str, lang: str, **values) -> str:
    return TEXT[key][lang].format(**values)


def _fmt(value: float, lang: str) -> str:
    return common.fmt_number(value, lang, 2)


def _area_column(table: pd.DataFrame) -> tuple[str, str | None]:
    """The column naming the rows, and the coarse unit an anonymised code belongs to."""
    if "area_code" in table.columns:
        coarse = table.attrs.get("coarse") or "cercle"
        if coarse not in table.columns:
            raise PerceptionError(
                "the table has anonymised area codes but not the column they belong to "
                f"({coarse!r}); pass the table FayHerriotResult.published() returns")
        return "area_code", coarse
    if "area" in table.columns:
        return "area", None
    raise PerceptionError(
        "plot_small_areas: the table has no 'area' or 'area_code' column; pass "
        "FayHerriotResult.published() (or .estimates)")


def _prepare(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Check the table; blank the direct estimate of every area under ``min_cell``
    respondents (or whose respondents are unknown)."""
    common.check_table(table, REQUIRED, "plot_small_areas")
    check_count("min_cell", min_cell)
    out = table.copy()
    n = pd.to_numeric(out["n"], errors="coerce").astype(float) if "n" in out.columns else \
        pd.Series(np.nan, index=out.index)
    shown = (n >= min_cell).to_numpy()
    for column in ("direct", "direct_se"):
        if column in out.columns:
            out[column] = pd.to_numeric(out[column], errors="coerce").where(shown)
    out["n"] = n.where(shown)
    out["__small"] = ~shown
    if "synthetic" not in out.columns:
        out["synthetic"] = False
    return out


def plot_small_areas(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    group: str | None = None,
    scale: float = 100.0,
    xlabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """Area estimates with their precision, sorted and grouped (e.g. by region).

    Parameters
    ----------
    table : the table of :meth:`perception.FayHerriotResult.published` (anonymised areas
        are labelled by their cercle and code) or its ``estimates``: ``area`` or
        ``area_code``, ``estimate``, ``ci_low``, ``ci_high``, and for the comparison
        ``direct``, ``direct_se`` and ``n``.
    lang : "fr" or "en".
    labels : questionnaire or mapping giving the labels of the areas, cercles and groups.
    ax : draw into these axes instead of a new figure.
    source_note : the note at the foot (default: the model and the disclosure rule).
    min_cell : the direct estimate and n of areas with fewer respondents are not drawn.
    group : the column the areas are grouped by (default ``region`` when present).
    scale : multiplies the estimates (100: shares as percentages).
    xlabel, title : replace the default axis label and title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> res = pc.fay_herriot(direct, "estimate ~ C(region)", area="commune",
    ...                      keep=["cercle", "region"])              # doctest: +SKIP
    >>> fig = plot_small_areas(res.published(questionnaire=q), labels=q)  # doctest: +SKIP

    Notes
    -----
    R: ``sae::eblupFH`` then a dot plot (e.g. ``emdi::compare_plot``).
    """
    common.check_lang(lang)
    table = _prepare(table, min_cell)
    area_col, coarse = _area_column(table)
    if group is None:
        group = "region" if "region" in table.columns else None
    elif group not in table.columns:
        raise PerceptionError(
            f"group={group!r} is not a column of the table; it has: "
            f"{', '.join(map(str, table.columns))}")
    lab = common.Labeller(labels, lang)
    level = float(table.attrs.get("level", 0.95))
    z = float(stats.norm.ppf(0.5 + level / 2))
    z_text = common.fmt_number(z, lang, 2)
    method = table.attrs.get("method", "REML")
    label_column = table.attrs.get("area_column", area_col)

    def row_label(row: pd.Series) -> str:
        if coarse is not None:
            return f"{lab.value(coarse, row[coarse])} · {row[area_col]}"
        return lab.value(label_column, row[area_col])

    groups = common.ordered_unique(table[group]) if group else [None]
    # rows from the top: a header per group, then its areas by estimate, highest first
    rows: list[tuple[str, Any]] = []
    for g in groups:
        part = table
        if group is not None:
            part = table[table[group] == g]
            rows.append(("header", lab.value(group, g)))
        for _, r in part.sort_values("estimate", ascending=False, kind="mergesort").iterrows():
            rows.append(("area", r))
    positions = np.arange(len(rows))[::-1].astype(float)
    height = 1.9 + 0.19 * len(rows)
    with style.house_style():
        fig, ax = common.figure_and_axes(ax, height)
        right = blended_transform_factory(ax.transAxes, ax.transData)
        tick_labels = []
        for y, (kind, row) in zip(positions, rows, strict=True):
            if kind == "header":
                tick_labels.append(row)
                ax.axhline(y + 0.5, color="#BBBBBB", linewidth=0.6, zorder=1)
                continue
            tick_labels.append(row_label(row))
            synthetic = bool(row["synthetic"])
            colour = COLOURS["synthetic" if synthetic else "model"]
            est = float(row["estimate"]) * scale
            low, high = float(row["ci_low"]) * scale, float(row["ci_high"]) * scale
            ax.errorbar([est], [y + 0.13],
                        xerr=[[max(est - low, 0.0)], [max(high - est, 0.0)]],
                        fmt="s" if synthetic else "o", color=colour, ecolor=colour,
                        markerfacecolor="white" if synthetic else colour, markersize=4.5,
                        elinewidth=1.3, capsize=2, zorder=3, gid="model")
            direct = row.get("direct", np.nan)
            if pd.notna(direct):
                d = float(direct) * scale
                half = z * float(row.get("direct_se", np.nan)) * scale
                ax.errorbar([d], [y - 0.17], xerr=[[half], [half]] if np.isfinite(half) else None,
                            fmt="D", color=COLOURS["direct"], ecolor=COLOURS["direct"],
                            markerfacecolor="white", markersize=3.8, elinewidth=0.9,
                            capsize=1.5, zorder=2, gid="direct")
            if synthetic:
                n_text = _text("not_sampled", lang)
            elif row["__small"]:
                n_text = common.text("suppressed_short", lang, min_cell=min_cell)
            else:
                n_text = common.fmt_number(float(row["n"]), lang)
            t = ax.text(1.01, y, n_text, transform=right, ha="left", va="center", fontsize=6.5,
                        color="#555555", clip_on=False)
            t.set_gid("n")
        ax.set_yticks(positions, tick_labels)
        for tick, (kind, _) in zip(ax.get_yticklabels(), rows, strict=True):
            if kind == "header":
                tick.set_fontweight("bold")
                tick.set_fontsize(9)
            else:
                tick.set_fontsize(7)
        ax.set_ylim(positions.min() - 0.7, positions.max() + 0.7)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", visible=False)
        common.number_axis(ax.xaxis, lang)
        head = ax.text(1.01, 1.0, "n", transform=ax.transAxes, ha="left", va="bottom",
                       fontsize=7.5, color="#555555", fontweight="bold")
        head.set_gid("n_header")
        ax.set_xlabel(xlabel or (common.text("share", lang) if scale == 100
                                 else _text("estimate", lang)))
        handles = [
            Line2D([], [], marker="o", color=COLOURS["model"], label=_text("model", lang,
                                                                           z=z_text)),
            Line2D([], [], marker="D", color=COLOURS["direct"], markerfacecolor="white",
                   label=_text("direct", lang, min_cell=min_cell,
                               level=common.fmt_number(level * 100, lang))),
        ]
        if table["synthetic"].any():
            handles.append(Line2D([], [], marker="s", color=COLOURS["synthetic"],
                                  markerfacecolor="white", label=_text("synthetic", lang)))
        common.legend(ax, handles, ncol=1 if len(handles) > 2 else 2)
        common.set_title(ax, title or _text("title", lang),
                          _text("subtitle", lang, method=method, z=z_text))
        mse = {"REML": "Prasad–Rao", "ML": "Datta–Lahiri", "FH": "Datta–Rao–Smith"}.get(
            method, "Prasad–Rao")
        note = source_note if source_note is not None else _text(
            "source", lang, method=method, mse=mse, min_cell=min_cell)
        common.finish(fig, ax, lang, note, common.n_summary(table["n"].dropna(), lang),
                       min_cell, False)
    return fig
