"""Read survey data files as they are: CSV, XLSX, SPSS, Stata and KoboToolbox/ODK exports.

:func:`read_table` turns a file into a DataFrame with the same column types whatever the
format, plus a dictionary of what the file said about itself (value labels, variable
labels, paradata). It does not validate: :func:`perception.read_wave` validates the
frame against the questionnaire afterwards.

Formats (chosen by extension, then checked against the file's first bytes)
---------------------------------------------------------------------------
- ``.csv`` / ``.tsv``: UTF-8 text (a byte-order mark is allowed), separated by ``,``
  ``;`` or tab (detected from the first lines). A file that is not UTF-8 is refused with
  the byte offset and line of the first invalid byte. In a ``;``-separated file a column
  whose numbers all use a decimal comma (``12,5``) is read as numbers.
- ``.xlsx``: the first sheet (or ``sheet=``), first row as header (openpyxl, values of
  formulas as last saved). A workbook is a ZIP archive: its uncompressed size must also
  stay below ``max_bytes``.
- ``.sav`` / ``.zsav`` (SPSS) and ``.dta`` (Stata), through pyreadstat: user-defined
  missing values are **kept as codes** (8, 9, 98 ...), as everywhere in the package;
  Stata extended missing values are kept as the text ``.a`` ... ``.z`` (so validation
  shows them: recode them to the questionnaire's missing codes). Value labels, variable
  labels and SPSS missing-value declarations are returned in the metadata. With a
  questionnaire, the value labels are compared with the questionnaire's code labels
  (every language; case, accents and punctuation ignored; a truncated label matches):
  a label that names another code (codes swapped), a label that matches none of the
  code's labels, or a labelled code the questionnaire does not know is a *label
  problem* (see ``on_label_problem``).

Every file is checked before it is read: it must exist, hold at most ``max_bytes`` bytes
(refused before reading, with the size and how to raise the limit), and be what its
extension says (XLSX is a ZIP holding ``xl/workbook.xml``, SAV starts with ``$FL2``/
``$FL3``, DTA with ``<stata_dta>`` or an old-format version byte, CSV is text). A file
the underlying library cannot parse raises :class:`FileReadError` naming the file.

The same columns from every format
----------------------------------
- Empty cells, empty text and, in CSV/XLSX, the usual spellings of a missing value
  (:data:`NA_STRINGS`: ``NA``, ``N/A``, ``n/a``, ``#N/A``, ``NULL`` ...) are missing.
  Entirely blank rows of a CSV/XLSX are skipped (their number is in the metadata).
- A column whose every value is a number is numeric: ``int64`` when all are whole and
  none is missing, else ``float64`` (the rule of :func:`pandas.read_csv`).
- With a questionnaire, ``text`` and ``select_multiple`` variables and variables with
  text codes are read as text (ids keep their leading zeros; a number stored in an
  Excel cell is written without ``.0``), and ``date`` variables become
  ``datetime64[ns]`` when every value is an ISO date (``YYYY-MM-DD``) or a date cell;
  otherwise they are left as read, for validation to report.
- Other text is pandas' ``str`` dtype; date/datetime cells of XLSX/SAV/DTA files are
  ``datetime64[ns]``.

KoboToolbox / ODK exports
-------------------------
An export is recognised by its system columns (``_uuid``, ``_submission_time``,
``_index``, ``meta/instanceID``, ``KEY`` ...; or ``kobo=True``). Then:

- **Metadata columns** -- every column starting with ``_``, ``meta/``, ``meta-`` or
  ``formhub/`` and the form metadata :data:`KOBO_METADATA` (``start``, ``end``,
  ``today``, ``deviceid``, ``username``, ``phonenumber`` ...) -- are taken out of the
  frame and returned as ``meta["paradata"]`` (a DataFrame with the same index), unless
  the questionnaire declares a variable of that name. Paradata can identify respondents
  and interviewers (device ids, phone numbers, GPS): never write it to a shared file.

With a questionnaire (for any format):

- **Group prefixes** are removed: ``grp_security/trust_police``,
  ``grp_security-trust_police`` or ``a/b/trust_police`` become ``trust_police`` when the
  questionnaire knows ``trust_police`` (and not the full name). Two columns that end up
  with the same name are an error.
- **select_multiple** answers are normalised to the questionnaire's format, the selected
  codes separated by spaces in questionnaire order (``"1 3"``): one 0/1 column per
  option (``ca_type/1``, ``ca_type.1``, ``grp/ca_type/1``, ``ca_type-1``) is combined
  into the column ``ca_type``; a row whose option cells are all empty is missing (the
  question was skipped), a row with no option selected is missing too. When the export
  holds both the space-separated column and the option columns, they must agree
  (rows that disagree are an error) and the option columns are dropped. Option columns
  must hold 0/1 (or true/false) and name codes the questionnaire declares.

Examples
--------
>>> from pathlib import Path
>>> import perception as pc
>>> root = Path(pc.__file__).resolve().parents[1]
>>> q = pc.load_questionnaire(root / "questionnaires" / "centre_mali_trust.yaml")
>>> df, meta = read_table(root / "tests" / "data" / "centre_mali_wave_small.csv",
...                       questionnaire=q)
>>> meta["format"], df["resp_id"].iloc[0], df["ca_type"].iloc[0]
('csv', 'R001', '1 3')
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import FileReadError, PerceptionError, WaveValidationError, format_rows
from ..filecheck import (
    check_file,
    describe_kind,
    file_error,
    is_blank,
    open_workbook,
    sheet_rows,
    sniff,
)
from ..questionnaire.cells import cell_text
from ..questionnaire.model import Questionnaire, Variable

__all__ = [
    "read_table",
    "check_value_labels",
    "FileReadError",
    "MAX_WAVE_BYTES",
    "SUPPORTED_SUFFIXES",
    "KOBO_METADATA",
    "NA_STRINGS",
    "LABEL_PROBLEM_COLUMNS",
]

#: largest data file accepted by default (bytes)
MAX_WAVE_BYTES = 200_000_000

#: extension -> format
SUPPORTED_SUFFIXES: Mapping[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".sav": "sav",
    ".zsav": "sav",
    ".dta": "dta",
}

#: texts read as a missing value in CSV and XLSX files
NA_STRINGS: frozenset[str] = frozenset(
    {"", "NA", "N/A", "n/a", "#N/A", "#NA", "NaN", "nan", "NULL", "null", "None", "<NA>"}
)

#: KoboToolbox / ODK form metadata and system columns (kept aside as paradata)
KOBO_METADATA: frozenset[str] = frozenset(
    {
        # XLSForm metadata question types
        "start", "end", "today", "deviceid", "subscriberid", "simserial", "phonenumber",
        "username", "email", "audit", "starttime", "endtime",
        # KoboToolbox system columns
        "_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status",
        "_submitted_by", "__version__", "_tags", "_index", "_parent_index",
        "_parent_table_name", "_attachments", "_geolocation", "_xform_id_string",
        "formhub/uuid", "instanceID", "instanceName", "deprecatedID", "rootUuid",
        # ODK Central / Briefcase
        "SubmissionDate", "KEY", "PARENT_KEY", "SubmitterID", "SubmitterName",
        "AttachmentsPresent", "AttachmentsExpected", "Status", "ReviewState", "DeviceID",
        "Edits", "FormVersion",
    }
)
_KOBO_PREFIXES = ("_", "meta/", "meta-", "formhub/", "formhub-")
_KOBO_SIGNATURE = frozenset(
    {
        "_uuid", "_submission_time", "_index", "_id", "_xform_id_string", "__version__",
        "meta/instanceID", "meta-instanceID", "instanceID", "formhub/uuid", "KEY",
        "SubmissionDate",
    }
)
_GROUP_SEPARATORS = "/-."
_OPTION_TRUE = frozenset({"1", "1.0", "true", "True", "TRUE"})
_OPTION_FALSE = frozenset({"0", "0.0", "false", "False", "FALSE"})

#: columns of ``meta["label_problems"]``
LABEL_PROBLEM_COLUMNS = [
    "column", "code", "file_label", "questionnaire_label", "problem", "severity", "rows",
    "message",
]

# a label that is a truncation of the other, at least this long, matches it
_MIN_PREFIX = 8
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d*,\d+\s*$")
_PLAIN_NUMBER = re.compile(r"^\s*[+-]?\d+\s*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")

Format = Literal["csv", "xlsx", "sav", "dta"]


# ------------------------------------------------------------------ file checks --


def _format_of(path: Path) -> Format:
    suffix = path.suffix.lower()
    fmt = SUPPORTED_SUFFIXES.get(suffix)
    if fmt is None:
        hint = " (old Excel workbooks: open and save them as .xlsx)" if suffix == ".xls" else ""
        raise file_error(
            path,
            f"unsupported file type {suffix or '(no extension)'!r}{hint}",
            f"give a {', '.join(SUPPORTED_SUFFIXES)} file",
        )
    return fmt  # type: ignore[return-value]


def _check_content(path: Path, fmt: Format) -> None:
    with path.open("rb") as handle:
        head = handle.read(8192)
    kind = sniff(head)
    expected = {"csv": None, "xlsx": "zip", "sav": "sav", "dta": "dta"}[fmt]
    if kind == expected:
        return
    suffix = path.suffix.lower()
    real = {"zip": ".xlsx", "xls": ".xls", "sav": ".sav", "dta": ".dta"}.get(kind or "", ".csv")
    hint = (
        f"rename it to {real} if that is what it is" if kind in ("zip", "sav", "dta", None)
        else "export the data again in a supported format"
    )
    if kind == "xls":
        hint = "open it in Excel/LibreOffice and save it as .xlsx"
    if kind == "utf16":
        hint = "save it again as CSV UTF-8 (Excel: 'Save as > CSV UTF-8')"
    raise file_error(
        path,
        f"the file has the extension {suffix} but its content is {describe_kind(kind)}, "
        f"not {describe_kind(expected if fmt != 'xlsx' else 'xlsx')}",
        hint,
    )


# ------------------------------------------------------------------ raw readers --


@dataclass
class _Raw:
    frame: pd.DataFrame
    details: dict[str, Any]
    variable_labels: dict[str, str]
    value_labels: dict[str, dict[Any, str]]
    user_missing: dict[str, Any]
    text_source: bool  # CSV/XLSX: NA spellings apply


def _check_header(path: Path, header: Sequence[Any]) -> list[str]:
    names = ["" if h is None else str(h).strip() for h in header]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            raise file_error(
                path,
                f"column {i + 1} of the header row has no name",
                "give every column a name in the first row (or delete the empty column)",
            )
        if name in seen:
            raise file_error(
                path,
                f"column {name!r} appears twice in the header (columns {seen[name] + 1} and "
                f"{i + 1})",
                "rename or delete one of them",
            )
        seen[name] = i
    return names


def _decode(path: Path, raw: bytes, encoding: str | None = None) -> str:
    if encoding is not None:
        try:
            return raw.decode(encoding)
        except LookupError:
            raise FileReadError(f"{path}: unknown encoding {encoding!r}; give one Python knows, "
                                "e.g. utf-8, cp1252 (Windows Latin-1) or latin-1") from None
        except UnicodeDecodeError as exc:
            raise FileReadError(f"{path}: not {encoding} text: invalid byte at offset "
                                f"{exc.start}. Fix: give the file's real encoding") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start : exc.start + 4]
        guess = ""
        try:
            raw.decode("cp1252")
            guess = " It looks like Windows-1252/Latin-1 (common for Excel CSV exports)."
        except UnicodeDecodeError:
            pass
        raise FileReadError(
            f"{path}: not UTF-8 text: invalid byte {raw[exc.start:exc.start + 1]!r} (in "
            f"{bad!r}) at byte offset {exc.start}, line {line}.{guess} Fix: give its encoding "
            "(encoding='cp1252', or --encoding cp1252 on the command line), or re-encode the "
            f"file as UTF-8, e.g. `iconv -f WINDOWS-1252 -t UTF-8 '{path}' > "
            f"'{path.with_name(path.stem + '_utf8' + path.suffix)}'`, or in Excel 'Save as > "
            "CSV UTF-8'."
        ) from None


def _delimiter(text: str) -> str:
    """The separator among , ; tab giving the most fields, the same on the first lines."""
    lines = text.splitlines()[:20]
    best, best_fields = ",", 1
    for sep in (",", ";", "\t"):
        try:
            counts = [len(row) for row in csv.reader(lines, delimiter=sep) if row]
        except csv.Error:
            continue
        if counts and counts[0] > best_fields and all(c == counts[0] for c in counts[:5]):
            best, best_fields = sep, counts[0]
    return best


def _read_csv(path: Path, q: Questionnaire | None, encoding: str | None = None) -> _Raw:
    text = _decode(path, path.read_bytes(), encoding)
    if not text.strip():
        raise file_error(path, "the file holds only blank space", "export the file again")
    sep = "\t" if path.suffix.lower() == ".tsv" else _delimiter(text)
    body = text.lstrip("\r\n")
    skipped = text[: len(text) - len(body)].count("\n")  # blank lines before the header
    rows = csv.reader(io.StringIO(body), delimiter=sep)
    ragged: list[tuple[int, int]] = []
    # blank records: empty lines and rows of empty fields ("", ",,,," as spreadsheets
    # export blank rows, as in XLSX); their lines are removed before pandas reads the
    # text, so that no other row can be dropped in their place
    blank_lines: list[tuple[int, int]] = []
    try:
        names = _check_header(path, next(rows))
        start = rows.line_num
        for row in rows:
            empty = not "".join(row).strip()
            if empty and len(row) <= 1:
                blank_lines.append((start, rows.line_num))
            elif len(row) != len(names) and (
                len(row) < len(names) or "".join(row[len(names):]).strip()
            ):
                ragged.append((rows.line_num + skipped, len(row)))
            elif empty:
                blank_lines.append((start, rows.line_num))
            start = rows.line_num
    except csv.Error as exc:
        raise file_error(path, f"unreadable CSV (line {rows.line_num}: {exc})",
                    "check the quotes on that line") from None
    blank = len(blank_lines)
    if ragged:
        shown = ", ".join(f"line {line} has {n}" for line, n in ragged[:10])
        more = f" (and {len(ragged) - 10} more lines)" if len(ragged) > 10 else ""
        raise file_error(
            path,
            f"the header has {len(names)} fields but {shown}{more}",
            "check the separators and quotes on those lines (a value holding the separator "
            "must be quoted); no field may be lost or shifted",
        )
    # text variables stay text (leading zeros); pandas' C parser reads the numbers
    text_columns = {name: str for name in names if _raw_kind(name, q) == "text"}
    try:
        frame = pd.read_csv(
            io.StringIO(_without_lines(body, blank_lines)),
            sep=sep,
            dtype=text_columns,
            keep_default_na=False,
            na_values=sorted(NA_STRINGS),
            skip_blank_lines=True,
            index_col=False,
        )
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise file_error(
            path,
            f"unreadable CSV ({message})",
            "check the separators and quotes on that line: every row must have as many "
            "fields as the header",
        ) from None
    if frame.shape[1] != len(names):
        raise file_error(path, f"the header has {len(names)} fields but the data {frame.shape[1]}",
                    "check the separators and quotes of the header line")
    frame.columns = names
    return _Raw(frame, {"delimiter": sep, "encoding": "utf-8", "blank_rows_skipped": blank},
                {}, {}, {}, text_source=True)


def _without_lines(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the lines ``[start, end)`` (0-based) of each span."""
    if not spans:
        return text
    lines = text.split("\n")
    for start, end in reversed(spans):
        del lines[start:end]
    return "\n".join(lines)


