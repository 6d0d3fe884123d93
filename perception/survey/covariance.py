"""The covariance of an estimate table, keyed by each row's identity.

An estimate table carries the covariance of its ``estimate`` column in
``table.attrs["vcov"]``. pandas carries ``attrs`` unchanged through ``sort_values``,
row filters, ``reset_index``, ``copy`` and ``pd.concat`` of frames whose ``attrs`` are
equal, so a matrix read by position would pair variances with the wrong rows after any
of them. The covariance is therefore stored with the identity of each row it belongs to
(the values of the table's identity columns: ``by`` columns, ``variable``, ``category``;
``from``/``to`` of a change; ``contrast``) and with the estimates themselves.
:func:`covariance_of` is the one reader: it re-derives each current row's identity,
aligns the covariance to the rows as they are now, and refuses a table whose rows or
estimates are not those the covariance belongs to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EstimationError, format_rows
from .fitted import FittedModel

#: the ``attrs`` entry holding a table's :class:`Covariance`
ATTR = "vcov"

_FIX = (
    "Use the table as an estimator returned it: sorting, keeping some rows, reset_index "
    "and pd.concat of pieces of one table keep its covariance"
)


def _plain(value) -> object:
    """A hashable Python value for a cell of an identity column; missing is ``None``."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:  # most labels: nothing to look at
        return value
    if kind is float:
        return None if value != value else value
    if isinstance(value, np.generic):
        value = value.item()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _keys(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
    """Each row's identity: its values in ``columns`` (columns or index levels)."""
    if not columns:
        return [()] * len(frame)
    values = []
    for name in columns:
        if name in frame.columns:
            values.append(frame[name].tolist())
        else:
            values.append(frame.index.get_level_values(name).tolist())
    return [tuple(_plain(v) for v in row) for row in zip(*values, strict=True)]


@dataclass(frozen=True, eq=False)
class Covariance:
    """Covariance of an ``estimate`` column, keyed by the identity of its rows.

    Attributes
    ----------
    columns : tuple of str
        The identity columns: their values tell the rows of the table apart.
    keys : tuple of tuple
        The identity of each estimate, in the order the rows were estimated.
    estimates : numpy.ndarray
        The estimates the covariance belongs to, in the same order (read-only).
    matrix : numpy.ndarray
        The covariance, rows and columns in the same order (read-only).

    ``np.asarray(cov)`` and ``cov[i, j]`` give the matrix in the order the rows were
    estimated; :func:`perception.vcov` gives it for the rows of a table as they are now.
    The object is immutable, so pandas' copies of ``attrs`` share it, and ``==`` answers
    with one bool (pandas compares the ``attrs`` of the frames it concatenates).

    Examples
    --------
    >>> t = pd.DataFrame({"stype": ["E", "H"], "variable": "api00",
    ...                   "estimate": [650.0, 620.0]})
    >>> cov = attach_covariance(t, [[4.0, 1.0], [1.0, 9.0]], ["stype", "variable"]).attrs["vcov"]
    >>> cov.keys
    (('E', 'api00'), ('H', 'api00'))
    >>> float(cov[1, 1])
    9.0
    """

    columns: tuple[str, ...]
    keys: tuple[tuple, ...]
    estimates: np.ndarray
    matrix: np.ndarray

    def __eq__(self, other) -> bool:
        if other is self:
            return True
        return (
            isinstance(other, Covariance)
            and self.columns == other.columns
            and self.keys == other.keys
            and bool(np.array_equal(self.estimates, other.estimates, equal_nan=True))
            and bool(np.array_equal(self.matrix, other.matrix, equal_nan=True))
        )

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    # immutable: pandas deep-copies attrs at every operation, a shared object costs nothing
    def __copy__(self) -> Covariance:
        return self

    def __deepcopy__(self, memo) -> Covariance:
        return self

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.array(self.matrix, dtype=dtype)

    def __getitem__(self, index):
        return self.matrix[index]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.matrix.shape

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return (f"Covariance({len(self.keys)} estimates keyed by "
                f"{', '.join(self.columns) or 'nothing'})")


def attach_covariance(table: pd.DataFrame, matrix, columns: Sequence[str]) -> pd.DataFrame:
    """Attach ``matrix``, the covariance of ``table["estimate"]`` (rows in table order),
    keyed by the values of ``columns``; returns ``table`` (changed in place: the
    estimators call it on the table they have just built).

    ``matrix=None`` records that the table has no covariance (e.g. quantiles).
    """
    if matrix is None:
        table.attrs[ATTR] = None
        return table
    columns = tuple(columns)
    keys = tuple(_keys(table, columns))
    if len(set(keys)) != len(keys):
        repeated = _described(table, columns, _repeated(keys))
        raise EstimationError(
            f"rows {repeated} have the same values in {', '.join(columns)}, so a covariance "
            "cannot tell them apart"
        )
    matrix = np.array(matrix, dtype=float)
    if matrix.shape != (len(keys), len(keys)):
        raise EstimationError(
            f"a covariance of shape {matrix.shape} does not fit a table of {len(keys)} rows"
        )
    estimates = table["estimate"].to_numpy(dtype=float, copy=True)
    matrix.setflags(write=False)
    estimates.setflags(write=False)
    table.attrs[ATTR] = Covariance(columns, keys, estimates, matrix)
    return table


def covariance_of(table: pd.DataFrame) -> pd.DataFrame:
    """The covariance of ``table["estimate"]``, for the rows of ``table`` as they are now.

    Parameters
    ----------
    table : an estimate table (``mean``, ``total``, ``ratio``, ``proportion``,
        ``change``, ``contrast``, a one-item ``likert`` or ``top_box``, ``did`` effects
        of one variable), possibly sorted, filtered (rows kept), reset or concatenated
        from pieces of one table.

    Returns
    -------
    DataFrame: rows and columns in the order of the table's rows, labelled by their
    identity (one index level per identity column).

    Raises
    ------
    EstimationError
        The table carries no covariance; an identity column is missing; two rows have
        the same identity; a row is not one of the estimate the covariance belongs to;
        or the ``estimate`` column no longer holds the estimates it belongs to.

    Examples
    --------
    >>> t = pd.DataFrame({"stype": ["E", "H"], "variable": "api00",
    ...                   "estimate": [650.0, 620.0]})
    >>> t = attach_covariance(t, [[4.0, 1.0], [1.0, 9.0]], ["stype", "variable"])
    >>> v = covariance_of(t.sort_values("estimate"))
    >>> v.index.tolist()
    [('H', 'api00'), ('E', 'api00')]
    >>> v.to_numpy().tolist()
    [[9.0, 1.0], [1.0, 4.0]]
    """
    cov = _attached(table)
    missing = [c for c in cov.columns if c not in table.columns
               and c not in (table.index.names or [])]
    if missing:
        raise EstimationError(
            f"the covariance of this table is keyed by its columns {', '.join(cov.columns)}, "
            f"but column(s) {', '.join(map(repr, missing))} are gone (renamed or dropped): "
            f"rows cannot be matched to their covariance. {_FIX}."
        )
    keys = _keys(table, cov.columns)
    repeated = _repeated(keys)
    if repeated.size:
        key = keys[int(repeated[0])]
        same = [i for i in repeated if keys[i] == key]
        raise EstimationError(
            f"the table holds the same estimate more than once ({_identity(cov.columns, key)}"
            f" in rows {format_rows(table.index[same])}; {repeated.size} rows in all hold a "
            "repeated estimate), e.g. concatenated with itself, so no covariance fits it. "
            f"Keep each row once. {_FIX}."
        )
    lookup = {key: i for i, key in enumerate(cov.keys)}
    position = np.array([lookup.get(key, -1) for key in keys], dtype=np.intp)
    unknown = np.flatnonzero(position < 0)
    if unknown.size:
        raise EstimationError(
            f"rows {_described(table, cov.columns, unknown)} are not estimates of the "
            f"covariance this table carries (its rows by {', '.join(cov.columns)} are "
            f"{_listed(cov.keys)}): the table was built or edited by hand, or mixes rows "
            f"of different estimates. {_FIX}; estimate rows of different tables together "
            "(one call with by=) to combine them."
        )
    if "estimate" not in table.columns:
        raise EstimationError(
            "the table has no 'estimate' column, so its rows cannot be checked against the "
            f"estimates their covariance belongs to. {_FIX}."
        )
    current = table["estimate"].to_numpy(dtype=float)
    stored = cov.estimates[position]
    changed = np.flatnonzero(~((current == stored) | (np.isnan(current) & np.isnan(stored))))
    if changed.size:
        first = int(changed[0])
        raise EstimationError(
            f"the 'estimate' column no longer holds the estimates its covariance belongs to "
            f"(rows {_described(table, cov.columns, changed)}; e.g. {current[first]:.10g} "
            f"now, {stored[first]:.10g} as estimated): it was rescaled or edited after "
            "estimation. "
            "Compute contrasts and covariances on the table as estimated and rescale "
            "their results (a covariance scales by the square of the factor)."
        )
    matrix = cov.matrix
    if not np.array_equal(position, np.arange(len(cov.keys))):
        matrix = matrix[np.ix_(position, position)]
    labels = _labels(table, cov.columns)
    return pd.DataFrame(matrix, index=labels, columns=labels.copy())


def _attached(table) -> Covariance:
    if not isinstance(table, pd.DataFrame):
        raise EstimationError(
            "expected an estimate table (a DataFrame returned by pc.mean, pc.total, "
            f"pc.ratio, pc.proportion, pc.change or pc.contrast), got {type(table).__name__}"
        )
    if ATTR not in table.attrs:
        raise EstimationError(
            "this table carries no covariance (table.attrs has no 'vcov'): tables built by "
            "hand or read from a file have none, and pd.concat of tables from different "
            "estimates drops it (their covariance between tables is unknown). Use a table "
            "returned by pc.mean, pc.total, pc.ratio, pc.proportion, pc.change or "
            "pc.contrast; estimate the rows you want to combine in one call (by=, several "
            "variables)."
        )
    cov = table.attrs[ATTR]
    if cov is None:
        raise EstimationError(
            "this table carries no covariance: quantile tables (only their variances are "
            "estimated) and tables stacking separately estimated items or outcomes have "
            "none. Estimate the rows you want to combine in one call of pc.mean, pc.total, "
            "pc.ratio or pc.proportion (by=, several variables)."
        )
    if not isinstance(cov, Covariance):
        raise EstimationError(
            f"table.attrs['vcov'] holds a {type(cov).__name__}, not the covariance keyed "
            "by rows that the estimators attach, so its rows cannot be matched to the "
            "table's. Use a table returned by pc.mean, pc.total, pc.ratio, pc.proportion, "
            "pc.change or pc.contrast."
        )
    return cov


def _labels(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.Index:
    """The rows' identities as an index: one level per identity column."""
    if not columns:
        return pd.RangeIndex(len(table))
    levels = [table[c] if c in table.columns else table.index.get_level_values(c)
              for c in columns]
    if len(levels) == 1:
        return pd.Index(list(levels[0]), name=columns[0])
    return pd.MultiIndex.from_arrays([list(v) for v in levels], names=list(columns))


def _repeated(keys: Sequence[tuple]) -> np.ndarray:
    """Positions of the keys that occur more than once."""
    counts = Counter(keys)
    return np.array([i for i, key in enumerate(keys) if counts[key] > 1], dtype=np.intp)


def _described(table: pd.DataFrame, columns: tuple[str, ...] | Sequence[str],
               positions) -> str:
    """``'2 (stype='E', variable='api00'), 5 (...)'``: index labels with identities."""
    positions = list(positions)
    keys = _keys(table.iloc[positions[:5]], columns)
    shown = [f"{label} ({_identity(columns, key)})"
             for label, key in zip(table.index[positions[:5]], keys, strict=True)]
    if len(positions) > 5:
        shown.append(f"and {format_rows(table.index[positions[5:]], limit=5)}")
    return ", ".join(shown)


def _identity(columns: Sequence[str], key: tuple) -> str:
    return ", ".join(f"{c}={v!r}" for c, v in zip(columns, key, strict=True))


def _listed(keys: tuple[tuple, ...], limit: int = 6) -> str:
    shown = ", ".join(":".join(map(str, key)) for key in keys[:limit])
    return shown + (f" (and {len(keys) - limit} more)" if len(keys) > limit else "")


def vcov(table) -> pd.DataFrame:
    """Covariance matrix of the ``estimate`` column of an estimate table.

    Parameters
    ----------
    table : DataFrame or GLMResult
        A table returned by ``perception.mean``, ``total``, ``ratio``, ``proportion``,
        ``perception.change`` or ``perception.contrast`` -- sorted, filtered (rows kept),
        reset or concatenated from pieces of one table as you like -- or a
        ``perception.GLMResult`` (its coefficients).

    Returns
    -------
    DataFrame
        One row and one column per row of ``table``, in the table's current order, labelled
        by each row's identity: one index level per identity column (the ``by`` columns,
        ``variable`` and ``category``; ``from``/``to`` of a change; ``contrast``).

    Raises
    ------
    EstimationError
        The table carries no covariance (quantiles; tables built by hand, read from a
        file, or concatenated from different estimates), or its rows or ``estimate``
        column are no longer those the covariance belongs to.

    Examples
    --------
    >>> import perception as pc
    >>> villages = pd.DataFrame({"y": [1.0, 2.0, 4.0, 7.0, 3.0, 3.0], "g": list("ababab"),
    ...                          "village": [1, 1, 2, 2, 3, 3]})
    >>> d = pc.SurveyDesign(villages, psu="village")
    >>> t = pc.mean(d, "y", by="g").sort_values("estimate", ascending=False)
    >>> v = pc.vcov(t)
    >>> v.index.tolist()
    [('b', 'y'), ('a', 'y')]
    >>> v.round(4).to_numpy().tolist()
    [[2.3333, 1.1667], [1.1667, 0.7778]]

    Notes
    -----
    R: ``vcov(svyby(~y, ~g, design, svymean, covmat = TRUE))``.
    """
    if isinstance(table, FittedModel):
        return table.vcov.copy()
    return covariance_of(table)
