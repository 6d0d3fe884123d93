"""Subcommands of the `perception` command line, one module each."""