def _read_xlsx(path: Path, sheet: str | int | None, max_bytes: int) -> _Raw:
    with open_workbook(path, max_bytes) as workbook:
        name, rows = sheet_rows(path, workbook, sheet)
        sheets = list(workbook.sheetnames)
    if not rows:
        raise file_error(path, f"sheet {name!r} is empty", "put the data on the first sheet, or "
                    "give sheet=<name>")
    names = _check_header(path, rows[0])
    body = [r for r in rows[1:] if not all(is_blank(v) for v in r)]
    frame = pd.DataFrame(body, columns=names, dtype=object) if body else pd.DataFrame(
        columns=names, dtype=object)
    details = {"sheet": name, "sheets": sheets, "blank_rows_skipped": len(rows) - 1 - len(body)}
    return _Raw(frame, details, {}, {}, {}, text_source=True)


def _read_stat(path: Path, fmt: Literal["sav", "dta"]) -> _Raw:
    import pyreadstat

    try:
        if fmt == "sav":
            frame, meta = pyreadstat.read_sav(str(path), user_missing=True,
                                              dates_as_pandas_datetime=True)
        else:
            frame, meta = pyreadstat.read_dta(str(path), user_missing=True,
                                              dates_as_pandas_datetime=True)
    except Exception as exc:  # ReadstatError, PyreadstatError, OSError, UnicodeError ...
        program = "SPSS" if fmt == "sav" else "Stata"
        raise file_error(
            path,
            f"unreadable or corrupt .{fmt} file ({type(exc).__name__}: {str(exc)[:200]})",
            f"export the file again from {program}, or export CSV",
        ) from None
    _check_header(path, list(frame.columns))
    value_labels = {
        str(col): {_code_key(k): str(v) for k, v in labels.items()}
        for col, labels in (meta.variable_value_labels or {}).items()
    }
    variable_labels = {
        str(k): str(v) for k, v in (meta.column_names_to_labels or {}).items() if v
    }
    user_missing: dict[str, Any] = {}
    for col, ranges in (getattr(meta, "missing_ranges", None) or {}).items():
        user_missing[str(col)] = [
            {"lo": _code_key(r["lo"]), "hi": _code_key(r["hi"])} for r in ranges
        ]
    for col, values in (getattr(meta, "missing_user_values", None) or {}).items():
        user_missing[str(col)] = [f".{v}" for v in values]
        if col in frame.columns:  # Stata extended missing values come back as 'a'..'z'
            frame[col] = frame[col].map(
                lambda v: f".{v}" if isinstance(v, str) and len(v) == 1 else v
            )
    details = {"file_label": getattr(meta, "file_label", None) or None,
               "file_encoding": getattr(meta, "file_encoding", None)}
    return _Raw(frame, details, variable_labels, value_labels, user_missing, text_source=False)


