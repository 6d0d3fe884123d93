"""``perception figures``: the figure set, the CSV behind each figure and a report.

``perception figures --data WAVE [WAVE ...] --questionnaire Q --out DIR`` reads and
validates the wave files (personal data dropped), stacks them, builds the design from
the questionnaire's roles and writes every figure (``--format png,pdf,svg``), the
suppressed table behind each one (``DIR/tables/*.csv``), ``DIR/report.html`` and
``DIR/report.pdf``. ``perception figures --demo --out DIR`` does the same for the
built-in Central Mali example (``pc.demo_survey(seed=1)``).

Examples
--------
>>> from perception.cli import main
>>> main(["figures", "--demo", "--out", "figs", "--only", "trust_actors"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..disclosure.suppression import DEFAULT_MIN_CELL, DEFAULT_MIN_COUNT
from ..errors import PerceptionError
from .common import Messages, add_input_options, read_waves, show_progress, where_domain


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``figures`` subcommand."""
    parser = subparsers.add_parser(
        "figures",
        help="draw the figure set, its tables and a report (HTML and PDF)",
        description="Draw the figure set of a survey (or of the built-in demo): every "
        "figure, the table behind each one as CSV, and one report in HTML and PDF. Cells "
        "resting on fewer than --min-cell respondents are suppressed and marked. "
        "--list shows the figures.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--list", action="store_true",
                        help="list the figures of the set and exit")
    source.add_argument("--data", nargs="+", metavar="WAVE", type=Path,
                        help="wave files (.csv, .xlsx, .sav, .dta, or a directory of "
                        ".parquet files), one per wave or stacked")
    source.add_argument("--demo", action="store_true",
                        help="use the built-in Central Mali example (seed 1)")
    parser.add_argument("-q", "--questionnaire", metavar="Q", type=Path,
                        help="questionnaire file (.yaml); required with --data")
    add_input_options(parser, questionnaire=False)
    parser.add_argument("--out", metavar="DIR", type=Path,
                        help="folder to write to (created if needed)")
    parser.add_argument("--lang", choices=("fr", "en"), default=None,
                        help="language of the labels (default: the configuration's, fr)")
    parser.add_argument("--format", default="png", metavar="FORMATS",
                        help="image formats, comma-separated: png, pdf, svg (default png)")
    parser.add_argument("--only", metavar="NAME", action="append",
                        help="draw only this figure (may be repeated)")
    parser.add_argument("--config", metavar="CONFIG", type=Path,
                        help="YAML configuration: figures, items, domains, labels")
    parser.add_argument("--min-cell", type=int, default=None, metavar="N",
                        help=f"smallest number of respondents a shown cell may rest on "
                        f"(default {DEFAULT_MIN_CELL})")
    parser.add_argument("--min-count", type=int, default=None, metavar="K",
                        help="smallest number of respondents of a shown answer: answers given "
                        "by fewer (but some) are suppressed with the cells that would reveal "
                        f"them (default {DEFAULT_MIN_COUNT})")
    parser.add_argument("--strict", action="store_true",
                        help="stop with an error instead of leaving any answer out of the "
                        "estimates (a missing-value code such as 9 don't know, or an empty "
                        "cell); without it their count is reported on stderr")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (there is none when stderr is not a terminal)")
    # hidden: a smaller demo for quick runs and tests
    parser.add_argument("--demo-n", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--demo-seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)
    return parser


def _demo_context(args, config):
    import perception as pc

    from ..outputs.report import context_from_waves

    kwargs = {"n_per_wave": args.demo_n} if args.demo_n is not None else {}
    demo = pc.demo_survey(seed=args.demo_seed, **kwargs)
    q = demo.questionnaire
    note = {
        "fr": "Source : exemple intégré de perception (données simulées, graine "
              f"{args.demo_seed}), estimations pondérées.",
        "en": f"Source: perception's built-in example (simulated data, seed {args.demo_seed}), "
              "weighted estimates.",
    }
    lang = args.lang or config["lang"]
    return context_from_waves(
        demo.waves, q, config, lang=lang, min_cell=args.min_cell, min_count=args.min_count,
        source_note=None if config.get("source_note") else note[lang],
    )


