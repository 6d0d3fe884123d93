"""Waves larger than memory: a Parquet dataset or a Dask DataFrame, validated partition
by partition.

:func:`perception.read_wave` on a directory of Parquet files (or on a Dask DataFrame)
and :func:`perception.validate` on a Dask DataFrame come here. Each partition is
validated on a worker by the in-memory validation (so every check, message and value is
the same); what comes back to the client is its failures, its number of rows and its
distinct (wave, PSU, stratum). The checks across rows are made across the partitions:

- uniqueness of identifier columns: each partition hashes its identifiers (column, wave,
  value as text: 64 bits, 8 bytes an identifier whatever its length), counts the hashes
  and splits them into buckets by hash; one task per bucket adds up the counts of every
  partition (a hash-partitioned count with Dask: the hashes pass through the workers,
  never through the client) and only the hashes given more than once come back; a
  second pass, run only then, finds their rows and compares the values themselves (two
  values sharing a hash are not duplicates), so the report names every row of each
  duplicate;
- a PSU in one stratum: from the distinct (wave, PSU, stratum) of the partitions (as many
  as the PSUs), then the same second pass for the rows of a PSU in two strata.

Rows are numbered as in the in-memory validation of the whole dataset: 0, 1, ... in
partition order (the rows of ``frame.compute().reset_index(drop=True)``: a Dask index is
not a row label here; for a Parquet directory, its files in name order).
:func:`map_numbered` gives the lazy frame of the read wave, each partition prepared
when it is computed and its rows numbered the same way. Dask is imported here only: ``import perception``
never loads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FileReadError, PerceptionError
from ..questionnaire.cells import present, texts
from ..questionnaire.model import Questionnaire
from ..questionnaire.schema import compile_rules
from .failures import Failure, collect_failures, failure_table

__all__ = ["PARQUET_SUFFIXES", "parquet_files", "need_dask", "dataset_bytes",
           "read_parquet_dataset", "PartitionScan", "validate_partitions", "map_numbered"]

#: the file names read as Parquet in a dataset directory
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
#: the checks made across partitions (the others are made within each row)
_ACROSS = ("unique", "psu_in_stratum")
#: the key of a missing wave in the identifiers' groups (a text no cell gives)
_NO_WAVE = "\x00"


# ------------------------------------------------------------------ the dataset
def parquet_files(path: str | Path) -> list[Path]:
    """The Parquet files of a dataset directory, in name order (hidden files and
    ``_metadata`` left out); a clear error when there are none."""
    path = Path(path)
    if not path.is_dir():
        raise FileReadError(f"{path} is not a directory of Parquet files.")
    entries = sorted(path.iterdir())
    files = [p for p in entries if p.is_file() and p.suffix.lower() in PARQUET_SUFFIXES
             and not p.name.startswith((".", "_"))]
    if not files:
        nested = [p.name for p in entries if p.is_dir()]
        where = (f" (it holds the folders {', '.join(nested[:3])}: a partitioned "
                 "dataset written with partition_on is not read, its columns being in "
                 "the folder names)" if nested else "")
        raise FileReadError(
            f"{path} is a directory without Parquet files (*.parquet){where}. Fix: give a "
            "wave file (.csv, .xlsx, .sav, .dta), or a directory of .parquet files "
            "holding the wave's columns (e.g. written by dask's to_parquet)."
        )
    return files


def need_dask() -> None:
    """A clear error when dask is not installed (it is an optional dependency)."""
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("dask", "pyarrow")):
        raise PerceptionError(
            "reading a wave larger than memory (a directory of Parquet files) needs dask "
            "and pyarrow. Fix: pip install 'perception[dask]'.")


def dataset_bytes(path: str | Path) -> int:
    """The size of a Parquet dataset's data once read (uncompressed, from the files'
    metadata): what reading it into memory costs, about."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    total = 0
    for file in parquet_files(path):
        meta = pq.read_metadata(file)
        total += sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    return total


