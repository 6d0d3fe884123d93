"""``perception model WAVE --questionnaire Q --formula "y ~ x"``: a design-based model
from the command line, with predictive margins, marginal effects and term tests.

The waves are read and validated (personal data dropped), the design is built from the
questionnaire's roles (weight, stratum, psu) and labelled by the questionnaire: the
declared missing-value codes and skipped questions of the model's variables are left out
of the fit (their count is reported on stderr), and so are rows missing a model variable
(their count is reported too). ``--family ordinal`` fits a proportional-odds model
(:func:`perception.olr`), the others :func:`perception.glm`. Margins rest on the rows of each group: groups with
fewer than --min-cell respondents are suppressed.

Examples
--------
>>> from perception.cli import main
>>> main(["model", "wave.csv", "-q", "q.yaml", "--formula",
...       "trust_police ~ C(wave) * treated + sex", "--family", "ordinal",
...       "--margins", "wave", "--margins", "treated"])               # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..disclosure.suppression import DEFAULT_MIN_CELL
from ..errors import PerceptionError
from .common import Messages, add_input_options, left_out_lines, read_waves, where_domain

FAMILIES = ("gaussian", "binomial", "poisson", "quasipoisson", "ordinal")
OUTPUT_SUFFIXES = (".csv", ".xlsx")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``model`` subcommand."""
    parser = subparsers.add_parser(
        "model",
        help="fit a design-based model (glm or ordinal) with margins and effects",
        description="Fit a design-based model of one or more wave files with the design "
        "described by the questionnaire (weight, stratum, psu roles): a GLM (gaussian, "
        "binomial, poisson, quasipoisson) or a proportional-odds model of an ordered "
        "item (--family ordinal). Missing-value codes of the model's variables (e.g. 8 "
        "refused, 9 don't know) are left out, and their count is reported. Optionally "
        "predictive margins of groups (--margins), the average effect of a variable "
        "(--effect, in percentage points for binomial and ordinal models) and tests of "
        "terms (--test).",
    )
    parser.add_argument("wave", nargs="+", metavar="WAVE", type=Path,
                        help="wave file(s): .csv, .xlsx, .sav, .dta, or a directory of "
                        ".parquet files (several are stacked)")
    add_input_options(parser)
    parser.add_argument("--formula", required=True, metavar="F",
                        help='model formula, e.g. "trust_police ~ C(wave) * treated + sex"')
    parser.add_argument("--family", choices=FAMILIES, default="gaussian",
                        help="gaussian (default), binomial, poisson, quasipoisson, or "
                        "ordinal (proportional odds)")
    parser.add_argument("--link", metavar="LINK",
                        help="logit or probit (binomial, ordinal); default logit")
    parser.add_argument("--offset", metavar="COL", help="offset column (count models)")
    parser.add_argument("--trials", metavar="COL",
                        help="column of the number of trials (binomial counts)")
    parser.add_argument("--margins", action="append", metavar="COL",
                        help="predictive margins by COL (repeat: every combination)")
    parser.add_argument("--effect", metavar="VAR",
                        help="average marginal effect of the model variable VAR")
    parser.add_argument("--by", action="append", metavar="COL",
                        help="with --effect: the effect within each value of COL")
    parser.add_argument("--test", action="append", metavar="TERM",
                        help="Wald test that the coefficients of TERM are zero (repeat for "
                        "a joint test)")
    parser.add_argument("--lrt", action="store_true",
                        help="with --test: the working likelihood-ratio test instead")
    parser.add_argument("--out", metavar="FILE", type=Path,
                        help="write the tables to FILE: .xlsx (one sheet each) or .csv "
                        "(the coefficients; margins, effects, tests beside it as "
                        "FILE_margins.csv, ...)")
    parser.add_argument("--min-cell", type=int, default=DEFAULT_MIN_CELL, metavar="N",
                        help=f"smallest group of a shown margin (default {DEFAULT_MIN_CELL})")
    parser.add_argument("--level", type=float, default=0.95,
                        help="confidence level (default 0.95)")
    parser.set_defaults(run=run)
    return parser


