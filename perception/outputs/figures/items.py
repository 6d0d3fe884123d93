"""Distributions of answers: diverging stacked bars of Likert items and item
nonresponse."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import blended_transform_factory

from ...disclosure.suppression import DEFAULT_MIN_CELL
from ...errors import PerceptionError
from . import common, style


def _row_keys(table: pd.DataFrame, group_col: str | None) -> list:
    keys = []
    variables = list(pd.unique(table["variable"]))
    groups = common.ordered_unique(table[group_col]) if group_col else [None]
    for v in variables:
        for g in groups:
            sub = table[table["variable"] == v]
            if group_col is not None:
                sub = sub[sub[group_col] == g]
            if len(sub):
                keys.append((v, g))
    return keys


def plot_likert(
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
    """Diverging stacked bars of Likert items: negative answers left of zero, positive
    answers right of it, non-substantive answers (refused, don't know) in grey apart.

    Parameters
    ----------
    table : :func:`perception.likert` (``variable``, ``category``, ``estimate``,
        ``n``, ``missing_code``), optionally by one domain column (``group``), each
        (item, group) drawn as one bar.
    labels : questionnaire or mapping for the items' and answer codes' labels.

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> t = pc.likert(design, ["trust_police", "trust_gend"], by="wave")
    >>> fig = plot_likert(t, labels=q, lang="en")

    Notes
    -----
    R: ``svymean(~factor(x), design)`` per item, drawn as ``likert::likert`` would.
    """
    table = common.prepare(table, min_cell, ("variable", "category", "estimate", "n"),
                            "plot_likert")
    common.check_lang(lang)
    if "missing_code" not in table.columns:
        table = table.assign(missing_code=False)
    group_col = common.group_key(table, group)
    lab = common.Labeller(labels, lang)
    scale_codes = sorted(pd.unique(table.loc[~table["missing_code"].astype(bool), "category"]))
    missing_codes = sorted(pd.unique(table.loc[table["missing_code"].astype(bool), "category"]))
    k = len(scale_codes)
    if k < 2:
        raise PerceptionError("plot_likert needs at least two answer categories on the scale")
    colours = style.DIVERGING.get(k) or style.DIVERGING[7][:k]
    keys = _row_keys(table, group_col)
    variables = list(pd.unique(table["variable"]))
    first_var = variables[0]
    blocks = group_col is not None and len(variables) > 1
    positions, headers = _positions(keys, blocks)
    height = 1.9 + 0.34 * (len(keys) + 0.8 * len(headers))
    half = k // 2
    with style.house_style():
        fig, ax = common.figure_and_axes(ax, height)
        any_suppressed = False
        max_right = 0.0
        drawn: list[tuple[float, dict, dict]] = []
        for y, (v, g) in zip(positions, keys, strict=True):
            sub = table[table["variable"] == v]
            if group_col is not None:
                sub = sub[sub[group_col] == g]
            # a hidden cell has no share (a hidden missing code is left out of its bar); a
            # bar with a hidden answer of the scale is not drawn (its geometry would tell it)
            shares = {c: float(e) for c, e, h in zip(sub["category"], sub["estimate"],
                                                     sub["suppressed"], strict=True) if not h}
            on_scale = ~sub["missing_code"].astype(bool)
            suppressed = bool(sub.loc[on_scale, "suppressed"].any())
            any_suppressed = any_suppressed or bool(sub["suppressed"].any())
            n = float(sub["n"].iloc[0])
            if suppressed:
                any_suppressed = True
                drawn.append((y, {}, {"n": n, "suppressed": True}))
                continue
            # the middle category of an odd scale straddles zero
            neg = sum(shares.get(c, 0.0) for c in scale_codes[:half])
            if k % 2:
                neg += shares.get(scale_codes[half], 0.0) / 2
            pos = sum(shares.get(c, 0.0) for c in scale_codes[half:]) - (
                shares.get(scale_codes[half], 0.0) / 2 if k % 2 else 0.0)
            max_right = max(max_right, pos, neg)
            drawn.append((y, shares, {"n": n, "suppressed": False, "neg": neg}))
        gap = 0.08
        right_start = max(max_right, 0.5) + gap
        trans = blended_transform_factory(ax.transAxes, ax.transData)
        for y, shares, info in drawn:
            if info["suppressed"]:
                stub = Rectangle((-0.5, y - 0.32), 1.0, 0.64, facecolor="white",
                                 edgecolor=style.SUPPRESSED_COLOUR, hatch=style.SUPPRESSED_HATCH,
                                 linewidth=0.6)
                stub.set_gid("suppressed")
                ax.add_patch(stub)
                common.mark_suppressed(ax, 0, y, lang, min_cell, ha="center", n=info["n"])
            else:
                left = -info["neg"]
                for c, colour in zip(scale_codes, colours, strict=True):
                    share = shares.get(c, 0.0)
                    bars = ax.barh(y, share, left=left, height=0.64, color=colour,
                                   edgecolor="white", linewidth=0.5)
                    bars.patches[0].set_gid(f"scale:{c}")
                    if share >= 0.06:
                        r, gr, b = _rgb(colour)
                        dark = 0.299 * r + 0.587 * gr + 0.114 * b < 0.6
                        ax.text(left + share / 2, y, common.fmt_number(share * 100, lang),
                                ha="center", va="center", fontsize=6.8,
                                color="white" if dark else "black")
                    left += share
                left = right_start
                for c, grey in zip(missing_codes, style.MISSING_GREYS, strict=False):
                    share = shares.get(c, 0.0)
                    if share <= 0:
                        continue
                    bars = ax.barh(y, share, left=left, height=0.64, color=grey,
                                   edgecolor="white", linewidth=0.5)
                    bars.patches[0].set_gid(f"missing:{c}")
                    left += share
            if not info["suppressed"]:  # a suppressed bar's size never shows
                t = ax.text(1.01, y, common.fmt_number(info["n"], lang), transform=trans,
                            ha="left", va="center", fontsize=7, color="#555555",
                            clip_on=False)
                t.set_gid("n")
        head = ax.text(1.01, 1.0, "n", transform=ax.transAxes, ha="left", va="bottom",
                       fontsize=7.5, fontweight="bold", color="#555555")
        head.set_gid("n_header")
        ax.axvline(0, color="#333333", linewidth=0.9)
        if missing_codes:
            ax.axvline(right_start - gap / 2, color="#BBBBBB", linewidth=0.6, linestyle=":")
        extent = max(max_right, 0.5)
        ax.set_xlim(-extent - 0.02, right_start + (0.25 if missing_codes else 0.0))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: common.fmt_number(
            abs(x) * 100, lang) if x <= right_start - gap / 2 + 1e-9 else ""))
        ax.set_xticks([t for t in np.arange(-1.0, 1.01, 0.25) if -extent - 0.02 <= t <= right_start - gap])
        ax.set_xlabel(common.text("share", lang))
        if group_col is None or len(keys) == len(variables):
            row_labels = [lab.variable(v) for v, _ in keys]
        else:
            row_labels = [lab.value(group_col, g) for _, g in keys]
        ticks = [*positions, *(y for y, _ in headers)]
        tick_labels = [*(common.wrap(r, 36) for r in row_labels),
                       *(common.wrap(lab.variable(v), 40) for _, v in headers)]
        ax.set_yticks(ticks, tick_labels)
        for label in ax.get_yticklabels()[len(positions):]:
            label.set_fontweight("bold")
        ax.set_ylim(min(ticks) - 0.6, max(ticks) + 0.6)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", visible=False)
        code_labels = [lab.value(first_var, c) for c in scale_codes]
        handles = [Patch(facecolor=c, label=common.wrap(t, 24))
                   for c, t in zip(colours, code_labels, strict=True)]
        handles += [Patch(facecolor=g, label=common.wrap(_missing_label(lab, first_var, c, lang), 24))
                    for c, g in zip(missing_codes, style.MISSING_GREYS, strict=False)]
        common.legend(ax, handles, ncol=min(len(handles), 4), fontsize=7.5,
                       handlelength=1.2, columnspacing=1.0)
        if missing_codes:
            head = ax.text((right_start + ax.get_xlim()[1]) / 2, 1.0,
                           common.wrap(common.text("missing_answers", lang), 12),
                           transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                           fontsize=7, color="#555555")
            head.set_gid("missing_header")
        if len(variables) == 1 and group_col is not None:
            default = lab.variable(first_var)
        else:
            default = {"fr": "Répartition des réponses", "en": "Distribution of answers"}[lang]
        common.set_title(ax, title or default)
        common.finish(fig, ax, lang, source_note, common.published_n(table, lang),
                       min_cell, any_suppressed, intervals=False)
    return fig


def _missing_label(lab: common.Labeller, variable: str, code, lang: str) -> str:
    if int(code) == -1:
        return {"fr": "Non renseigné", "en": "Not recorded"}[lang]
    return lab.value(variable, code)


def _positions(keys: list, blocks: bool) -> tuple[np.ndarray, list]:
    """Vertical positions of the bars (first at the top) and, when the rows are items ×
    groups, one header per item above its block."""
    positions: list[float] = []
    headers: list[tuple[float, Any]] = []  # (position, variable) above each block
    y = 0.0
    current = object()
    for v, _ in keys:
        if blocks and v != current:
            if headers:
                y -= 0.3
            headers.append((y, v))
            y -= 0.8
            current = v
        positions.append(y)
        y -= 1.0
    return np.asarray(positions), headers


def _rgb(colour: str) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(colour)


REASON_ORDER = ("dont_know", "refused", "not_applicable", "other_code", "missing")
REASON_TEXT = {
    "dont_know": {"fr": "Ne sait pas", "en": "Don't know"},
    "refused": {"fr": "Refus", "en": "Refused"},
    "not_applicable": {"fr": "Non applicable", "en": "Not applicable"},
    "other_code": {"fr": "Autre code manquant", "en": "Other missing code"},
    "missing": {"fr": "Non renseigné", "en": "Not recorded"},
}


def plot_nonresponse(
    table: pd.DataFrame,
    *,
    lang: str = "fr",
    labels: Any = None,
    ax=None,
    source_note: str | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
    title: str | None = None,
) -> Figure:
    """Item nonresponse: stacked shares of don't know, refused and missing per item.

    Parameters
    ----------
    table : :func:`perception.item_nonresponse` (``variable``, ``category``,
        ``estimate``, ``n``).

    Examples
    --------
    >>> demo = pc.demo_survey(seed=1)
    >>> design, q = demo.design(), demo.questionnaire
    >>> trust_items = ["trust_police", "trust_gend", "trust_gn", "trust_army"]
    >>> table = pc.item_nonresponse(design, trust_items, questionnaire=q)
    >>> fig = plot_nonresponse(table, labels=q)

    Notes
    -----
    R: ``svymean(~I(x == 9) + I(x == 8), design)`` per item, as stacked bars.
    """
    table = common.prepare(table, min_cell, ("variable", "category", "estimate", "n"),
                            "plot_nonresponse")
    common.check_lang(lang)
    if common.domain_columns(table):
        raise PerceptionError(
            "plot_nonresponse draws one table without domains; filter the table to one "
            f"domain first (it has {', '.join(common.domain_columns(table))})"
        )
    lab = common.Labeller(labels, lang)
    reasons = [r for r in REASON_ORDER
               if (table.loc[table["category"] == r, "estimate"].fillna(0) > 0).any()]
    totals = table[table["category"] == "any"].set_index("variable")["estimate"]
    variables = list(pd.unique(table["variable"]))
    variables.sort(key=lambda v: -np.nan_to_num(totals.get(v, np.nan), nan=-1))
    height = 1.6 + 0.3 * len(variables)
    colours = dict(zip(REASON_ORDER, (style.OKABE_ITO["sky_blue"], style.OKABE_ITO["vermillion"],
                                      style.OKABE_ITO["yellow"], style.OKABE_ITO["purple"],
                                      "#8C8C8C"), strict=True))
    with style.house_style():
        fig, ax = common.figure_and_axes(ax, height)
        positions = np.arange(len(variables))[::-1].astype(float)
        trans = blended_transform_factory(ax.transAxes, ax.transData)
        any_suppressed = False
        top = float(np.nanmax(totals.to_numpy())) if len(totals) and totals.notna().any() else 0.1
        for y, v in zip(positions, variables, strict=True):
            sub = table[table["variable"] == v].set_index("category")
            n = float(sub["n"].iloc[0])
            if bool(sub["suppressed"].any()):
                any_suppressed = True
                common.mark_suppressed(ax, 0, y, lang, min_cell, n=n)
            else:
                left = 0.0
                for reason in reasons:
                    share = float(sub["estimate"].get(reason, 0.0))
                    bars = ax.barh(y, share * 100, left=left * 100, height=0.62,
                                   color=colours[reason], edgecolor="white", linewidth=0.5)
                    bars.patches[0].set_gid(f"reason:{reason}")
                    left += share
                ax.text(left * 100 + top * 100 * 0.01, y, common.fmt_pct(left, lang, 1),
                        ha="left", va="center", fontsize=7)
            if not bool(sub["suppressed"].any()):  # a suppressed item's size never shows
                t = ax.text(1.01, y, common.fmt_number(n, lang), transform=trans, ha="left",
                            va="center", fontsize=7, color="#555555", clip_on=False)
                t.set_gid("n")
        head = ax.text(1.01, 1.0, "n", transform=ax.transAxes, ha="left", va="bottom",
                       fontsize=7.5, fontweight="bold", color="#555555")
        head.set_gid("n_header")
        ax.set_xlim(0, max(top * 100 * 1.18, 1.0))
        common.number_axis(ax.xaxis, lang)
        ax.set_yticks(positions, [common.wrap(lab.variable(v), 36) for v in variables])
        ax.set_ylim(positions.min() - 0.6, positions.max() + 0.6)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(common.text("share", lang))
        handles = [Patch(facecolor=colours[r], label=REASON_TEXT[r][lang]) for r in reasons]
        if handles:
            common.legend(ax, handles, ncol=len(handles))
        default = {"fr": "Non-réponse partielle par question",
                   "en": "Item nonresponse by question"}[lang]
        common.set_title(ax, title or default)
        common.finish(fig, ax, lang, source_note, common.published_n(table, lang),
                       min_cell, any_suppressed, intervals=False)
    return fig
