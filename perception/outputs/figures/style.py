"""House style of the figures: a colour-blind-safe palette, fonts and sizes.

Nothing here changes matplotlib's global state: :func:`house_style` is a context
manager around :func:`matplotlib.rc_context`, and figures are built as
:class:`matplotlib.figure.Figure` objects that pyplot does not track.

Examples
--------
>>> with house_style():
...     fig = new_figure(6, 3)
>>> len(fig.axes)
1
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.rcsetup import cycler

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

#: Okabe & Ito (2008) palette, safe for the common colour-vision deficiencies
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

#: order in which groups (waves, arms, subgroups) take colours
PALETTE = (
    OKABE_ITO["blue"],
    OKABE_ITO["orange"],
    OKABE_ITO["green"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["yellow"],
    OKABE_ITO["black"],
)

#: diverging colours of a Likert scale, from the most negative to the most positive
DIVERGING = {
    2: ("#D55E00", "#0072B2"),
    3: ("#D55E00", "#BBBBBB", "#0072B2"),
    4: ("#D55E00", "#F4B183", "#8CC3E6", "#0072B2"),
    5: ("#D55E00", "#F4B183", "#BBBBBB", "#8CC3E6", "#0072B2"),
    6: ("#A33A00", "#D55E00", "#F4B183", "#8CC3E6", "#0072B2", "#004C78"),
    7: ("#A33A00", "#D55E00", "#F4B183", "#BBBBBB", "#8CC3E6", "#0072B2", "#004C78"),
}

#: greys of the non-substantive answers (refused, don't know, not asked)
MISSING_GREYS = ("#8C8C8C", "#B3B3B3", "#D9D9D9", "#6E6E6E")

#: sequential colour map of heat maps (perceptually uniform, colour-blind safe)
SEQUENTIAL_CMAP = "cividis"

#: colour and hatch of a suppressed cell
SUPPRESSED_COLOUR = "#9E9E9E"
SUPPRESSED_HATCH = "////"

#: arm colours: intervention and comparison areas
ARM_COLOURS = {1: OKABE_ITO["blue"], 0: OKABE_ITO["orange"]}

FIGURE_WIDTH = 7.5  # inches: the text width of an A4 report
DPI = 150

RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9.0,
    "axes.titlesize": 11.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 9.0,
    "axes.edgecolor": "#444444",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "x",
    "axes.axisbelow": True,
    "axes.prop_cycle": cycler(color=list(PALETTE)),
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "pdf.fonttype": 42,
    "svg.fonttype": "none",
    "hatch.color": "#9E9E9E",
    "hatch.linewidth": 0.6,
}


@contextmanager
def house_style(**overrides) -> Iterator[dict]:
    """Apply the house style inside a ``with`` block only.

    Parameters
    ----------
    **overrides : rcParams to change on top of the house style (dots as underscores are
        not translated: pass ``**{"font.size": 10}``).

    Examples
    --------
    >>> with house_style(**{"font.size": 12}):
    ...     import matplotlib as mpl
    ...     mpl.rcParams["font.size"]
    12.0
    """
    # the names of the overrides are only known at run time: matplotlib checks them
    params = cast("dict[RcKeyType, Any]", {**RC, **overrides})
    with mpl.rc_context(params):
        yield params


def new_figure(width: float = FIGURE_WIDTH, height: float = 4.0, ncols: int = 1,
               **subplot_kw) -> Figure:
    """A figure outside pyplot (no global registry) with ``ncols`` axes side by side."""
    fig = Figure(figsize=(width, height), layout="constrained")
    fig.subplots(1, ncols, **subplot_kw)
    return fig


def colour(i: int) -> str:
    """The i-th colour of :data:`PALETTE` (cycled)."""
    return PALETTE[i % len(PALETTE)]
