"""``perception analyse PLAN -q Q --data WAVES --out DIR``: run an analysis plan into one
labelled workbook.

The plan (YAML or XLSX, one row per indicator × disaggregation × statistic; see
:mod:`perception.outputs.plan`) is checked whole before anything runs: a row naming an
unknown variable or statistic is reported with its row number. Then every analysis runs
on one design of the stacked waves and is written to ``DIR/analysis.xlsx`` (one
formatted sheet per analysis: labels, intervals, n, reliability, suppressed cells
marked, a note) and ``DIR/analysis.csv`` (full precision, with the label columns).

Examples
--------
>>> from perception.cli import main
>>> main(["analyse", "plan.yaml", "-q", "q.yaml", "--data", "baseline.csv",
...       "--out", "analysis"])                                        # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..disclosure.suppression import DEFAULT_MIN_CELL, DEFAULT_MIN_COUNT
from ..errors import PerceptionError
from .common import Messages, add_input_options, check_min_count, read_waves


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``analyse`` subcommand."""
    parser = subparsers.add_parser(
        "analyse",
        help="run an analysis plan (YAML or XLSX) into one labelled workbook",
        description="Run a list of analyses (one row per indicator x disaggregation x "
        "statistic: mean, proportion, total, top_box, change, did) on the waves, into one "
        "workbook of labelled tables with intervals, reliability and suppressed cells "
        "marked. The plan is checked whole first; bad rows are named by their number.",
    )
    parser.add_argument("plan", metavar="PLAN", type=Path, help="the plan (.yaml or .xlsx)")
    parser.add_argument("--data", required=True, nargs="+", metavar="WAVE", type=Path,
                        help="wave files, one per wave or stacked")
    add_input_options(parser)
    parser.add_argument("--out", required=True, metavar="DIR", type=Path,
                        help="folder of analysis.xlsx and analysis.csv (created if needed)")
    parser.add_argument("--lang", choices=("fr", "en"), default="fr",
                        help="language of the labels and numbers (default fr)")
    parser.add_argument("--min-cell", type=int, default=DEFAULT_MIN_CELL, metavar="N",
                        help=f"smallest number of respondents of a shown cell (default "
                        f"{DEFAULT_MIN_CELL})")
    parser.add_argument("--min-count", type=int, default=DEFAULT_MIN_COUNT, metavar="K",
                        help="smallest number of respondents of a shown answer: answers given "
                        "by fewer (but some) are suppressed with the cells that would reveal "
                        f"them (default {DEFAULT_MIN_COUNT})")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check the plan, run it, write the workbook; return 0."""
    from ..outputs.plan import load_plan_entries, read_plan, run_plan
    from ..outputs.table_files import write_tables
    from ..questionnaire.loading import load_questionnaire

    if args.min_cell < 1:
        raise PerceptionError(f"--min-cell must be at least 1, got {args.min_cell}")
    check_min_count(args)
    messages = Messages("analyse")
    q = load_questionnaire(args.questionnaire)
    entries, source = load_plan_entries(args.plan)
    data = read_waves("analyse", args.data, q, sheet=args.sheet, encoding=args.encoding,
                      messages=messages)
    plan = read_plan(entries, q, data.columns, source=source)
    if args.where:
        plan = type(plan)(tuple(type(r)(**{**r.__dict__, "where": " and ".join(
            f"({w})" for w in (args.where, r.where) if w)}) for r in plan.rows), plan.source)
    args.out.mkdir(parents=True, exist_ok=True)
    tables = run_plan(plan, data, q, lang=args.lang, min_cell=args.min_cell,
                      min_count=args.min_count)
    workbook = write_tables(tables, args.out / "analysis.xlsx")
    write_tables(tables, args.out / "analysis.csv")
    hidden = sum(int(t.data["suppressed"].sum()) for t in tables)
    low = sum(int((t.data["reliability"] == "low").sum()) for t in tables)
    messages.say(f"ran {len(tables)} analyses of {args.plan}: {workbook} (and analysis.csv); "
                 f"{hidden} cell(s) suppressed, {low} of low reliability")
    return 0