def _read_piece(piece: tuple[str, int]) -> pd.DataFrame:
    """One file of the dataset, its rows numbered from ``offset``."""
    path, offset = piece
    frame = pd.read_parquet(path).reset_index(drop=True)
    frame.index = pd.RangeIndex(offset, offset + len(frame))
    return frame


def read_parquet_dataset(path: str | Path) -> Any:
    """A directory of Parquet files as a lazy Dask DataFrame: one partition per file
    (in name order), its rows numbered 0, 1, ... across the files (known divisions).
    The files must have the same columns; only their metadata is read here."""
    files = parquet_files(path)
    need_dask()
    import dask.dataframe as dd
    import pyarrow.parquet as pq

    counts, columns = [], None
    for file in files:
        try:
            schema = pq.read_schema(file)
            counts.append(pq.read_metadata(file).num_rows)
        except Exception as exc:  # pyarrow raises several kinds on a damaged file
            raise FileReadError(f"{file} cannot be read as Parquet ({exc}). Fix: rewrite "
                                "the file, or remove it from the directory.") from None
        names = [n for n in schema.names if not n.startswith("__index_level_")]
        if columns is None:
            columns, first, empty = names, file, schema.empty_table().to_pandas()
        elif names != columns:
            extra = sorted(set(names) - set(columns))
            lacking = sorted(set(columns) - set(names))
            said = "; ".join(part for part in (
                f"has {', '.join(extra)} in addition" if extra else "",
                f"lacks {', '.join(lacking)}" if lacking else "",
                "has them in another order" if not extra and not lacking else "") if part)
            raise FileReadError(
                f"{file} does not have the columns of {first.name} ({said}): the files of "
                f"a Parquet dataset are parts of one wave. Fix: write every file with the "
                "same columns in the same order."
            )
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    pieces = [(str(f), int(o)) for f, o, c in zip(files, offsets[:-1], counts, strict=True) if c]
    meta = empty.reset_index(drop=True).iloc[:0]
    if not pieces:  # every file empty: one empty partition
        return dd.from_pandas(meta, npartitions=1)
    kept = [int(o) for o, c in zip(offsets[:-1], counts, strict=True) if c]
    divisions = (*kept, int(offsets[-1]) - 1)
    return dd.from_map(_read_piece, pieces, meta=meta, divisions=divisions,
                       enforce_metadata=False)


def _as_read(part: pd.DataFrame) -> pd.DataFrame:
    """A partition as pandas reads a Parquet file: positional rows, text columns with
    NaN as their missing value (Dask gives pd.NA, which the checks see otherwise)."""
    part = part.reset_index(drop=True)
    converted = {}
    for name in part.columns:
        dtype = part[name].dtype
        if isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA:
            converted[name] = part[name].astype(
                pd.StringDtype(storage=dtype.storage, na_value=np.nan))
    return part.assign(**converted) if converted else part


# ------------------------------------------------------------ the checks across rows
@dataclass(frozen=True)
class _Across:
    """The checks across rows of a questionnaire, on the columns of the data."""

    wave: str | None  # the wave column, when the data has it
    unique: tuple[str, ...]  # identifier columns in the data
    psu: str | None  # psu and stratum, when the data has both
    stratum: str | None
    dtypes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, q: Questionnaire, columns: Sequence[str]) -> _Across:
        roles = q.roles
        wave = roles.get("wave") if roles.get("wave") in columns else None
        unique = tuple(v.name for v in q.variable_list if v.unique and v.name in columns)
        psu, stratum = roles.get("psu"), roles.get("stratum")
        both = bool(psu and stratum and psu in columns and stratum in columns)
        return cls(wave, unique, psu if both else None, stratum if both else None,
                   dict(compile_rules(q).dtypes))

    def keys(self, data: pd.DataFrame, column: str) -> pd.Series:
        """The column as the check reads it: coerced to the questionnaire's type where
        it can be, then as text (a missing cell stays missing)."""
        series = data[column].where(present(data[column]))
        dtype = self.dtypes.get(column)
        if dtype == "float64":
            number = pd.to_numeric(series, errors="coerce")
            series = series.astype(object).where(number.isna(), number)
        elif dtype is not None and dtype.startswith("datetime"):
            when = pd.to_datetime(series, errors="coerce")
            series = series.astype(object).where(when.isna(), when)
        return texts(series)

    def waves(self, data: pd.DataFrame) -> pd.Series:
        if self.wave is None:
            return pd.Series(_NO_WAVE, index=data.index, dtype=object)
        return self.keys(data, self.wave).fillna(_NO_WAVE)


