"""Read survey waves from files, validate them and protect personal data.

:func:`read_wave` reads a CSV (UTF-8), XLSX, SPSS ``.sav`` or Stata ``.dta`` file,
validates it against the questionnaire (raising
:class:`~perception.errors.WaveValidationError` that lists **every** failure), then drops
the columns flagged ``pii: true`` -- or replaces them by a keyed HMAC-SHA256 hash -- and
optionally recodes declared missing-value codes to NaN.

:func:`read_table` only reads (no validation); the format is chosen in one small
function, :func:`_reader_for`, so that new sources (KoboToolbox/ODK exports...) can be
added in one place.

Examples
--------
>>> from pathlib import Path
>>> import perception as pc
>>> root = Path(pc.__file__).resolve().parents[1]
>>> q = pc.load_questionnaire(root / "questionnaires" / "centre_mali_trust.yaml")
>>> wave = pc.read_wave(root / "tests" / "data" / "centre_mali_wave_small.csv", q)
>>> "phone" in wave.columns      # pii columns are dropped
False
"""

from __future__ import annotations

import hashlib
import hmac
import zipfile
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import PerceptionError, WaveValidationError
from .questionnaire import Questionnaire
from .schema import _cell_text, _validate, recode_missing

__all__ = ["read_wave", "read_table", "hash_value", "MAX_WAVE_BYTES", "SUPPORTED_SUFFIXES"]

#: largest wave file accepted by default (bytes)
MAX_WAVE_BYTES = 200_000_000
#: shortest HMAC key accepted (bytes)
MIN_KEY_BYTES = 16
# an XLSX is a ZIP: refuse archives that expand to more than this many times max_bytes
_ZIP_EXPANSION_LIMIT = 20

Reader = Callable[[Path, "Questionnaire | None"], pd.DataFrame]

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (e.g. an XLSX workbook)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls / OLE2 file"),
    (b"$FL2", "an SPSS .sav file"),
    (b"$FL3", "an SPSS compressed .zsav file"),
    (b"<stata_dta>", "a Stata .dta file"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3", "an SQLite database"),
)


