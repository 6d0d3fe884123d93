"""``perception did WAVES -q Q --var V``: difference-in-differences of the intervention
and comparison areas, for reading.

The treated × period interaction of the design-based linear model (:func:`perception.did`,
equal to R's ``svyglm(y ~ treated * wave)``): with two waves the DiD, with more one
effect per later wave relative to the first. ``--top 2,3`` makes the outcome the share
giving those answers (effects in percentage points). ``--cells`` also prints the mean
of each area × wave cell.

Examples
--------
>>> from perception.cli import main
>>> main(["did", "baseline.csv", "endline.csv", "-q", "q.yaml",
...       "--var", "trust_police", "--top", "2,3"])                    # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .changes import add_variable_options
from .common import (
    add_input_options,
    add_output_options,
    check_output_options,
    emit,
    parse_codes,
    prepare_analysis,
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``did`` subcommand."""
    parser = subparsers.add_parser(
        "did",
        help="difference-in-differences of intervention and comparison areas",
        description="Difference-in-differences (event study with more than two waves) of "
        "an outcome between the intervention and the comparison areas, with design-based "
        "intervals and p-values. An effect resting on a cell (area x wave) with fewer than "
        "--min-cell respondents is suppressed.",
    )
    parser.add_argument("wave", nargs="+", metavar="WAVE", type=Path,
                        help="wave files, one per wave or stacked (one design holds them)")
    add_input_options(parser)
    add_variable_options(parser)
    parser.add_argument("--treated", metavar="COL", default=None,
                        help="the 0/1 area column (default: the questionnaire's role: treated)")
    parser.add_argument("--period", metavar="COL", default=None,
                        help="the wave column (default: the questionnaire's role: wave)")
    parser.add_argument("--cells", action="store_true",
                        help="also give the mean of each area x wave cell")
    add_output_options(parser)
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Estimate the effects, print or write; return 0."""
    import pandas as pd

    import perception as pc

    from ..outputs.readable import readable_table
    from ..questionnaire.loading import load_questionnaire

    check_output_options(args)
    top = parse_codes(args.top)
    names = list(dict.fromkeys(args.var))
    by = list(dict.fromkeys(args.by or []))
    roles = load_questionnaire(args.questionnaire).roles
    treated = args.treated or roles.get("treated", "treated")
    period = args.period or roles.get("wave", "wave")
    analysis = prepare_analysis("did", args, names, [*by, treated, period],
                                strict=args.strict, top=top, outcomes=names)
    results = [pc.did(analysis.design_for(name, args.lang), name, treated=treated, period=period, by=by or None,
                      level=args.level, na_rm=True) for name in names]
    statistic = analysis.statistic(names[0])

    def stacked(tables):
        return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]

    options = {"statistic": statistic, "labels": analysis.label_sources, "lang": args.lang,
               "min_cell": args.min_cell, "note": analysis.note(args.lang),
               "level": args.level}
    tables = [readable_table(stacked([r.effects for r in results]), name="did", **options)]
    if args.cells:
        cells = stacked([r.cells for r in results])
        title = {"fr": "Moyennes par zone et par vague", "en": "Means by area and wave"}
        tables.append(readable_table(cells, name="did_cells", title=title[args.lang],
                                     **options))
    emit(tables, args, analysis.messages)
    return 0
