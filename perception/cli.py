"""Command line: a thin layer that parses arguments, calls the public API and maps
outcomes to exit codes. Each subcommand lives in ``perception/commands/<name>.py`` with
``add_parser(subparsers)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .errors import PerceptionError

# subcommand name -> module; the order is the order of `perception --help`
COMMANDS: dict[str, str] = {
    "validate": "perception.commands.validate",
    "estimate": "perception.commands.estimate",
    "figures": "perception.commands.figures",
    "simulate": "perception.commands.simulate",
    "weights": "perception.commands.weights",
    "questionnaire": "perception.commands.questionnaire",
    "export": "perception.commands.export",
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line with exit code 2."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised via main()
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="perception",
        description="Analyse community perception surveys: validate waves, estimate, "
        "weight, compare waves and draw figure sets.",
    )
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # subcommand not available in this build
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 success, 1 failed check, 2 error)."""
    parser = build_parser()
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
    except KeyboardInterrupt:
        print("perception: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