def _sniff(head: bytes) -> str | None:
    """Describe what the first bytes of a file say it is (None for plain text)."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    # old Stata formats: version byte, byte order 1/2, file type 1
    if len(head) >= 3 and head[0] in (0x71, 0x72, 0x73) and head[1] in (1, 2) and head[2] == 1:
        return "a Stata .dta file"
    if b"\x00" in head:
        return "a binary file"
    return None


def _head(path: Path, n: int = 64) -> bytes:
    with path.open("rb") as handle:
        return handle.read(n)


def _fail(path: Path, problem: str, fix: str) -> WaveValidationError:
    return WaveValidationError(f"{path}: {problem}. Fix: {fix}.")


def _text_columns(q: Questionnaire | None) -> dict[str, Any]:
    """Columns to read as text so that ids keep leading zeros and '1 3' stays a string."""
    if q is None:
        return {}
    return {v.name: str for v in q.variable_list if v.type in ("text", "select_multiple")}


# -------------------------------------------------------------------------- readers


def _read_csv(path: Path, q: Questionnaire | None) -> pd.DataFrame:
    raw = path.read_bytes()
    kind = _sniff(raw[:64])
    if kind is not None:
        raise _fail(
            path,
            f"the file has the extension .csv but its content is {kind}, not text",
            "export the data again as CSV (UTF-8), or give the file its real extension",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        bad = raw[exc.start : exc.start + 4]
        guess = ""
        try:
            raw.decode("cp1252")
            guess = " It looks like Windows-1252/Latin-1 (common for Excel CSV exports)."
        except UnicodeDecodeError:
            pass
        raise WaveValidationError(
            f"{path}: not UTF-8 text: invalid byte sequence {bad!r} at byte offset "
            f"{exc.start} (line {line}).{guess} Fix: re-encode the file as UTF-8, e.g. "
            f"`iconv -f WINDOWS-1252 -t UTF-8 '{path.name}' > fixed.csv`, or in Excel "
            "'Save as > CSV UTF-8'."
        ) from None
    if not text.strip():
        raise _fail(path, "the file is empty", "export the wave again")
    first_line = text.lstrip().splitlines()[0]
    sep = max((",", ";", "\t"), key=first_line.count)
    decimal = "," if sep == ";" else "."
    try:
        return pd.read_csv(
            StringIO(text),
            sep=sep,
            decimal=decimal,
            dtype=_text_columns(q),
            skipinitialspace=False,
        )
    except pd.errors.EmptyDataError:
        raise _fail(path, "the file has no header and no data", "export the wave again") from None
    except (pd.errors.ParserError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0]
        raise _fail(
            path,
            f"unreadable CSV ({message})",
            "check the separators and quotes on that line (every row must have as many "
            "fields as the header)",
        ) from None


def _read_xlsx(path: Path, q: Questionnaire | None) -> pd.DataFrame:
    kind = _sniff(_head(path))
    if kind is None or not kind.startswith("a ZIP"):
        raise _fail(
            path,
            f"the file has the extension .xlsx but its content is {kind or 'text'}, not an "
            "XLSX workbook",
            "open it and save it as .xlsx, or give the file its real extension",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise _fail(
            path, "corrupt XLSX workbook (damaged ZIP container)", "save the workbook again"
        ) from None
    limit = _ZIP_EXPANSION_LIMIT * max(path.stat().st_size, 1_000_000)
    if expanded > limit:
        raise _fail(
            path,
            f"the workbook expands to {expanded:,} bytes, more than {limit:,}",
            "check the file; export the wave as CSV",
        )
    if "xl/workbook.xml" not in names:
        raise _fail(
            path,
            "a ZIP archive but not an XLSX workbook (no xl/workbook.xml)",
            "save the data as an Excel .xlsx workbook or as CSV",
        )
    try:
        return pd.read_excel(path, sheet_name=0, engine="openpyxl", dtype=_text_columns(q))
    except Exception as exc:  # openpyxl raises many types for damaged workbooks
        raise _fail(
            path,
            f"unreadable XLSX workbook ({type(exc).__name__}: {str(exc)[:200]})",
            "open the workbook in Excel/LibreOffice and save it again, or export CSV",
        ) from None


def _read_stat(path: Path, kind: Literal["sav", "dta"]) -> pd.DataFrame:
    import pyreadstat

    expected = "an SPSS" if kind == "sav" else "a Stata"
    found = _sniff(_head(path))
    if found is None or not found.startswith(expected):
        raise _fail(
            path,
            f"the file has the extension .{kind} but its content is {found or 'text'}",
            f"export the data again as .{kind}, or give the file its real extension",
        )
    try:
        if kind == "sav":
            df, meta = pyreadstat.read_sav(
                str(path), user_missing=True, dates_as_pandas_datetime=True
            )
        else:
            df, meta = pyreadstat.read_dta(str(path), dates_as_pandas_datetime=True)
    except Exception as exc:  # pyreadstat raises ReadstatError/PyreadstatError/OSError
        raise _fail(
            path,
            f"unreadable or corrupt .{kind} file ({type(exc).__name__}: {str(exc)[:200]})",
            "export the file again from SPSS/Stata",
        ) from None
    # keep value labels available (code -> label) for display; the codes stay the data
    df.attrs["value_labels"] = {
        col: {(_cell_text(k)): str(v) for k, v in labels.items()}
        for col, labels in (meta.variable_value_labels or {}).items()
    }
    df.attrs["column_labels"] = {
        name: label
        for name, label in zip(meta.column_names, meta.column_labels or [], strict=False)
        if label
    }
    return df


def _read_sav(path: Path, q: Questionnaire | None) -> pd.DataFrame:
    return _read_stat(path, "sav")


def _read_dta(path: Path, q: Questionnaire | None) -> pd.DataFrame:
    return _read_stat(path, "dta")


_READERS: dict[str, Reader] = {
    ".csv": _read_csv,
    ".xlsx": _read_xlsx,
    ".sav": _read_sav,
    ".zsav": _read_sav,
    ".dta": _read_dta,
}
#: file extensions :func:`read_wave` understands
SUPPORTED_SUFFIXES: tuple[str, ...] = tuple(_READERS)


def _reader_for(path: Path) -> Reader:
    """Choose the reader of a file from its extension (the one place to add formats)."""
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        hint = " (save old .xls workbooks as .xlsx)" if suffix == ".xls" else ""
        raise _fail(
            path,
            f"unsupported file type {suffix or '(no extension)'!r}{hint}",
            f"give a {', '.join(SUPPORTED_SUFFIXES)} file",
        )
    return reader


def read_table(
    path: str | Path, q: Questionnaire | None = None, *, max_bytes: int = MAX_WAVE_BYTES
) -> pd.DataFrame:
    """Read a wave file as it is, without validating it.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (UTF-8; ``,`` ``;`` or tab separated), ``.xlsx`` (first sheet),
        ``.sav``/``.zsav`` or ``.dta`` file.
    q : Questionnaire, optional
        When given, text and select_multiple variables are read as text (so ids keep
        their leading zeros).
    max_bytes : int
        Largest file accepted.

    Returns
    -------
    DataFrame
        SPSS/Stata value labels are in ``df.attrs["value_labels"]``.

    Raises
    ------
    WaveValidationError
        If the file is missing, empty, too large, not what its extension says, not
        UTF-8 (CSV: the byte offset is given), or corrupt. ``.report`` is None.
    """
    path = Path(path)
    if not path.exists():
        raise _fail(
            path, "file not found", f"check the path (the current directory is {Path.cwd()})"
        )
    if not path.is_file():
        raise _fail(path, "not a file", "give the path of a data file")
    size = path.stat().st_size
    if size == 0:
        raise _fail(path, "the file is empty (0 bytes)", "export the wave again")
    if size > max_bytes:
        raise _fail(
            path,
            f"file of {size:,} bytes exceeds the limit of {max_bytes:,} bytes",
            "check this is the right file, or pass a larger max_bytes",
        )
    df = _reader_for(path)(path, q)
    if df.shape[1] == 0 or len(df) == 0:
        raise _fail(
            path,
            f"no data rows (found {len(df)} rows and {df.shape[1]} columns)",
            "export the wave again with its data",
        )
    return df


# -------------------------------------------------------------------------- privacy


def hash_value(value: Any, key: bytes) -> str | float:
    """Keyed HMAC-SHA256 of one cell (hex digest); missing stays NaN.

    Examples
    --------
    >>> hash_value("+223 70 00 00 00", b"0123456789abcdef")[:12]
    '095685b67ff5'
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return np.nan
    return hmac.new(key, _cell_text(value).encode("utf-8"), hashlib.sha256).hexdigest()


