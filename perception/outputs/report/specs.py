"""The figure set: each figure's variables, its result tables (computed with the public
estimators and published through :mod:`perception.disclosure`), how to draw it, and its
tables for reading.

A figure that compares waves needs two of them, and a difference-in-differences needs
the intervention areas too: on a set that lacks them, :func:`available_figures` leaves
them out and says why (the baseline report of a first wave).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ...analysis.changes import change
from ...analysis.diff_in_diff import did
from ...analysis.list_experiments import list_experiment
from ...analysis.scales import index, item_nonresponse, likert, top_box
from ...disclosure.suppression import DEFAULT_MIN_COUNT
from ...errors import PerceptionError
from ...survey.attached import stack_tables
from ...survey.weighting import weight_diagnostics
from .. import figures as F
from ..figures.items import REASON_TEXT
from ..labelling import Labeller
from ..readable import ReadableTable, add_weighted_n, publishable, readable_table
from .context import ReportContext, high_column


# ------------------------------------------------------------ tables of a figure --
def weight_distribution(design, bins: int = 20, by: str | Sequence[str] | None = None
                        ) -> pd.DataFrame:
    """Binned survey weights: the table behind a weight histogram.

    Equal-width bins, the same for every domain (e.g. every wave), over the range of the
    weights; when the largest weight is more than 20 times the smallest, the bins are
    equal on a logarithmic scale (``attrs["scale"] == "log"``), so the long tail of large
    weights is drawn bin by bin, never as one wide bar.

    Parameters
    ----------
    design : a design; rows outside its domain are left out.
    bins : number of bins.
    by : domain column(s) (e.g. ``wave``): one set of bins per domain, same edges.

    Returns
    -------
    DataFrame: the ``by`` columns, ``bin_low``, ``bin_high``, ``n`` (respondents) and
    ``estimate`` (their share in the domain).

    Examples
    --------
    >>> design = pc.demo_survey(seed=1).design()
    >>> t = weight_distribution(design, bins=10, by="wave")
    >>> t.attrs["scale"], len(t), t.groupby("wave")["estimate"].sum().round(6).tolist()
    ('log', 20, [1.0, 1.0])
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise PerceptionError(f"bins must be a positive whole number, got {bins!r}")
    by_names = [by] if isinstance(by, str) else list(by or [])
    weights = np.asarray(design.weight_array, dtype=float)
    inside = np.asarray(design.in_domain, dtype=bool) & (weights > 0)
    w = weights[inside]
    if w.size == 0:
        raise PerceptionError("the design has no respondent with a positive weight")
    low, high = float(w.min()), float(w.max())
    log = high > 20 * low
    if low == high:
        edges = np.array([low * 0.95, low * 1.05])
    elif log:
        edges = np.logspace(np.log10(low), np.log10(high), bins + 1)
    else:
        edges = np.linspace(low, high, bins + 1)
    idx = np.clip(np.searchsorted(edges, w, side="right") - 1, 0, len(edges) - 2)
    if by_names:
        frame = design.data.loc[inside, by_names]
        codes = frame.groupby(by_names, sort=True).ngroup().to_numpy()
        groups = [tuple(r) for r in frame.drop_duplicates().sort_values(by_names)
                  .itertuples(index=False)]
    else:
        codes = np.zeros(len(w), dtype=int)
        groups = [()]
    rows = []
    for g, key in enumerate(groups):
        counts = np.bincount(idx[codes == g], minlength=len(edges) - 1)
        total = counts.sum()
        for b, count in enumerate(counts):
            rows.append({**dict(zip(by_names, key, strict=True)), "bin_low": edges[b],
                         "bin_high": edges[b + 1], "n": int(count),
                         "estimate": count / total if total else np.nan})
    out = pd.DataFrame(rows)
    out.attrs["scale"] = "log" if log else "linear"
    return out


def _kish(ctx: ReportContext) -> pd.DataFrame:
    """Weight diagnostics by wave (first row: all waves): Kish design effect, effective n."""
    return ctx.shared("weight_diagnostics", lambda: weight_diagnostics(ctx.design, by=ctx.wave))


def _trust_table(ctx: ReportContext) -> pd.DataFrame:
    return ctx.shared("trust_by_wave", lambda: top_box(
        ctx.design, ctx.config["trust_items"], top=ctx.config["top"], by=ctx.wave,
        questionnaire=ctx.questionnaire))