def _code_key(code: Any) -> Any:
    """A label or missing-value code as the questionnaire writes it (8.0 -> 8)."""
    if isinstance(code, bool):
        return code
    if isinstance(code, float | np.floating) and float(code).is_integer():
        return int(code)
    if isinstance(code, np.integer):
        return int(code)
    if isinstance(code, str):
        text = code.strip()
        return int(text) if _PLAIN_NUMBER.match(text) else text
    return code


# ------------------------------------------------------------ canonical columns --


def _is_missing(cell: Any, na_strings: frozenset[str]) -> bool:
    if cell is None or cell is pd.NA or cell is pd.NaT:
        return True
    if isinstance(cell, float | np.floating) and np.isnan(cell):
        return True
    if isinstance(cell, str):
        return cell in na_strings
    return False


def _numeric_rule(values: np.ndarray) -> pd.Series:
    """read_csv's rule: int64 when every value is whole and none is missing."""
    x = np.asarray(values, dtype="float64")
    if len(x) and not np.isnan(x).any() and np.all(np.isfinite(x)) and np.all(np.floor(x) == x) \
            and np.all(np.abs(x) < 2**62):
        return pd.Series(x.astype("int64"))
    return pd.Series(x)


def _canonical(
    series: pd.Series,
    *,
    kind: Literal["auto", "text", "date"] = "auto",
    na_strings: frozenset[str] = frozenset({""}),
    decimal_comma: bool = False,
) -> pd.Series:
    """One column in the package's canonical types (see the module docstring)."""
    index = series.index
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        out = series.astype("datetime64[ns]")
        if kind == "text":
            return _as_text(out.astype(object).where(out.notna(), None), index)
        return out
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        if kind == "text":
            return _as_text(series.astype(object).where(series.notna(), None), index)
        if pd.api.types.is_integer_dtype(series.dtype) and not series.isna().any():
            return series.astype("int64")  # no detour through floats: long ids stay exact
        out = _numeric_rule(series.to_numpy(dtype="float64", na_value=np.nan))
        out.index = index
        return out
    if isinstance(series.dtype, pd.StringDtype):
        return _canonical_strings(series, kind, na_strings, decimal_comma)
    cells = [None if _is_missing(c, na_strings) else c for c in series.astype(object).tolist()]
    present = [c for c in cells if c is not None]
    if kind == "text":
        return _as_text(cells, index)
    if kind == "date" and present:
        parsed = _as_dates(cells)
        if parsed is not None:
            parsed.index = index
            return parsed
    if present and all(isinstance(c, _dt.date) for c in present):
        return pd.Series(pd.to_datetime(pd.Series(cells, dtype=object)), index=index).astype(
            "datetime64[ns]")
    numbers = _as_numbers(cells, present, decimal_comma)
    if numbers is not None:
        numbers.index = index
        return numbers
    return _as_text(cells, index)


