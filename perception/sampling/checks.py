"""Checks on a sampling frame shared by allocation and selection: the strata, numeric
columns, and values given per stratum as a column, a mapping or one number.

A frame is a DataFrame with one row per unit that can be drawn (a village), or, for
:func:`~perception.sampling.allocation.allocate` only, one row per group of units with a
``count`` column. Strata are one or several columns; a stratum's key is the column's
value (one column) or the tuple of values (several), as Python scalars.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from ..errors import SamplingError, format_rows

__all__ = ["Strata", "check_frame", "frame_strata", "mapping_per_stratum", "numeric_column",
           "per_stratum", "stratum_label", "whole_number"]


@dataclass(frozen=True)
class Strata:
    """The strata of a frame: the columns, each row's stratum code (0..H-1, in sorted
    order of the keys) and the keys."""

    columns: tuple[str, ...]
    codes: np.ndarray
    keys: tuple[Hashable, ...]

    @property
    def size(self) -> int:
        return len(self.keys)

    def rows(self, h: int) -> np.ndarray:
        """Positions (0-based, frame order) of the rows of stratum ``h``."""
        return np.flatnonzero(self.codes == h)


def stratum_label(key: Hashable) -> str:
    """A stratum key for messages: ``'Mopti'``, ``'(11, 1)'``."""
    return repr(key) if not isinstance(key, tuple) else "(" + ", ".join(map(repr, key)) + ")"


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def whole_number(value: object, argument: str, low: int = 0) -> int:
    """``value`` as an int: a whole number (``3`` or ``3.0``, not ``True``) at least ``low``.

    Examples
    --------
    >>> whole_number(3.0, "reserve")
    3
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not float(value).is_integer()):
        raise SamplingError(f"{argument} must be a whole number, got {value!r}")
    if value < low:
        raise SamplingError(f"{argument} must be >= {low}, got {value!r}")
    return int(float(value))


def check_frame(frame: object, function: str) -> pd.DataFrame:
    """The frame itself, after checking it is a non-empty DataFrame with unique row
    labels (selected rows keep their labels, which key the joint probabilities)."""
    if not isinstance(frame, pd.DataFrame):
        raise SamplingError(
            f"{function}() needs the sampling frame as a pandas DataFrame (one row per "
            f"village), got {type(frame).__name__}"
        )
    if len(frame) == 0:
        raise SamplingError(f"{function}(): the frame has no rows")
    if not frame.index.is_unique:
        duplicated = frame.index[frame.index.duplicated()].unique()
        raise SamplingError(
            f"{function}(): the frame's row labels repeat ({format_rows(duplicated)}); drawn "
            "rows keep their labels, so they must be unique. Fix: frame.reset_index(drop=True)"
        )
    return frame


def _as_columns(spec: str | Sequence[str] | None, argument: str) -> list[str]:
    if spec is None:
        return []
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, Sequence) and all(isinstance(c, str) for c in spec):
        return list(spec)
    raise SamplingError(f"{argument} must be a column name or a list of names, got {spec!r}")