def _did_outcome(ctx: ReportContext):
    return ctx.shared("did_outcome", lambda: did(
        ctx.design, high_column(ctx.config["outcome"]), treated=str(ctx.treated), period=ctx.wave,
        na_rm=True))


def _last_wave_design(ctx: ReportContext):
    return ctx.design.subset((ctx.design.data[ctx.wave] == ctx.waves[-1]).to_numpy())


def _change_tables(ctx: ReportContext) -> dict[str, pd.DataFrame]:
    outcome = high_column(ctx.config["outcome"])
    domain = ctx.config["domain"]
    by_domain = change(ctx.design, outcome, over=ctx.wave, by=domain, na_rm=True)
    overall = change(ctx.design, outcome, over=ctx.wave, na_rm=True)
    # n, n_from and n_to come with the tables: suppression checks both waves
    return {"": by_domain, "overall": overall}


def _subgroup_effects(ctx: ReportContext) -> pd.DataFrame:
    outcome = high_column(ctx.config["outcome"])
    subgroups = list(ctx.config["subgroups"])
    tables = [_did_outcome(ctx).effects]
    for column in subgroups:
        result = did(ctx.design, outcome, treated=str(ctx.treated), period=ctx.wave, by=column,
                     na_rm=True)
        tables.append(result.effects)
    stacked = pd.concat([t.assign(**{c: np.nan for c in subgroups if c not in t.columns})
                         for t in tables], ignore_index=True)
    rest = [c for c in stacked.columns if c not in subgroups]
    return stacked[[*subgroups, *rest]]


def _subgroup_levels(ctx: ReportContext) -> pd.DataFrame:
    """The outcome's share by each subgroup (sex, age, region ...) and wave, stacked."""
    outcome = ctx.config["outcome"]
    subgroups = [c for c in ctx.config["subgroups"] if c in ctx.design.data.columns]
    tables = [top_box(ctx.design, outcome, top=ctx.config["top"], by=[column, ctx.wave],
                      questionnaire=ctx.questionnaire) for column in subgroups]
    stacked = pd.concat([t.assign(**{c: np.nan for c in subgroups if c not in t.columns})
                         for t in tables], ignore_index=True)
    rest = [c for c in stacked.columns if c not in subgroups]
    return stacked[[*subgroups, *rest]]


def _shares(ctx: ReportContext, spec: Mapping[str, Sequence[int]], by: list[str]
            ) -> pd.DataFrame:
    return stack_tables([top_box(ctx.design, item, top=list(top), by=by,
                                 questionnaire=ctx.questionnaire)
                         for item, top in spec.items()])


def _label(ctx: ReportContext, name: str) -> str:
    """A variable's label for a title: a short label is kept on one line (no-break
    spaces), so a wrapped title never breaks inside a name."""
    label = Labeller(ctx.labels, ctx.lang).variable(name)
    return label.replace(" ", "\u00a0") if len(label) <= 32 else label


def _last_wave_label(ctx: ReportContext) -> str:
    return Labeller(ctx.labels, ctx.lang).value(ctx.wave, ctx.waves[-1])


def _t(ctx: ReportContext, fr: str, en: str) -> str:
    return fr if ctx.lang == "fr" else en


def _common(ctx: ReportContext) -> dict[str, Any]:
    return {"lang": ctx.lang, "labels": ctx.labels, "source_note": ctx.source_note,
            "min_cell": ctx.min_cell}


def _kish_value(diagnostics: pd.DataFrame) -> float | None:
    for column in ("deff_kish", "kish_deff", "deff_weighting", "deff_w", "deff"):
        if column in diagnostics.columns and len(diagnostics):
            value = diagnostics[column].iloc[0]
            return float(value) if pd.notna(value) else None
    return None


