"""Notes the subcommands print about rows of a file that hold no data."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def blank_rows_note(command: str, path: object, frame: pd.DataFrame) -> None:
    """Say on stderr how many entirely blank rows of ``path`` were skipped on reading.

    Blank rows hold no answer in any column, so they are not respondents; saying how
    many keeps the row count of the file accountable.
    """
    meta = frame.attrs.get("perception", {})
    count = int(frame.attrs.get("blank_rows_skipped", meta.get("blank_rows_skipped", 0)))
    if count:
        print(f"perception {command}: {path}: skipped {count} entirely blank "
              f"row{'s' if count != 1 else ''} (no value in any column)", file=sys.stderr)
