"""Command line: a thin layer that parses arguments, calls the public API and maps
outcomes to exit codes. Each subcommand lives in its module of ``perception/cli/`` with
``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..errors import PerceptionError

# The command line runs one job on small matrices: BLAS threads only contend for the
# cores (QR of 8,000 x 20 took 0.9 s instead of 0.02 s on a busy 2-core machine). Set
# before numpy loads; a value the user exported wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# subcommand name -> (module, one-line help); the order is the order of `perception --help`
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("perception.cli.validation", "validate a wave against its questionnaire"),
    "estimate": ("perception.cli.estimate", "print or write design-based estimate tables"),
    "table": ("perception.cli.crosstab",
              "crosstab with row or column percentages and the Rao-Scott test"),
    "change": ("perception.cli.changes", "change of an indicator between waves"),
    "did": ("perception.cli.diff_in_diff", "difference-in-differences of intervention and comparison "
            "areas"),
    "analyse": ("perception.cli.analyse", "run an analysis plan into one labelled workbook"),
    "model": ("perception.cli.model", "fit a design-based model with margins and effects"),
    "figures": ("perception.cli.figures", "write the figure set, its tables and a report"),
    "simulate": ("perception.cli.simulate", "write the built-in Central Mali demo waves"),
    "weights": ("perception.cli.weights", "rake a wave to population margins"),
    "questionnaire": ("perception.cli.questionnaire", "import an XLSForm questionnaire"),
    "export": ("perception.cli.export", "write an anonymised, shareable wave"),
    "sample": ("perception.cli.sample", "allocate and draw the villages of a wave"),
    "clean": ("perception.cli.clean", "apply a cleaning log to a raw export, with an audit"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message: str) -> NoReturn:  # pragma: no cover - exercised via main()
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> NoReturn:
        from .. import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser. Only ``command``'s module is imported (each command pulls in
    its own dependencies, e.g. matplotlib for figures); the others are listed by name.
    ``command=None`` imports them all."""
    parser = _Parser(
        prog="perception",
        description="Analyse community perception surveys: validate waves, estimate, "
        "weight, compare waves and draw figure sets.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in COMMANDS.items():
        if command is not None and name != command:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        module.add_parser(sub)
    return parser


def _chosen_command(argv: Sequence[str]) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 1 failed check, 2 error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_chosen_command(argv) or "")
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except PerceptionError as exc:
        print(f"perception {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"perception {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the command line never prints a traceback
        print(f"perception {args.command}: error: unexpected {type(exc).__name__}: {exc}. "
              "This is a bug of perception: please report it with the command and the file.",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("perception: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