def _canonical_strings(
    series: pd.Series, kind: str, na_strings: frozenset[str], decimal_comma: bool
) -> pd.Series:
    """Vectorised :func:`_canonical` for a column of text (CSV, SPSS/Stata strings)."""
    missing = (series.isna() | series.isin(sorted(na_strings))).to_numpy()
    values = series.where(~missing).astype("str")
    if kind == "text":
        return values
    n_present = int((~missing).sum())
    if n_present == 0:
        return pd.Series(np.nan, index=series.index, dtype="float64")
    if kind == "date" and bool(values[~missing].str.strip().str.match(_ISO_DATE.pattern).all()):
        parsed = pd.to_datetime(values.str.strip(), errors="coerce", format="ISO8601")
        if int(parsed.notna().sum()) == n_present:
            return parsed.astype("datetime64[ns]")
    numbers = pd.to_numeric(values, errors="coerce")
    if int(numbers.notna().sum()) != n_present and decimal_comma and bool(
        values[~missing].str.match(
            f"(?:{_DECIMAL_COMMA.pattern})|(?:{_PLAIN_NUMBER.pattern})").all()
    ):
        numbers = pd.to_numeric(values.str.replace(",", ".", regex=False), errors="coerce")
    if int(numbers.notna().sum()) == n_present:
        out = _numeric_rule(numbers.to_numpy(dtype="float64", na_value=np.nan))
        out.index = series.index
        return out
    return values


