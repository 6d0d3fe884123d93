"""``perception change WAVES -q Q --var V``: the change of an indicator between waves,
for reading.

Later wave minus the first (or each wave minus the one before), overall or by
subgroup, with the design-based interval and p-value (:func:`perception.change`: the
covariance between waves of revisited villages enters the standard error). ``--top
2,3`` turns a coded answer into the share giving one of those answers, so the change is
in percentage points; a 0/1 variable is a share already; other variables change in
their mean.

Examples
--------
>>> from perception.cli import main
>>> main(["change", "baseline.csv", "endline.csv", "-q", "q.yaml",
...       "--var", "trust_police", "--top", "2,3", "--by", "cercle"])   # doctest: +SKIP
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
    parse_codes,
    prepare_analysis,
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``change`` subcommand."""
    parser = subparsers.add_parser(
        "change",
        help="change of an indicator between waves, with its interval and p-value",
        description="Change of the mean or share of variables between waves (later minus "
        "earlier), overall or by subgroup, with design-based intervals and p-values. "
        "Missing-value codes are left out and counted; a change resting on a wave with "
        "fewer than --min-cell respondents is suppressed.",
    )
    parser.add_argument("wave", nargs="+", metavar="WAVE", type=Path,
                        help="wave files, one per wave or stacked (one design holds them)")
    add_input_options(parser)
    add_variable_options(parser)
    parser.add_argument("--over", metavar="COL", default=None,
                        help="the wave column (default: the questionnaire's role: wave)")
    parser.add_argument("--reference", choices=("first", "consecutive"), default="first",
                        help="every wave against the first (default) or against the one before")
    add_output_options(parser)
    parser.set_defaults(run=run)
    return parser


def add_variable_options(parser: argparse.ArgumentParser) -> None:
    """``--var``, ``--top``, ``--by`` and ``--strict`` of ``change`` and ``did``."""
    parser.add_argument("--var", required=True, action="append", metavar="V",
                        help="the indicator (repeat for several)")
    parser.add_argument("--top", metavar="CODES", default=None,
                        help="answer codes counted as 'yes', comma-separated (e.g. 2,3 for "
                        "'somewhat' or 'a lot'): the change of the share giving them")
    parser.add_argument("--by", action="append", metavar="COL",
                        help="subgroup column (repeat for several)")
    parser.add_argument("--strict", action="store_true",
                        help="stop with an error instead of leaving answers out")


def run(args: argparse.Namespace) -> int:
    """Estimate the changes, print or write; return 0."""
    import pandas as pd

    import perception as pc

    from ..outputs.readable import readable_table
    from ..questionnaire.loading import load_questionnaire

    check_output_options(args)
    top = parse_codes(args.top)
    names = list(dict.fromkeys(args.var))
    by = list(dict.fromkeys(args.by or []))
    over = args.over or load_questionnaire(args.questionnaire).roles.get("wave", "wave")
    analysis = prepare_analysis("change", args, names, [*by, over], strict=args.strict,
                                top=top, outcomes=names)
    tables = []
    for name in names:
        result = pc.change(analysis.design_for(name, args.lang), name, over=over, by=by or None,
                           reference=args.reference, level=args.level, na_rm=True)
        tables.append(result)
    statistic = analysis.statistic(names[0])
    if len(tables) > 1:  # option codes stay codes beside the rows without a category
        tables = [t.astype({"category": object}) if "category" in t else t for t in tables]
    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    readable = readable_table(table, statistic=statistic,  # type: ignore[arg-type]
                              labels=analysis.label_sources, lang=args.lang,
                              min_cell=args.min_cell, note=analysis.note(args.lang),
                              name="change", level=args.level)
    emit([readable], args, analysis.messages)
    return 0
