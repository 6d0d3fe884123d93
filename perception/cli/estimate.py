"""``perception estimate WAVE --questionnaire Q --var V``: estimate tables from the
command line, small cells suppressed.

The wave is read and validated (personal data dropped), the design is built from the
questionnaire's roles (weight, stratum, psu) and labelled by it in ``--lang``: its
estimators leave the declared missing-value codes and skipped questions out (their count
is said once on stderr) and label the tables; the estimates (``--stat
mean|proportion|total``, optionally ``--by`` and a ``--where`` domain) are printed for
reading or written as CSV (full precision, with label columns), a formatted workbook or
Markdown, small cells suppressed.

Examples
--------
>>> from perception.cli import main
>>> main(["estimate", "wave.csv", "-q", "q.yaml", "--var", "trust_police",
...       "--stat", "proportion", "--by", "wave"])                     # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import (
    add_input_options,
    add_output_options,
    check_output_options,
    emit,
    prepare_analysis,
)

STATS = ("mean", "proportion", "total")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``estimate`` subcommand."""
    parser = subparsers.add_parser(
        "estimate",
        help="design-based estimates of variables, small cells suppressed",
        description="Estimate means, proportions or totals of variables of one or more "
        "wave files with the design described by the questionnaire (weight, stratum, psu "
        "roles). Missing-value codes of the variables (e.g. 8 refused, 9 don't know) are "
        "left out, and their count is reported. Cells resting on fewer than --min-cell "
        "respondents are suppressed.",
    )
    parser.add_argument("wave", nargs="+", metavar="WAVE", type=Path,
                        help="wave file(s): .csv, .xlsx, .sav, .dta, or a directory of "
                        ".parquet files (several are stacked)")
    add_input_options(parser)
    parser.add_argument("--var", required=True, action="append", metavar="V",
                        help="variable to estimate (repeat for several)")
    parser.add_argument("--by", action="append", metavar="COL",
                        help="domain column (repeat for several)")
    parser.add_argument("--stat", choices=STATS, default=None,
                        help="mean, proportion (one row per answer) or total (default: "
                        "proportion for a variable whose codes name categories, else mean)")
    add_output_options(parser)
    parser.add_argument("--strict", action="store_true",
                        help="stop with an error instead of leaving out any row (a "
                        "missing-value code, an empty answer or an empty --by column)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Estimate, suppress small cells, print or write; return 0."""
    import pandas as pd

    import perception as pc

    from ..outputs.readable import add_weighted_n, readable_table

    check_output_options(args)
    names = list(dict.fromkeys(args.var))
    by = list(dict.fromkeys(args.by or []))
    analysis = prepare_analysis("estimate", args, names, by, strict=args.strict)
    stat = args.stat or _default_stat(analysis.questionnaire, names)
    estimator = {"mean": pc.mean, "proportion": pc.proportion, "total": pc.total}[stat]
    # one variable at a time: each keeps every respondent who answered it (a
    # select-multiple question: the share choosing each option among those asked)
    tables = [estimator(analysis.design, name, by=by or None, na_rm=True, level=args.level)
              for name in names]
    for t in tables:
        t.attrs = {}
    table = pd.concat(tables, ignore_index=True)
    if stat != "total":
        table = add_weighted_n(table, analysis.design, analysis.questionnaire)
    readable = readable_table(table, statistic=stat,  # type: ignore[arg-type]
                              labels=analysis.label_sources,
                              lang=args.lang, min_cell=args.min_cell, min_count=args.min_count,
                              note=analysis.note(args.lang), name=stat,
                              level=args.level)
    emit([readable], args, analysis.messages)
    return 0


def _default_stat(q, names: list[str]) -> str:
    """``proportion`` when every variable's codes name categories (nominal, text), else
    ``mean`` (a nominal variable among others is refused by the estimator, clearly)."""
    nominal = [n in q and q.variable(n).type in ("categorical", "text", "select_multiple")
               for n in names]
    return "proportion" if all(nominal) else "mean"
