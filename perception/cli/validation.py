"""``perception validate WAVE --questionnaire Q``: check a wave file, list every failure.

WAVE may be a directory of Parquet files: it is validated partition by partition
(:mod:`perception.waves.partitions`), never whole in memory, with the report the file
would give (rows numbered across the files in name order).

Exit codes: 0 valid, 1 the wave fails the questionnaire (every failure is printed),
2 the wave or questionnaire cannot be read (one-line error on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..questionnaire.loading import load_questionnaire
from ..waves.files import MAX_WAVE_BYTES, read_table
from ..waves.partitions import read_parquet_dataset
from ..waves.validation import validate
from .common import blank_rows_note


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check a wave file against its questionnaire and list every failure",
        description="Check a wave file (CSV, XLSX, SAV, DTA), or a directory of Parquet "
        "files (a wave larger than memory, validated file by file with identifiers unique "
        "across the files), against a questionnaire "
        "(YAML) and print every failing row, column and check. Exit code 0: valid; "
        "1: failures found; 2: a file cannot be read.",
    )
    parser.add_argument("wave", metavar="WAVE",
                        help="wave file: .csv, .xlsx, .sav or .dta, or a directory of "
                        ".parquet files")
    parser.add_argument(
        "-q",
        "--questionnaire",
        required=True,
        metavar="Q",
        help="questionnaire file (.yaml)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "csv"),
        default="text",
        help="text: readable report (default); csv: one line per failure "
        "(row,column,check,value,message)",
    )
    parser.add_argument(
        "--max-rows",
        type=int,
        default=10,
        metavar="N",
        help="row labels listed per failing check in the text report (default 10)",
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=MAX_WAVE_BYTES,
        metavar="BYTES",
        help=f"largest wave file accepted (default {MAX_WAVE_BYTES:,})",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Validate; print the report on stdout; return 0 (valid) or 1 (failures)."""
    q = load_questionnaire(args.questionnaire)
    if Path(args.wave).is_dir():  # a Parquet dataset: validated partition by partition
        report = validate(read_parquet_dataset(args.wave), q, source=str(args.wave))
    else:
        df, meta = read_table(args.wave, q, max_bytes=args.max_bytes)
        blank_rows_note("validate", args.wave, df)
        for note in meta["notes"]:  # a row index dropped, other sheets holding data ...
            print(f"perception validate: {args.wave}: {note}", file=sys.stderr)
        report = validate(df, q, source=str(args.wave))
    if args.format == "csv":
        report.errors.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        print(report.summary(max_rows=args.max_rows))
    return 0 if report.ok else 1
