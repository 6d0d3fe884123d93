"""Read survey waves from files, validate them and protect personal data.

:func:`read_wave` reads a CSV (UTF-8), XLSX, SPSS ``.sav`` or Stata ``.dta`` file,
validates it against the questionnaire (raising
:class:`~perception.errors.WaveValidationError` that lists **every** failure), then drops
the columns flagged ``pii: true`` -- or replaces them by a keyed HMAC-SHA256 hash -- and
optionally recodes declared missing-value codes to NaN.

:func:`~perception.waves.files.read_table` only reads (no validation): the formats,
including KoboToolbox/ODK exports, live in :mod:`perception.waves.files`; validation in
:mod:`perception.waves.validation`; the keyed hash in :mod:`perception.disclosure.pii`.

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

from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..deprecation import renamed_argument
from ..disclosure.pii import MIN_KEY_BYTES, hash_value
from ..errors import PerceptionError, WaveValidationError
from ..questionnaire.model import Questionnaire
from .files import MAX_WAVE_BYTES, read_table
from .validation import ValidationReport, is_dask_frame, recode_missing, validate_with_data

__all__ = ["read_wave", "integer_codes", "integer_candidates", "derive_columns"]


def key_bytes(hash_key: str | bytes | None) -> bytes:
    """The secret of ``keep_pii="hash"`` as bytes, checked (present, long enough)."""
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


@renamed_argument("q", "questionnaire")
def read_wave(
    path: str | Path,
    questionnaire: Questionnaire,
    *,
    keep_pii: Literal["drop", "hash"] = "drop",
    hash_key: str | bytes | None = None,
    recode: bool = False,
    max_bytes: int = MAX_WAVE_BYTES,
    sheet: str | int | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read a wave file, validate it, and remove personal data.

    Parameters
    ----------
    path : str, Path or dask.dataframe.DataFrame
        ``.csv`` (UTF-8), ``.xlsx``, ``.sav``/``.zsav`` or ``.dta``. Never modified.
        A wave larger than memory: a directory of Parquet files (the parts of one wave,
        same columns, read in name order) or a Dask DataFrame; it is validated partition
        by partition (the same report as in memory, rows numbered across the
        partitions; identifiers unique across them) and the result is a lazy **Dask
        DataFrame** (see Returns) that ``pc.SurveyDesign`` takes. ``max_bytes``,
        ``sheet`` and ``encoding`` are for files only.
    questionnaire : Questionnaire
        The questionnaire the wave follows.
    keep_pii : {"drop", "hash"}
        Drop the ``pii: true`` columns (default), or replace each value by its keyed
        HMAC-SHA256 hash (same value and key give the same hash, so waves can be linked
        without the identifiers).
    hash_key : str or bytes, optional
        Secret key for ``keep_pii="hash"`` (at least 16 bytes). Never stored in the result.
    recode : bool
        Also turn declared missing-value codes into NaN (see
        ``perception.recode_missing``); the counts are in
        ``df.attrs["perception"]["missing_recoded"]``.
    max_bytes : int
        Largest file accepted.
    sheet : str or int, optional
        The sheet of an ``.xlsx`` workbook (name or 0-based number; default the first).
    encoding : str, optional
        The encoding of a CSV file (default UTF-8).

    Returns
    -------
    DataFrame
        A new frame with the rows in file order; coded and numeric columns as float64,
        dates as datetime64; the questionnaire's derived variables (its ``derived:``
        section) computed from the answers (``Int64`` codes, ``<NA>`` where a source is
        a missing code or not asked), after the file's columns or in place of a column
        of the file of the same name (``attrs["perception"]["derived"]``: each variable,
        ``in_file`` and how many values ``changed``); ``df.attrs["perception"]`` records source and steps
        (including ``blank_rows_skipped``, entirely blank rows of the file, and the
        reader's ``notes``). For a questionnaire with repeat tables, the submission keys
        of a KoboToolbox export (``_uuid``, ``_index``) are kept as the last columns:
        ``perception.attach_repeat`` links the repeat rows with them.
        For a Parquet directory or a Dask DataFrame: a lazy Dask DataFrame of the same
        columns and dtypes, one partition per file (or per partition), rows numbered
        0, 1, ... across them (the report's row numbers), each partition coerced and its
        derived variables computed when it is computed; ``attrs["perception"]`` as
        above (counted over every partition).

    Raises
    ------
    WaveValidationError
        The file cannot be read (``.report`` is None), or the data fail the
        questionnaire: the message lists every failing row/column/check and ``.report``
        holds the ``ValidationReport``.

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
    key = key_bytes(hash_key) if keep_pii == "hash" else b""
    if not isinstance(questionnaire, Questionnaire):
        raise PerceptionError(
            f"read_wave needs a Questionnaire, got {type(questionnaire).__name__}. Fix: pass "
            "pc.load_questionnaire(path)."
        )
    if is_dask_frame(path) or Path(path).is_dir():
        from .partitions import read_parquet_dataset

        if sheet is not None or encoding is not None:
            raise PerceptionError(
                "sheet= and encoding= are options of a wave file; a Parquet dataset or a "
                "Dask DataFrame has neither. Fix: leave them out.")
        frame: Any
        if is_dask_frame(path):
            frame = path
            source = f"a Dask DataFrame of {frame.npartitions} partitions"
        else:
            frame = read_parquet_dataset(path)
            source = str(path)
        return _read_partitioned(frame, questionnaire, source=source, keep_pii=keep_pii,
                                 key=key, recode=recode)
    path = Path(path)
    raw, table_meta = read_table(path, questionnaire, max_bytes=max_bytes, sheet=sheet,
                                 encoding=encoding)
    report, data = validate_with_data(raw, questionnaire, source=str(path))
    if not report.ok or data is None:
        raise _invalid(str(path), questionnaire, report)
    # the derived variables, computed before personal data go (they may use them); a
    # column of the file (a form's calculate, computed with ODK's semantics) is replaced
    data, derived = derive_columns(data, questionnaire)
    data = integer_codes(data, questionnaire)
    pii_columns = [c for c in questionnaire.pii if c in data.columns]
    if keep_pii == "drop":
        data = data.drop(columns=pii_columns)
    else:
        for column in pii_columns:
            data[column] = data[column].map(lambda v: hash_value(v, key)).astype(object)
    if questionnaire.repeats:  # the submission keys link the repeat tables (pc.attach_repeat)
        links = table_meta["paradata"]
        for column in ("_uuid", "_index"):
            if column in links.columns and column not in data.columns:
                data[column] = links[column].to_numpy()
    meta: dict[str, Any] = {
        "source": str(path),
        "questionnaire": questionnaire.id,
        "pii": keep_pii,
        "pii_columns": pii_columns,
        "warnings": len(report.warnings),
        "blank_rows_skipped": int(raw.attrs.get("blank_rows_skipped", 0)),
        "notes": list(table_meta["notes"]),
        "derived": derived,
    }
    if recode:
        data, counts = recode_missing(data, questionnaire)
        data = integer_codes(data, questionnaire)
        meta["missing_recoded"] = counts.to_dict("records")
    value_labels = raw.attrs.get("value_labels")
    data.attrs = {"perception": meta}
    if value_labels:
        data.attrs["value_labels"] = value_labels
    return data


def _invalid(source: str, questionnaire: Questionnaire, report: ValidationReport
             ) -> WaveValidationError:
    return WaveValidationError(
        f"{source} does not match questionnaire {questionnaire.id!r}: {len(report.errors)} "
        f"error{'s' if len(report.errors) != 1 else ''}.\n"
        f"{report.summary(max_rows=None, max_groups=None)}",
        report,
    )


def _read_partitioned(frame: Any, q: Questionnaire, *, source: str, keep_pii: str,
                      key: bytes, recode: bool) -> Any:
    """A Dask DataFrame validated partition by partition (raise listing every failure),
    read as a lazy Dask DataFrame: each partition as :func:`read_wave` reads a file,
    the integer columns decided on the whole data, rows numbered across partitions."""
    from .partitions import map_numbered, validate_partitions

    scan = validate_partitions(frame, q, summarise=partial(
        _summarise, q=q, keep_pii=keep_pii, key=key, recode=recode))
    report = ValidationReport(scan.errors, scan.warnings, scan.n_rows, scan.n_columns,
                              source=source)
    if not report.ok:
        raise _invalid(source, q, report)
    summaries = scan.summaries
    integers = sorted({n for s in summaries for n in s["whole"]}
                      - {n for s in summaries for n, ok in s["whole"].items() if not ok})
    empty = pd.concat([s["empty"] for s in summaries])
    pii_columns = [c for c in q.pii if c in empty.columns]
    steps: dict[str, Any] = dict(q=q, integers=integers, pii_columns=pii_columns, keep_pii=keep_pii,
                 key=key, recode=recode)
    meta = _finish(empty, meta=None, **steps)
    out = map_numbered(frame, partial(_prepare_partition, meta=meta, **steps),
                       scan.offsets, meta)
    changed: dict[str, int] = {}
    in_file: dict[str, bool] = {}
    for s in summaries:
        for record in s["derived"]:
            changed[record["variable"]] = changed.get(record["variable"], 0) + record["changed"]
            in_file[record["variable"]] = record["in_file"]
    meta_attrs: dict[str, Any] = {
        "source": source, "questionnaire": q.id, "pii": keep_pii,
        "pii_columns": pii_columns, "warnings": len(report.warnings),
        "blank_rows_skipped": 0, "notes": [], "partitions": len(summaries),
        "derived": [{"variable": n, "in_file": in_file[n], "changed": changed[n]}
                    for n in changed],
    }
    if recode:
        meta_attrs["missing_recoded"] = _recoded_counts(
            q, [s["recoded"] for s in summaries])
    out.attrs = {"perception": meta_attrs}
    return out


def _recoded_counts(q: Questionnaire, tables: list[pd.DataFrame]) -> list[dict[str, Any]]:
    """The partitions' counts of recoded missing codes added up, in the order
    :func:`recode_missing` gives them (variables, then their codes)."""
    order = {(v.name, code): (i, j) for i, v in enumerate(q.variable_list)
             for j, code in enumerate(v.missing)}
    total: dict[tuple[str, Any], dict[str, Any]] = {}
    for table in tables:
        for record in table.to_dict("records"):
            entry = total.setdefault((record["column"], record["code"]),
                                     {str(k): v for k, v in record.items()} | {"count": 0})
            entry["count"] += int(record["count"])
    return [total[k] for k in sorted(total, key=lambda k: order[k])]


def _summarise(coerced: pd.DataFrame, q: Questionnaire, keep_pii: str, key: bytes,
               recode: bool) -> dict[str, Any]:
    """What the read of a valid partition needs to know of the others: its dtypes once
    read, its whole-number columns, its derived variables' changed values and, with
    ``recode``, its counts of recoded missing codes."""
    data, records = derive_columns(coerced, q)
    whole = {}
    for name in integer_candidates(data, q):
        values = data[name].to_numpy(dtype=float, na_value=np.nan)
        kept = values[~np.isnan(values)]
        whole[name] = bool(np.all(kept == np.round(kept)) and np.all(np.abs(kept) < 2**53))
    # built from the dtypes: an empty slice (even copied) of a text column backed by
    # pyarrow keeps the partition's buffers alive
    empty = pd.DataFrame({name: pd.Series([], dtype=data[name].dtype)
                          for name in data.columns})
    out: dict[str, Any] = {"empty": empty, "whole": whole, "derived": records}
    if recode:  # counted after personal data go, as read_wave counts them
        pii_columns = [c for c in q.pii if c in data.columns]
        kept_data = _finish(data, q, [], pii_columns, keep_pii, key, False, None)
        out["recoded"] = recode_missing(kept_data, q)[1]
    return out


def _prepare_partition(part: pd.DataFrame, q: Questionnaire, integers: list[str],
                       pii_columns: list[str], keep_pii: str, key: bytes, recode: bool,
                       meta: pd.DataFrame) -> pd.DataFrame:
    """One partition read as :func:`read_wave` reads a file."""
    report, data = validate_with_data(part, q)
    if data is None:  # the data changed since they were validated
        raise WaveValidationError(
            f"a partition no longer matches questionnaire {q.id!r} ({len(report.errors)} "
            "errors): the data changed after they were read. Fix: read the wave again.",
            report)
    data, _ = derive_columns(data, q)
    return _finish(data, q, integers, pii_columns, keep_pii, key, recode, meta)


def _finish(data: pd.DataFrame, q: Questionnaire, integers: list[str],
            pii_columns: list[str], keep_pii: str, key: bytes, recode: bool,
            meta: pd.DataFrame | None) -> pd.DataFrame:
    """Integer codes (decided on the whole data), personal data, missing codes, and
    the dtypes of ``meta`` (every partition alike)."""
    data = _as_integers(data, integers)
    if keep_pii == "drop":
        data = data.drop(columns=pii_columns)
    else:
        data = data.assign(**{c: data[c].map(lambda v: hash_value(v, key)).astype(object)
                              for c in pii_columns})
    if recode:
        data, _ = recode_missing(data, q)
        data = _as_integers(data, integers)
    if meta is not None:
        differ = {c: meta[c].dtype for c in meta.columns if data[c].dtype != meta[c].dtype}
        data = data.astype(differ) if differ else data
    return data


def _as_integers(data: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    converted = {n: data[n].astype("Int64") for n in names
                 if n in data.columns and not isinstance(data[n].dtype, pd.Int64Dtype)}
    return data.assign(**converted) if converted else data


def integer_codes(data: pd.DataFrame, questionnaire: Questionnaire) -> pd.DataFrame:
    """``data`` with its integer-coded and whole-number columns as pandas nullable
    integers (``Int64``): a code read as 11.0 (a blank elsewhere in the column made it a
    float) is the code 11 again. Columns holding a fraction stay as they are.

    Examples
    --------
    >>> q = Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
    ...     {"name": "ok", "type": "binary", "label": "OK?"}]})
    >>> integer_codes(pd.DataFrame({"ok": [1.0, None, 0.0]}), q)["ok"].tolist()
    [1, <NA>, 0]
    """
    converted = {}
    for name in integer_candidates(data, questionnaire):
        column = data[name]
        if isinstance(column.dtype, pd.Int64Dtype):
            continue
        values = column.to_numpy(dtype=float, na_value=np.nan)
        present = values[~np.isnan(values)]
        if np.all(present == np.round(present)) and np.all(np.abs(present) < 2**53):
            converted[name] = column.astype("Int64")
    return data.assign(**converted) if converted else data


def integer_candidates(data: pd.DataFrame, questionnaire: Questionnaire) -> list[str]:
    """The columns of ``data`` that :func:`integer_codes` turns into ``Int64`` when their
    values are whole numbers: integer codes and integers held as numbers."""
    names = []
    for var in questionnaire.variable_list:
        if var.name not in data.columns:
            continue
        wanted = (var.type in ("categorical", "ordinal", "binary")
                  and var.code_type == "integer") or var.type == "integer"
        column = data[var.name]
        if (wanted and pd.api.types.is_numeric_dtype(column)
                and not pd.api.types.is_bool_dtype(column)):
            names.append(var.name)
    return names


def derive_columns(data: pd.DataFrame, questionnaire: Questionnaire
                   ) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The wave with its derived variables computed, and one record per variable: its
    name, whether the file had the column, and how many of its values changed."""
    out = questionnaire.derive(data, replace=True)
    records: list[dict[str, Any]] = []
    for name in questionnaire.derived:
        if name not in out.columns:
            continue
        record: dict[str, Any] = {"variable": name, "in_file": name in data.columns,
                                  "changed": 0}
        if record["in_file"]:
            old = pd.to_numeric(data[name], errors="coerce").astype("float64")
            new = pd.to_numeric(out[name], errors="coerce").astype("float64")
            same = (old == new) | (old.isna() & new.isna())
            record["changed"] = int((~same).sum())
        records.append(record)
    return out, records
