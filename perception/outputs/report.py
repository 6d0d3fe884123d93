"""Figure sets and reports: the tables behind each figure, the figures, CSVs, an HTML
and a PDF report.

A figure set is a registry of named figures (:data:`FIGURES`). Each entry computes its
result tables from a design with the public estimators (:func:`perception.top_box`,
:func:`perception.change`, :func:`perception.did`, ...), passes every table through
:func:`perception.suppress_small_cells`, and draws it with a function of
:mod:`perception.outputs.figures`. :func:`write_report` writes every figure (PNG, PDF, SVG), the
suppressed CSV behind each, and one report (HTML with the figures embedded, and PDF).

A YAML configuration chooses the figures, the items, the domains and the labels; its
keys and defaults are those of :data:`DEFAULT_CONFIG`.

Examples
--------
>>> demo = pc.demo_survey(seed=1)
>>> ctx = context_from_waves(demo.waves, demo.questionnaire)
>>> result = write_report(ctx, "figures/")                               # doctest: +SKIP
"""

from __future__ import annotations

import base64
import copy
import difflib
import html
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.changes import change
from ..analysis.diff_in_diff import did
from ..analysis.list_experiments import list_experiment
from ..analysis.scales import index, item_nonresponse, likert, top_box, top_box_scores
from ..disclosure.suppression import DEFAULT_MIN_CELL, suppress_small_cells
from ..errors import PerceptionError
from ..survey.attached import stack_tables
from ..survey.design import SurveyDesign
from ..survey.weighting import weight_diagnostics
from . import figures as F
from .figures.common import wrap as _wrap

FORMATS = ("png", "pdf", "svg")

#: the configuration keys and their defaults (a YAML config overrides any of them)
DEFAULT_CONFIG: dict[str, Any] = {
    "lang": "fr",
    "min_cell": DEFAULT_MIN_CELL,
    "figures": None,  # None: every figure of FIGURES, in order
    "wave": None,  # default: the questionnaire's role "wave"
    "treated": None,  # default: the questionnaire's role "treated"
    "domain": "cercle",  # geography of the heat map, the index and the changes
    "subgroups": ["sex", "age_grp", "region"],
    "trust_items": ["trust_police", "trust_gend", "trust_gn", "trust_pc", "trust_army",
                    "trust_justice", "trust_mayor", "trust_trad", "trust_relig"],
    "fsi_items": ["trust_police", "trust_gend", "trust_gn", "trust_pc"],
    "relation_items": ["fsi_respect", "fsi_equal", "judic_handover"],
    "outcome": "trust_police",
    "top": [2, 3],
    "index_scale": [0, 3],
    "victimisation": {"vict_theft": [1], "vict_attack": [1], "vict_reported": [1, 2]},
    "awareness": {"ca_aware": [1], "ca_participated": [1, 2, 3], "ca_benefit": [1, 2]},
    "nonresponse_items": ["trust_police", "trust_gend", "trust_gn", "trust_pc", "trust_army",
                          "trust_justice", "trust_selfdef", "fsi_respect", "fsi_equal",
                          "corr_fsi", "impunity", "abuse_heard"],
    "weight_bins": 20,
    "list_experiment": None,  # name of a list experiment of the questionnaire (default: the first)
    "design": {"nest": False, "lonely_psu": "fail"},
    "source_note": None,  # {fr: ..., en: ...} or one text
    "title": {"fr": "Confiance entre populations et forces de sécurité : figures",
              "en": "Trust between populations and security forces: figures"},
    "labels": {
        "fr": {
            "vict_theft": "Vol (ménage, 12 mois)",
            "vict_attack": "Agression physique (ménage, 12 mois)",
            "vict_reported": "Dernier incident signalé aux FSI (victimes)",
            "ca_aware": "A entendu parler d'actions avec les FSI",
            "ca_participated": "A participé (parmi ceux informés)",
            "ca_benefit": "Le ménage en a bénéficié (parmi ceux informés)",
            "fsi_respect": "Les FSI traitent les gens avec respect",
            "fsi_equal": "Les FSI traitent toutes les communautés de la même façon",
            "judic_handover": "Les suspects arrêtés sont remis à la justice",
            "corr_fsi": "Agents des FSI impliqués dans la corruption",
            "impunity": "Les abus des FSI restent impunis",
            "abuse_heard": "A entendu parler d'abus des FSI",
            "sex": "Sexe", "age_grp": "Âge", "region": "Région", "cercle": "Cercle",
            "treated": "Zone", "wave": "Vague", "index": "Indice de confiance envers les FSI",
        },
        "en": {
            "vict_theft": "Theft (household, 12 months)",
            "vict_attack": "Physical attack (household, 12 months)",
            "vict_reported": "Last incident reported to the FSI (victims)",
            "ca_aware": "Heard of actions supported by the FSI",
            "ca_participated": "Took part (among those aware)",
            "ca_benefit": "Household benefited (among those aware)",
            "fsi_respect": "FSI treat people with respect",
            "fsi_equal": "FSI treat all communities equally",
            "judic_handover": "Arrested suspects are handed to the courts",
            "corr_fsi": "FSI officers involved in corruption",
            "impunity": "FSI abuses go unpunished",
            "abuse_heard": "Heard of abuses by the FSI",
            "sex": "Sex", "age_grp": "Age", "region": "Region", "cercle": "Cercle",
            "treated": "Area", "wave": "Wave", "index": "Index of trust in the FSI",
        },
    },
}