def _identifiers(data: pd.DataFrame, across: _Across) -> pd.DataFrame:
    """The identifiers of a partition as read (one row per identifier given): which
    column, the row, the wave and the value as text, and a 64-bit hash of the three."""
    wave = across.waves(data)
    frames = []
    for k, name in enumerate(across.unique):
        key = across.keys(data, name)
        given = key.notna().to_numpy()
        frames.append(pd.DataFrame({
            "rule": np.full(int(given.sum()), k, dtype=np.int64),
            "pos": np.flatnonzero(given),
            "wave": pd.Series(wave.to_numpy(dtype=object)[given], dtype=object),
            "key": pd.Series(key.to_numpy(dtype=object)[given], dtype=object)}))
    if not frames:
        return pd.DataFrame({"rule": [], "pos": [], "wave": [], "key": [], "hash": []})
    out = pd.concat(frames, ignore_index=True)
    keys = out[["rule", "wave", "key"]].astype({"wave": object, "key": object})
    return out.assign(hash=pd.util.hash_pandas_object(keys, index=False).to_numpy())


def _identifier_buckets(part: pd.DataFrame, across: _Across, buckets: int
                        ) -> list[tuple[np.ndarray, np.ndarray]]:
    """A partition's identifiers as hashes with their counts, split by hash into
    buckets (8 bytes an identifier, whatever its length)."""
    hashes = _identifiers(_as_read(part), across)["hash"].to_numpy(dtype=np.uint64)
    values, counts = np.unique(hashes, return_counts=True)
    bucket = values % np.uint64(buckets)
    return [(values[bucket == b], counts[bucket == b]) for b in range(buckets)]


