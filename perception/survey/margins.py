"""Population margins: matching margins to the rows of a design, and margins files.

Used by :mod:`perception.survey.weighting`. A margin ``{level: population count}`` is matched to
a column by value (``1``, ``1.0`` and ``"1"`` are one level); every check names the
column, the levels or rows at fault and the fix.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import WeightingError, format_rows
from .checks import check_columns

#: relative difference allowed between the totals of two margins (they describe one
#: population, so they must add up to the same number)
MARGIN_TOTAL_RTOL = 1e-6
MARGINS_FORMAT = "perception-margins/1"


def level_key(value: Any) -> str:
    """Canonical text of a level, so that 1, 1.0, np.int64(1) and "1" match."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(value).strip()


def parse_count(value: Any, where: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        try:
            value = float(value)  # e.g. a numeric string from a file
        except (TypeError, ValueError):
            raise WeightingError(
                f"{where} must be a number (a population count), got {value!r}"
            ) from None
    value = float(value)
    if not math.isfinite(value):
        raise WeightingError(f"{where} is {value}: give a finite population count")
    if value < 0:
        raise WeightingError(
            f"{where} is negative ({value:g}): population counts must be >= 0"
        )
    return value


def number(x: float) -> str:
    """A count for a message: 2,063,790 or 1,234.57."""
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return f"{x:,.0f}"
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.4g}"


def level_order(margin) -> list[int]:
    """Indices of a margin's levels in sorted order (R's factor levels)."""
    try:
        return sorted(range(margin.n_levels), key=lambda i: margin.levels[i])
    except TypeError:
        return sorted(range(margin.n_levels), key=lambda i: str(margin.levels[i]))


@dataclass(frozen=True)
class Margin:
    """One categorical margin matched to the rows."""

    label: str  # for messages: "stype" or "stype x sch.wide"
    columns: tuple[str, ...]
    codes: np.ndarray  # (n,) level code, -1 outside the domain
    levels: list  # level labels as given in the margin (after dropping empty ones)
    targets: np.ndarray  # (L,) population counts

    @property
    def n_levels(self) -> int:
        return len(self.levels)


def level_table(margin, columns: list[str], argument: str) -> dict:
    """Margin as ``{level (tuple for several columns): count}``."""
    if isinstance(margin, pd.Series):
        margin = margin.to_dict()
    if isinstance(margin, pd.DataFrame):
        missing = [c for c in columns if c not in margin.columns]
        if missing:
            raise WeightingError(
                f"the population table of {argument} has no column {missing[0]!r}; it needs "
                f"the columns {', '.join(columns)} and one column of counts"
            )
        counts = [c for c in margin.columns if c not in columns]
        if len(counts) != 1:
            raise WeightingError(
                f"the population table of {argument} must have the columns "
                f"{', '.join(columns)} and exactly one more column of counts (e.g. 'Freq'); "
                f"it has {list(margin.columns)}"
            )
        keys = margin[columns].itertuples(index=False, name=None)
        if len(columns) == 1:
            keys = (k[0] for k in keys)
        table: dict = {}
        for key, count in zip(keys, margin[counts[0]].tolist(), strict=True):
            if key in table:
                raise WeightingError(
                    f"level {key!r} appears twice in the population table of {argument}"
                )
            table[key] = count
        return table
    if not isinstance(margin, Mapping):
        raise WeightingError(
            f"the margin of {argument} must be a mapping {{level: population count}} or a "
            f"DataFrame of levels and counts, got {type(margin).__name__}"
        )
    if not margin:
        raise WeightingError(f"the margin of {argument} is empty: give its levels and counts")
    return dict(margin)


