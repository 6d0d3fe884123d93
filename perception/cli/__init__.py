"""The command line ``perception``: one module per subcommand (``add_parser(subparsers)``
and ``run(args) -> int``), the parser and :func:`main` in :mod:`perception.cli.app`,
what several subcommands share in :mod:`perception.cli.common`."""

from __future__ import annotations

from .app import main

__all__ = ["main"]
