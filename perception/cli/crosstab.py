"""``perception table WAVE -q Q --row R --col C``: a crosstab for reading, with the
Rao–Scott test of independence.

Row percentages (``--percent row``, each line of ``--row`` sums to 100) or column
percentages, each with its design-based interval and the respondents of the line;
missing-value codes of both variables left out (their count said once); the
second-order Rao–Scott F test (:func:`perception.chisq`, R's ``svychisq``) under the
table. Printed for reading, or written with ``--out`` as CSV (full precision, with the
label columns), a formatted workbook or Markdown.

Examples
--------
>>> from perception.cli import main
>>> main(["table", "waves.csv", "-q", "q.yaml", "--row", "trust_police",
...       "--col", "cercle"])                                         # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import PerceptionError
from .common import (
    add_input_options,
    add_output_options,
    check_output_options,
    emit,
    prepare_analysis,
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``table`` subcommand."""
    parser = subparsers.add_parser(
        "table",
        help="crosstab with row or column percentages, intervals and the Rao-Scott test",
        description="Cross two categorical variables of one or more wave files: weighted "
        "row (or column) percentages with their confidence intervals, the respondents of "
        "each line, and the Rao-Scott test of independence. Missing-value codes are left "
        "out and counted; small cells are suppressed.",
    )
    parser.add_argument("wave", nargs="+", metavar="WAVE", type=Path,
                        help="wave file(s): .csv, .xlsx, .sav, .dta, or a directory of "
                        ".parquet files (several are stacked)")
    add_input_options(parser)
    parser.add_argument("--row", required=True, metavar="VAR",
                        help="the variable of the lines of the table")
    parser.add_argument("--col", required=True, metavar="VAR",
                        help="the variable of the columns of the table")
    parser.add_argument("--percent", choices=("row", "col"), default="row",
                        help="row percentages (each line sums to 100, default) or column "
                        "percentages")
    add_output_options(parser)
    parser.add_argument("--strict", action="store_true",
                        help="stop with an error instead of leaving answers out")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Cross, test, print or write; return 0."""
    import perception as pc

    from ..outputs.readable import crosstab_table

    check_output_options(args)
    if args.row == args.col:
        raise PerceptionError(f"--row and --col are both {args.row!r}: give two variables")
    analysis = prepare_analysis("table", args, [args.row, args.col], strict=args.strict)
    design = analysis.design
    # complete cases of the two variables: the percentages and the test rest on the same
    # respondents
    both = design.data[[args.row, args.col]].notna().all(axis=1).to_numpy()
    design = design.subset(both)
    across, line = (args.col, args.row) if args.percent == "row" else (args.row, args.col)
    shares = pc.proportion(design, across, by=line, na_rm=True, level=args.level)
    test = pc.chisq(design, args.row, args.col, na_rm=True)
    table = crosstab_table(shares, row=args.row, col=args.col, percent=args.percent,
                           labels=analysis.questionnaire, lang=args.lang,
                           min_cell=args.min_cell, min_count=args.min_count, note=analysis.note(args.lang), test=test,
                           name=f"{args.row}_x_{args.col}")
    emit([table], args, analysis.messages)
    return 0