# ------------------------------------------------------------------- the specs --
@dataclass(frozen=True)
class FigureSpec:
    """One figure of the set: the variables it needs, its tables and how to draw them.

    ``waves`` is the number of waves it needs (2: a comparison of waves); ``treated``
    whether it needs the intervention areas; ``statistics`` maps each table part to the
    statistic of its estimates (parts left out are not shown as tables for reading);
    ``applies`` says whether the set draws it when no figure is named (the list
    experiment's figure needs a questionnaire that declares one).
    """

    name: str
    description: str
    columns: Callable[[ReportContext], list[str]]
    tables: Callable[[ReportContext], dict[str, pd.DataFrame]]
    draw: Callable[[ReportContext, dict[str, pd.DataFrame]], Any]
    waves: int = 1
    treated: bool = False
    statistics: Mapping[str, str] = field(default_factory=lambda: {"": "proportion"})
    applies: Callable[[ReportContext], bool] = lambda ctx: True


def _spec_list() -> list[FigureSpec]:
    return [
        FigureSpec(
            "trust_actors", "Trust in each actor by wave (top box) with 95% intervals",
            lambda c: [*c.config["trust_items"], c.wave],
            lambda c: {"": _trust_table(c)},
            lambda c, t: F.plot_trust_by_actor(t[""], group=c.wave, **_common(c)),
        ),
        FigureSpec(
            "trust_subgroups", "Trust in the outcome actor by sex, age and region, by wave",
            lambda c: [c.config["outcome"], *c.config["subgroups"], c.wave],
            lambda c: {"": _subgroup_levels(c)},
            lambda c, t: F.plot_subgroups(t[""], group=c.wave, title=_t(
                c, f"Confiance par sous-groupe : {_label(c, c.config['outcome'])}",
                f"Trust by subgroup: {_label(c, c.config['outcome'])}"), **_common(c)),
        ),
        FigureSpec(
            "trust_likert", "Distribution of the answers on the FSI trust items by wave",
            lambda c: [*c.config["fsi_items"], c.wave],
            lambda c: {"": likert(c.design, c.config["fsi_items"], by=c.wave,
                                  questionnaire=c.questionnaire)},
            lambda c, t: F.plot_likert(t[""], group=c.wave, title=_t(
                c, "Confiance envers les forces de sécurité intérieure (FSI)",
                "Trust in the internal security forces (FSI)"), **_common(c)),
        ),
        FigureSpec(
            "fsi_relations", "Perceived conduct of the FSI (Likert items) by wave",
            lambda c: [*c.config["relation_items"], c.wave],
            lambda c: {"": likert(c.design, c.config["relation_items"], by=c.wave,
                                  questionnaire=c.questionnaire)},
            lambda c, t: F.plot_likert(t[""], group=c.wave, title=_t(
                c, "Comportement perçu des FSI", "Perceived conduct of the FSI"),
                **_common(c)),
        ),
        FigureSpec(
            "trust_heatmap", "Trust by domain (cercle, grouped by region) and actor at the "
                             "last wave, cells of low precision hatched",
            lambda c: [*c.config["trust_items"], c.config["domain"], c.wave],
            lambda c: {"": top_box(_last_wave_design(c), c.config["trust_items"],
                                   top=c.config["top"], by=c.config["domain"],
                                   questionnaire=c.questionnaire)},
            lambda c, t: F.plot_heatmap(
                t[""], row=c.config["domain"], groups=_region_of(c), title=_t(
                    c, f"Confiance par cercle et par acteur — {_last_wave_label(c)}",
                    f"Trust by cercle and actor — {_last_wave_label(c)}"), **_common(c)),
        ),
        FigureSpec(
            "trust_index", "Index of trust in the FSI (0-100) by domain and wave",
            lambda c: [*c.config["fsi_items"], c.config["domain"], c.wave],
            lambda c: {"": index(c.design, c.config["fsi_items"],
                                 by=[c.config["domain"], c.wave],
                                 scale=tuple(c.config["index_scale"]),
                                 questionnaire=c.questionnaire)},
            lambda c, t: F.plot_index(t[""], row=c.config["domain"], group=c.wave,
                                      **_common(c)),
            statistics={"": "index"},
        ),
        FigureSpec(
            "change_domain", "Change of the outcome between the first and each later wave, "
                             "by domain, with the whole sample",
            lambda c: [c.config["outcome"], c.config["domain"], c.wave],
            lambda c: _change_tables(c),
            lambda c, t: F.plot_change(t[""], overall=t["overall"], over=c.wave, title=_t(
                c, f"Évolution de la confiance par cercle : {_label(c, c.config['outcome'])}",
                f"Change in trust by cercle: {_label(c, c.config['outcome'])}"),
                **_common(c)),
            waves=2, statistics={"": "proportion", "overall": "proportion"},
        ),
        FigureSpec(
            "did_outcome", "Intervention and comparison areas over the waves, with the DiD",
            lambda c: [c.config["outcome"], c.treated or "treated", c.wave],
            lambda c: {"": _did_outcome(c).cells,
                       "effects": _did_outcome(c).effects},
            lambda c, t: F.plot_did(t[""], effects=t["effects"], treated=str(c.treated),
                                    period=c.wave, title=_t(
                c, f"Confiance dans les zones d'intervention et de comparaison : "
                   f"{_label(c, c.config['outcome'])}",
                f"Trust in intervention and comparison areas: {_label(c, c.config['outcome'])}"),
                **_common(c)),
            waves=2, treated=True, statistics={"": "proportion", "effects": "proportion"},
        ),
        FigureSpec(
            "did_items", "DiD effect on each FSI trust item",
            lambda c: [*c.config["fsi_items"], c.treated or "treated", c.wave],
            lambda c: {"": c.shared("did_items", lambda: did(
                c.design, [high_column(i) for i in c.config["fsi_items"]],
                treated=str(c.treated), period=c.wave, na_rm=True)).effects},
            lambda c, t: F.plot_effects(t[""], **_common(c)),
            waves=2, treated=True,
        ),
        FigureSpec(
            "did_subgroups", "DiD effect on the outcome by subgroup",
            lambda c: [c.config["outcome"], *c.config["subgroups"], c.treated or "treated",
                       c.wave],
            lambda c: {"": _subgroup_effects(c)},
            lambda c, t: F.plot_effects(t[""], **_common(c)),
            waves=2, treated=True,
        ),
        FigureSpec(
            "weights", "Distribution of the survey weights by wave, Kish design effect",
            lambda c: [c.wave],
            lambda c: {"": weight_distribution(c.design, c.config["weight_bins"], by=c.wave),
                       "diagnostics": _kish(c)},
            lambda c, t: F.plot_weight_distribution(t[""], diagnostics=t["diagnostics"],
                                                    group=c.wave, **_common(c)),
            statistics={},
        ),
        FigureSpec(
            "design_effects", "Design effects of the trust estimates, with the weighting's",
            lambda c: [*c.config["trust_items"], c.wave],
            lambda c: {"": _trust_table(c), "diagnostics": _kish(c)},
            lambda c, t: F.plot_design_effects(t[""], group=c.wave, kish=_kish_value(
                t["diagnostics"]), **_common(c)),
            statistics={"": "deff"},
        ),
        FigureSpec(
            "victimisation", "Victimisation and reporting to the FSI by wave",
            lambda c: [*c.config["victimisation"], c.wave],
            lambda c: {"": _shares(c, c.config["victimisation"], [c.wave])},
            lambda c, t: F.plot_victimisation(t[""], group=c.wave, **_common(c)),
        ),
        FigureSpec(
            "awareness", "Awareness of and participation in the community actions, by "
                         "area and wave",
            lambda c: [*c.config["awareness"], c.treated or "treated", c.wave],
            lambda c: {"": _shares(c, c.config["awareness"], [str(c.treated), c.wave])},
            lambda c, t: F.plot_awareness(t[""], arm=str(c.treated), period=c.wave, **_common(c)),
            treated=True,
        ),
        FigureSpec(
            "nonresponse", "Item nonresponse (don't know, refused) of sensitive items",
            lambda c: list(c.config["nonresponse_items"]),
            lambda c: {"": item_nonresponse(c.design, c.config["nonresponse_items"],
                                            questionnaire=c.questionnaire)},
            lambda c, t: F.plot_nonresponse(t[""], **_common(c)),
        ),
        FigureSpec(
            "sensitive_list", "A sensitive question asked directly and by the list "
                              "experiment, by wave",
            lambda c: _list_columns(c),
            lambda c: {"": _list_table(c)},
            lambda c, t: F.plot_list_experiment(
                t[""], group=c.wave, subtitle=_list_of(c).sensitive_item.get(c.lang),
                **_common(c)),
            applies=lambda c: bool(getattr(c.questionnaire, "list_experiments", ())),
        ),
    ]


