"""``perception clean EXPORT --log LOG.xlsx -q Q --out CLEAN``: apply a cleaning log.

Reads the raw export (never modified) with the questionnaire (group prefixes removed,
select_multiple options combined; the KoboToolbox/ODK system columns kept), checks every
row of the log against it and, when every old value matches, writes the clean data and
the audit table: an ``.xlsx`` CLEAN holds both (sheets ``data`` and ``audit``), a ``.csv``
CLEAN has its audit beside it (``<CLEAN>_audit.csv``). Personal data never leave: the
``pii`` variables and the system columns that identify people or devices are left out of
the clean data, and their values are redacted in the audit and the messages. Exit codes: 0 written; 1 the log
does not match the export (every failing row listed on stderr, nothing written); 2 a file
cannot be read or an output exists (``--force``).

Examples
--------
>>> from perception.cli import main
>>> main(["clean", "export.xlsx", "--log", "log.xlsx", "-q", "q.yaml",
...       "--out", "clean.xlsx"])                                     # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ..errors import PerceptionError, WaveValidationError
from ..questionnaire.loading import load_questionnaire
from ..questionnaire.model import Questionnaire
from ..questionnaire.xlsform import questionnaire_from_xlsform
from ..waves.cleaning import (
    REDACTED,
    apply_cleaning_log,
    changed_columns,
    identifying_paradata,
    read_cleaning_log,
)
from ..waves.files import MAX_WAVE_BYTES, read_table
from ..waves.validation import validate


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``clean`` subcommand."""
    parser = subparsers.add_parser(
        "clean",
        help="apply a cleaning log to a raw export, with an audit table",
        description="Apply a cleaning log (uuid, variable, old value, new value, reason; or "
        "remove survey with a reason) to a raw export. Every old value must match the "
        "export, else every failing row is listed and nothing is written. The export is "
        "never modified. Exit code 0: written; 1: the log does not match; 2: a file cannot "
        "be read or an output exists.",
    )
    parser.add_argument("export", metavar="EXPORT", help="the raw export (.csv, .xlsx, ...)")
    parser.add_argument("--log", required=True, metavar="LOG",
                        help="the cleaning log (.xlsx: its cleaning_log sheet or the first; "
                        ".csv)")
    parser.add_argument("-q", "--questionnaire", required=True, metavar="Q",
                        help="the questionnaire (.yaml, or the XLSForm .xlsx/.xls)")
    parser.add_argument("-o", "--out", required=True, metavar="CLEAN",
                        help="the clean data to write (.xlsx with an audit sheet, or .csv "
                        "with <CLEAN>_audit.csv)")
    parser.add_argument("--key", metavar="COLUMN",
                        help="the submission id column (default: _uuid, uuid, "
                        "meta/instanceID, KEY ..., else the questionnaire's id)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    parser.add_argument("--max-bytes", type=int, default=MAX_WAVE_BYTES, metavar="BYTES",
                        help=f"largest file accepted (default {MAX_WAVE_BYTES:,})")
    parser.set_defaults(run=run)
    return parser


def _questionnaire(path: str) -> Questionnaire:
    if Path(path).suffix.lower() in (".xlsx", ".xls"):
        return questionnaire_from_xlsform(path)
    return load_questionnaire(path)


def _outputs(args: argparse.Namespace) -> tuple[Path, Path | None]:
    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".xlsx"):
        raise PerceptionError(f"--out {out}: write the clean data as .csv or .xlsx. Fix: name "
                              f"it e.g. {out.with_suffix('.xlsx').name}.")
    audit = None if out.suffix.lower() == ".xlsx" else out.with_name(f"{out.stem}_audit.csv")
    for path in (out, audit):
        if path is None:
            continue
        if path.resolve() in (Path(args.export).resolve(), Path(args.log).resolve()):
            raise PerceptionError(f"{path} is an input. Fix: choose another --out; the raw "
                                  "export and the log are never overwritten.")
        if path.exists() and not args.force:
            raise PerceptionError(f"{path} exists. Fix: choose another --out, or add --force.")
    return out, audit


def run(args: argparse.Namespace) -> int:
    """Check the log; write the clean data and the audit; print a summary."""
    q = _questionnaire(args.questionnaire)
    out, audit_path = _outputs(args)
    df, meta = read_table(args.export, q, kobo=True, max_bytes=args.max_bytes)
    raw = pd.concat([df, meta["paradata"]], axis=1)
    log = read_cleaning_log(args.log, max_bytes=args.max_bytes)
    try:
        clean, audit = apply_cleaning_log(raw, log, questionnaire=q, key=args.key)
    except WaveValidationError as exc:
        print(f"perception clean: {args.log}: {exc}", file=sys.stderr)
        return 1
    private = [c for c in q.pii if c in clean.columns]
    left_out = [*private, *identifying_paradata(list(meta["paradata"].columns))]
    counts = audit["action"].value_counts()
    report = validate(clean[[c for c in clean.columns if c in q]], q)
    clean = clean.drop(columns=left_out)
    audit = audit.copy()
    hidden = audit["variable"].map(lambda v: isinstance(v, str) and (
        v in private or v.split("/")[0] in private))
    audit.loc[hidden.astype(bool), ["old_value", "new_value"]] = REDACTED
    if out.suffix.lower() == ".xlsx":
        with pd.ExcelWriter(out, engine="openpyxl") as writer:
            clean.to_excel(writer, sheet_name="data", index=False)
            audit.to_excel(writer, sheet_name="audit", index=False)
    else:
        clean.to_csv(out, index=False, lineterminator="\n")
        assert audit_path is not None
        audit.to_csv(audit_path, index=False, lineterminator="\n")
    if left_out:
        print(f"personal data left out of {out.name}: {', '.join(left_out)}")
    print(
        f"wrote {out}{f' and {audit_path}' if audit_path else ' (sheets data, audit)'}: "
        f"{int(counts.get('changed', 0) + counts.get('blanked', 0))} cells changed in "
        f"{len(changed_columns(audit))} variables, {int(counts.get('removed', 0))} "
        f"submissions removed, {int(counts.get('no action', 0))} log rows without action; "
        f"{len(clean)} of {len(raw)} submissions kept. The clean data "
        + ("pass the questionnaire." if report.ok else
           f"still fail {len(report.errors)} checks: run perception validate {out} -q "
           f"{args.questionnaire}.")
    )
    return 0
