"""What leaves the process: tables for reading (:mod:`.readable`, written by
:mod:`.table_files`), figures drawn from result tables, and the report of a figure set.
The figure functions are used from :mod:`perception.outputs.figures`
(``from perception.outputs.figures import plot_likert``); nothing here is re-exported by
:mod:`perception`.

``EXPORTS`` is the public API (re-exported by :mod:`perception`); ``SHARED`` lists the
names the other subpackages of perception use (not meant for users). Both map a name
to the module of this subpackage that defines it.
"""

from __future__ import annotations

from ..exports import lazy_exports

#: the public API: name -> module
EXPORTS: dict[str, str] = {
}
#: names the other subpackages use: name -> module
SHARED: dict[str, str] = {
    "FIGURES": "report",
    "check_figure_names": "report",
    "check_formats": "report",
    "context_from_waves": "report",
    "design_from_questionnaire": "report",
    "figures_to_draw": "report",
    "load_config": "report",
    "prepare_output": "report",
    "write_report": "report",
    "readable_table": "readable",
    "load_plan_entries": "plan",
    "read_plan": "plan",
    "run_plan": "plan",
    "crosstab_table": "readable",
    "add_weighted_n": "readable",
    "to_markdown": "table_files",
    "to_text": "table_files",
    "write_tables": "table_files",
}

__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {**EXPORTS, **SHARED})
