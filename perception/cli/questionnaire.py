"""``perception questionnaire import FORM.xlsx --out Q.yaml``: convert an XLSForm.

The form (``.xlsx`` or ``.xls``) is parsed by pyxform, the XLSForm reference. Writes the
questionnaire YAML (checked by loading it) headed by notes on what the import left out,
simplified or inferred (missing codes, personal data, code types), and prints a summary
and the notes. Without ``--out`` the YAML goes to stdout. Exit codes: 0 written, 2 the
form cannot be read or pyxform refuses it (its message and rows on stderr), or the output
exists (use ``--force``).

Examples
--------
>>> from perception.cli import main
>>> main(["questionnaire", "import", "form.xlsx", "--out", "q.yaml"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import QuestionnaireError
from ..questionnaire.xlsform import MAX_XLSFORM_BYTES, convert_xlsform


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``questionnaire`` subcommand (with its ``import`` action)."""
    parser = subparsers.add_parser(
        "questionnaire",
        help="import a questionnaire from an XLSForm (KoboToolbox/ODK, .xlsx or .xls)",
        description="Work with questionnaires. `perception questionnaire import FORM.xlsx "
        "--out Q.yaml` converts an XLSForm into the YAML questionnaire format.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION",
                                    parser_class=type(parser))
    imp = actions.add_parser(
        "import",
        help="convert an XLSForm (.xlsx or .xls) into a questionnaire YAML file",
        description="Convert an XLSForm (survey, choices, settings sheets; parsed by pyxform) "
        "into the YAML questionnaire format (docs/questionnaire_format.md). The YAML starts "
        "with notes on everything left out, simplified or inferred: review them. Exit code "
        "0: written; 2: the form cannot be read or pyxform refuses it.",
    )
    imp.add_argument("form", metavar="FORM", help="the XLSForm (.xlsx or .xls)")
    imp.add_argument("-o", "--out", metavar="Q.yaml",
                     help="questionnaire file to write (default: print the YAML)")
    imp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    imp.add_argument("--max-bytes", type=int, default=MAX_XLSFORM_BYTES, metavar="BYTES",
                     help=f"largest form accepted (default {MAX_XLSFORM_BYTES:,})")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Convert the form; write or print the YAML; print the notes."""
    if getattr(args, "action", None) != "import":
        print("perception questionnaire: give an action: import FORM.xlsx --out Q.yaml",
              file=sys.stderr)
        return 2
    conversion = convert_xlsform(args.form, max_bytes=args.max_bytes)
    q = conversion.questionnaire()
    text = conversion.to_yaml()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if out.suffix.lower() not in (".yaml", ".yml"):
        raise QuestionnaireError(
            f"--out {out} should end in .yaml (a questionnaire file). Fix: name it e.g. "
            f"{out.with_suffix('.yaml').name}."
        )
    if out.resolve() == Path(args.form).resolve():
        raise QuestionnaireError(f"--out {out} is the form itself. Fix: choose another file.")
    if out.exists() and not args.force:
        raise QuestionnaireError(
            f"{out} exists. Fix: choose another --out, or add --force to overwrite it."
        )
    out.write_text(text, encoding="utf-8")
    modules = len({v.module for v in q.variable_list})
    repeats = len(q.repeats)
    pii = [*q.pii, *(n for r in q.repeats.values() for n in r.pii)]
    print(
        f"wrote {out}: questionnaire {q.id!r}, {len(q)} variables in {modules} module"
        f"{'s' if modules != 1 else ''}"
        + (f", {repeats} repeat{'s' if repeats != 1 else ''} "
           f"({', '.join(f'{n}: {len(r)} variables' for n, r in q.repeats.items())})"
           if repeats else "")
        + (f", derived: {', '.join(q.derived)}" if q.derived else "")
        + f", languages {', '.join(q.languages)}"
        + (f", pii: {', '.join(pii)}" if pii else ", no pii variable")
    )
    if conversion.notes:
        print(f"{len(conversion.notes)} note{'s' if len(conversion.notes) != 1 else ''} to "
              "review (also at the top of the file):")
        for note in conversion.notes:
            print(f"  - {note}")
    return 0