def _check_present(frame: pd.DataFrame, columns: Sequence[str], argument: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        shown = ", ".join(map(str, list(frame.columns)[:12]))
        raise SamplingError(
            f"{argument}: the frame has no column {', '.join(map(repr, missing))} "
            f"(its columns: {shown}{' ...' if frame.shape[1] > 12 else ''})"
        )


def frame_strata(frame: pd.DataFrame, strata: str | Sequence[str] | None,
                 argument: str = "strata") -> Strata:
    """The strata of ``frame`` (one stratum, key ``None``, when ``strata`` is None)."""
    columns = _as_columns(strata, argument)
    if not columns:
        return Strata((), np.zeros(len(frame), dtype=np.int64), (None,))
    _check_present(frame, columns, argument)
    for column in columns:
        missing = frame[column].isna().to_numpy()
        if missing.any():
            raise SamplingError(
                f"{argument} column {column!r} is missing in rows "
                f"{format_rows(frame.index[missing])}; every unit of the frame needs its "
                "stratum. Fix: fill the column or remove those units from the frame"
            )
    codes: np.ndarray
    if len(columns) == 1:
        try:
            codes, uniques = pd.factorize(frame[columns[0]], sort=True)
        except TypeError:  # mixed types cannot be sorted: keep the order of appearance
            codes, uniques = pd.factorize(frame[columns[0]], sort=False)
        keys = tuple(_scalar(u) for u in uniques)
    else:
        grouped = frame.groupby(columns, sort=True, dropna=False)
        codes = grouped.ngroup().to_numpy(dtype=np.int64)
        # several columns: each group key is a tuple of their values
        keys = tuple(tuple(_scalar(v) for v in cast(tuple, key)) for key in grouped.groups)
    return Strata(tuple(columns), np.asarray(codes, dtype=np.int64), keys)


def numeric_column(frame: pd.DataFrame, column: object, argument: str, *,
                   positive: bool = False, integer: bool = False) -> np.ndarray:
    """The values of a numeric column as floats, refusing missing, infinite, negative
    (or, with ``positive``, zero) and, with ``integer``, fractional values."""
    if not isinstance(column, str):
        raise SamplingError(f"{argument} must be a column name, got {column!r}")
    _check_present(frame, [column], argument)
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        raise SamplingError(
            f"{argument} column {column!r} is not numeric (dtype {series.dtype}); it must "
            "hold numbers. Fix: convert it, e.g. pd.to_numeric(frame[...])"
        )
    values = series.to_numpy(dtype=float, na_value=np.nan)
    checks = [
        (np.isnan(values), "is missing", "fill it or remove those units from the frame"),
        (np.isinf(values), "is infinite", "give finite values"),
        (values < 0, "is negative", "give values >= 0"),
    ]
    if positive:
        checks.append((values == 0, "is zero",
                       "a unit of size 0 can never be drawn; remove it from the frame or "
                       "give it its size"))
    if integer:
        checks.append((np.isfinite(values) & (values != np.round(values)),
                       "is not a whole number", "give whole numbers of units"))
    for bad, problem, fix in checks:
        if bad.any():
            raise SamplingError(
                f"{argument} column {column!r} {problem} in rows "
                f"{format_rows(frame.index[bad])}. Fix: {fix}"
            )
    return values


def per_stratum(frame: pd.DataFrame, strata: Strata, value: object, argument: str, *,
                positive: bool = False) -> np.ndarray:
    """One number per stratum (in key order) from a column constant within strata, a
    mapping stratum key -> number, or a single number for every stratum."""
    if isinstance(value, bool):
        raise SamplingError(f"{argument} must be a number, a column or a mapping, got {value!r}")
    if isinstance(value, numbers.Real):
        out = np.full(strata.size, float(value))
    elif isinstance(value, str):
        values = numeric_column(frame, value, argument)
        out = np.empty(strata.size)
        varying = []
        for h in range(strata.size):
            v = values[strata.rows(h)]
            if v.size and np.ptp(v) > 1e-12 * max(1.0, float(np.abs(v).max())):
                varying.append(stratum_label(strata.keys[h]))
            out[h] = v[0]
        if varying:
            raise SamplingError(
                f"{argument} column {value!r} must hold one value per stratum (the "
                f"stratum's value on each of its rows), but it varies within stratum "
                f"{', '.join(varying[:10])}. Fix: give the stratum's value on every row, or "
                "a mapping {stratum: value}"
            )
    elif isinstance(value, Mapping):
        out = mapping_per_stratum(value, strata, argument).astype(float)
    else:
        raise SamplingError(
            f"{argument} must be a number, a column name or a mapping {{stratum: value}}, "
            f"got {type(value).__name__}"
        )
    bad = ~np.isfinite(out) | (out < 0) | ((out == 0) if positive else False)
    if np.any(bad):
        shown = [f"{stratum_label(strata.keys[h])}: {out[h]:g}" for h in np.flatnonzero(bad)]
        need = "positive" if positive else "finite and >= 0"
        raise SamplingError(f"{argument} must be {need}; got {', '.join(shown[:10])}")
    return out


def mapping_per_stratum(mapping: Mapping, strata: Strata, argument: str) -> np.ndarray:
    """The mapping's value for each stratum, in key order; every stratum must be there
    and no key may name a stratum the frame does not have."""
    if strata.columns == ():
        raise SamplingError(
            f"{argument} is a mapping {{stratum: value}} but no strata= is given; give "
            "strata= or one number"
        )
    lookup = {}
    for key, v in mapping.items():
        k = tuple(_scalar(x) for x in key) if isinstance(key, tuple) else _scalar(key)
        lookup[k] = v
    absent = [k for k in strata.keys if k not in lookup]
    unknown = [k for k in lookup if k not in set(strata.keys)]
    if absent or unknown:
        parts = []
        if absent:
            parts.append("no value for stratum " + ", ".join(stratum_label(k) for k in absent[:10])
                         + (f" (and {len(absent) - 10} more)" if len(absent) > 10 else ""))
        if unknown:
            parts.append("key(s) " + ", ".join(stratum_label(k) for k in unknown[:10])
                         + " name no stratum of the frame")
        raise SamplingError(
            f"{argument}: {'; '.join(parts)}. The frame's strata ({', '.join(strata.columns)}) "
            f"are {', '.join(stratum_label(k) for k in strata.keys[:10])}"
            f"{' ...' if strata.size > 10 else ''}"
        )
    values = []
    for k in strata.keys:
        v = lookup[k]
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise SamplingError(f"{argument}: the value of stratum {stratum_label(k)} must be "
                              f"a number, got {v!r}")
        values.append(float(v))
    return np.asarray(values)