def _data_context(args, config):
    from ..outputs.report import context_from_waves
    from ..questionnaire.loading import load_questionnaire

    if args.questionnaire is None:
        raise PerceptionError(
            "--data needs --questionnaire Q: the questionnaire gives the design, the codes "
            "and the labels"
        )
    q = load_questionnaire(args.questionnaire)
    waves = read_waves("figures", args.data, q, sheet=args.sheet, encoding=args.encoding)
    return context_from_waves(waves, q, config, lang=args.lang, min_cell=args.min_cell,
                              min_count=args.min_count)


def run(args: argparse.Namespace) -> int:
    """Draw the figure set; return 0."""
    from ..outputs.report import (
        FIGURES,
        check_figure_names,
        check_formats,
        figures_to_draw,
        load_config,
        prepare_output,
        write_report,
    )

    if args.list:
        width = max(len(name) for name in FIGURES)
        for name, spec in FIGURES.items():
            print(f"{name:<{width}}  {spec.description}")
        return 0
    if args.out is None:
        raise PerceptionError("--out DIR is required: the folder to write the figures to")
    if args.min_cell is not None and args.min_cell < 1:
        raise PerceptionError(f"--min-cell must be at least 1, got {args.min_cell}")
    if args.min_count is not None and args.min_count < 1:
        raise PerceptionError(f"--min-count must be at least 1, got {args.min_count}")
    config = load_config(args.config)
    names = check_figure_names(args.only) if args.only else None
    formats = check_formats(args.format)
    prepare_output(args.out)  # fail early, before any computation
    messages = Messages("figures")
    if args.demo:
        ctx = _demo_context(args, config)
    else:
        ctx = _data_context(args, config)
    ctx.design, notes = where_domain(ctx.design, args.where, messages)
    if notes:
        ctx.source_note = " ".join(p for p in (ctx.source_note, notes[ctx.lang]) if p)
    left_out = _left_out(ctx, figures_to_draw(ctx, names))
    if left_out and args.strict:
        raise PerceptionError(
            "--strict: answers would be left out of the estimates: " + "; ".join(left_out)
            + ". Fix: recode or impute them, choose other items in the configuration, or "
            "run without --strict to leave them out with their count reported."
        )
    for line in left_out:
        messages.say(f"left out of the estimates: {line}")
    files = write_report(ctx, args.out, names=names, formats=formats,
                         progress=show_progress(args))
    for name, why in files.left_out.items():
        messages.say(f"figure {name} not drawn: it {why}")
    n = len(files.figures)
    reports = ", ".join(path.name for path in (files.html, files.pdf, files.docx, files.xlsx)
                        if path is not None)
    messages.say(f"wrote {n} figure(s), their tables and the report to {args.out} "
                 f"({reports})")
    return 0


#: figures that show missing-value codes as categories of their own: they leave no
#: answer out (the Likert distributions, the item nonresponse, the weights)
_SHOW_MISSING = frozenset({"trust_likert", "fsi_relations", "nonresponse", "weights"})


def _left_out(ctx, names) -> list[str]:
    """One line per variable whose answers some of the figures ``names`` leave out of
    their estimates: how many, why (each missing-value code and skipped questions, as
    the labelled design leaves them out; or empty), and which figures."""
    from ..outputs.report import FIGURES
    from ..survey.valid_values import prepare

    data = ctx.design.data
    used: dict[str, list[str]] = {}
    for name in names:
        if name in _SHOW_MISSING:
            continue
        spec = FIGURES[name]
        if spec.waves > len(ctx.waves) or (spec.treated and ctx.treated is None):
            continue  # not drawn: it leaves nothing out
        for column in spec.columns(ctx):
            if column in data.columns and name not in used.setdefault(column, []):
                used[column].append(name)
    lines = []
    for column, figures in used.items():
        # what the labelled design leaves out (survey/valid_values), then the blanks
        prepared = prepare(ctx.design, [column])
        reasons = [f"{reason}: {int((prepared.codes == k).sum())}"
                   for k, reason in enumerate(prepared.reasons)]
        total = int(prepared.excluded.sum())
        empty = data[column].isna().to_numpy() & ~prepared.excluded
        if empty.any():
            reasons.append(f"empty: {int(empty.sum())}")
            total += int(empty.sum())
        if reasons:
            lines.append(f"{column}: {total} of {len(data)} answers ({', '.join(reasons)}) "
                         f"in {', '.join(figures)}")
    return lines
