"""The reduction of a Dask DataFrame to group sums: what each partition sums (on the
workers), how the partitions' sums are added up and checked (on the client).

A partition is reduced to sums by group -- the values of the design columns, of the
``by`` columns, and whether the row enters the estimate -- with integer group codes and
one ``np.bincount`` per sum, reading one part (a shifted variable, an indicator) at a
time. Missing or invalid values are reported with their row numbers in the partition,
made global on the client from the partitions' lengths. The estimators that finish
these sums are in :mod:`perception.survey.distributed`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, EstimationError, format_rows

_PREFIX = "__pc_"
_W, _ROWS, _NONZERO, _ACTIVE = (f"{_PREFIX}w", f"{_PREFIX}rows", f"{_PREFIX}nonzero",
                                f"{_PREFIX}active")
_ONE = f"{_PREFIX}row"  # the row id of a design without clusters (never a column)
_IN = f"{_PREFIX}in"  # the rows inside the design's domain (a labelled design's kept rows)
_FIRST = f"{_PREFIX}first"  # a group's first row in the data
_SHOWN_ROWS = 10
#: rows of the first partition that give the provisional estimates (the shifts)
PILOT_ROWS = 10_000


def _num(j: int) -> str:
    return f"{_PREFIX}wr{j}"


def _cnt(j: int) -> str:
    """The rows giving answer ``j`` (a proportion's unweighted count of the level)."""
    return f"{_PREFIX}cnt{j}"


def _sq(j: int) -> str:
    return f"{_PREFIX}wrr{j}"


def _den(j: int) -> str:
    return f"{_PREFIX}wd{j}"


def _cross(j: int) -> str:
    return f"{_PREFIX}wrd{j}"


def _den_sq(j: int) -> str:
    return f"{_PREFIX}wdd{j}"


def _moment(a: int, b: int) -> str:
    return f"{_PREFIX}m{a}_{b}"


def _rw(r: int) -> str:
    return f"{_PREFIX}rw{r}"


def _rwa(r: int) -> str:
    return f"{_PREFIX}rwa{r}"


def _rwn(r: int, j: int) -> str:
    return f"{_PREFIX}rwn{r}_{j}"


def _rwd(r: int, j: int) -> str:
    return f"{_PREFIX}rwd{r}_{j}"


def _gram(r: int, q: int) -> str:
    return f"{_PREFIX}g{r}_{q}"


def _require_dask() -> Any:
    try:
        return importlib.import_module("dask")
    except ImportError:  # pragma: no cover - dask is what made the frame
        raise EstimationError(
            "a design on a Dask DataFrame needs the optional package 'dask': install it "
            "with pip install 'perception[dask]'"
        ) from None


# ------------------------------------------------------------------ the reduction --
@dataclass(frozen=True)
class _Plan:
    """What one pass over the partitions sums, by group."""

    weights: str | None
    keys: tuple[str, ...]  # design columns and by columns (the group keys, with active)
    design: tuple[str, ...]
    by: tuple[str, ...]
    variables: tuple[str, ...]  # numerators (or the categorical variables)
    denominators: tuple[str, ...]  # ratios only
    kind: str  # "mean", "total", "ratio" or "proportion"
    shift: tuple[float, ...]
    levels: tuple[tuple, ...]  # proportion: the levels of each variable
    moments: bool  # a design without clusters: cross-products of the scores' parts
    replicate_weights: tuple[str, ...] = ()  # replicate-weight columns
    gram: bool = False  # and their cross-products (the rank behind degf)
    #: quantiles ("below"): the domains' by values and the (domains, k, P) thresholds
    thresholds: Any = None
    #: a boolean column: False for the rows a labelled design leaves out (outside its
    #: domain, as ``subset``: weight zero, never missing; survey/dask_labelling.py)
    kept: str | None = None
    #: the same column in a model: the rows left out stay in the domain (their weights
    #: and PSUs count, as the rows a model leaves out in memory) but not in the fit
    usable: str | None = None

    @property
    def indicators(self) -> bool:
        """The parts are 0/1 indicators whose means are estimated (no shift)."""
        return self.kind in ("proportion", "below")

    @property
    def n_parts(self) -> int:
        if self.kind == "proportion":
            return sum(map(len, self.levels))
        if self.kind == "below":
            return int(np.prod(self.thresholds[1].shape[1:]))
        return len(self.variables)

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([*self.design, *self.by, *self.variables,
                                   *self.denominators, *([self.weights] if self.weights else []),
                                   *self.replicate_weights, *([self.kept] if self.kept else []),
                                   *([self.usable] if self.usable else [])]))


