"""Drawing blocks shared by the figures: dots with intervals, grouped bars."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory

from ...tables import smallest_count
from . import common, style


@dataclass(frozen=True)
class Cell:
    """One estimate to draw: its value, interval, respondents and suppression flag."""

    estimate: float
    low: float
    high: float
    n: float
    suppressed: bool


def cell_of(row) -> Cell:
    """The cell of a table row; its ``n`` is the count the small-cell rule applied to:
    the smallest of ``n`` and the cell counts a change (``n_from``, ``n_to``) or a DiD
    effect (``n_min``) carries (:func:`perception.tables.smallest_count`, NaN when one
    is unknown)."""
    n = float(smallest_count(row.to_frame().T).iloc[0])
    return Cell(
        float(row["estimate"]), float(row.get("ci_low", np.nan)),
        float(row.get("ci_high", np.nan)), n, bool(row["suppressed"]),
    )


def dot_whisker(
    ax: Axes,
    rows: Sequence,
    row_labels: Sequence[str],
    groups: Sequence,
    group_labels: Sequence[str],
    cells: dict,
    *,
    lang: str,
    min_cell: int,
    scale: float = 100.0,
    colours: Sequence[str] | None = None,
    zero_line: bool = False,
    show_n: bool = True,
    marker: str = "o",
    xlim: tuple[float, float] | None = None,
) -> bool:
    """Horizontal dots with interval whiskers: one line per row, groups dodged.

    ``cells[(row, group)]`` is a :class:`Cell`. Returns whether a cell was suppressed.
    Each group is one ``errorbar`` container; suppressed cells get a mark instead.
    """
    n_groups = max(len(groups), 1)
    step = 0.7 / n_groups
    offsets = (np.arange(n_groups) - (n_groups - 1) / 2) * step
    positions = np.arange(len(rows))[::-1].astype(float)  # first row at the top
    colours = list(colours) if colours is not None else [style.colour(i) for i in range(n_groups)]
    any_suppressed = False
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for g, group in enumerate(groups):
        xs, ys, lo, hi = [], [], [], []
        for r, row in enumerate(rows):
            cell = cells.get((row, group))
            if cell is None:
                continue
            y = positions[r] - offsets[g]
            if cell.suppressed or not np.isfinite(cell.estimate):
                any_suppressed = True
                common.mark_suppressed(ax, 0.01, y, lang, min_cell, transform=right,
                                       n=cell.n)
            else:
                xs.append(cell.estimate * scale)
                ys.append(y)
                lo.append(max(cell.estimate - cell.low, 0.0) * scale if np.isfinite(cell.low) else 0.0)
                hi.append(max(cell.high - cell.estimate, 0.0) * scale if np.isfinite(cell.high) else 0.0)
            # a suppressed cell's size never shows (its mark says n < min_cell)
            if show_n and np.isfinite(cell.n) and not cell.suppressed:
                t = ax.text(1.01, y, common.fmt_number(cell.n, lang), transform=right,
                            ha="left", va="center", fontsize=7, color="#555555", clip_on=False)
                t.set_gid("n")
        if xs:
            ax.errorbar(xs, ys, xerr=[lo, hi], fmt=marker, color=colours[g], ecolor=colours[g],
                        elinewidth=1.4, capsize=2.5, markersize=5.5, label=group_labels[g],
                        zorder=3)
        elif len(groups) > 1:
            ax.plot([], [], marker, color=colours[g], label=group_labels[g])
    ax.set_yticks(positions, [common.wrap(label, 34) for label in row_labels])
    ax.set_ylim(positions.min() - 0.6, positions.max() + 0.6)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="y", visible=False)
    common.number_axis(ax.xaxis, lang)
    if zero_line:
        ax.axvline(0, color="#333333", linewidth=0.9, zorder=1)
    if xlim is not None:
        ax.set_xlim(*xlim)
    if show_n:
        head = ax.text(1.01, 1.0, "n", transform=ax.transAxes, ha="left", va="bottom",
                       fontsize=7.5, color="#555555", fontweight="bold")
        head.set_gid("n_header")
    if len(groups) > 1:
        common.legend(ax, ncol=min(len(groups), 4), handletextpad=0.3, columnspacing=1.2)
    return any_suppressed


def grouped_bars(
    ax: Axes,
    rows: Sequence,
    row_labels: Sequence[str],
    groups: Sequence,
    group_labels: Sequence[str],
    cells: dict,
    *,
    lang: str,
    min_cell: int,
    scale: float = 100.0,
    colour_of: Callable[[int, object], str] | None = None,
    hatch_of: Callable[[int, object], str | None] | None = None,
) -> bool:
    """Horizontal bars with interval whiskers: one block per row, groups stacked in it.

    Each group is one bar container plus one errorbar container; the value and the
    respondents of each bar are written at its end. Returns whether a cell was
    suppressed (drawn as a mark instead of a bar).
    """
    n_groups = max(len(groups), 1)
    step = 0.8 / n_groups
    offsets = (np.arange(n_groups) - (n_groups - 1) / 2) * step
    positions = np.arange(len(rows))[::-1].astype(float)
    any_suppressed = False
    top = 0.0
    for cell in cells.values():
        if not cell.suppressed:
            for v in (cell.high, cell.estimate):
                if np.isfinite(v):
                    top = max(top, v * scale)
    top = top if top > 0 else scale
    for g, group in enumerate(groups):
        colour = colour_of(g, group) if colour_of else style.colour(g)
        hatch = hatch_of(g, group) if hatch_of else None
        ys, widths, lo, hi = [], [], [], []
        for r, row in enumerate(rows):
            cell = cells.get((row, group))
            if cell is None:
                continue
            y = positions[r] - offsets[g]
            if cell.suppressed or not np.isfinite(cell.estimate):
                any_suppressed = True
                common.mark_suppressed(ax, top * 0.01, y, lang, min_cell, fontsize=6.5,
                                       n=cell.n)
                continue
            ys.append(y)
            widths.append(cell.estimate * scale)
            lo.append(max(cell.estimate - cell.low, 0.0) * scale if np.isfinite(cell.low) else 0.0)
            hi.append(max(cell.high - cell.estimate, 0.0) * scale if np.isfinite(cell.high) else 0.0)
            end = (cell.high if np.isfinite(cell.high) else cell.estimate) * scale
            t = ax.text(end + top * 0.012, y,
                        f"{common.fmt_number(cell.estimate * scale, lang)}  "
                        f"({common.fmt_n(cell.n, lang)})",
                        ha="left", va="center", fontsize=6.8, color="#333333")
            t.set_gid("n")
        ax.barh(ys, widths, height=step * 0.9, color=colour, hatch=hatch,
                edgecolor="white", linewidth=0.5, label=group_labels[g], zorder=2)
        if ys:
            ax.errorbar(widths, ys, xerr=[lo, hi], fmt="none", ecolor="#222222",
                        elinewidth=1.0, capsize=2, zorder=3)
    ax.set_yticks(positions, [common.wrap(label, 30) for label in row_labels])
    ax.set_ylim(positions.min() - 0.55, positions.max() + 0.55)
    ax.set_xlim(0, top * 1.3)
    common.number_axis(ax.xaxis, lang)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", visible=True)
    if len(groups) > 1:
        handles = [Patch(facecolor=colour_of(g, grp) if colour_of else style.colour(g),
                         hatch=hatch_of(g, grp) if hatch_of else None, edgecolor="white",
                         label=group_labels[g]) for g, grp in enumerate(groups)]
        common.legend(ax, handles, ncol=2 if n_groups > 2 else n_groups)
    return any_suppressed
