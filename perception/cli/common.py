"""Reading the waves of a subcommand, with a note on the rows of a file that hold no
data."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import pandas as pd

    from ..questionnaire.model import Questionnaire


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


def read_waves(command: str, paths: Sequence[str | Path], q: Questionnaire) -> pd.DataFrame:
    """The validated waves ``paths`` (:func:`perception.read_wave`), stacked in order, each
    file's skipped blank rows reported on stderr."""
    import pandas as pd

    from ..waves.reading import read_wave

    frames = [read_wave(path, q) for path in paths]
    for path, frame in zip(paths, frames, strict=True):
        blank_rows_note(command, path, frame)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
