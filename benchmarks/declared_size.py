"""Reading workbooks whose sheets declare a wrong size, timed (issue #18).

LibreOffice saves forms that declare 1,048,576 rows for 101 real ones, R's writers
declare ``A1`` for a sheet of hundreds of rows; a reader that trusts the declaration pads
a million empty rows, or reads nothing. This script writes such workbooks (an XLSForm and
a data sheet) and times ``convert_xlsform`` and ``read_table`` on them, next to the same
workbook with its true size: the times must be the same order (linear in the real cells).

Run::

    .venv/bin/python benchmarks/declared_size.py [--rows 2000]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _xlsform_fixture import write_xlsform  # noqa: E402 - tests/ put on sys.path first

from perception.questionnaire.xlsform import convert_xlsform  # noqa: E402
from perception.waves.files import read_table  # noqa: E402


def declare(path: Path, ref: str) -> Path:
    """Rewrite the <dimension> of every sheet of ``path`` to ``ref``."""
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    for name, content in parts.items():
        if name.startswith("xl/worksheets/sheet"):
            parts[name] = re.sub(rb'<dimension ref="[^"]*"\s*/>',
                                 f'<dimension ref="{ref}"/>'.encode(), content)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="rows of the data sheet")
    rows = parser.parse_args().rows
    folder = Path(tempfile.mkdtemp())
    form = write_xlsform(folder / "form.xlsx")
    data = folder / "data.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([f"c{j}" for j in range(40)])
    for i in range(rows):
        sheet.append([i * 40 + j for j in range(40)])
    book.save(data)
    print(f"{'file':<38} {'declared':<16} seconds")
    for ref in ("(true)", "A1", "A1:AMJ1048576"):
        for path, function in ((form, convert_xlsform), (data, read_table)):
            copy = folder / f"{path.stem}_{ref.strip('()').replace(':', '_')}.xlsx"
            copy.write_bytes(path.read_bytes())
            if ref != "(true)":
                declare(copy, ref)
            seconds = min(timed(function, copy) for _ in range(3))
            print(f"{copy.name:<38} {ref:<16} {seconds:.3f}")


if __name__ == "__main__":
    main()
