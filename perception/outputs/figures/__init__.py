"""Publication figures drawn from result tables (never from raw data).

Every function has the form ``plot_x(table, *, lang="fr", labels=None, ax=None,
source_note=None, min_cell=30, ...) -> Figure``: the table passes through
:func:`perception.suppress_small_cells` first, so a cell resting on fewer than
``min_cell`` respondents is drawn as a mark, never as a value. Labels come from the
questionnaire (``labels=q``) or a mapping, in French or English; every figure shows its
sample sizes and a source note. The house style (:mod:`perception.outputs.figures.style`) is
applied inside a context manager, so matplotlib's global settings are left alone.

This package only draws: it never imports the variance engine or the estimators.

Examples
--------
>>> from perception.outputs.figures import plot_trust_by_actor, title_of
>>> demo = pc.demo_survey(seed=1)
>>> trust_items = ["trust_police", "trust_gend", "trust_gn", "trust_army"]
>>> t = pc.top_box(demo.design(), trust_items, by="wave")
>>> fig = plot_trust_by_actor(t, labels=demo.questionnaire, lang="en")
>>> title_of(fig)
'Trust in each actor ("somewhat" or "a lot")'
>>> fig.savefig("trust.png")                                # doctest: +SKIP
"""

from __future__ import annotations

from .changes import plot_change, plot_did, plot_effects
from .common import title_of
from .estimates import (
    plot_design_effects,
    plot_heatmap,
    plot_index,
    plot_subgroups,
    plot_trust_by_actor,
)
from .items import plot_likert, plot_nonresponse
from .sensitive import plot_list_experiment
from .small_area import plot_small_areas
from .style import OKABE_ITO, PALETTE, house_style
from .themes import plot_awareness, plot_victimisation, plot_weight_distribution

#: every figure type: name -> function
FIGURE_TYPES = {
    "trust_by_actor": plot_trust_by_actor,
    "subgroups": plot_subgroups,
    "likert": plot_likert,
    "change": plot_change,
    "did": plot_did,
    "effects": plot_effects,
    "heatmap": plot_heatmap,
    "index": plot_index,
    "design_effects": plot_design_effects,
    "weight_distribution": plot_weight_distribution,
    "victimisation": plot_victimisation,
    "awareness": plot_awareness,
    "nonresponse": plot_nonresponse,
    "list_experiment": plot_list_experiment,
    "small_areas": plot_small_areas,
}

__all__ = [
    "FIGURE_TYPES",
    "OKABE_ITO",
    "PALETTE",
    "house_style",
    "plot_awareness",
    "plot_change",
    "plot_design_effects",
    "plot_did",
    "plot_effects",
    "plot_heatmap",
    "plot_index",
    "plot_likert",
    "plot_list_experiment",
    "plot_nonresponse",
    "plot_small_areas",
    "plot_subgroups",
    "plot_trust_by_actor",
    "plot_victimisation",
    "plot_weight_distribution",
    "title_of",
]
