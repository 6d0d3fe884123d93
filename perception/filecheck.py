"""Checking a file before it is read: it exists, is not too large, is what its
extension says; and opening XLSX workbooks safely.

Shared by the wave readers (:mod:`perception.waves.files`) and the XLSForm import
(:mod:`perception.questionnaire.xlsform`), which raise their own error class: every
function takes it as ``error`` (default :class:`~perception.errors.FileReadError`).
A workbook is a ZIP archive: its uncompressed size is checked against the same limit
before openpyxl reads it.

A sheet's declared size (its ``<dimension>``) is never trusted: R's writers declare
``A1`` for a sheet of 241 x 367 cells, LibreOffice 1,048,576 rows for a sheet of 101.
The sheets are read in openpyxl's read-only mode with their dimensions reset, so that
every real cell is read, in a time proportional to the cells the file holds.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FileReadError, PerceptionError


def file_error(path: Path, problem: str, fix: str, error: type[PerceptionError] = FileReadError):
    return error(f"{path}: {problem}. Fix: {fix}.")


def describe_kind(kind: str | None) -> str:
    return {
        "zip": "a ZIP archive",
        "xlsx": "an XLSX workbook",
        "xls": "an old Excel .xls (OLE2) file",
        "sav": "an SPSS .sav file",
        "dta": "a Stata .dta file",
        "pdf": "a PDF document",
        "gzip": "a gzip archive",
        "parquet": "a Parquet file",
        "sqlite": "an SQLite database",
        "utf16": "UTF-16 text (not UTF-8)",
        "binary": "binary data",
        None: "text",
    }.get(kind, kind or "text")


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"\xd0\xcf\x11\xe0", "xls"),
    (b"$FL2", "sav"),
    (b"$FL3", "sav"),
    (b"<stata_dta>", "dta"),
    (b"%PDF", "pdf"),
    (b"\x1f\x8b", "gzip"),
    (b"PAR1", "parquet"),
    (b"SQLite format 3", "sqlite"),
    (b"\xff\xfe", "utf16"),
    (b"\xfe\xff", "utf16"),
)


# Stata formats before 13 (dta 104-115): version byte, byte order (1 or 2), file type 1
_OLD_STATA_VERSIONS = frozenset({104, 105, 108, 110, 111, 112, 113, 114, 115})


def sniff(head: bytes) -> str | None:
    """What the first bytes of a file say it is: 'zip', 'xls', 'sav', 'dta', 'pdf',
    'gzip', 'parquet', 'sqlite', 'binary', or None for text.

    Examples
    --------
    >>> sniff(b"$FL2@(#) IBM SPSS"), sniff(b"resp_id,wave\\n"), sniff(b"PK\\x03\\x04...")
    ('sav', None, 'zip')
    """
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 3 and head[0] in _OLD_STATA_VERSIONS and head[1] in (1, 2) and head[2] == 1:
        return "dta"
    if b"\x00" in head[:8192]:
        return "binary"
    return None


def check_file(
    path: Path, max_bytes: int, what: str, error: type[PerceptionError] = FileReadError
) -> int:
    if not isinstance(max_bytes, int | np.integer) or isinstance(max_bytes, bool) or max_bytes < 1:
        raise error(f"max_bytes must be a positive whole number of bytes, got {max_bytes!r}")
    if not path.exists():
        raise file_error(
            path, "file not found",
            f"check the path (relative paths start from the current directory {Path.cwd()})",
            error,
        )
    if not path.is_file():
        raise file_error(path, "not a file", f"give the path of {what}", error)
    size = path.stat().st_size
    if size > max_bytes:
        raise file_error(
            path,
            f"the file holds {size:,} bytes, more than the limit of {max_bytes:,} bytes",
            "check that this is the right file; to read it anyway raise the limit "
            f"(max_bytes={size} in Python, --max-bytes {size} on the command line)",
            error,
        )
    if size == 0:
        raise file_error(path, "the file is empty (0 bytes)", "export the file again", error)
    return size


def _zip_guard(path: Path, max_bytes: int, error: type[PerceptionError]) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
    except (zipfile.BadZipFile, OSError) as exc:
        raise file_error(path, f"corrupt workbook: damaged ZIP container ({exc})",
                    "open the workbook in Excel/LibreOffice and save it again", error) from None
    expanded = sum(info.file_size for info in infos)
    if expanded > max_bytes:
        raise file_error(
            path,
            f"the workbook expands to {expanded:,} bytes when unzipped, more than the limit "
            f"of {max_bytes:,} bytes",
            "check the file (an archive that expands this much may be malicious); to read "
            f"it anyway raise the limit (max_bytes={expanded}, --max-bytes {expanded})",
            error,
        )
    if "xl/workbook.xml" not in names:
        raise file_error(
            path,
            "a ZIP archive but not an XLSX workbook (it has no xl/workbook.xml)",
            "save the data as an Excel .xlsx workbook, or export CSV",
            error,
        )


@contextmanager
def open_workbook(
    path: Path, max_bytes: int, error: type[PerceptionError] = FileReadError
) -> Iterator[Any]:
    """Open an XLSX workbook read-only after the ZIP checks; close it afterwards.

    Any exception of openpyxl (there are many for damaged files) becomes ``error``
    naming the file.
    """
    import openpyxl

    with path.open("rb") as handle:
        kind = sniff(handle.read(8192))
    if kind != "zip":
        raise file_error(
            path,
            f"not an XLSX workbook: its content is {describe_kind(kind)}",
            "open it in Excel/LibreOffice and save it as .xlsx"
            if kind == "xls" else "give the .xlsx workbook itself",
            error,
        )
    _zip_guard(path, max_bytes, error)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises KeyError, ValueError, XML errors ...
        raise file_error(
            path,
            f"unreadable XLSX workbook ({type(exc).__name__}: {str(exc)[:200]})",
            "open it in Excel/LibreOffice and save it again, or export CSV",
            error,
        ) from None
    try:
        yield workbook
    finally:
        workbook.close()


def _rows(worksheet: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of a worksheet as the file holds them, whatever size it declares."""
    if hasattr(worksheet, "reset_dimensions"):
        worksheet.reset_dimensions()  # read-only mode: the declared size may be wrong
    for row in worksheet.iter_rows(values_only=True):
        yield tuple(row)


