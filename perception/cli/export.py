"""``perception export WAVE --questionnaire Q --out shareable.csv``: a wave others may see.

Reads and validates the wave, then :func:`perception.anonymise_wave` removes personal
data and identifiers, GPS, free text, sensitive answers (unless ``--keep-sensitive``) and
undeclared columns, coarsens dates to months, and checks that every combination of the
quasi-identifiers the questionnaire declares (``role: quasi_identifier``) is shared by at
least ``--k`` records. When some are not, nothing is written (exit code 1) unless
``--resolve``: the quasi-identifiers are then coarsened along their ladders (``coarsen:``)
and blanked until they are, each change printed on stderr. The CSV is written with a log
beside it (``<name>.log``: every step, no value). Kobo/ODK paradata columns are never
written. Exit codes: 0 written, 1 refused (records at risk; use ``--resolve``), 2 the wave
cannot be read or fails its questionnaire, or the output exists (use ``--force``).

Examples
--------
>>> from perception.cli import main
>>> main(["export", "baseline.csv", "-q", "q.yaml", "--out", "shareable.csv",
...       "--resolve"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
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
        description="Write a shareable copy of a wave: personal data (pii), identifiers, "
        "GPS, free text, sensitive answers and columns the questionnaire does not declare "
        "removed; dates coarsened to months. Refuses (exit code 1) when a combination of "
        "the questionnaire's quasi-identifiers is shared by fewer than K records, unless "
        "--resolve coarsens them along their ladders until none is. Writes a log beside "
        "the CSV (<name>.log).",
    )
    parser.add_argument("wave", metavar="WAVE", help="wave file: .csv, .xlsx, .sav or .dta")
    parser.add_argument("-q", "--questionnaire", required=True, metavar="Q",
                        help="questionnaire file (.yaml)")
    parser.add_argument("-o", "--out", required=True, metavar="FILE.csv",
                        help="the shareable CSV to write")
    parser.add_argument("--k", type=int, default=DEFAULT_K, metavar="K",
                        help=f"k of k-anonymity: every combination of quasi-identifiers "
                        f"must be shared by at least K records (default {DEFAULT_K})")
    parser.add_argument("--resolve", action="store_true",
                        help="coarsen the quasi-identifiers along the questionnaire's ladders "
                        "(then blank them) until every combination is shared by K records; "
                        "each change is reported (default: refuse to write)")
    parser.add_argument("--keep-sensitive", action="store_true",
                        help="keep the variables the questionnaire marks sensitive (for a "
                        "restricted-access release; default: dropped)")
    parser.add_argument("--gps", choices=("drop", "commune"), default="drop",
                        help="drop GPS positions (default) or replace them by the commune's "
                        "mean position (needs the commune: --keep-sensitive)")
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


def _log_path(out: Path) -> Path:
    return out.with_suffix(".log")


def _refusal(rare: pd.DataFrame, k: int, wave_path: Path) -> str:
    qi = rare.attrs["quasi_identifiers"]
    n, total = rare.attrs["records_at_risk"], rare.attrs["n_records"]
    shown = _whole_numbers_as_integers(rare.head(_SHOWN)).to_string(index=False).replace("\n", "\n  ")
    return (
        f"perception export: refused: {n:,} of {total:,} records of {wave_path} are at "
        f"risk: their combination of the quasi-identifiers {', '.join(qi)} is shared by "
        f"fewer than {k} records ({len(rare):,} of {rare.attrs['combinations']:,} "
        f"combinations). Nothing was written.\n"
        f"  rarest combinations:\n  {shown}\n"
        f"Fix: add --resolve to coarsen these quasi-identifiers along the ladders of the "
        f"questionnaire (coarsen:), then blank what remains, until every combination is "
        f"shared by at least {k} records (each change is reported); or declare a coarser "
        f"ladder in the questionnaire."
    )


def _log_text(steps: pd.DataFrame, wave_path: Path, out: Path, k: int) -> str:
    lines = [f"perception export: {wave_path} -> {out} (k = {k})",
             "step\tcolumn\taction\trecords\tdetail"]
    lines += ["\t".join(str(v) for v in row) for row in steps.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Anonymise the wave; write the CSV and its log, or refuse (1) when records are at
    risk and --resolve is not given."""
    wave_path, out = Path(args.wave), Path(args.out)
    if out.suffix.lower() != ".csv":
        raise DisclosureError(f"--out {out} must be a .csv file. Fix: name it e.g. "
                              f"{out.with_suffix('.csv').name}.")
    if out.exists() and out.resolve() == wave_path.resolve():
        raise DisclosureError(f"--out {out} is the wave itself. Fix: choose another file.")
    for path in (out, _log_path(out)):
        if path.exists() and not args.force:
            raise DisclosureError(f"{path} exists. Fix: choose another --out, or add --force "
                                  "to overwrite it.")
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
        df, q, k=args.k, gps=args.gps, dates=args.dates, resolve=args.resolve,
        keep_sensitive=args.keep_sensitive)
    if len(rare):
        print(_refusal(rare, args.k, wave_path), file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    _whole_numbers_as_integers(shared).to_csv(out, index=False, lineterminator="\n",
                                              encoding="utf-8")
    _log_path(out).write_text(_log_text(steps, wave_path, out, args.k), encoding="utf-8")
    print(f"wrote {out}: {len(shared)} rows, {shared.shape[1]} columns (from {wave_path}, "
          f"{df.shape[1]} columns); log: {_log_path(out)}")
    paradata = list(meta["paradata"].columns)
    if paradata:
        print(f"  not written: {len(paradata)} Kobo/ODK metadata column(s): "
              f"{', '.join(paradata)}")
    for row in steps.itertuples(index=False):
        if row.step in ("k_anonymity", "resolve"):
            continue
        print(f"  {row.action:<10} {row.column} ({row.rows} non-empty): {row.detail}")
    for row in steps[steps["step"] == "resolve"].itertuples(index=False):
        if row.action == "resolved":
            print(f"perception export: {row.rows:,} record(s) were at risk on {row.column}; "
                  "resolved by:", file=sys.stderr)
            continue
        print(f"  {row.column}: {row.rows:,} record(s) {row.detail}", file=sys.stderr)
    k_row = steps[steps["step"] == "k_anonymity"].iloc[0]
    print(f"k-anonymity (k={args.k}) on {k_row.column}: {k_row.detail}.")
    return 0