def _duplicated(*pieces: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The hashes given more than once in the partitions' counts."""
    if not pieces:
        return np.zeros(0, dtype=np.uint64)
    values = np.concatenate([p[0] for p in pieces])
    counts = np.concatenate([p[1] for p in pieces])
    unique, where = np.unique(values, return_inverse=True)
    total = np.bincount(where, weights=counts, minlength=len(unique))
    return unique[total > 1]


def _psu_triples(data: pd.DataFrame, across: _Across) -> set[tuple[str, str, str]]:
    """The distinct (wave, PSU, stratum) of a partition, rows with one of them missing
    left out (as the in-memory check leaves them out)."""
    if across.psu is None or across.stratum is None:
        return set()
    frame = pd.DataFrame({"w": _psu_waves(data, across), "p": across.keys(data, across.psu),
                          "s": across.keys(data, across.stratum)}).dropna()
    return set(frame.drop_duplicates().itertuples(index=False, name=None))


def _psu_waves(data: pd.DataFrame, across: _Across) -> pd.Series:
    """The wave of each row for the PSU check: missing when the wave is missing."""
    if across.wave is None:
        return pd.Series(_NO_WAVE, index=data.index, dtype=object)
    return across.keys(data, across.wave)


# ------------------------------------------------------------------ one partition
def _check_partition(part: pd.DataFrame, q: Questionnaire, across: _Across,
                     summarise: Callable[[pd.DataFrame], Any] | None) -> dict[str, Any]:
    """The in-memory validation of one partition: its failures within rows (row
    positions in the partition), its size, its PSU triples; with ``summarise``, what it
    says of the coerced partition when the partition is valid."""
    part = _as_read(part)
    found = collect_failures(part, q)
    return {
        "n": len(part),
        "errors": [f for f in found.errors if f.check not in _ACROSS],
        "warnings": found.warnings,
        "psu": _psu_triples(found.data, across),
        "summary": (summarise(found.coerced)
                    if summarise is not None and found.coerced is not None else None),
    }


def _rows_across(part: pd.DataFrame, across: _Across, repeated: np.ndarray,
                 split_psus: set[tuple[str, str]]) -> list[tuple]:
    """The rows of a partition whose identifier's hash is repeated, or in a PSU of two
    strata: (check, column, position, value, wave, key)."""
    part = _as_read(part)
    data = _blank_missing(part)
    rows: list[tuple] = []
    if len(repeated):
        ids = _identifiers(part, across)
        ids = ids[np.isin(ids["hash"].to_numpy(dtype=np.uint64), repeated)]
        for k, pos, wave, key in ids[["rule", "pos", "wave", "key"]].itertuples(
                index=False, name=None):
            name = across.unique[int(k)]
            rows.append(("unique", name, int(pos), data[name].iloc[int(pos)], wave, key))
    if split_psus and across.psu is not None and across.stratum is not None:
        psu, stratum = across.keys(data, across.psu), across.keys(data, across.stratum)
        psu_wave = _psu_waves(data, across)
        for row in range(len(data)):
            pair = (psu_wave.iloc[row], psu.iloc[row])
            if pd.notna(stratum.iloc[row]) and pair in split_psus:
                rows.append(("psu_in_stratum", across.psu, row,
                             data[across.psu].iloc[row], *pair))
    return rows


def _blank_missing(part: pd.DataFrame) -> pd.DataFrame:
    """Blank text cells as missing (as the validation sees them)."""
    out = part.copy()
    for name in out.columns:
        series = out[name]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[name] = series.astype(object).where(present(series), np.nan)
    return out


# ------------------------------------------------------------------ the dataset
@dataclass
class PartitionScan:
    """What the validation of every partition found: the report's tables (rows numbered
    across the partitions), the size of the data, where each partition starts, and
    what ``summarise`` said of each partition (None for an invalid one)."""

    errors: pd.DataFrame
    warnings: pd.DataFrame
    n_rows: int
    n_columns: int
    offsets: list[int]
    summaries: list[Any]

    @property
    def ok(self) -> bool:
        return self.errors.empty


def validate_partitions(frame: Any, q: Questionnaire, *,
                        summarise: Callable[[pd.DataFrame], Any] | None = None
                        ) -> PartitionScan:
    """Validate a Dask DataFrame partition by partition (see the module's docstring);
    ``summarise`` is applied on the workers to each valid partition, coerced."""
    import dask

    if not isinstance(q, Questionnaire):
        raise TypeError(f"validate() needs a Questionnaire, got {type(q).__name__}")
    columns = [str(c) for c in frame.columns]
    across = _Across.of(q, columns)
    parts = frame.to_delayed()
    checks = [dask.delayed(_check_partition)(p, q, across, summarise) for p in parts]
    # the identifiers, hash-partitioned into buckets: each bucket's counts are added up
    # in one task, and only the duplicated values come back
    buckets = max(1, min(len(parts), 256)) if across.unique else 0
    pieces = [dask.delayed(_identifier_buckets, nout=buckets)(p, across, buckets)
              for p in parts] if buckets else []
    repeated = [dask.delayed(_duplicated)(*[piece[b] for piece in pieces])
                for b in range(buckets)]
    results, found = dask.compute(checks, repeated)
    hashes = np.concatenate([np.zeros(0, dtype=np.uint64), *found])

    offsets = [int(o) for o in np.concatenate([[0], np.cumsum([r["n"] for r in results])])]
    errors: list[Failure] = []
    warnings: list[Failure] = []
    seen: set[tuple[str, str]] = set()
    for offset, result in zip(offsets, results, strict=False):
        errors += [_shift(f, offset) for f in result["errors"]]
        for f in result["warnings"]:  # column-wide warnings: said once
            if f.pos is None and (f.column, f.check) in seen:
                continue
            seen.add((f.column, f.check))
            warnings.append(_shift(f, offset))

    strata: dict[tuple[str, str], set[str]] = {}
    for result in results:
        for wave, psu, stratum in result["psu"]:
            strata.setdefault((wave, psu), set()).add(stratum)
    split = {pair for pair, found in strata.items() if len(found) > 1}
    if len(hashes) or split:
        found_rows = dask.compute(*[dask.delayed(_rows_across)(p, across, hashes, split)
                                    for p in parts])
        failed = {(f.column, f.pos) for f in errors if f.check == "dtype"}
        errors += _across_failures(q, across, offsets, found_rows, strata, failed)
    labels = pd.RangeIndex(offsets[-1])
    return PartitionScan(failure_table(errors, q, columns, labels),
                         failure_table(warnings, q, columns, labels), offsets[-1],
                         len(columns), offsets, [r["summary"] for r in results])


def _shift(failure: Failure, offset: int) -> Failure:
    if failure.pos is None:
        return failure
    return Failure(failure.pos + int(offset), failure.column, failure.check, failure.value,
                   failure.problem, failure.fix)


def _across_failures(q: Questionnaire, across: _Across, offsets: Sequence[int],
                     found: Sequence[list[tuple]], strata: dict[tuple[str, str], set[str]],
                     failed: set[tuple[str, int | None]]) -> list[Failure]:
    """The failures of the checks across rows, worded as the in-memory validation words
    them (the rule's problem, the rows of the group, the wave)."""
    from ..errors import format_rows

    rules = compile_rules(q).rules
    members: dict[tuple[str, str, str, str], list[int]] = {}
    rows = [(check, column, int(offsets[i]) + pos, value, wave, key)
            for i, part in enumerate(found) for check, column, pos, value, wave, key in part]
    for check, column, pos, _value, wave, key in rows:
        members.setdefault((check, column, wave, key), []).append(pos)
    out = []
    for check, column, pos, value, wave, key in rows:
        if check == "unique" and len(members[(check, column, wave, key)]) < 2:
            continue  # another value with the same hash: not a duplicate
        if (column, pos) in failed:
            continue  # reported as a dtype error
        rule = rules[f"{check}:{column}"]
        has_wave = across.wave is not None and wave != _NO_WAVE
        if check == "unique":
            if across.wave is not None and wave == _NO_WAVE:
                detail = ""  # no group without its wave
            else:
                detail = ("appears in rows "
                          f"{format_rows(sorted(members[(check, column, wave, key)]), 6)}")
                detail += f" of {across.wave} {wave}" if has_wave else ""
        else:
            detail = f"this PSU is in strata {', '.join(sorted(strata[(wave, key)]))}"
            detail += f" in {across.wave} {wave!s}" if has_wave else ""
        problem = f"{rule.problem} ({detail})" if detail else rule.problem
        out.append(Failure(pos, column, check, value, problem, rule.fix))
    return out


# ------------------------------------------------------------------ the wave read
def map_numbered(frame: Any, prepare: Callable[[pd.DataFrame], pd.DataFrame],
                 offsets: Sequence[int], meta: pd.DataFrame) -> Any:
    """A lazy Dask DataFrame: ``prepare`` applied to each partition (as pandas reads it)
    when it is computed, its rows numbered from the partition's offset, so that the
    rows are numbered 0, 1, ... across the partitions (known divisions)."""
    import dask
    import dask.dataframe as dd

    parts = frame.to_delayed()
    prepared = [dask.delayed(_numbered)(p, prepare, int(offsets[i]))
                for i, p in enumerate(parts)]
    sizes = np.diff(np.asarray(offsets))
    divisions: tuple | None = (*[int(o) for o in offsets[:-1]], int(offsets[-1]) - 1) if (
        len(sizes) and (sizes > 0).all()) else None
    # the partitions' dtypes are the in-memory read's (dask would turn text into pd.NA)
    with dask.config.set({"dataframe.convert-string": False}):
        return dd.from_delayed(prepared, meta=meta, divisions=divisions, verify_meta=False)


def _numbered(part: pd.DataFrame, prepare: Callable[[pd.DataFrame], pd.DataFrame],
              offset: int) -> pd.DataFrame:
    out = prepare(_as_read(part))
    out.index = pd.RangeIndex(offset, offset + len(out))
    return out
