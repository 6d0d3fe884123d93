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
>>> from perception.outputs.report import context_from_waves, write_report
>>> demo = pc.demo_survey(seed=1)
>>> ctx = context_from_waves(demo.waves, demo.questionnaire)
>>> result = write_report(ctx, "figures/")                               # doctest: +SKIP
"""

from __future__ import annotations

from ...exports import lazy_exports

#: each name and the module of this package that defines it: a command that needs the
#: design of a questionnaire (context) does not load the figures (matplotlib, scipy.stats)
_MODULES: dict[str, str] = {
    "DEFAULT_CONFIG": "config",
    "load_config": "config",
    "merge_config": "config",
    "ReportContext": "context",
    "context_from_waves": "context",
    "design_from_questionnaire": "context",
    "high_column": "context",
    "FIGURES": "specs",
    "BuiltFigure": "specs",
    "FigureSpec": "specs",
    "available_figures": "specs",
    "build_figure": "specs",
    "check_figure_names": "specs",
    "figures_to_draw": "specs",
    "weight_distribution": "specs",
    "FORMATS": "writing",
    "ReportFiles": "writing",
    "check_formats": "writing",
    "prepare_output": "writing",
    "write_report": "writing",
}

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
__getattr__, __dir__ = lazy_exports(__name__, _MODULES)
