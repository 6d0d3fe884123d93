"""Figure sets and reports: the tables behind each figure, the figures, CSVs, a workbook
of the tables for reading, and one report in HTML, PDF and Word that explains itself
(a methods section written from the data).

A figure set is a registry of named figures (:data:`FIGURES`, :mod:`.specs`). Each entry
computes its result tables from a design with the public estimators
(:func:`perception.top_box`, :func:`perception.change`, :func:`perception.did`, ...),
publishes them through :mod:`perception.disclosure`, draws them with
:mod:`perception.outputs.figures` and turns them into tables for reading
(:mod:`perception.outputs.readable`). :func:`write_report` (:mod:`.writing`) writes
everything; the methods section is :mod:`.methods`, the writers :mod:`.html_writer`,
:mod:`.pdf_writer`, :mod:`.docx_writer` (the workbook: :mod:`perception.outputs.table_files`).

A YAML configuration (:mod:`.config`) chooses the figures, the items, the domains and
the labels; the context (:mod:`.context`) holds the design of the stacked waves.

Examples
--------
>>> demo = pc.demo_survey(seed=1)
>>> ctx = context_from_waves(demo.waves, demo.questionnaire)
>>> result = write_report(ctx, "figures/")                               # doctest: +SKIP
"""

from __future__ import annotations

from .config import DEFAULT_CONFIG, load_config, merge_config
from .context import ReportContext, context_from_waves, design_from_questionnaire, high_column
from .specs import (
    FIGURES,
    BuiltFigure,
    FigureSpec,
    available_figures,
    build_figure,
    check_figure_names,
    figures_to_draw,
    weight_distribution,
)
from .writing import FORMATS, ReportFiles, check_formats, prepare_output, write_report

__all__ = [
    "DEFAULT_CONFIG",
    "FIGURES",
    "FORMATS",
    "BuiltFigure",
    "FigureSpec",
    "ReportContext",
    "ReportFiles",
    "available_figures",
    "build_figure",
    "check_figure_names",
    "check_formats",
    "context_from_waves",
    "design_from_questionnaire",
    "figures_to_draw",
    "high_column",
    "load_config",
    "merge_config",
    "prepare_output",
    "weight_distribution",
    "write_report",
]