def _as_text(cells: Any, index: pd.Index) -> pd.Series:
    values = [None if c is None or (isinstance(c, float) and np.isnan(c)) else cell_text(c)
              for c in list(cells)]
    return pd.Series(values, index=index, dtype="str")


def _as_numbers(cells: list[Any], present: list[Any], decimal_comma: bool) -> pd.Series | None:
    if not present:
        return _numeric_rule(np.full(len(cells), np.nan))
    if any(isinstance(c, bool | np.bool_ | _dt.date | _dt.time) for c in present):
        return None
    texts = [c for c in present if isinstance(c, str)]
    if decimal_comma and texts and all(_DECIMAL_COMMA.match(t) or _PLAIN_NUMBER.match(t)
                                       for t in texts):
        cells = [c.replace(",", ".") if isinstance(c, str) else c for c in cells]
    converted = pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce")
    if int(converted.notna().sum()) != len(present):
        return None
    return _numeric_rule(converted.to_numpy(dtype="float64", na_value=np.nan))


def _as_dates(cells: list[Any]) -> pd.Series | None:
    values: list[Any] = []
    for c in cells:
        if c is None:
            values.append(pd.NaT)
        elif isinstance(c, _dt.date | pd.Timestamp):
            values.append(pd.Timestamp(c))
        elif isinstance(c, str) and _ISO_DATE.match(c.strip()):
            stamp = pd.to_datetime(c.strip(), errors="coerce", format="ISO8601")
            if pd.isna(stamp):
                return None
            values.append(stamp)
        else:
            return None
    return pd.Series(values, dtype="datetime64[ns]")


def _raw_kind(name: str, q: Questionnaire | None) -> Literal["auto", "text", "date"]:
    """The kind of a file column, its group prefix removed (see _normalise_names)."""
    if q is None:
        return "auto"
    if name in q:
        return _kind_of(q.variable(name))
    parts = _split_name(name)
    if len(parts) > 1 and parts[-1] in q:
        return _kind_of(q.variable(parts[-1]))
    return "auto"


def _kind_of(var: Variable | None) -> Literal["auto", "text", "date"]:
    if var is None:
        return "auto"
    if var.type in ("text", "select_multiple"):
        return "text"
    if var.type == "date":
        return "date"
    if var.is_coded and not var.is_numeric:
        return "text"
    return "auto"


# ----------------------------------------------------------- Kobo / ODK exports --


def _looks_like_kobo(columns: Sequence[str]) -> bool:
    return any(c in _KOBO_SIGNATURE for c in columns)


def _is_metadata(column: str) -> bool:
    return column in KOBO_METADATA or column.startswith(_KOBO_PREFIXES)


def _split_name(column: str) -> list[str]:
    return [p for p in re.split(r"[/\-.]", column) if p]


def _option_of(column: str, q: Questionnaire) -> tuple[str, Any] | None:
    """('ca_type', code) when ``column`` is a 0/1 option column of a select_multiple."""
    for i in range(len(column) - 1, 0, -1):
        if column[i] not in _GROUP_SEPARATORS:
            continue
        prefix, code_text = column[:i], column[i + 1 :]
        parts = _split_name(prefix)
        if not parts or not code_text:
            continue
        var_name = parts[-1]
        if var_name in q and q.variable(var_name).type == "select_multiple":
            return var_name, code_text
    return None


def _normalise_names(
    path: Path, frame: pd.DataFrame, q: Questionnaire
) -> tuple[pd.DataFrame, dict[str, str], dict[str, dict[str, str]]]:
    """Remove group prefixes and find select_multiple option columns."""
    renamed: dict[str, str] = {}
    options: dict[str, dict[str, str]] = {}  # var -> {code text: column}
    for column in frame.columns:
        if column in q:
            continue
        parts = _split_name(column)
        if len(parts) > 1 and parts[-1] in q:
            renamed[column] = parts[-1]
            continue
        option = _option_of(column, q)
        if option is not None:
            var_name, code_text = option
            options.setdefault(var_name, {})[code_text] = column
    targets: dict[str, list[str]] = {}
    for column in frame.columns:
        target = renamed.get(column, column)
        targets.setdefault(target, []).append(column)
    clashes = {t: cols for t, cols in targets.items() if len(cols) > 1}
    if clashes:
        detail = "; ".join(f"{', '.join(map(repr, cols))} -> {t!r}" for t, cols in clashes.items())
        raise file_error(
            path,
            f"several columns become the same variable once their group prefixes are "
            f"removed: {detail}",
            "rename the columns so that each questionnaire variable appears once",
        )
    return frame.rename(columns=renamed), renamed, options


