"""The context of a figure set: the design of the stacked waves, the questionnaire, the
options, and the results shared by several figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ...analysis.scales import top_box_scores
from ...disclosure.suppression import DEFAULT_MIN_CELL, DEFAULT_MIN_COUNT
from ...errors import PerceptionError
from ...survey.design import SurveyDesign
from .config import DEFAULT_CONFIG, merge_config


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
    min_count: int = DEFAULT_MIN_COUNT
    source_note: str | None = None
    extra_labels: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def wave(self) -> str:
        return self.config["wave"]

    @property
    def treated(self) -> str | None:
        """The column of the intervention areas, None when the study has none."""
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
    (weight, stratum, psu) and the configuration's ``design`` options, labelled by the
    questionnaire in the configuration's ``lang``."""
    roles = q.roles
    if "weight" not in roles:
        raise PerceptionError(
            "the questionnaire declares no variable with role: weight, so no design can be "
            "built; give the weight column role: weight in the questionnaire"
        )
    options = dict(config.get("design") or {})
    lang = config.get("lang")
    # labelled: every figure and table leaves the missing codes and skipped questions
    # out and carries the questionnaire's labels (survey/valid_values)
    return SurveyDesign(data, weights=roles["weight"], strata=roles.get("stratum"),
                        psu=roles.get("psu"), nest=bool(options.get("nest", False)),
                        lonely_psu=options.get("lonely_psu", "fail"), questionnaire=q,
                        lang=lang if lang in q.languages else None)


def context_from_waves(
    waves: pd.DataFrame,
    q: Any,
    config: Mapping[str, Any] | None = None,
    *,
    lang: str | None = None,
    min_cell: int | None = None,
    min_count: int | None = None,
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
    if min_count is not None:
        config["min_count"] = min_count
    roles = q.roles
    if config["wave"] is None:
        if "wave" not in roles:
            raise PerceptionError(
                "the questionnaire has no variable with role: wave; name the column in "
                "the configuration (wave: COLUMN)"
            )
        config["wave"] = roles["wave"]
    if config["treated"] is None:  # no intervention areas: the DiD figures are left out
        config["treated"] = roles.get("treated")
    if config["treated"] is not None and config["treated"] not in waves.columns:
        config["treated"] = None
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
                         min_cell=int(config["min_cell"]),
                         min_count=int(config["min_count"]), source_note=note,
                         extra_labels=labels)