def _canonical_codes(data: pd.DataFrame, columns: list[str], idx: np.ndarray
                     ) -> tuple[np.ndarray, list[tuple]]:
    """Integer code of each row's canonical key (tuple of :func:`level_key` of its values
    in ``columns``; rows ``idx``), numbered in order of first appearance, and the keys.

    :func:`level_key` runs on the distinct values of each column only (one hashing pass
    per column over the rows), never row by row.
    """
    codes_per_column, keys_per_column = [], []
    every_row = len(idx) == len(data)
    for column in columns:
        values = data[column] if every_row else data[column].iloc[idx]
        raw_codes, raw_values = _distinct_values(values)
        canon = pd.Series([level_key(v) for v in raw_values], dtype=object)
        canon_codes, canon_keys = pd.factorize(canon, sort=False)
        codes_per_column.append(canon_codes[raw_codes].astype(np.int64))
        keys_per_column.append(list(canon_keys))
    sizes = [max(len(keys), 1) for keys in keys_per_column]
    combined = codes_per_column[0]
    for codes, size in zip(codes_per_column[1:], sizes[1:], strict=True):
        combined = combined * size + codes
    if len(columns) == 1:  # the canonical codes 0..K-1, all present
        sample_code, joint = combined, np.arange(sizes[0])
    else:
        sample_code, joint = pd.factorize(combined, sort=False)
    sample_keys = []
    for value in np.asarray(joint, dtype=np.int64):
        parts = []
        for size in reversed(sizes):
            parts.append(int(value % size))
            value //= size
        parts.reverse()
        sample_keys.append(tuple(keys[p] for keys, p in zip(keys_per_column, parts,
                                                              strict=True)))
    return sample_code, sample_keys


#: integer columns spanning at most this many values are coded by a lookup table
SMALL_INTEGER_RANGE = 65_536


