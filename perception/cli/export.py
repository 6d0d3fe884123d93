"""``perception export WAVE --questionnaire Q --out shareable.csv``: a wave others may see.

Reads and validates the wave, then :func:`perception.anonymise_wave` removes
personal data, GPS, free text and undeclared columns, coarsens the commune (to the
cercle), age (to bands) and dates (to months), and flags combinations of
quasi-identifiers shared by fewer than ``--k`` records. Writes the CSV and prints what
was removed, coarsened and flagged (the values of personal data are never printed).
Kobo/ODK paradata columns are never written. Exit codes: 0 written, 2 the wave cannot
be read or fails its questionnaire, or the output exists (use ``--force``).

Examples
--------
>>> from perception.cli import main
>>> main(["export", "baseline.csv", "-q", "q.yaml", "--out", "shareable.csv"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ..disclosure.anonymise import anonymise_wave
from ..disclosure.suppression import DEFAULT_K
from ..errors import DisclosureError, WaveValidationError
from ..questionnaire.loading import load_questionnaire
from ..waves.files import MAX_WAVE_BYTES, read_table
from ..waves.validation import validate
from .common import blank_rows_note

# rare combinations listed on the screen
_SHOWN = 10


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="write an anonymised copy of a wave that can be shared",
        description="Write a shareable copy of a wave: personal data (pii), GPS, free text "
        "and columns the questionnaire does not declare removed; commune coarsened to "
        "cercle, age to bands, dates to months; combinations of quasi-identifiers shared "
        "by fewer than K records flagged. Prints what was removed and flagged.",
    )
    parser.add_argument("wave", metavar="WAVE", help="wave file: .csv, .xlsx, .sav or .dta")
    parser.add_argument("-q", "--questionnaire", required=True, metavar="Q",
                        help="questionnaire file (.yaml)")
    parser.add_argument("-o", "--out", required=True, metavar="FILE.csv",
                        help="the shareable CSV to write")
    parser.add_argument("--k", type=int, default=DEFAULT_K, metavar="K",
                        help=f"k of k-anonymity: flag combinations shared by fewer than K "
                        f"records (default {DEFAULT_K})")
    parser.add_argument("--keep-commune", action="store_true",
                        help="keep the commune (default: coarsened to the cercle)")
    parser.add_argument("--gps", choices=("drop", "commune"), default="drop",
                        help="drop GPS positions (default) or replace them by the commune's "
                        "mean position (needs --keep-commune)")
    parser.add_argument("--dates", choices=("month", "keep", "drop"), default="month",
                        help="dates: coarsened to the month (default), kept, or dropped")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--max-bytes", type=int, default=MAX_WAVE_BYTES, metavar="BYTES",
                        help=f"largest wave file accepted (default {MAX_WAVE_BYTES:,})")
    parser.set_defaults(run=run)
    return parser


def _whole_numbers_as_integers(df: pd.DataFrame) -> pd.DataFrame:
    """Codes stored as floats because of empty cells are written 3, not 3.0."""
    out = df.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_float_dtype(values.dtype):
            present = values.dropna()
            if len(present) and bool((present == np.floor(present)).all()) and bool(
                    (present.abs() < 2**53).all()):
                out[column] = values.astype("Int64")
    return out


def run(args: argparse.Namespace) -> int:
    """Anonymise the wave, write the CSV, print the report; return 0."""
    wave_path, out = Path(args.wave), Path(args.out)
    if out.suffix.lower() != ".csv":
        raise DisclosureError(f"--out {out} must be a .csv file. Fix: name it e.g. "
                              f"{out.with_suffix('.csv').name}.")
    if out.exists() and out.resolve() == wave_path.resolve():
        raise DisclosureError(f"--out {out} is the wave itself. Fix: choose another file.")
    if out.exists() and not args.force:
        raise DisclosureError(f"{out} exists. Fix: choose another --out, or add --force to "
                              "overwrite it.")
    q = load_questionnaire(args.questionnaire)
    df, meta = read_table(wave_path, q, max_bytes=args.max_bytes)
    blank_rows_note("export", wave_path, df)
    report = validate(df, q, source=str(wave_path))
    if not report.ok:
        raise WaveValidationError(
            f"{wave_path} fails questionnaire {q.id!r}; only valid waves are exported. "
            f"Fix: correct the wave (see `perception validate`).\n{report.summary()}",
            report,
        )
    shared, steps, rare = anonymise_wave(
        df, q, k=args.k, gps=args.gps, keep_commune=args.keep_commune, dates=args.dates
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    _whole_numbers_as_integers(shared).to_csv(out, index=False, lineterminator="\n",
                                              encoding="utf-8")
    print(f"wrote {out}: {len(shared)} rows, {shared.shape[1]} columns (from {wave_path}, "
          f"{df.shape[1]} columns)")
    paradata = list(meta["paradata"].columns)
    if paradata:
        print(f"  not written: {len(paradata)} Kobo/ODK metadata column(s): "
              f"{', '.join(paradata)}")
    for row in steps.itertuples(index=False):
        if row.step == "k_anonymity":
            continue
        print(f"  {row.action:<10} {row.column} ({row.rows} non-empty): {row.detail}")
    k_row = steps[steps["step"] == "k_anonymity"].iloc[0]
    print(f"k-anonymity (k={args.k}) on {k_row.column}: {k_row.detail}; "
          f"{k_row.rows} record(s) at risk.")
    if len(rare):
        print(f"  rarest combinations (of {len(rare)}):")
        print("  " + rare.head(_SHOWN).to_string(index=False).replace("\n", "\n  "))
        print("  consider coarsening one of these variables (or suppressing the rare values) "
              "before sharing.")
    return 0
