"""``perception estimate WAVE --questionnaire Q --var V``: estimate tables from the
command line, small cells suppressed.

The wave is read and validated (personal data dropped), the design is built from the
questionnaire's roles (weight, stratum, psu), the declared missing-value codes of the
estimated variables are turned into NaN in one explicit step whose count is reported
on stderr, and the estimates (``--stat mean|proportion|total``, optionally ``--by``)
are printed or written to CSV/XLSX after :func:`perception.suppress_small_cells`.

Examples
--------
>>> from perception.cli import main
>>> main(["estimate", "wave.csv", "-q", "q.yaml", "--var", "trust_police",
...       "--stat", "proportion", "--by", "wave"])                     # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..disclosure.suppression import DEFAULT_MIN_CELL
from ..errors import PerceptionError
from .common import read_waves

STATS = ("mean", "proportion", "total")
OUTPUT_SUFFIXES = (".csv", ".xlsx")


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
                        help="wave file(s): .csv, .xlsx, .sav, .dta (several are stacked)")
    parser.add_argument("-q", "--questionnaire", required=True, metavar="Q", type=Path,
                        help="questionnaire file (.yaml)")
    parser.add_argument("--var", required=True, action="append", metavar="V",
                        help="variable to estimate (repeat for several)")
    parser.add_argument("--by", action="append", metavar="COL",
                        help="domain column (repeat for several)")
    parser.add_argument("--stat", choices=STATS, default="mean",
                        help="mean (default), proportion (one row per answer) or total")
    parser.add_argument("--out", metavar="FILE", type=Path,
                        help="write the table to FILE (.csv or .xlsx) instead of printing it")
    parser.add_argument("--min-cell", type=int, default=DEFAULT_MIN_CELL, metavar="N",
                        help=f"smallest number of respondents of a shown cell "
                        f"(default {DEFAULT_MIN_CELL})")
    parser.add_argument("--level", type=float, default=0.95,
                        help="confidence level (default 0.95)")
    parser.add_argument("--strict", action="store_true",
                        help="stop with an error instead of leaving out any row (a "
                        "missing-value code, an empty answer or an empty --by column)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Estimate, suppress small cells, print or write; return 0."""
    import pandas as pd

    import perception as pc

    from ..outputs.report import design_from_questionnaire

    if args.min_cell < 1:
        raise PerceptionError(f"--min-cell must be at least 1, got {args.min_cell}")
    if args.out is not None and args.out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise PerceptionError(
            f"--out {args.out}: unknown file type {args.out.suffix or '(none)'!r}; give a "
            "name ending in .csv or .xlsx"
        )
    q = pc.load_questionnaire(args.questionnaire)
    data = read_waves("estimate", args.wave, q)
    names = list(dict.fromkeys(args.var))
    by = list(dict.fromkeys(args.by or []))
    for name in [*names, *by]:
        if name not in data.columns:
            import difflib

            close = difflib.get_close_matches(name, [str(c) for c in data.columns], n=2)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise PerceptionError(
                f"the data has no column {name!r} (given with --var/--by).{hint}"
            )
    recoded, counts = pc.recode_missing(data[[*names, *by]], q)
    counts = counts[counts["column"].isin(names)] if len(counts) else counts
    left_out = _left_out(data, recoded, names, by)
    if left_out and args.strict:
        raise PerceptionError(
            "--strict: rows would be left out of the estimates: " + "; ".join(left_out)
            + ". Fix: recode or impute those answers (or choose other --var/--by), or run "
            "without --strict to leave them out with their count reported."
        )
    if len(counts):
        listed = ", ".join(f"{r.column}={r.code}: {r.count}" for r in counts.itertuples())
        print(f"perception estimate: left out {int(counts['count'].sum())} answer(s) with "
              f"a missing-value code ({listed})", file=sys.stderr)
    for line in left_out:
        print(f"perception estimate: left out of {line}", file=sys.stderr)
    data = data.assign(**{c: recoded[c] for c in names})
    design = design_from_questionnaire(data, q, {})
    estimator = {"mean": pc.mean, "proportion": pc.proportion, "total": pc.total}[args.stat]
    # one variable at a time: each keeps every respondent who answered it
    tables = [estimator(design, name, by=by or None, na_rm=True, level=args.level)
              for name in names]
    for t in tables:
        t.attrs = {}
    table = pc.suppress_small_cells(pd.concat(tables, ignore_index=True), args.min_cell)
    table.attrs = {}
    if args.out is None:
        with pd.option_context("display.max_rows", 500, "display.width", 160,
                               "display.max_columns", 30):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    elif args.out.suffix.lower() == ".csv":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_excel(args.out, index=False, sheet_name=args.stat)
    hidden = int(table["suppressed"].sum())
    if hidden:
        print(f"perception estimate: {hidden} cell(s) with fewer than {args.min_cell} "
              "respondents suppressed", file=sys.stderr)
    return 0


def _left_out(data, recoded, names: list[str], by: list[str]) -> list[str]:
    """One line per variable that loses rows: how many of the rows, and why (a
    missing-value code, an empty answer, an empty --by column)."""
    by_empty = data[by].isna().any(axis=1) if by else None
    lines = []
    for name in names:
        empty = data[name].isna()
        coded = recoded[name].isna() & ~empty
        reasons = []
        if coded.any():
            reasons.append(f"{int(coded.sum())} with a missing-value code")
        if empty.any():
            reasons.append(f"{int(empty.sum())} empty (not asked or not recorded)")
        lost = recoded[name].isna()
        if by_empty is not None and (by_empty & ~lost).any():
            reasons.append(f"{int((by_empty & ~lost).sum())} with an empty --by column "
                           f"({', '.join(by)})")
            lost = lost | by_empty
        if lost.any():
            lines.append(f"{name}: {int(lost.sum())} of {len(data)} rows ({', '.join(reasons)})")
    return lines