def _key_bytes(hash_key: str | bytes | None) -> bytes:
    if hash_key is None:
        raise PerceptionError(
            "keep_pii='hash' needs hash_key: a secret of at least "
            f"{MIN_KEY_BYTES} bytes, kept outside the data (it is never stored). Fix: pass "
            "hash_key=..., or keep_pii='drop'."
        )
    if isinstance(hash_key, str):
        key = hash_key.encode("utf-8")
    elif isinstance(hash_key, bytes):
        key = hash_key
    else:
        raise PerceptionError(
            f"hash_key must be str or bytes, got {type(hash_key).__name__}. Fix: pass the "
            "secret as text."
        )
    if len(key) < MIN_KEY_BYTES:
        raise PerceptionError(
            f"hash_key is {len(key)} bytes; at least {MIN_KEY_BYTES} are needed for a keyed "
            "hash that cannot be guessed. Fix: use a longer random secret."
        )
    return key


def read_wave(
    path: str | Path,
    q: Questionnaire,
    *,
    keep_pii: Literal["drop", "hash"] = "drop",
    hash_key: str | bytes | None = None,
    recode: bool = False,
    max_bytes: int = MAX_WAVE_BYTES,
) -> pd.DataFrame:
    """Read a wave file, validate it, and remove personal data.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (UTF-8), ``.xlsx``, ``.sav``/``.zsav`` or ``.dta``. Never modified.
    q : Questionnaire
        The questionnaire the wave follows.
    keep_pii : {"drop", "hash"}
        Drop the ``pii: true`` columns (default), or replace each value by its keyed
        HMAC-SHA256 hash (same value and key give the same hash, so waves can be linked
        without the identifiers).
    hash_key : str or bytes, optional
        Secret key for ``keep_pii="hash"`` (at least 16 bytes). Never stored in the result.
    recode : bool
        Also turn declared missing-value codes into NaN (see
        :func:`perception.recode_missing`); the counts are in
        ``df.attrs["perception"]["missing_recoded"]``.
    max_bytes : int
        Largest file accepted.

    Returns
    -------
    DataFrame
        A new frame with the rows in file order; coded and numeric columns as float64,
        dates as datetime64; ``df.attrs["perception"]`` records source and steps.

    Raises
    ------
    WaveValidationError
        The file cannot be read (``.report`` is None), or the data fail the
        questionnaire: the message lists every failing row/column/check and ``.report``
        holds the :class:`~perception.ValidationReport`.

    Examples
    --------
    >>> from pathlib import Path
    >>> import perception as pc
    >>> root = Path(pc.__file__).resolve().parents[1]
    >>> q = pc.load_questionnaire(root / "questionnaires" / "centre_mali_trust.yaml")
    >>> wave = pc.read_wave(root / "tests" / "data" / "centre_mali_wave_small.csv", q,
    ...                     keep_pii="hash", hash_key="a secret of 16+ bytes")
    >>> len(wave["phone"].iloc[0])
    64
    """
    if keep_pii not in ("drop", "hash"):
        raise PerceptionError(
            f"keep_pii must be 'drop' or 'hash', got {keep_pii!r}. Fix: pass keep_pii='drop' "
            "(default) or keep_pii='hash' with a hash_key."
        )
    if keep_pii == "drop" and hash_key is not None:
        raise PerceptionError(
            "hash_key given but keep_pii='drop'. Fix: pass keep_pii='hash' to pseudonymise "
            "the pii columns, or drop hash_key."
        )
    key = _key_bytes(hash_key) if keep_pii == "hash" else b""
    if not isinstance(q, Questionnaire):
        raise PerceptionError(
            f"read_wave needs a Questionnaire, got {type(q).__name__}. Fix: pass "
            "pc.load_questionnaire(path)."
        )
    path = Path(path)
    raw = read_table(path, q, max_bytes=max_bytes)
    report, data = _validate(raw, q, source=str(path))
    if not report.ok or data is None:
        raise WaveValidationError(
            f"{path} does not match questionnaire {q.id!r}: {len(report.errors)} "
            f"error{'s' if len(report.errors) != 1 else ''}.\n"
            f"{report.summary(max_rows=None, max_groups=None)}",
            report,
        )
    pii_columns = [c for c in q.pii if c in data.columns]
    if keep_pii == "drop":
        data = data.drop(columns=pii_columns)
    else:
        for column in pii_columns:
            data[column] = data[column].map(lambda v: hash_value(v, key)).astype(object)
    meta: dict[str, Any] = {
        "source": str(path),
        "questionnaire": q.id,
        "pii": keep_pii,
        "pii_columns": pii_columns,
        "warnings": len(report.warnings),
    }
    if recode:
        data, counts = recode_missing(data, q)
        meta["missing_recoded"] = counts.to_dict("records")
    value_labels = raw.attrs.get("value_labels")
    data.attrs = {"perception": meta}
    if value_labels:
        data.attrs["value_labels"] = value_labels
    return data