def _list_of(ctx: ReportContext):
    """The list experiment of the figure: the configuration's, else the first declared."""
    experiments = list(getattr(ctx.questionnaire, "list_experiments", ()))
    wanted = ctx.config.get("list_experiment")
    for experiment in experiments:
        if wanted is None or experiment.name == wanted:
            return experiment
    declared = ", ".join(e.name for e in experiments) or "none"
    raise PerceptionError(
        f"figure 'sensitive_list' needs a list experiment declared in the questionnaire "
        f"(list_experiments:), {'named ' + repr(wanted) if wanted else 'and there is none'} "
        f"(declared: {declared}). Declare it, or leave the figure out (--only NAME)"
    )


def _list_columns(ctx: ReportContext) -> list[str]:
    experiment = _list_of(ctx)
    direct = [experiment.direct] if experiment.direct else []
    return [experiment.count, experiment.assignment, *direct, ctx.wave]


def _list_table(ctx: ReportContext) -> pd.DataFrame:
    """The list experiment's prevalence and the direct question's share by wave, stacked
    (column ``method``: "list", "direct"). The count's declared missing codes are left
    out (as missing), and so are the direct question's (share among its answers)."""
    experiment = _list_of(ctx)
    design = ctx.design
    codes = ctx.questionnaire.missing_codes(experiment.count)
    count = pd.to_numeric(design.data[experiment.count], errors="coerce")
    work = design.with_data(design.data.assign(**{experiment.count: count.where(
        ~count.isin(codes))}))
    listed = list_experiment(work, count=experiment.count, treatment=experiment.assignment,
                             by=ctx.wave, n_control_items=experiment.n_control_items,
                             na_rm=True)
    # one smallest count for both kinds of rows: the prevalence rests on both lists
    listed = listed.assign(method="list", n_min=listed[["n_control", "n_treatment"]].min(
        axis=1)).drop(columns=["n_control", "n_treatment"])
    tables = [listed]
    if experiment.direct:
        direct = top_box(design, experiment.direct, top=[1], by=ctx.wave,
                         questionnaire=ctx.questionnaire)
        tables.insert(0, direct.assign(method="direct", n_min=direct["n"]))
    stacked = stack_tables(tables)
    first = [ctx.wave, "method"]
    return stacked[[*first, *(c for c in stacked.columns if c not in first)]]