def _distinct_values(values: pd.Series) -> tuple[np.ndarray, np.ndarray | pd.Index]:
    """Code of each value among the distinct values, and those values: a lookup table
    for integer codes over a short range (levels such as sex or age group, in increasing
    order), else one hashing pass (in order of first appearance)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu" and len(values):
        x = values.to_numpy()
        lowest = int(x.min())
        if int(x.max()) - lowest < SMALL_INTEGER_RANGE:
            offset = x - lowest if lowest else x
            present = np.bincount(offset) > 0
            if present.all():
                codes = offset
            else:
                codes = (np.cumsum(present) - 1)[offset]
            uniques = (np.flatnonzero(present) + lowest).astype(x.dtype)
            return codes.astype(np.int64, copy=False), uniques
    return pd.factorize(values, sort=False)


def match_margin(design, columns: list[str], margin, argument: str) -> Margin:
    """Match a margin's levels to the rows of the design's domain, checking everything."""
    check_columns(design.data, columns, argument, WeightingError)
    label = " x ".join(columns)
    table = level_table(margin, columns, argument)
    # margin keys -> canonical keys
    keyed: dict[tuple, tuple[Any, float]] = {}
    for level, value in table.items():
        parts = level if isinstance(level, tuple) else (level,)
        if len(parts) != len(columns):
            raise WeightingError(
                f"level {level!r} of the margin of {label} should have {len(columns)} parts, "
                f"one per column ({', '.join(columns)})"
            )
        canon = tuple(level_key(p) for p in parts)
        if canon in keyed:
            raise WeightingError(
                f"the margin of {label} gives level {level!r} twice (as "
                f"{keyed[canon][0]!r} and {level!r})"
            )
        keyed[canon] = (level, parse_count(value, f"the count of level {level!r} of {label}"))

    data = design.data
    inside = design.in_domain
    n = len(data)
    missing = np.zeros(n, dtype=bool)
    for column in columns:  # numpy integer columns hold no missing value
        if not (isinstance(data[column].dtype, np.dtype) and data[column].dtype.kind in "iub"):
            missing |= data[column].isna().to_numpy()
    missing &= inside
    if missing.any():
        raise WeightingError(
            f"column {label!r} (margin) has {int(missing.sum())} missing value(s) in rows "
            f"{format_rows(data.index[missing])}; every weighted row needs a level. Impute "
            "or recode them (e.g. a level 'unknown' with its own population count), or "
            "leave those rows out of the design."
        )
    # canonical key of every row in the domain, then integer codes of the distinct keys
    idx = np.flatnonzero(inside)
    sample_code, sample_keys = _canonical_codes(data, columns, idx)
    unknown = [i for i, k in enumerate(sample_keys) if k not in keyed]
    if unknown:
        rows = data.index[idx[np.isin(sample_code, unknown)]]
        shown = ", ".join(
            repr(sample_keys[i][0] if len(columns) == 1 else sample_keys[i])
            for i in unknown[:10]
        )
        raise WeightingError(
            f"column {label!r} has level(s) {shown} in rows {format_rows(rows)} that the "
            f"margin does not give (it gives {', '.join(repr(v[0]) for v in keyed.values())}). "
            "Add those levels with their population counts, or recode them."
        )
    n_sample = len(sample_keys)
    weight_of = np.bincount(sample_code, design._w if len(idx) == n else design._w[idx],
                            minlength=n_sample)
    rows_of = np.bincount(sample_code, minlength=n_sample)
    position = {k: i for i, k in enumerate(sample_keys)}
    level_of_sample = np.full(n_sample, -1, dtype=np.int64)
    levels: list[Any] = []
    targets: list[float] = []
    absent: list[tuple[Any, float, int]] = []
    for canon, (level, count) in keyed.items():
        j = position.get(canon)
        if j is None or weight_of[j] <= 0:
            if count == 0:
                continue  # absent from sample and population: dropped, as R does
            absent.append((level, count, 0 if j is None else int(rows_of[j])))
            continue
        if count == 0:
            rows = data.index[idx[sample_code == j]]
            raise WeightingError(
                f"level {level!r} of {label} has population count 0 but {len(rows)} "
                f"sampled row(s) ({format_rows(rows)}); a level present in the sample needs "
                "a positive count. Fix the margin or recode those rows."
            )
        level_of_sample[j] = len(levels)
        levels.append(level)
        targets.append(count)
    if absent:
        shown = ", ".join(
            f"{lv!r} (population {c:g}"
            + (f", {r} row(s) all with weight 0)" if r else ", no sampled row)")
            for lv, c, r in absent[:10]
        )
        raise WeightingError(
            f"the margin of {label} names level(s) absent from the sample: {shown}. "
            "No weight can be moved onto them: merge them with a neighbouring level in "
            "the margin and in the data, or drop them from the margin."
        )
    # rows of a level with zero weight only (present, count 0 excluded above) keep -1
    if len(idx) == n:
        codes = level_of_sample[sample_code]
    else:
        codes = np.full(n, -1, dtype=np.int64)
        codes[idx] = level_of_sample[sample_code]
    return Margin(label, tuple(columns), codes, levels, np.asarray(targets, dtype=float))


def check_totals(margins: list[Margin], function: str) -> float:
    totals = [(m.label, float(m.targets.sum())) for m in margins]
    first_label, first = totals[0]
    for label, total in totals[1:]:
        if not math.isclose(total, first, rel_tol=MARGIN_TOTAL_RTOL, abs_tol=0.0):
            raise WeightingError(
                f"the margins of {function}() describe different populations: {first_label!r} "
                f"adds up to {number(first)} but {label!r} to {number(total)}. Every margin must add "
                "up to the same population total; fix the counts (e.g. rescale one margin)."
            )
    return first


def margin_spec(margins, function: str) -> list[tuple[list[str], Any]]:
    if isinstance(margins, Mapping):
        items = list(margins.items())
    else:
        raise WeightingError(
            f"{function}() takes margins as a mapping {{column: {{level: count}}}}, got "
            f"{type(margins).__name__}"
        )
    if not items:
        raise WeightingError(f"{function}() needs at least one margin")
    out = []
    for key, margin in items:
        columns = list(key) if isinstance(key, tuple) else [key]
        if not all(isinstance(c, str) for c in columns):
            raise WeightingError(
                f"margin key {key!r} must be a column name or a tuple of column names"
            )
        out.append((columns, margin))
    return out


# ===================================================================== margins files
@dataclass(frozen=True)
class PopulationMargins:
    """Population margins read from a YAML file (see ``docs/weighting.md``).

    Attributes
    ----------
    margins : dict
        ``{column: {level: count}}`` for raking and calibration.
    totals : dict
        ``{column: total}`` numeric totals (calibration only).
    source : str
        Where the numbers come from (required in the file).
    version : str
        Version label of the margins.
    title : str
        What population they describe.
    path : Path, optional
        The file read.
    """

    margins: dict
    totals: dict
    source: str
    version: str
    title: str
    path: Path | None = None

    @property
    def population(self) -> dict:
        """Margins and totals in one mapping, as ``calibrate`` takes them."""
        return {**self.margins, **self.totals}

    def crossed_with(self, column: str, levels: Sequence) -> dict:
        """The margins repeated for each level of ``column`` (e.g. each survey wave).

        Parameters
        ----------
        column : str
            The column whose levels repeat the margins (the wave column).
        levels : sequence
            Its levels.

        Returns
        -------
        dict
            ``{(column, margin_column): {(level, margin_level): count}}`` for
            ``perception.rake``, so that every wave is raked to the full population.

        Examples
        --------
        >>> m = PopulationMargins({"sex": {1: 60, 2: 40}}, {}, "census", "1", "adults")
        >>> m.crossed_with("wave", [0, 1])
        {('wave', 'sex'): {(0, 1): 60, (0, 2): 40, (1, 1): 60, (1, 2): 40}}
        """
        out: dict = {}
        for name, margin in self.margins.items():
            out[(column, name)] = {
                (lv, key): count for lv in levels for key, count in margin.items()
            }
        return out


def read_margins(path: str | Path) -> PopulationMargins:
    """Read a population-margins YAML file (format ``perception-margins/1``).

    Parameters
    ----------
    path : str or Path
        The YAML file. It holds ``format``, ``version``, ``title``, ``source``, ``margins``
        (``column: {level: count}``) and optionally ``totals`` (``column: number``) and
        ``population_total`` (checked against every margin).

    Returns
    -------
    PopulationMargins
        The margins and totals, with the file's ``source``, ``version`` and ``title``.

    Raises
    ------
    WeightingError
        When the file is missing or malformed, a count is negative or not a number, or the
        margins do not add up to the same total.

    Examples
    --------
    >>> m = pc.read_margins("questionnaires/margins_centre_mali_2009.yaml")  # doctest: +SKIP
    >>> pc.rake(design, m.margins)                                          # doctest: +SKIP
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise WeightingError(
            f"margins file not found: {path}. Give the path of a YAML file in the "
            f"{MARGINS_FORMAT} format (see docs/weighting.md)."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise WeightingError(f"{path} is not valid UTF-8 YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise WeightingError(f"{path}: the file must hold a mapping with a 'margins' section")
    if raw.get("format") != MARGINS_FORMAT:
        raise WeightingError(
            f"{path}: format is {raw.get('format')!r}; this reader takes "
            f"format: {MARGINS_FORMAT}"
        )
    for field in ("version", "source"):
        if not raw.get(field):
            raise WeightingError(
                f"{path}: the '{field}' field is required (margins must say where their "
                "numbers come from and which version they are)"
            )
    source = raw["source"]
    if isinstance(source, Mapping):
        source = "; ".join(f"{k}: {v}" for k, v in source.items())
    margins_raw = raw.get("margins")
    if not isinstance(margins_raw, Mapping) or not margins_raw:
        raise WeightingError(f"{path}: 'margins' must map each column to {{level: count}}")
    margins: dict = {}
    for column, levels in margins_raw.items():
        if not isinstance(levels, Mapping) or not levels:
            raise WeightingError(
                f"{path}: margin {column!r} must map each level to its population count"
            )
        margins[str(column)] = {
            level: parse_count(count, f"{path}: margins.{column}.{level}")
            for level, count in levels.items()
        }
    totals_raw = raw.get("totals") or {}
    if not isinstance(totals_raw, Mapping):
        raise WeightingError(f"{path}: 'totals' must map numeric columns to their totals")
    totals = {}
    for column, value in totals_raw.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise WeightingError(f"{path}: totals.{column} must be a number, got {value!r}")
        totals[str(column)] = float(value)
    sums = {name: sum(m.values()) for name, m in margins.items()}
    first_name, first = next(iter(sums.items()))
    for name, total in sums.items():
        if not math.isclose(total, first, rel_tol=MARGIN_TOTAL_RTOL):
            raise WeightingError(
                f"{path}: margin {first_name!r} adds up to {number(first)} but {name!r} to "
                f"{number(total)}; every margin must add up to the same population total"
            )
    declared = raw.get("population_total")
    if declared is not None:
        declared = parse_count(declared, f"{path}: population_total")
        if not math.isclose(declared, first, rel_tol=MARGIN_TOTAL_RTOL):
            raise WeightingError(
                f"{path}: population_total is {number(declared)} but the margins add up "
                f"to {number(first)}"
            )
    return PopulationMargins(margins, totals, str(source), str(raw["version"]),
                             str(raw.get("title", "")), path)