def _values(frame: pd.DataFrame, name: str, argument: str) -> np.ndarray:
    column = frame[name]
    try:
        return pd.to_numeric(column, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise EstimationError(
            f"column {name!r} ({argument}) is not numeric (dtype {column.dtype}); convert "
            "it to numbers"
        ) from None


def _parts(frame: pd.DataFrame, plan: _Plan) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """Per row: the weight and the parts each score is linear in (``x - c den`` and
    ``den`` for every variable, or the level indicators), before the active mask."""
    n = len(frame)
    w = np.ones(n) if plan.weights is None else _values(frame, plan.weights, "weights")
    return w, _each_part(frame, plan)


def _each_part(frame: pd.DataFrame, plan: _Plan) -> Iterator[np.ndarray]:
    """The parts one at a time (a partition holds one or two of them at once)."""
    n = len(frame)
    if plan.kind == "below":
        # x <= the quantile estimate of the row's domain (rows of no domain: 0)
        frame_by, limits = plan.thresholds
        if plan.by:
            codes = _domain_index(frame_by, list(plan.by)).get_indexer(
                pd.MultiIndex.from_frame(frame[list(plan.by)]))
        else:
            codes = np.zeros(n, dtype=np.int64)
        safe = np.maximum(codes, 0)
        for j, name in enumerate(plan.variables):
            x = _values(frame, name, "variables")
            for q in range(limits.shape[2]):
                yield ((x <= limits[safe, j, q]) & (codes >= 0)).astype(float)
        return
    if plan.kind == "proportion":
        for name, levels in zip(plan.variables, plan.levels, strict=True):
            values = frame[name]
            for level in levels:
                yield (values == level).to_numpy(dtype=float)
        return
    for j, name in enumerate(plan.variables):
        x = _values(frame, name, "variables")
        if plan.kind == "ratio":
            yield x - plan.shift[j] * _values(frame, plan.denominators[j], "denominator")
        else:
            yield x - plan.shift[j]


def _problems(frame: pd.DataFrame, plan: _Plan, w: np.ndarray
              ) -> list[tuple[str, str, list]]:
    """Missing or invalid values of the partition: (column, what, global row numbers)."""
    found: list[tuple[str, str, list]] = []
    rows = np.arange(len(frame))

    def add(column: str, what: str, mask: np.ndarray) -> None:
        if mask.any():
            found.append((column, what, rows[mask].tolist()))

    if plan.weights is not None:
        add(plan.weights, "missing", np.isnan(w))
        add(plan.weights, "negative", w < 0)
        add(plan.weights, "infinite", np.isinf(w))
    for name in plan.replicate_weights:
        values = _values(frame, name, "replicate_weights")
        add(name, "missing", np.isnan(values))
        add(name, "negative", values < 0)
        add(name, "infinite", np.isinf(values))
    for name in plan.design:
        add(name, "design", frame[name].isna().to_numpy())
    return found


def _inside(frame: pd.DataFrame, plan: _Plan) -> np.ndarray:
    """The rows inside the design's domain (all but those a labelled design leaves out)."""
    if plan.kept is None:
        return np.ones(len(frame), dtype=bool)
    return np.array(frame[plan.kept].to_numpy(dtype=bool))  # a copy: callers narrow it


def _missing(frame: pd.DataFrame, plan: _Plan) -> dict[str, np.ndarray]:
    """The rows of the domain missing a value of each column (outside it, or left out
    of a model by a labelled design, none is)."""
    names = [*plan.variables, *plan.denominators, *plan.by]
    inside = _inside(frame, plan)
    if plan.usable is not None:
        inside &= frame[plan.usable].to_numpy(dtype=bool)
    return {name: frame[name].isna().to_numpy() & inside for name in dict.fromkeys(names)}


def _group_codes(frame: pd.DataFrame, keys: Sequence[str], active: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Code of each row's group (its key values and ``active``), numbered in the order
    the groups first appear, and each group's first row."""
    combined = active.astype(np.int64)
    size = 2
    for name in keys:
        codes, uniques = pd.factorize(frame[name], use_na_sentinel=False)
        combined = combined * max(len(uniques), 1) + codes
        size *= max(len(uniques), 1)
        if size > 1 << 40:  # renumber before the combined codes could overflow
            combined, seen = pd.factorize(combined)
            size = len(seen)
    codes, seen = pd.factorize(combined)
    _, first = np.unique(codes, return_index=True)
    return codes.astype(np.intp), first


def _key_values(column: pd.Series, first: np.ndarray) -> Any:
    """The values of a group key at the groups' first rows; a categorical column stays
    categorical, so its domains keep the order of its categories, as in memory."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Categorical(column.iloc[first], dtype=column.dtype)
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and \
            pd.api.types.is_integer_dtype(column.dtype):
        # a coded column with its codes blank (Int64): integers, not floats, once the
        # partitions' groups are stacked, so its domains read 1, 2 as in memory
        return column.iloc[first].array
    return column.iloc[first].to_numpy()


def reduce_partition(frame: pd.DataFrame, plan: _Plan
                     ) -> tuple[pd.DataFrame, list, dict[str, Any]]:
    """One partition's group sums, its invalid design values and its missing values
    (row numbers within the partition, and its length: the client makes them global)."""
    w, parts = _parts(frame, plan)
    found = _problems(frame, plan, w)
    missing = _missing(frame, plan)
    gaps = {name: np.flatnonzero(mask)[: _SHOWN_ROWS + 1].tolist()
            for name, mask in missing.items() if mask.any()}
    counts = {name: int(mask.sum()) for name, mask in missing.items() if mask.any()}
    domain = _inside(frame, plan)
    active = domain.copy()
    if plan.usable is not None:
        active &= frame[plan.usable].to_numpy(dtype=bool)
    for mask in missing.values():
        active &= ~mask
    codes, first = _group_codes(frame, plan.keys, active)
    G = len(first)
    # each group's key values (dtypes kept) and its first row: the groups are later put
    # in the order of the data, so PSUs and strata are numbered as in memory
    out: dict[str, Any] = {name: _key_values(frame[name], first) for name in plan.keys}
    out[_ACTIVE] = active[first]
    out[_FIRST] = first

    def add(name: str, values: np.ndarray) -> None:
        out[name] = np.bincount(codes, weights=values, minlength=G)

    w = np.where(np.isfinite(w) & domain, w, 0.0)  # weight zero outside the domain
    wa = np.where(active, w, 0.0)
    add(_W, w)
    out[_ROWS] = np.bincount(codes, minlength=G).astype(float)
    if plan.kept is not None:
        add(_IN, domain.astype(float))
    add(_NONZERO, (w != 0).astype(float))
    dens = [np.where(active, _values(frame, name, "denominator"), 0.0)
            for name in plan.denominators]
    # the parts of active rows (missing values elsewhere do not reach a sum), one at a
    # time unless the moments or the replicates need them all
    keep_all = plan.moments or bool(plan.replicate_weights)
    inside: list[np.ndarray] = []
    for j, part in enumerate(parts):
        p = np.where(active, part, 0.0)
        if keep_all:
            inside.append(p)
        wp = wa * p
        add(_num(j), wp)
        if plan.indicators:
            if plan.kind == "proportion":
                add(_cnt(j), p)
            continue
        add(_sq(j), wp * p)
        if plan.kind == "ratio":
            d = dens[j]
            add(_den(j), wa * d)
            add(_cross(j), wp * d)
            add(_den_sq(j), wa * d * d)
    if plan.moments:
        # w^2 a b for every pair of the score's pieces (1 first, then each part; ratios:
        # each denominator): the rows' spread within each stratum
        pieces = [np.ones(len(frame)), *inside, *dens]
        w2 = wa * wa
        for a in range(len(pieces)):
            for b in range(a, len(pieces)):
                add(_moment(a, b), w2 * pieces[a] * pieces[b])
    replicate = [np.where(np.isfinite(v) & domain, v, 0.0) for v in
                 (_values(frame, name, "replicate_weights") for name in plan.replicate_weights)]
    for r, wr in enumerate(replicate):
        # replicate totals of the same parts (the full-sample parts' shifts included)
        wra = np.where(active, wr, 0.0)
        add(_rw(r), wr)
        add(_rwa(r), wra)
        for j, p in enumerate(inside):
            add(_rwn(r, j), wra * p)
            if plan.kind == "ratio":
                add(_rwd(r, j), wra * dens[j])
    if plan.gram:
        # cross-products of the replicate weights of rows with a non-zero weight
        matrix = np.column_stack(replicate) * (w != 0)[:, None]
        R = matrix.shape[1]
        gram = np.zeros((G, R, R))
        for g in range(G):
            rows = matrix[codes == g]
            gram[g] = rows.T @ rows
        for first_r, second_r in zip(*np.triu_indices(R), strict=True):
            out[_gram(int(first_r), int(second_r))] = gram[:, first_r, second_r]
    table = pd.DataFrame(out)
    return table, found, {"gaps": gaps, "counts": counts, "length": len(frame)}


def _combine(tables: list[pd.DataFrame], plan: _Plan) -> pd.DataFrame:
    joined = pd.concat(tables, ignore_index=True)
    keys = [*plan.keys, _ACTIVE]
    sums = [c for c in joined.columns if c not in (*keys, _FIRST)]
    grouped = joined.groupby(keys, sort=False, dropna=False, observed=True)
    out = grouped[sums].sum()
    out[_FIRST] = grouped[_FIRST].min()
    return out.reset_index().sort_values(_FIRST, kind="stable").reset_index(drop=True)


def _raise_found(found: list, missing: list[dict], plan: _Plan, na_rm: bool) -> None:
    design_problem: dict[tuple[str, str], list] = {}
    for column, what, rows in found:
        design_problem.setdefault((column, what), []).extend(rows)
    for (column, what), rows in design_problem.items():
        where = f"{len(rows)} row(s): {format_rows(rows[:_SHOWN_ROWS])}"
        if what == "design":
            raise DesignError(
                f"column {column!r} has missing values in {where}. Every row needs its "
                "design columns: fill them in or drop those rows."
            )
        raise DesignError(
            f"weights column {column!r} has {what} values in {where}. Every respondent "
            "needs a weight >= 0: fix or drop those rows."
        )
    if na_rm:
        return
    for name in [*plan.variables, *plan.denominators, *plan.by]:
        count = sum(m["counts"].get(name, 0) for m in missing)
        if count:
            rows = [r for m in missing for r in m["gaps"].get(name, [])][:_SHOWN_ROWS]
            argument = "by" if name in plan.by else "variables"
            raise EstimationError(
                f"column {name!r} ({argument}) has {count} missing value(s) in rows "
                f"{format_rows(rows)} (row numbers in the whole Dask DataFrame). Pass "
                "na_rm=True to leave those rows out of this estimate (n reports how many "
                "rows entered), or recode them first."
            )


def _globalise(results: list) -> tuple[list, list[dict]]:
    """Row numbers of the partitions' problems made global (by the partitions' lengths)."""
    found: list = []
    missing: list[dict] = []
    offset = 0
    for _, part_found, part_missing in results:
        found.extend((column, what, [offset + r for r in rows])
                     for column, what, rows in part_found)
        missing.append({"counts": part_missing["counts"],
                        "gaps": {name: [offset + r for r in rows]
                                 for name, rows in part_missing["gaps"].items()}})
        offset += part_missing["length"]
    return found, missing


def _pilot_shift(ddf: Any, plan: _Plan) -> tuple[float, ...]:
    """Provisional estimates (from the first rows) subtracted before squares are
    summed, so the sums lose nothing to cancellation; any value gives the same
    estimates, a close one keeps the sums of squares exact to rounding."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer rows than asked in the first partition
        part = ddf.head(PILOT_ROWS, npartitions=1)
    w = np.ones(len(part)) if plan.weights is None else _values(part, plan.weights, "weights")
    shift = []
    for j, name in enumerate(plan.variables):
        x = _values(part, name, "variables")
        d = (_values(part, plan.denominators[j], "denominator") if plan.kind == "ratio"
             else np.ones(len(part)))
        ok = np.isfinite(x) & np.isfinite(d) & np.isfinite(w) & (w > 0)
        c = float(w[ok] @ x[ok]) / float(w[ok] @ d[ok]) if ok.any() else 0.0
        shift.append(c if np.isfinite(c) else 0.0)
    return tuple(shift)


def _partition_values(frame: pd.DataFrame, names: list[str]) -> list[np.ndarray]:
    """The distinct non-missing values of each column of one partition."""
    return [np.asarray(pd.unique(frame[name].dropna())) for name in names]


def _levels(ddf: Any, names: Sequence[str]) -> tuple[tuple, ...]:
    """The levels of each categorical variable over the whole data, as in memory: the
    categories of a categorical column, else the sorted values present (one pass over
    the variables' columns, each partition's distinct values added up here)."""
    dask = _require_dask()
    known: dict[str, tuple] = {}
    for name in names:
        dtype = ddf[name].dtype
        if isinstance(dtype, pd.CategoricalDtype) and "__UNKNOWN_CATEGORIES__" not in list(
                dtype.categories):
            known[name] = tuple(dtype.categories)
    pending = [name for name in names if name not in known]
    if pending:
        delayed = dask.delayed(_partition_values)
        parts = dask.compute(*[delayed(part, pending)
                               for part in ddf[pending].to_delayed()])
        for i, name in enumerate(pending):
            values = [part[i] for part in parts]
            seen = list(pd.unique(pd.Series(np.concatenate(values) if values else [])))
            try:
                known[name] = tuple(sorted(seen))
            except TypeError:
                known[name] = tuple(sorted(seen, key=str))
    for name in names:
        if not known[name]:
            raise EstimationError(f"column {name!r} has no non-missing values in the domain")
    return tuple(known[name] for name in names)


def reduce_design(design: Any, plan: _Plan, na_rm: bool, reducer: Any = None,
                  args: tuple = (), columns: Sequence[str] = ()) -> pd.DataFrame:
    """The group sums of the whole Dask DataFrame (computed on the workers), each
    partition reduced by ``reducer(part, plan, *args)`` (default
    :func:`reduce_partition`; it may read ``columns`` besides the plan's)."""
    dask = _require_dask()
    selected = design.data[list(dict.fromkeys([*plan.columns, *columns]))]
    delayed = dask.delayed(reducer or reduce_partition)
    results = dask.compute(*[delayed(part, plan, *args) for part in selected.to_delayed()])
    offset = 0
    tables = []
    for table, _, found in results:
        if len(table):
            tables.append(table.assign(**{_FIRST: table[_FIRST] + offset}))
        offset += found["length"]
    found, missing = _globalise(list(results))
    _raise_found(found, missing, plan, na_rm)
    if not tables:
        raise EstimationError("the Dask DataFrame has no rows")
    return _combine(tables, plan)


# ------------------------------------------------------------------ estimators --
def with_empty_group(groups: pd.DataFrame) -> pd.DataFrame:
    """``groups`` with a second, empty group when it has one only (no strata, no
    clusters, no domains): the in-memory design on the groups then has two "PSUs" and
    can be built; the empty group adds nothing to any sum and is outside every domain.

    Examples
    --------
    >>> g = pd.DataFrame({_W: [2.0], _ACTIVE: [True]})
    >>> with_empty_group(g)[_W].tolist(), with_empty_group(g)[_ACTIVE].tolist()
    ([2.0, 0.0], [True, False])
    """
    if len(groups) != 1:
        return groups
    empty = groups.copy()
    sums = [c for c in groups.columns if c.startswith(_PREFIX) and c != _ACTIVE]
    empty[sums] = 0
    empty[_ACTIVE] = False
    return pd.concat([groups, empty], ignore_index=True)


def _domain_index(frame: pd.DataFrame, by: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[by])


#: the import of dask with its message, for other subpackages
require_dask = _require_dask