def _region_of(ctx: ReportContext) -> dict | None:
    """Each domain value's region (``region`` column), for grouping the heat map rows;
    None when the data has no region column or the domain is not nested in it."""
    domain = ctx.config["domain"]
    data = ctx.design.data
    if "region" not in data.columns or domain == "region":
        return None
    pairs = data[[domain, "region"]].dropna().drop_duplicates()
    if pairs[domain].duplicated().any():
        return None
    lab = Labeller(ctx.labels, ctx.lang)
    return {d: lab.value("region", r) for d, r in zip(pairs[domain], pairs["region"],
                                                       strict=True)}


#: the figure set, in report order: name -> FigureSpec
FIGURES: dict[str, FigureSpec] = {spec.name: spec for spec in _spec_list()}


def check_figure_names(names: Sequence[str] | None) -> list[str]:
    """The figures to draw (all when ``names`` is None); unknown names raise an error
    listing the valid ones."""
    if names is None:
        return list(FIGURES)
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        close = difflib.get_close_matches(unknown[0], FIGURES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PerceptionError(
            f"unknown figure {unknown[0]!r}.{hint} Valid figures: {', '.join(FIGURES)}"
        )
    return list(dict.fromkeys(names))


def figures_to_draw(ctx: ReportContext, names: Sequence[str] | None = None) -> list[str]:
    """The figures a report draws: ``names``, else the configuration's ``figures``, else
    every figure of the set that applies to the survey (the list experiment's only when
    the questionnaire declares one). A figure named explicitly is drawn or fails with
    the reason (``available_figures`` then leaves out those the data cannot give yet)."""
    requested = names if names is not None else ctx.config.get("figures")
    chosen = check_figure_names(requested)
    if requested is None:
        chosen = [name for name in chosen if FIGURES[name].applies(ctx)]
    return chosen


def available_figures(ctx: ReportContext, names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The figures of ``names`` this data can give, and why each other one cannot (it
    compares waves and there is one; it needs intervention areas and there are none)."""
    kept: list[str] = []
    left: dict[str, str] = {}
    for name in names:
        spec = FIGURES[name]
        if spec.waves > len(ctx.waves):
            left[name] = (f"needs {spec.waves} waves, the data has {len(ctx.waves)}: it comes "
                          "with the next wave")
        elif spec.treated and ctx.treated is None:
            left[name] = ("needs intervention and comparison areas (a variable with role: "
                          "treated)")
        else:
            kept.append(name)
    return kept, left


def _require(ctx: ReportContext, name: str, columns: Sequence[str]) -> None:
    data = ctx.design.data
    for column in columns:
        if column not in data.columns:
            close = difflib.get_close_matches(column, [str(c) for c in data.columns], n=2)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise PerceptionError(
                f"figure {name!r} needs the variable {column!r}, which the data does not "
                f"have{hint}. Add it to the data, change the items in the configuration, "
                "or leave the figure out (figures: in the configuration, or --only NAME)"
            )


def published(table: pd.DataFrame, min_cell: int, min_count: int | None = None
              ) -> pd.DataFrame:
    """The table as it may leave the process: small cells (and answers given by fewer
    than ``min_count`` respondents, default 10) suppressed, and nothing kept
    in ``attrs`` but plain settings (covariances and the unsuppressed tables some
    results carry there are dropped)."""
    if "n" not in table.columns:  # diagnostics: no estimate of respondents' answers
        out = table.copy()
    else:
        out = publishable(table, min_cell, DEFAULT_MIN_COUNT if min_count is None
                          else min_count)
    out.attrs = {k: v for k, v in out.attrs.items() if k in ("min_cell", "level", "scale")}
    return out


@dataclass
class BuiltFigure:
    """A drawn figure, its published tables and its tables for reading."""

    name: str
    figure: Any
    tables: dict[str, pd.DataFrame]
    title: str
    readable: list[ReadableTable] = field(default_factory=list)


def build_figure(name: str, ctx: ReportContext) -> BuiltFigure:
    """Compute the tables of figure ``name``, publish them, draw it, and make its tables
    for reading."""
    check_figure_names([name])
    spec = FIGURES[name]
    _require(ctx, name, list(dict.fromkeys(spec.columns(ctx))))
    raw = spec.tables(ctx)
    tables = {part: published(table, ctx.min_cell, ctx.min_count)
              for part, table in raw.items()}
    figure = spec.draw(ctx, tables)
    title = F.title_of(figure) or name
    readable = [readable_of(ctx, spec, part, raw[part], tables[part], title)
                for part in tables if part in spec.statistics]
    return BuiltFigure(name, figure, tables, title, readable)


_PART_TITLES = {
    "overall": {"fr": "ensemble de l'échantillon", "en": "whole sample"},
    "effects": {"fr": "effet estimé", "en": "estimated effect"},
}


def readable_of(ctx: ReportContext, spec: FigureSpec, part: str, raw: pd.DataFrame,
                table: pd.DataFrame, title: str) -> ReadableTable:
    """The table for reading of one part of a figure."""
    statistic = spec.statistics[part]
    shown = table
    if spec.name == "nonresponse":
        shown = table[table["category"] != "any"].assign(category=[
            REASON_TEXT.get(c, {}).get(ctx.lang, c) for c in table.loc[
                table["category"] != "any", "category"]])
        shown = shown[shown["estimate"].fillna(1) > 0]
    if statistic == "deff":
        shown = shown.assign(estimate=shown["deff"], se=np.nan, ci_low=np.nan, ci_high=np.nan)
    elif "category" in shown.columns and "from" not in shown.columns and statistic == "proportion":
        shown = add_weighted_n(shown, ctx.design, ctx.questionnaire)
    suffix = _PART_TITLES.get(part, {}).get(ctx.lang)
    name = spec.name if not part else f"{spec.name}_{part}"
    return readable_table(
        shown, statistic=statistic,  # type: ignore[arg-type]
        labels=ctx.labels, lang=ctx.lang, min_cell=ctx.min_cell, min_count=ctx.min_count,
        title=f"{title} ({suffix})" if suffix else title, name=name,
        level=0.95, points=statistic == "proportion",
    )