# ------------------------------------------------------------------ configuration --
def load_config(path: str | Path | None) -> dict[str, Any]:
    """The configuration: :data:`DEFAULT_CONFIG` updated by a YAML file.

    Raises
    ------
    PerceptionError
        An unreadable file, or a key that is not a configuration key (with the list).
    """
    config = copy.deepcopy(DEFAULT_CONFIG)
    if path is None:
        return config
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PerceptionError(f"cannot read the configuration {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise PerceptionError(f"the configuration {path} is not valid YAML: {exc}") from None
    return merge_config(config, raw or {}, source=str(path))


def merge_config(config: Mapping[str, Any], changes: Mapping[str, Any],
                 source: str = "the configuration") -> dict[str, Any]:
    """``config`` with ``changes`` applied (labels are merged, other keys replaced)."""
    if not isinstance(changes, Mapping):
        raise PerceptionError(f"{source} must be a mapping of keys to values, got "
                              f"{type(changes).__name__}")
    out = copy.deepcopy(dict(config))
    for key, value in changes.items():
        if key not in DEFAULT_CONFIG:
            close = difflib.get_close_matches(str(key), DEFAULT_CONFIG, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PerceptionError(
                f"{source}: unknown key {key!r}.{hint} Valid keys: {', '.join(DEFAULT_CONFIG)}"
            )
        if key == "labels" and isinstance(value, Mapping):
            merged = copy.deepcopy(out.get("labels") or {})
            for lang_or_name, entry in value.items():
                if lang_or_name in ("fr", "en") and isinstance(entry, Mapping):
                    merged.setdefault(lang_or_name, {}).update(entry)
                else:  # language-independent label: applies to both languages
                    for lang in ("fr", "en"):
                        merged.setdefault(lang, {})[lang_or_name] = entry
            out["labels"] = merged
        else:
            out[key] = copy.deepcopy(value)
    if out["lang"] not in ("fr", "en"):
        raise PerceptionError(f"{source}: lang must be 'fr' or 'en', got {out['lang']!r}")
    return out


# ------------------------------------------------------------------------ context --
@dataclass
class ReportContext:
    """What every figure of a set needs: the design, the questionnaire, the options.

    ``cache`` keeps results shared by several figures within one report run.
    """

    design: Any
    questionnaire: Any
    config: dict[str, Any]
    lang: str = "fr"
    min_cell: int = DEFAULT_MIN_CELL
    source_note: str | None = None
    extra_labels: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def wave(self) -> str:
        return self.config["wave"]

    @property
    def treated(self) -> str:
        return self.config["treated"]

    @property
    def labels(self) -> list:
        """Label sources, first match wins: run-specific, configuration, questionnaire."""
        return [self.extra_labels, self.config.get("labels") or {}, self.questionnaire]

    @property
    def waves(self) -> list:
        key = "waves"
        if key not in self.cache:
            values = self.design.data[self.wave]
            self.cache[key] = sorted(pd.unique(values[self.design.in_domain].dropna()))
        return self.cache[key]

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


def high_column(item: str) -> str:
    """Name of the derived top-box indicator of ``item`` (``trust_police_high``)."""
    return f"{item}_high"


def design_from_questionnaire(data: pd.DataFrame, q: Any, config: Mapping[str, Any]
                              ) -> SurveyDesign:
    """The survey design of stacked waves from the questionnaire's design roles
    (weight, stratum, psu) and the configuration's ``design`` options."""
    roles = q.roles
    if "weight" not in roles:
        raise PerceptionError(
            "the questionnaire declares no variable with role: weight, so no design can be "
            "built; give the weight column role: weight in the questionnaire"
        )
    options = dict(config.get("design") or {})
    return SurveyDesign(data, weights=roles["weight"], strata=roles.get("stratum"),
                        psu=roles.get("psu"), nest=bool(options.get("nest", False)),
                        lonely_psu=options.get("lonely_psu", "fail"))


def context_from_waves(
    waves: pd.DataFrame,
    q: Any,
    config: Mapping[str, Any] | None = None,
    *,
    lang: str | None = None,
    min_cell: int | None = None,
    source_note: str | None = None,
    extra_labels: Mapping[str, Any] | None = None,
) -> ReportContext:
    """Build the report context of stacked waves: derived top-box indicators of the
    trust items (``<item>_high``: 1 for the ``top`` codes, 0 for other answers, NaN for
    missing codes) and the design from the questionnaire's roles.

    The caller's frame is not modified.
    """
    config = merge_config(DEFAULT_CONFIG, config or {})
    if lang is not None:
        config["lang"] = lang
    if min_cell is not None:
        config["min_cell"] = min_cell
    roles = q.roles
    for key in ("wave", "treated"):
        if config[key] is None:
            if key not in roles:
                raise PerceptionError(
                    f"the questionnaire has no variable with role: {key}; name the column in "
                    f"the configuration ({key}: COLUMN)"
                )
            config[key] = roles[key]
    missing = [c for c in (config["wave"],) if c not in waves.columns]
    if missing:
        raise PerceptionError(
            f"the data has no column {missing[0]!r} (the wave); the figure set needs the "
            "waves stacked in one table with their wave column"
        )
    items = [i for i in dict.fromkeys([*config["trust_items"], *config["fsi_items"],
                                       config["outcome"]]) if i in waves.columns]
    derived = {high_column(i): top_box_scores(waves, i, top=config["top"], questionnaire=q)
               for i in items}
    data = waves.assign(**derived)
    design = design_from_questionnaire(data, q, config)
    labels: dict[str, Any] = {lang_: {} for lang_ in ("fr", "en")}
    for i in items:
        for lang_ in ("fr", "en"):
            if lang_ in q.languages:
                labels[lang_][high_column(i)] = q.label(i, lang_)
    for lang_, entries in (extra_labels or {}).items():
        labels.setdefault(lang_, {}).update(entries)
    note = source_note
    if note is None and config.get("source_note") is not None:
        raw = config["source_note"]
        note = raw.get(config["lang"]) if isinstance(raw, Mapping) else str(raw)
    return ReportContext(design=design, questionnaire=q, config=config, lang=config["lang"],
                         min_cell=int(config["min_cell"]), source_note=note,
                         extra_labels=labels)


# ------------------------------------------------------------ tables of a figure --
def weight_distribution(design, bins: int = 20, by: str | Sequence[str] | None = None,
                        min_count: int = DEFAULT_MIN_CELL) -> pd.DataFrame:
    """Binned survey weights: the table behind a weight histogram.

    Equal-width bins over the range of the weights; a bin holding fewer than
    ``min_count`` respondents (in any domain) is merged with its neighbour towards the
    middle, so the long tail of large weights ends in one wider bin instead of many
    suppressed ones.

    Parameters
    ----------
    design : a design; rows outside its domain are left out.
    bins : number of equal-width bins to start from.
    by : domain column(s) (e.g. ``wave``): one set of bins per domain, same edges.
    min_count : smallest number of respondents of a bin.

    Returns
    -------
    DataFrame: the ``by`` columns, ``bin_low``, ``bin_high``, ``n`` (respondents) and
    ``estimate`` (their share in the domain).

    Examples
    --------
    >>> design = pc.demo_survey(seed=1).design()
    >>> weight_distribution(design, bins=10, by="wave").head(3).round(1)
       wave  bin_low  bin_high     n  estimate
    0     0     49.7     333.4  1329       0.3
    1     0    333.4     617.1  1427       0.4
    2     0    617.1     900.8   733       0.2
    """
    if not isinstance(bins, int) or bins < 1:
        raise PerceptionError(f"bins must be a positive whole number, got {bins!r}")
    by_names = [by] if isinstance(by, str) else list(by or [])
    inside = design.in_domain & (np.asarray(design.weight_array) > 0)
    w = np.asarray(design.weight_array, dtype=float)[inside]
    edges = np.linspace(w.min(), w.max(), bins + 1)
    if edges[0] == edges[-1]:
        edges = np.array([edges[0] * 0.95, edges[0] * 1.05])
    if by_names:
        frame = design.data.loc[inside, by_names]
        codes = frame.groupby(by_names, sort=True).ngroup().to_numpy()
        labels = frame.drop_duplicates().sort_values(by_names)
        groups = [tuple(r) for r in labels.itertuples(index=False)]
    else:
        codes = np.zeros(len(w), dtype=int)
        groups = [()]

    def counts_of(e):
        idx = np.clip(np.searchsorted(e, w, side="right") - 1, 0, len(e) - 2)
        return {g: np.bincount(idx[codes == i], minlength=len(e) - 1)
                for i, g in enumerate(groups)}

    counts = counts_of(edges)
    while len(edges) > 2:
        smallest = np.min(np.vstack(list(counts.values())), axis=0)
        small = np.flatnonzero(smallest < min_count)
        if small.size == 0:
            break
        b = int(small[0]) if small[0] < (len(edges) - 1) / 2 else int(small[-1])
        # merge bin b with its neighbour towards the middle
        drop = b + 1 if b < (len(edges) - 1) / 2 else b
        edges = np.delete(edges, drop)
        counts = counts_of(edges)
    rows = []
    for g in groups:
        total = counts[g].sum()
        for b, count in enumerate(counts[g]):
            rows.append({**dict(zip(by_names, g, strict=True)), "bin_low": edges[b],
                         "bin_high": edges[b + 1], "n": int(count),
                         "estimate": count / total if total else np.nan})
    return pd.DataFrame(rows)


def _kish(ctx: ReportContext) -> pd.DataFrame:
    """Weight diagnostics by wave (first row: all waves): Kish design effect, effective n."""
    return ctx.shared("weight_diagnostics", lambda: weight_diagnostics(ctx.design, by=ctx.wave))


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


def _last_wave_label(ctx: ReportContext) -> str:
    from .figures.common import Labeller

    return Labeller(ctx.labels, ctx.lang).value(ctx.wave, ctx.waves[-1])


def _label(ctx: ReportContext, name: str) -> str:
    from .figures.common import Labeller

    return Labeller(ctx.labels, ctx.lang).variable(name)


def _t(ctx: ReportContext, fr: str, en: str) -> str:
    return fr if ctx.lang == "fr" else en


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the set: the variables it needs, its tables and how to draw them;
    ``applies`` says whether the set draws it when no figure is named (the list
    experiment's figure needs a questionnaire that declares one)."""

    name: str
    description: str
    columns: Callable[[ReportContext], list[str]]
    tables: Callable[[ReportContext], dict[str, pd.DataFrame]]
    draw: Callable[[ReportContext, dict[str, pd.DataFrame]], Any]
    applies: Callable[[ReportContext], bool] = lambda ctx: True


def _trust_table(ctx):
    return ctx.shared("trust_by_wave", lambda: top_box(
        ctx.design, ctx.config["trust_items"], top=ctx.config["top"], by=ctx.wave,
        questionnaire=ctx.questionnaire))


def _did_outcome(ctx):
    return ctx.shared("did_outcome", lambda: did(
        ctx.design, high_column(ctx.config["outcome"]), treated=ctx.treated, period=ctx.wave,
        na_rm=True))


def _last_wave_design(ctx):
    return ctx.design.subset((ctx.design.data[ctx.wave] == ctx.waves[-1]).to_numpy())


def _spec_list() -> list[FigureSpec]:
    specs = [
        FigureSpec(
            "trust_actors", "Trust in each actor by wave (top box) with 95% intervals",
            lambda c: [*c.config["trust_items"], c.wave],
            lambda c: {"": _trust_table(c)},
            lambda c, t: F.plot_trust_by_actor(t[""], group=c.wave, **_common(c)),
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
            "trust_heatmap", "Trust by domain (cercle) and actor at the last wave",
            lambda c: [*c.config["trust_items"], c.config["domain"], c.wave],
            lambda c: {"": top_box(_last_wave_design(c), c.config["trust_items"],
                                   top=c.config["top"], by=c.config["domain"],
                                   questionnaire=c.questionnaire)},
            lambda c, t: F.plot_heatmap(t[""], row=c.config["domain"], title=_t(
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
        ),
        FigureSpec(
            "did_outcome", "Intervention and comparison areas over the waves, with the DiD",
            lambda c: [c.config["outcome"], c.treated, c.wave],
            lambda c: {"": _did_outcome(c).cells,
                       "effects": _did_outcome(c).effects},
            lambda c, t: F.plot_did(t[""], effects=t["effects"], treated=c.treated,
                                    period=c.wave, title=_t(
                c, f"Confiance dans les zones d'intervention et de comparaison : "
                   f"{_label(c, c.config['outcome'])}",
                f"Trust in intervention and comparison areas: {_label(c, c.config['outcome'])}"),
                **_common(c)),
        ),
        FigureSpec(
            "did_items", "DiD effect on each FSI trust item",
            lambda c: [*c.config["fsi_items"], c.treated, c.wave],
            lambda c: {"": c.shared("did_items", lambda: did(
                c.design, [high_column(i) for i in c.config["fsi_items"]],
                treated=c.treated, period=c.wave, na_rm=True)).effects},
            lambda c, t: F.plot_effects(t[""], **_common(c)),
        ),
        FigureSpec(
            "did_subgroups", "DiD effect on the outcome by subgroup",
            lambda c: [c.config["outcome"], *c.config["subgroups"], c.treated, c.wave],
            lambda c: {"": _subgroup_effects(c)},
            lambda c, t: F.plot_effects(t[""], **_common(c)),
        ),
        FigureSpec(
            "weights", "Distribution of the survey weights by wave, Kish design effect",
            lambda c: [c.wave],
            lambda c: {"": weight_distribution(c.design, c.config["weight_bins"], by=c.wave),
                       "diagnostics": _kish(c)},
            lambda c, t: F.plot_weight_distribution(t[""], diagnostics=t["diagnostics"],
                                                    group=c.wave, **_common(c)),
        ),
        FigureSpec(
            "design_effects", "Design effects of the trust estimates, with the weighting's",
            lambda c: [*c.config["trust_items"], c.wave],
            lambda c: {"": _trust_table(c), "diagnostics": _kish(c)},
            lambda c, t: F.plot_design_effects(t[""], group=c.wave, kish=_kish_value(
                t["diagnostics"]), **_common(c)),
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
            lambda c: [*c.config["awareness"], c.treated, c.wave],
            lambda c: {"": _shares(c, c.config["awareness"], [c.treated, c.wave])},
            lambda c, t: F.plot_awareness(t[""], arm=c.treated, period=c.wave, **_common(c)),
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
    return specs


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


def _common(ctx: ReportContext) -> dict[str, Any]:
    return {"lang": ctx.lang, "labels": ctx.labels, "source_note": ctx.source_note,
            "min_cell": ctx.min_cell}


def _kish_value(diagnostics: pd.DataFrame) -> float | None:
    for column in ("deff_kish", "kish_deff", "deff_weighting", "deff_w", "deff"):
        if column in diagnostics.columns and len(diagnostics):
            value = diagnostics[column].iloc[0]
            return float(value) if pd.notna(value) else None
    return None


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
        result = did(ctx.design, outcome, treated=ctx.treated, period=ctx.wave, by=column,
                     na_rm=True)
        tables.append(result.effects)
    stacked = pd.concat([t.assign(**{c: np.nan for c in subgroups if c not in t.columns})
                         for t in tables], ignore_index=True)
    rest = [c for c in stacked.columns if c not in subgroups]
    return stacked[[*subgroups, *rest]]


def _shares(ctx: ReportContext, spec: Mapping[str, Sequence[int]], by: list[str]
            ) -> pd.DataFrame:
    return stack_tables([top_box(ctx.design, item, top=list(top), by=by,
                                 questionnaire=ctx.questionnaire)
                         for item, top in spec.items()])


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
    the reason."""
    requested = names if names is not None else ctx.config.get("figures")
    chosen = check_figure_names(requested)
    if requested is None:
        chosen = [name for name in chosen if FIGURES[name].applies(ctx)]
    return chosen


def _published(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """The table as it may leave the process: small cells suppressed, and nothing kept
    in ``attrs`` but the suppression threshold and the confidence level (covariances and
    the unsuppressed tables some results carry there are dropped)."""
    out = suppress_small_cells(table, min_cell)
    out.attrs = {k: v for k, v in out.attrs.items() if k in ("min_cell", "level")}
    return out


@dataclass
class BuiltFigure:
    """A drawn figure and its (suppressed) tables."""

    name: str
    figure: Any
    tables: dict[str, pd.DataFrame]
    title: str


def build_figure(name: str, ctx: ReportContext) -> BuiltFigure:
    """Compute the tables of figure ``name``, suppress their small cells, draw it."""
    check_figure_names([name])
    spec = FIGURES[name]
    _require(ctx, name, list(dict.fromkeys(spec.columns(ctx))))
    raw = spec.tables(ctx)
    tables = {part: _published(table, ctx.min_cell) for part, table in raw.items()}
    figure = spec.draw(ctx, tables)
    title = F.title_of(figure) or name
    return BuiltFigure(name, figure, tables, title)


# --------------------------------------------------------------------- writing --
@dataclass
class ReportFiles:
    """Paths written by :func:`write_report`."""

    figures: dict[str, list[Path]] = field(default_factory=dict)
    tables: dict[str, list[Path]] = field(default_factory=dict)
    html: Path | None = None
    pdf: Path | None = None


def prepare_output(out: str | Path) -> Path:
    """Create the output folder (and ``tables/``) or raise a clear error."""
    out = Path(out)
    try:
        (out / "tables").mkdir(parents=True, exist_ok=True)
        probe = out / ".perception_write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PerceptionError(
            f"cannot write to the output folder {str(out)!r}: {exc.strerror or exc}. Choose a "
            "folder you can write to with --out"
        ) from None
    return out


def check_formats(formats: Sequence[str] | str) -> list[str]:
    if isinstance(formats, str):
        formats = [f.strip().lower() for f in formats.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise PerceptionError(
            f"unknown figure format {bad[0] if bad else '(none)'!r}; choose from "
            f"{', '.join(FORMATS)} (comma-separated, e.g. --format png,pdf)"
        )
    return list(dict.fromkeys(formats))


def write_report(
    ctx: ReportContext,
    out: str | Path,
    *,
    names: Sequence[str] | None = None,
    formats: Sequence[str] | str = ("png",),
    progress: bool = False,
    dpi: int = F.style.DPI,
) -> ReportFiles:
    """Write the figures, the CSV behind each one, ``report.html`` and ``report.pdf``.

    Parameters
    ----------
    ctx : the report context (:func:`context_from_waves`).
    out : folder to write to (created if needed).
    names : figures to draw (default: the configuration's ``figures``, else all).
    formats : image formats of the figures ("png", "pdf", "svg").
    progress : show a progress bar on stderr.

    Returns
    -------
    ReportFiles with every path written.
    """
    from matplotlib.backends.backend_pdf import PdfPages
    from tqdm import tqdm

    names = figures_to_draw(ctx, names)
    formats = check_formats(formats)
    out = prepare_output(out)
    files = ReportFiles()
    built: list[BuiltFigure] = []
    with _saving_style(), tqdm(total=len(names) + 1, desc="perception figures",
                               unit="figure", file=sys.stderr, disable=not progress,
                               leave=False) as bar:
        for name in names:
            bar.set_postfix_str(name)
            item = build_figure(name, ctx)
            built.append(item)
            files.figures[name] = []
            for fmt in formats:
                path = out / f"{name}.{fmt}"
                item.figure.savefig(path, dpi=dpi, format=fmt,
                                    metadata=_metadata(fmt, item.title))
                files.figures[name].append(path)
            files.tables[name] = _write_tables(out / "tables", name, item.tables)
            bar.update(1)
        bar.set_postfix_str("report")
        files.html = out / "report.html"
        files.html.write_text(_html(ctx, built, files, out), encoding="utf-8")
        files.pdf = out / "report.pdf"
        with PdfPages(files.pdf, metadata={"Title": _title(ctx), "Creator": "perception"}) as pdf:
            _pdf_title_page(pdf, ctx, built)
            for item in built:
                pdf.savefig(item.figure)
            for item in built:
                for part, table in item.tables.items():
                    pdf.savefig(_table_page(item, part, table))
        bar.update(1)
    return files


def _saving_style():
    """Fonts embedded as TrueType in PDF and kept as text in SVG while saving."""
    import matplotlib as mpl

    return mpl.rc_context({"pdf.fonttype": 42, "svg.fonttype": "none"})


def _metadata(fmt: str, title: str) -> dict[str, str] | None:
    if fmt == "png":
        return {"Title": title, "Software": "perception"}
    if fmt == "pdf":
        return {"Title": title, "Creator": "perception"}
    if fmt == "svg":
        return {"Title": title}
    return None  # pragma: no cover


def _write_tables(folder: Path, name: str, tables: dict[str, pd.DataFrame]) -> list[Path]:
    paths = []
    for part, table in tables.items():
        path = folder / (f"{name}.csv" if not part else f"{name}_{part}.csv")
        table.to_csv(path, index=False)
        paths.append(path)
    return paths


def _title(ctx: ReportContext) -> str:
    raw = ctx.config.get("title") or {}
    return raw.get(ctx.lang, "") if isinstance(raw, Mapping) else str(raw)


def _display_table(table: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    shown = table.head(limit) if limit else table
    out = shown.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            out[column] = out[column].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    return out


def _html(ctx: ReportContext, built: list[BuiltFigure], files: ReportFiles, out: Path) -> str:
    lang = ctx.lang
    sections = []
    toc = []
    for item in built:
        png = next((p for p in files.figures[item.name] if p.suffix == ".png"), None)
        if png is not None:
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            img = (f'<img src="data:image/png;base64,{data}" alt="{html.escape(item.title)}" '
                   'style="max-width:100%">')
        else:
            first = files.figures[item.name][0]
            img = f'<p><a href="{html.escape(first.name)}">{html.escape(first.name)}</a></p>'
        tables_html = []
        for part, path in zip(item.tables, files.tables[item.name], strict=True):
            table = item.tables[part]
            rel = path.relative_to(out).as_posix()
            limit = 40
            more = (f"<p class='note'>{len(table) - limit} "
                    + ("lignes de plus dans" if lang == "fr" else "more rows in")
                    + f" <a href='{rel}'>{html.escape(rel)}</a></p>") if len(table) > limit else ""
            tables_html.append(
                f"<details><summary>{html.escape(rel)}</summary>"
                + _display_table(table, limit).to_html(index=False, na_rep="", border=0,
                                                       classes="table", escape=True)
                + more + "</details>")
        sections.append(
            f'<section id="{item.name}"><h2>{html.escape(item.title)}</h2>{img}'
            + "".join(tables_html) + "</section>")
        toc.append(f'<li><a href="#{item.name}">{html.escape(item.title)}</a></li>')
    note = ("Les cellules reposant sur moins de {m} enquêtés sont masquées (colonne "
            "« suppressed »)." if lang == "fr" else
            "Cells resting on fewer than {m} respondents are suppressed (column "
            "\"suppressed\").").format(m=ctx.min_cell)
    title = html.escape(_title(ctx))
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: "DejaVu Sans", Arial, sans-serif; max-width: 60em; margin: 2em auto;
       color: #222; line-height: 1.45; padding: 0 1em; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 2.2em; }}
.note {{ color: #555; font-size: 0.9em; }}
table.table {{ border-collapse: collapse; font-size: 0.78em; margin: 0.5em 0; }}
table.table th, table.table td {{ border-bottom: 1px solid #ddd; padding: 2px 6px;
  text-align: right; }}
summary {{ cursor: pointer; color: #0072B2; font-size: 0.9em; }}
</style></head><body>
<h1>{title}</h1>
<p class="note">{html.escape(note)}</p>
<ol>{''.join(toc)}</ol>
{''.join(sections)}
</body></html>
"""


def _pdf_title_page(pdf, ctx: ReportContext, built: list[BuiltFigure]) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.08, 0.9, _wrap(_title(ctx), 60), fontsize=16, fontweight="bold",
             va="top")
    lines = [f"{i + 1}. {item.title}" for i, item in enumerate(built)]
    fig.text(0.08, 0.8, "\n".join(_wrap(line, 95) for line in lines), fontsize=9,
             va="top", linespacing=1.6)
    note = (f"Cellules de moins de {ctx.min_cell} enquêtés masquées." if ctx.lang == "fr"
            else f"Cells with fewer than {ctx.min_cell} respondents suppressed.")
    fig.text(0.08, 0.06, note, fontsize=8, color="#555555")
    pdf.savefig(fig)


def _table_page(item: BuiltFigure, part: str, table: pd.DataFrame,
                rows: int = 45):
    """A page of the PDF report with (the head of) a table, as monospaced text; the
    full table is the CSV beside the report."""
    from matplotlib.figure import Figure

    name = f"{item.name}.csv" if not part else f"{item.name}_{part}.csv"
    shown = _display_table(table, rows)
    fig = Figure(figsize=(11.69, 8.27))
    fig.text(0.03, 0.96, f"{item.title} — tables/{name}", fontsize=10, fontweight="bold",
             va="top")
    body = shown.to_string(index=False, na_rep="", max_colwidth=24)
    if len(table) > rows:
        body += f"\n... {len(table) - rows} more rows: tables/{name}"
    width = max((len(line) for line in body.splitlines()), default=1)
    # monospaced characters are 0.6 em wide: fit the widest line in the page width
    fig.text(0.03, 0.92, body, family="DejaVu Sans Mono", va="top",
             fontsize=min(9.0, 0.94 * 11.69 * 72 / (0.6 * max(width, 1))))
    return fig