def _option_flags(path: Path, series: pd.Series, column: str) -> pd.Series:
    """0/1 option cells -> True/False/NA; anything else is an error."""
    out: list[Any] = []
    bad: list[Any] = []
    for label, cell in series.items():
        if _is_missing(cell, NA_STRINGS):
            out.append(pd.NA)
            continue
        text = cell_text(cell).strip()
        if text in _OPTION_TRUE:
            out.append(True)
        elif text in _OPTION_FALSE:
            out.append(False)
        else:
            out.append(pd.NA)
            bad.append((label, cell))
    if bad:
        raise file_error(
            path,
            f"select_multiple option column {column!r} must hold 0 or 1, but rows "
            f"{format_rows([r for r, _ in bad])} hold "
            f"{', '.join(repr(cell_text(v)) for _, v in bad[:5])}",
            "export the option columns as 0/1 (KoboToolbox: select_multiple responses as "
            "separate columns, values not labels), or export the space-separated column",
        )
    return pd.Series(out, index=series.index, dtype="boolean")


def _combine_options(
    path: Path, frame: pd.DataFrame, q: Questionnaire, options: dict[str, dict[str, str]]
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """Combine one-column-per-option select_multiple answers into space-separated codes."""
    report: dict[str, dict[str, Any]] = {}
    drop: list[str] = []
    for var_name, by_code in options.items():
        var = q.variable(var_name)
        order = [*var.codes, *var.missing]
        known = {str(c): c for c in order}
        unknown = [col for code, col in by_code.items() if code not in known]
        if unknown:
            raise file_error(
                path,
                f"option column(s) {', '.join(map(repr, unknown))} of select_multiple "
                f"{var_name!r} name code(s) the questionnaire does not declare (codes of "
                f"{var_name}: {', '.join(map(str, order))})",
                f"declare the code(s) for {var_name} in the questionnaire, or check the export",
            )
        flags = {known[code]: _option_flags(path, frame[col], col) for code, col in by_code.items()}
        ordered = [c for c in order if c in flags]
        columns = [by_code[str(c)] for c in ordered]
        table = pd.DataFrame({str(c): flags[c] for c in ordered}, index=frame.index)
        answered = table.notna().any(axis=1).to_numpy()
        chosen = table.fillna(False).astype(bool).to_numpy()
        combined = pd.Series(
            [
                " ".join(str(c) for c, hit in zip(ordered, row, strict=True) if hit) or None
                if ok else None
                for row, ok in zip(chosen, answered, strict=True)
            ],
            index=frame.index,
            dtype=object,
        )
        if var_name in frame.columns:
            parent = _canonical(frame[var_name], kind="text", na_strings=NA_STRINGS)
            stated = [frozenset(v.split()) if isinstance(v, str) else None for v in parent]
            built = [frozenset(v.split()) if isinstance(v, str) else None for v in combined]
            differ = [i for i, a, b in zip(frame.index, stated, built, strict=True) if a != b]
            if differ:
                raise file_error(
                    path,
                    f"select_multiple {var_name!r}: the space-separated column and the option "
                    f"columns ({', '.join(columns)}) disagree on rows {format_rows(differ)}",
                    "export the form again; keep either the space-separated column or the "
                    "option columns",
                )
            report[var_name] = {"columns": columns, "source": "both (agree)"}
        else:
            position = min(list(frame.columns).index(c) for c in columns)
            frame = frame.copy()
            frame.insert(position, var_name, combined)
            report[var_name] = {"columns": columns, "source": "option columns"}
        drop.extend(columns)
    return frame.drop(columns=drop), report


# --------------------------------------------------------------- label checking --


def _normalise_label(text: Any) -> str:
    decomposed = unicodedata.normalize("NFKD", str(text))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", bare.casefold()).split())


def _labels_match(file_label: str, labels: Mapping[str, str]) -> bool:
    a = _normalise_label(file_label)
    if not a:
        return False
    for text in labels.values():
        b = _normalise_label(text)
        if not b:
            continue
        if a == b or (min(len(a), len(b)) >= _MIN_PREFIX and (a.startswith(b) or b.startswith(a))):
            return True
    return False


def _code_in_data(var: Variable, data: pd.DataFrame | None, code: Any) -> int:
    if data is None or var.name not in data.columns:
        return 0
    column = data[var.name]
    numbers = pd.to_numeric(column, errors="coerce")
    if isinstance(code, int | float) and not isinstance(code, bool):
        return int((numbers == float(code)).sum())
    return int((column.astype(object).map(cell_text, na_action="ignore") == str(code)).sum())


def check_value_labels(
    value_labels: Mapping[str, Mapping[Any, str]],
    questionnaire: Questionnaire,
    data: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Compare a file's value labels (SPSS/Stata) with the questionnaire's code labels.

    Parameters
    ----------
    value_labels : mapping column -> {code: label}
        As in ``meta["value_labels"]`` of :func:`read_table`.
    questionnaire : Questionnaire
    data : DataFrame, optional
        The data, to count the rows holding a code the questionnaire does not know.

    Returns
    -------
    DataFrame
        One row per problem: ``column, code, file_label, questionnaire_label, problem,
        severity, rows, message``. ``problem`` is ``"contradicts"`` (the file's label is
        the questionnaire's label of another code: codes swapped), ``"differs"`` (the
        label matches none of the code's labels in any language) or ``"unknown_code"``
        (a labelled code the questionnaire does not declare). ``severity`` is
        ``"error"``, or ``"warning"`` for an unknown code no row holds. Columns the
        questionnaire does not declare are not checked (validation reports them).

    Examples
    --------
    >>> from perception.questionnaire import Questionnaire
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["fr", "en"], "variables": [
    ...     {"name": "sex", "type": "categorical", "label": {"fr": "Sexe", "en": "Sex"},
    ...      "codes": {1: {"fr": "Homme", "en": "Male"}, 2: {"fr": "Femme", "en": "Female"}}}]})
    >>> check_value_labels({"sex": {1: "Female", 2: "Male"}}, q)["problem"].tolist()
    ['contradicts', 'contradicts']

    Notes
    -----
    Labels are compared without case, accents and punctuation, in every language of
    the questionnaire; a label that is a truncation of the other (at least 8
    characters) matches.
    """
    rows: list[dict[str, Any]] = []
    langs = questionnaire.languages
    for column, labels in value_labels.items():
        if column not in questionnaire:
            continue
        var = questionnaire.variable(column)
        declared = {**var.codes, **var.missing}
        for raw_code, file_label in labels.items():
            code = _code_key(raw_code)
            if var.type in ("date", "text"):
                break  # labels of free values: nothing to compare
            numeric = var.is_numeric
            key = code if numeric else str(code)
            lookup = {(c if numeric else str(c)): c for c in declared}
            if var.type in ("integer", "numeric") and key not in lookup:
                in_range = isinstance(key, int | float) and not isinstance(key, bool) and (
                    (var.min is None or key >= var.min) and (var.max is None or key <= var.max)
                )
                if in_range:
                    continue  # a labelled valid value of a numeric variable, nothing to compare
            if key not in lookup:
                n = _code_in_data(var, data, code)
                valid = ", ".join(map(str, var.codes)) or "none"
                missing = ", ".join(map(str, var.missing)) or "none"
                rows.append(_problem(
                    column, code, file_label, "", "unknown_code", "error" if n else "warning", n,
                    f"column {column!r}: code {code} is labelled {file_label!r} in the file but "
                    f"is not a code of {column} in the questionnaire (valid: {valid}; missing: "
                    f"{missing}); {n} row{'s' if n != 1 else ''} hold{'s' if n == 1 else ''} it. "
                    f"Fix: declare the code in the questionnaire, or recode those rows.",
                ))
                continue
            q_code = lookup[key]
            q_labels = declared[q_code]
            shown = " / ".join(q_labels.get(lang, "") for lang in langs if q_labels.get(lang))
            if _labels_match(file_label, q_labels):
                continue
            others = [c for c, lab in declared.items() if c != q_code and _labels_match(file_label, lab)]
            if others:
                rows.append(_problem(
                    column, code, file_label, shown, "contradicts", "error",
                    _code_in_data(var, data, code),
                    f"column {column!r}, code {code}: the file labels it {file_label!r}, which "
                    f"is the questionnaire's label of code {others[0]}, while the questionnaire "
                    f"labels code {code} {shown!r}: the codes may be swapped. Fix: recode the "
                    "column so that its codes follow the questionnaire, or correct the "
                    "questionnaire.",
                ))
            else:
                rows.append(_problem(
                    column, code, file_label, shown, "differs", "error",
                    _code_in_data(var, data, code),
                    f"column {column!r}, code {code}: the file labels it {file_label!r} but the "
                    f"questionnaire labels it {shown!r}. Fix: check that the codes mean the "
                    "same thing; if only the wording differs, read with "
                    "on_label_problem='report'.",
                ))
    table = pd.DataFrame(rows, columns=LABEL_PROBLEM_COLUMNS)
    table["rows"] = table["rows"].astype("int64")
    return table


def _problem(column, code, file_label, q_label, problem, severity, n, message) -> dict[str, Any]:
    return {
        "column": column, "code": code, "file_label": str(file_label),
        "questionnaire_label": q_label, "problem": problem, "severity": severity,
        "rows": int(n), "message": message,
    }


# --------------------------------------------------------------------- read_table --


def read_table(
    path: str | Path,
    questionnaire: Questionnaire | None = None,
    *,
    max_bytes: int = MAX_WAVE_BYTES,
    sheet: str | int | None = None,
    kobo: bool | None = None,
    on_label_problem: Literal["raise", "report"] = "raise",
    encoding: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a CSV, XLSX, SPSS, Stata or KoboToolbox/ODK file, without validating it.

    Parameters
    ----------
    path : str or Path
        ``.csv``/``.tsv``, ``.xlsx``, ``.sav``/``.zsav`` or ``.dta``. Never modified.
    questionnaire : Questionnaire, optional
        When given: column types follow it (text ids keep leading zeros, ISO dates become
        dates), Kobo/ODK group prefixes are removed, select_multiple option columns are
        combined, and SPSS/Stata value labels are checked against its code labels.
    max_bytes : int
        Largest file accepted (also the largest uncompressed size of an XLSX); larger
        files are refused before reading.
    sheet : str or int, optional
        XLSX sheet name or 0-based number (default: the first sheet).
    kobo : bool, optional
        Treat the file as a KoboToolbox/ODK export (metadata columns set aside). Default:
        detected from the system columns (``_uuid``, ``_submission_time`` ...).
    on_label_problem : {"raise", "report"}
        With a questionnaire, what to do when the file's value labels contradict it:
        raise :class:`~perception.WaveValidationError` listing every problem (default),
        or only report them in ``meta["label_problems"]``.
    encoding : str, optional
        Encoding of a CSV file (default: UTF-8, with or without a byte-order mark).

    Returns
    -------
    df : DataFrame
        One row per data row of the file, in file order (blank rows skipped), columns in
        file order minus metadata and option columns (see the module docstring for
        types). Its ``attrs`` keep what validation carries on: ``value_labels``
        (SPSS/Stata), ``renamed`` and ``blank_rows_skipped`` (each when there is one);
        never the paradata.
    meta : dict
        ``source``, ``format`` (csv/xlsx/sav/dta), ``details`` (delimiter, sheet ...),
        ``blank_rows_skipped``, ``variable_labels`` and ``value_labels`` (column ->
        {code: label}; SPSS/Stata), ``user_missing`` (SPSS missing-value declarations,
        Stata extended missing values), ``kobo`` (bool), ``paradata`` (DataFrame of the
        Kobo/ODK metadata columns, same index; may identify people: never share it),
        ``renamed`` ({file column: variable}), ``select_multiple`` ({variable: {columns,
        source}}), ``label_problems`` (DataFrame, see :func:`check_value_labels`).

    Raises
    ------
    FileReadError
        (a :class:`~perception.WaveValidationError`) if the file is missing, larger
        than ``max_bytes``, not what its extension says, not UTF-8 (the byte offset and
        line are given), corrupt, or has an unusable header; for inconsistent Kobo
        option columns.
    WaveValidationError
        For value labels that contradict the questionnaire (``on_label_problem="raise"``),
        and for a file without data rows.

    Examples
    --------
    >>> from pathlib import Path
    >>> import perception as pc
    >>> root = Path(pc.__file__).resolve().parents[1]
    >>> df, meta = read_table(root / "tests" / "data" / "centre_mali_wave_small.csv")
    >>> df.shape, meta["kobo"]
    ((12, 61), False)

    Notes
    -----
    R: ``read.csv``, ``readxl::read_excel``, ``haven::read_sav``/``read_dta`` (with
    ``user_na = TRUE``) followed by ``svydesign``; no R function normalises Kobo exports.
    """
    path = Path(path)
    if questionnaire is not None and not isinstance(questionnaire, Questionnaire):
        raise PerceptionError(
            f"questionnaire must be a perception.Questionnaire, got "
            f"{type(questionnaire).__name__}. Fix: pass pc.load_questionnaire(path)."
        )
    if on_label_problem not in ("raise", "report"):
        raise PerceptionError(
            f"on_label_problem must be 'raise' or 'report', got {on_label_problem!r}"
        )
    check_file(path, max_bytes, "a data file")
    fmt = _format_of(path)
    if sheet is not None and fmt != "xlsx":
        raise PerceptionError(f"sheet={sheet!r} only applies to .xlsx files, not {path.name}")
    _check_content(path, fmt)
    if encoding is not None and fmt != "csv":
        raise PerceptionError(f"encoding={encoding!r} only applies to CSV files, not {path.name}")
    if fmt == "csv":
        raw = _read_csv(path, questionnaire, encoding)
    elif fmt == "xlsx":
        raw = _read_xlsx(path, sheet, max_bytes)
    else:
        raw = _read_stat(path, fmt)
    frame = raw.frame.reset_index(drop=True)
    if frame.shape[1] == 0:
        raise file_error(path, "no columns", "export the file again with its header")

    columns = list(frame.columns)
    is_kobo = _looks_like_kobo(columns) if kobo is None else bool(kobo)
    paradata_columns = [
        c for c in columns
        if is_kobo and _is_metadata(c) and not (questionnaire is not None and c in questionnaire)
    ]
    paradata = frame[paradata_columns].copy()
    frame = frame.drop(columns=paradata_columns)

    renamed: dict[str, str] = {}
    select_multiple: dict[str, dict[str, Any]] = {}
    if questionnaire is not None:
        frame, renamed, options = _normalise_names(path, frame, questionnaire)
        if options:
            frame, select_multiple = _combine_options(path, frame, questionnaire, options)

    na_strings = NA_STRINGS if raw.text_source else frozenset({""})
    decimal_comma = raw.details.get("delimiter") == ";"
    value_labels = {renamed.get(c, c): v for c, v in raw.value_labels.items()}
    out = {}
    for column in frame.columns:
        var = questionnaire.variable(column) if questionnaire is not None and column in questionnaire else None
        out[column] = _canonical(frame[column], kind=_kind_of(var), na_strings=na_strings,
                                 decimal_comma=decimal_comma)
    df = pd.DataFrame(out, index=frame.index, columns=list(frame.columns))

    problems = (
        check_value_labels(value_labels, questionnaire, df)
        if questionnaire is not None and value_labels
        else pd.DataFrame(columns=LABEL_PROBLEM_COLUMNS)
    )
    errors = problems[problems["severity"] == "error"]
    if on_label_problem == "raise" and questionnaire is not None and len(errors):
        raise WaveValidationError(
            f"{path}: the value labels of the file contradict questionnaire "
            f"{questionnaire.id!r} ({len(errors)} problem{'s' if len(errors) != 1 else ''}):\n  - "
            + "\n  - ".join(errors["message"].tolist())
        )
    if df.shape[1] == 0 or len(df) == 0:
        raise WaveValidationError(
            f"{path}: no data rows (found {len(df)} rows and {df.shape[1]} columns). Fix: "
            "export the wave again with its data."
        )
    # what a validated wave keeps of the file (never the paradata, which may identify)
    if value_labels:
        df.attrs["value_labels"] = value_labels
    if renamed:
        df.attrs["renamed"] = renamed
    if raw.details.get("blank_rows_skipped"):
        df.attrs["blank_rows_skipped"] = int(raw.details["blank_rows_skipped"])
    meta: dict[str, Any] = {
        "source": str(path),
        "format": fmt,
        "details": {k: v for k, v in raw.details.items() if k != "blank_rows_skipped"},
        "blank_rows_skipped": int(raw.details.get("blank_rows_skipped", 0)),
        "variable_labels": {renamed.get(c, c): v for c, v in raw.variable_labels.items()},
        "value_labels": value_labels,
        "user_missing": {renamed.get(c, c): v for c, v in raw.user_missing.items()},
        "kobo": is_kobo,
        "paradata": paradata,
        "renamed": renamed,
        "select_multiple": select_multiple,
        "label_problems": problems.reset_index(drop=True),
    }
    return df, meta