def sheets_with_data(workbook: Any, probe_rows: int = 50) -> list[str]:
    """The names of the sheets that hold at least one value in their first
    ``probe_rows`` rows (charts and empty sheets are left out).

    Examples
    --------
    >>> import openpyxl
    >>> book = openpyxl.Workbook()
    >>> book.active.append(["a"]); _ = book.create_sheet("empty")
    >>> sheets_with_data(book)
    ['Sheet']
    """
    found = []
    for name in workbook.sheetnames:
        worksheet = workbook[name]
        if not hasattr(worksheet, "iter_rows"):
            continue  # a chart sheet
        for number, row in enumerate(_rows(worksheet)):
            if any(not is_blank(v) for v in row):
                found.append(name)
                break
            if number >= probe_rows:
                break
    return found


def sheet_rows(
    path: Path, workbook: Any, sheet: str | int | None,
    error: type[PerceptionError] = FileReadError,
) -> tuple[str, list[tuple[Any, ...]]]:
    """The rows of one sheet (values), trailing empty rows and columns removed; every row
    as wide as the widest (the declared dimension of the sheet is not trusted)."""
    names = list(workbook.sheetnames)
    if sheet is None:
        sheet = 0
    if isinstance(sheet, int | np.integer) and not isinstance(sheet, bool):
        if not 0 <= int(sheet) < len(names):
            raise file_error(path, f"the workbook has no sheet number {sheet} (it has {len(names)})",
                        f"give sheet=0..{len(names) - 1} or one of the names {names}", error)
        name = names[int(sheet)]
    elif isinstance(sheet, str):
        if sheet not in names:
            raise file_error(path, f"the workbook has no sheet {sheet!r}",
                        f"use one of {', '.join(map(repr, names))}", error)
        name = sheet
    else:
        raise error(f"sheet must be a sheet name or a 0-based number, got {sheet!r}")
    try:
        worksheet = workbook[name]
        if not hasattr(worksheet, "iter_rows"):
            raise file_error(path, f"sheet {name!r} is a chart, not a table of values",
                             "give the sheet that holds the data", error)
        rows = list(_rows(worksheet))
    except Exception as exc:
        raise file_error(path, f"unreadable sheet {name!r} ({type(exc).__name__}: {str(exc)[:200]})",
                    "open the workbook and save it again, or export CSV", error) from None
    while rows and all(is_blank(v) for v in rows[-1]):
        rows.pop()
    width = max((max((i + 1 for i, v in enumerate(r) if not is_blank(v)), default=0) for r in rows),
                default=0)
    return name, [tuple(r[:width]) + (None,) * (width - len(r)) for r in rows]


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