def _check(args: argparse.Namespace) -> None:
    if args.min_cell < 1:
        raise PerceptionError(f"--min-cell must be at least 1, got {args.min_cell}")
    if args.out is not None and args.out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise PerceptionError(
            f"--out {args.out}: unknown file type {args.out.suffix or '(none)'!r}; give a "
            "name ending in .csv or .xlsx"
        )
    if args.by and not args.effect:
        raise PerceptionError("--by goes with --effect (the effect within each group)")
    if args.lrt and not args.test:
        raise PerceptionError("--lrt goes with --test (the terms to test)")
    if args.family == "ordinal" and (args.offset or args.trials):
        raise PerceptionError("--offset and --trials go with GLM families, not ordinal")


def _fit(args: argparse.Namespace, design):
    import perception as pc

    if args.family == "ordinal":
        return pc.olr(design, args.formula, link=args.link or "logit", na_rm=True,
                      level=args.level)
    return pc.glm(design, args.formula, family=args.family, na_rm=True, level=args.level,
                  link=args.link, offset=args.offset, trials=args.trials)


def run(args: argparse.Namespace) -> int:
    """Fit, print or write the tables; return 0."""
    import pandas as pd

    import perception as pc

    from ..outputs.report import design_from_questionnaire
    from ..survey.formulas import model_columns

    _check(args)
    messages = Messages("model")
    q = pc.load_questionnaire(args.questionnaire)
    data = read_waves("model", args.wave, q, sheet=args.sheet, encoding=args.encoding,
                      messages=messages)
    used = model_columns(args.formula, data)
    extra = [c for c in [args.offset, args.trials, *(args.margins or []), *(args.by or [])]
             if c is not None]
    missing = [c for c in extra if c not in data.columns]
    if missing:
        raise PerceptionError(
            f"the data has no column(s) {', '.join(map(repr, missing))} (given with "
            "--offset/--trials/--margins/--by)"
        )
    columns = list(dict.fromkeys([*used, *extra]))
    # a labelled design: the model leaves the questionnaire's missing codes and skipped
    # questions out itself (survey/valid_values), as every estimator does
    design = design_from_questionnaire(data, q, {}).with_labels(q)
    for line in left_out_lines(design, columns):
        messages.say(line)
    design, _ = where_domain(design, args.where, messages)
    fit = _fit(args, design)
    dropped = int(design.n - fit.n)
    if dropped:
        messages.say(f"{dropped} of {design.n} rows left out of the fit (a model variable "
                     "missing or left out)")
    tables: dict[str, pd.DataFrame] = {
        "coefficients": fit.coefficients.reset_index()}
    if args.margins:
        margins = pc.predictive_margins(fit, list(dict.fromkeys(args.margins)),
                                        level=args.level)
        margins.attrs = {}
        tables["margins"] = pc.suppress_small_cells(margins, args.min_cell)
    if args.effect:
        effects = pc.marginal_effects(fit, args.effect, by=args.by, level=args.level)
        effects.attrs = {}
        tables["effects"] = effects
    if args.test:
        tested = pc.wald_test(fit, args.test, method="LRT" if args.lrt else "Wald")
        tested.attrs = {}
        tables["tests"] = tested
    for table in tables.values():
        table.attrs = {}
    _write(args, fit, tables)
    return 0


def _write(args: argparse.Namespace, fit, tables: dict) -> None:
    import pandas as pd

    if args.out is None:
        print(fit.summary())
        with pd.option_context("display.max_rows", 500, "display.width", 160,
                               "display.max_columns", 30):
            for name, table in tables.items():
                if name == "coefficients":
                    continue
                print(f"\n{name.capitalize()}:")
                print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() == ".xlsx":
        with pd.ExcelWriter(args.out) as writer:
            for name, table in tables.items():
                table.to_excel(writer, index=False, sheet_name=name)
        return
    for name, table in tables.items():
        path = args.out if name == "coefficients" else args.out.with_name(
            f"{args.out.stem}_{name}{args.out.suffix}")
        table.to_csv(path, index=False)
