"""Estimates of designs on a Dask DataFrame: every estimate reduced to group totals by
Dask, then the in-memory variance code.

``pc.SurveyDesign(dask_frame, ...)`` returns a
:class:`~perception.survey.dask_design.DaskSurveyDesign`. Its estimators
(:func:`perception.mean`, ``total``, ``ratio``, ``proportion``) make one pass over the
partitions (on the workers of a ``dask.distributed`` cluster when a client is active):
each partition is reduced to sums by (design columns, domain, complete or not) group:
the weights, the weighted shifted values, their squares and the row counts. The client
adds up a few thousand such groups, builds an in-memory :class:`SurveyDesign` on them
(one row per group: the same strata, PSUs at every stage and fpc, so the same stages,
lonely PSUs and degrees of freedom), and hands the per-(PSU, domain) totals to the
engine that the in-memory estimators use (:func:`perception.survey.engine.finish`). The
tables equal the in-memory ones to rounding (partitions are summed in another order).

A design without clusters (each row its own PSU) needs the spread of the rows within
each stratum, so its groups also carry the weighted cross-products of the values
(per-stratum moments); its variance is the one-stage formula on those moments.

dask is an optional import (``pip install perception[dask]``): ``import perception``
never loads it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError, EstimationError, format_rows
from . import intervals
from . import variance as _variance
from .checks import check_columns, column_names
from .dask_design import DaskReplicateDesign, DaskSurveyDesign
from .design import ReplicateDesign, SurveyDesign
from .engine import (
    Domains,
    RatioResult,
    _spread,
    _Totals,
    assemble,
    check_domain_weights,
    domains,
    finish,
    replicate_logit_interval,
)
from .replicates import qr_rank
from .variance import GroupSums

_PREFIX = "__pc_"
_W, _ROWS, _NONZERO, _ACTIVE = (f"{_PREFIX}w", f"{_PREFIX}rows", f"{_PREFIX}nonzero",
                                f"{_PREFIX}active")
_ONE = f"{_PREFIX}row"  # the row id of a design without clusters (never a column)
_FIRST = f"{_PREFIX}first"  # a group's first row in the data
_SHOWN_ROWS = 10
#: rows of the first partition that give the provisional estimates (the shifts)
PILOT_ROWS = 10_000


def _num(j: int) -> str:
    return f"{_PREFIX}wr{j}"


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
                                   *self.replicate_weights]))


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


def _missing(frame: pd.DataFrame, plan: _Plan) -> dict[str, np.ndarray]:
    names = [*plan.variables, *plan.denominators, *plan.by]
    return {name: frame[name].isna().to_numpy() for name in dict.fromkeys(names)}


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
    active = np.ones(len(frame), dtype=bool)
    for mask in missing.values():
        active &= ~mask
    codes, first = _group_codes(frame, plan.keys, active)
    G = len(first)
    # each group's key values (dtypes kept) and its first row: the groups are later put
    # in the order of the data, so PSUs and strata are numbered as in memory
    out: dict[str, Any] = {name: frame[name].iloc[first].to_numpy() for name in plan.keys}
    out[_ACTIVE] = active[first]
    out[_FIRST] = first

    def add(name: str, values: np.ndarray) -> None:
        out[name] = np.bincount(codes, weights=values, minlength=G)

    w = np.where(np.isfinite(w), w, 0.0)
    wa = np.where(active, w, 0.0)
    add(_W, w)
    out[_ROWS] = np.bincount(codes, minlength=G).astype(float)
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
    replicate = [np.where(np.isfinite(v), v, 0.0) for v in
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


def reduce_design(design: Any, plan: _Plan, na_rm: bool) -> pd.DataFrame:
    """The group sums of the whole Dask DataFrame (computed on the workers)."""
    dask = _require_dask()
    selected = design.data[plan.columns]
    delayed = dask.delayed(reduce_partition)
    results = dask.compute(*[delayed(part, plan) for part in selected.to_delayed()])
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
def _group_design(design: DaskSurveyDesign, groups: pd.DataFrame) -> SurveyDesign:
    """The in-memory design on the reduced groups (one row per group, the group's
    weight total as its weight)."""
    return SurveyDesign(groups, weights=_W, strata=design._strata or None,
                        psu=design._psu or None, fpc=design._fpc or None, nest=design._nest,
                        lonely_psu=design.lonely_psu)  # type: ignore[arg-type]


def _make_plan(design: Any, kind: str, names: list[str], den_names: list[str],
               by: list[str], levels: tuple = ()) -> _Plan:
    replicate_weights: tuple[str, ...] = ()
    if isinstance(design, DaskReplicateDesign):
        if design.base is None:  # replicate-weight columns: no strata nor PSUs
            keys = list(by)
            plan = _Plan(design.options["weights"], tuple(dict.fromkeys(keys)), (),
                         tuple(by), tuple(names), tuple(den_names), kind, (), levels, False,
                         tuple(design.options["replicate_weights"]), True)
            columns = list(design.data.columns)
            for group, argument in ((names, "variables"), (den_names, "denominator"),
                                    (by, "by")):
                check_columns(columns, group, argument, where="the Dask DataFrame")
            return plan
        design = design.base
    moments = not design._psu
    keys = [*design.design_columns, *by]
    plan = _Plan(design._weights, tuple(dict.fromkeys(keys)), tuple(design.design_columns),
                 tuple(by), tuple(names), tuple(den_names), kind, (), levels, moments,
                 replicate_weights)
    columns = list(design.data.columns)
    for group, argument in ((names, "variables"), (den_names, "denominator"), (by, "by")):
        check_columns(columns, group, argument, where="the Dask DataFrame")
    return plan


def _with_shift(design: Any, plan: _Plan) -> _Plan:
    if plan.kind == "proportion":
        return plan
    shift = _pilot_shift(design.data[plan.columns], plan)
    return _Plan(**{**plan.__dict__, "shift": shift})


class _GroupRows:
    """The group design seen by :func:`engine.finish` when its variance needs more than
    first-stage totals (fpc at later stages): one "cluster" per group row, whose score
    totals the design's own variance recursion then sums stage by stage."""

    is_replicate = False

    def __init__(self, design: SurveyDesign) -> None:
        self._design = design

    def totals_vcov(self, totals: np.ndarray, domain: np.ndarray, n_domains: int
                    ) -> np.ndarray:
        G = totals.shape[0]
        k = totals.shape[1] // n_domains
        own = totals.reshape(G, n_domains, k)[np.arange(G), np.maximum(domain, 0)]
        own[domain < 0] = 0.0
        return self._design.score_vcov(own, domain, n_domains)


class _Moments:
    """The variance of a design without clusters from per-(stratum, domain) moments:
    each row is its own PSU, so the one-stage variance needs, in each stratum, the
    total and the sum of outer products of the rows' scores."""

    is_replicate = False

    def __init__(self, groups: pd.DataFrame, group_design: SurveyDesign,
                 coefficients: tuple[np.ndarray, np.ndarray]) -> None:
        self._groups = groups
        self._design = group_design
        self._coefficients = coefficients  # a row's score: w (a + b . parts)

    def totals_vcov(self, totals: np.ndarray, domain: np.ndarray, n_domains: int
                    ) -> np.ndarray:
        return _moment_vcov(self._groups, self._design, domain, totals, self._coefficients)


def _stratum_stage(group_design: SurveyDesign, groups: pd.DataFrame) -> _variance.Stage:
    """The one stage of a design without clusters, with its real sample sizes: one
    pseudo-cluster per stratum, holding the stratum's rows."""
    first = group_design._stages[0]
    rows = groups[_ROWS].to_numpy(dtype=float)
    n_h = np.bincount(first.stratum, weights=rows, minlength=first.n_strata)
    H = first.n_strata
    popsize = first.popsize
    if group_design._fpc_columns:
        # the population sizes from the fpc column and the real sample sizes (the group
        # design's own counts are groups, not rows)
        name = group_design._fpc_columns[0]
        values = np.zeros(H)
        values[first.stratum] = groups[name].to_numpy(dtype=float)
        popsize = values if bool(np.any(values > 1)) else n_h / values
        small = popsize < n_h - 1e-9
        if small.any():
            h = int(np.flatnonzero(small)[0])
            raise DesignError(
                f"fpc column {name!r} is smaller than the sample in stratum "
                f"{first.stratum_labels[h]!r} ({popsize[h]:g} < {n_h[h]:g} rows): give the "
                "population size of each stratum"
            )
    return _variance.Stage(
        stratum=np.arange(H), cluster=np.arange(H), cluster_stratum=np.arange(H),
        cluster_parent=np.zeros(H, dtype=np.int64), n_sampled=n_h, popsize=popsize,
        stratum_labels=first.stratum_labels, description=first.description,
    )


def _moment_vcov(groups: pd.DataFrame, group_design: SurveyDesign, domain: np.ndarray,
                 totals: np.ndarray, coefficients: tuple[np.ndarray, np.ndarray]
                 ) -> np.ndarray:
    """V = sum_h scale_h (S_h - s_h s_h' / n_h) with S_h the sum over the stratum's rows
    of z z' (from the moments) and s_h its total; lonely strata as R's ``onestage``."""
    a, b = coefficients  # score of a row in domain d, column j: a[d, j] + b[d, j] . part
    D, k = a.shape
    first = group_design._stages[0]
    stage = _stratum_stage(group_design, groups)
    H = stage.n_strata
    scale, lonely = _variance.cluster_scales(stage)
    lonely_psu = group_design.lonely_psu
    if lonely.any() and lonely_psu == "fail":
        bad = np.flatnonzero(lonely)
        names = ", ".join(repr(stage.stratum_labels[h]) for h in bad[:5])
        raise DesignError(
            f"stratum {names} has only one PSU (sampled unit), so its variance cannot be "
            "estimated. Fix: merge it with a similar stratum, or choose lonely_psu='adjust' "
            "(centre at the grand mean), 'average', 'certainty' or 'remove' when building "
            "the design."
        )
    P = b.shape[2] + 1  # the pieces: 1, then the parts
    moments = np.zeros((len(groups), P, P))
    for i in range(P):
        for j in range(i, P):
            m = groups[_moment(i, j)].to_numpy(dtype=float)
            moments[:, i, j] = m
            moments[:, j, i] = m
    inside = domain >= 0
    # per (stratum, domain): the sum of w^2 piece piece'
    cells = np.zeros((H, D, P, P))
    np.add.at(cells, (first.stratum[inside], domain[inside]), moments[inside])
    # coefficient matrix of each domain: z_j = w (a_j + b_j . parts) -> C (k, P)
    C = np.concatenate([a[:, :, None], b], axis=2)  # (D, k, P)
    S = np.zeros((H, D * k, D * k))
    for d in range(D):
        block = np.einsum("jp,hpq,lq->hjl", C[d], cells[:, d], C[d])
        S[:, d * k:(d + 1) * k, d * k:(d + 1) * k] = block
    # the stratum totals of the scores: totals are (H, D*k), one pseudo-cluster a stratum
    n_h = stage.n_sampled
    outer = np.einsum("hi,hj->hij", totals, totals)
    if lonely_psu == "adjust":
        centred = np.where(lonely[:, None, None], S, S - outer / np.maximum(n_h, 1)[:, None, None])
    else:
        centred = S - outer / np.maximum(n_h, 1)[:, None, None]
    if lonely_psu in ("remove", "certainty", "average"):
        centred = np.where(lonely[:, None, None], 0.0, centred)
    v = np.einsum("h,hij->ij", scale, centred)
    if lonely_psu == "average" and lonely.any():
        present = np.zeros((H, D), dtype=bool)
        present[first.stratum[inside], domain[inside]] = True
        n_str = present.sum(axis=0).astype(float)
        n_ok = (present & ~lonely[:, None]).sum(axis=0).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(n_str == 0, 1.0, np.where(n_ok > 0, n_str / n_ok, np.nan))
        factor = np.repeat(np.sqrt(ratio), k)
        v = v * np.outer(factor, factor)
    return v


def _totals(groups: pd.DataFrame, plan: _Plan, cluster: np.ndarray, n_clusters: int,
            dom: Domains, k: int) -> _Totals:
    """The engine's totals by (cluster, domain) from the group sums."""
    sums = GroupSums(cluster, n_clusters, dom.codes, dom.count)

    def col(name: str) -> np.ndarray:
        return groups[name].to_numpy(dtype=float)

    active = groups[_ACTIVE].to_numpy(dtype=bool)
    weights = sums(np.where(active, col(_W), 0.0))
    n_rows = sums.by_domain(np.where(active, col(_ROWS), 0.0))
    n_nonzero = sums.by_domain(np.where(active, col(_NONZERO), 0.0))
    num = np.stack([sums(col(_num(j))) for j in range(k)], axis=2)
    if plan.indicators:
        # the denominator laid out as the numerators, so that an indicator equal to 1 on
        # every row sums to exactly its denominator (a share of 1, a score of 0)
        den = np.ascontiguousarray(np.broadcast_to(weights[:, :, None], num.shape))
        return _Totals(np.zeros(k), num, den, weights, num.sum(axis=0), None, None,
                       n_nonzero, n_rows)
    sq = np.stack([sums.by_domain(col(_sq(j))) for j in range(k)], axis=1)
    shift = np.asarray(plan.shift, dtype=float)
    if plan.kind == "total":
        return _Totals(shift, num, None, weights, sq, None, None, n_nonzero, n_rows)
    if plan.kind == "mean":
        return _Totals(shift, num, weights, weights, sq, None, None, n_nonzero, n_rows)
    den = np.stack([sums(col(_den(j))) for j in range(k)], axis=2)
    cross = np.stack([sums.by_domain(col(_cross(j))) for j in range(k)], axis=1)
    den_sq = np.stack([sums.by_domain(col(_den_sq(j))) for j in range(k)], axis=1)
    return _Totals(shift, num, den, weights, sq, cross, den_sq, n_nonzero, n_rows)


def _score_coefficients(t: _Totals, plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """A row's score in domain d, column j, as ``w (a[d, j] + b[d, j] . parts)``: the
    linearisation :func:`engine.finish` uses, written on the summed parts."""
    D, k = t.sq.shape
    n_parts = k if plan.kind != "ratio" else 2 * k
    a = np.zeros((D, k))
    b = np.zeros((D, k, n_parts))
    with np.errstate(divide="ignore", invalid="ignore"):
        if plan.kind == "total":  # w x = w (r + c)
            a[:] = t.shift
            for j in range(k):
                b[:, j, j] = 1.0
        elif plan.kind == "ratio":  # w (r - delta d) / den_total
            den_total = t.den.sum(axis=0)  # type: ignore[union-attr]
            delta = t.num.sum(axis=0) / den_total
            for j in range(k):
                b[:, j, j] = 1.0 / den_total[:, j]
                b[:, j, k + j] = -delta[:, j] / den_total[:, j]
        else:  # means and proportions: w (r - delta) / W
            W = t.weights.sum(axis=0)
            delta = t.num.sum(axis=0) / W[:, None]
            a[:] = -delta / W[:, None]
            for j in range(k):
                b[:, j, j] = 1.0 / W
    return a, b


def _estimate(design: Any, plan: _Plan, na_rm: bool):
    """Group sums, the group design, the domains and the engine's result."""
    if isinstance(design, DaskReplicateDesign):
        return _estimate_replicates(design, plan, na_rm)
    groups = reduce_design(design, plan, na_rm)
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    if not active.any():
        raise EstimationError(
            f"no rows to estimate {', '.join(map(repr, plan.variables))}: every row misses "
            "a value of the variables or by columns"
        )
    _check_some(groups, plan)
    if plan.moments:
        # each row its own PSU: one group per (stratum, domain); the group design's
        # "PSUs" are only used for degf, so they are given the rows' count below
        groups[_ONE] = np.arange(len(groups))
        group_design = SurveyDesign(groups, weights=_W, strata=design._strata or None,
                                    psu=_ONE, fpc=design._fpc or None,
                                    lonely_psu=design.lonely_psu)
    else:
        group_design = _group_design(design, groups)
    dom = domains(group_design, list(plan.by), active)
    check_domain_weights(group_design, dom, list(plan.by))
    k = plan.n_parts
    engine_design: Any
    if plan.moments:
        stratum = group_design._stages[0].stratum
        t = _totals(groups, plan, stratum, group_design._stages[0].n_strata, dom, k)
        engine_design = _Moments(groups, group_design, _score_coefficients(t, plan))
    elif group_design.totals_path:
        t = _totals(groups, plan, group_design.psu_codes, group_design.n_psu, dom, k)
        engine_design = group_design
    else:
        t = _totals(groups, plan, np.arange(len(groups)), len(groups), dom, k)
        engine_design = _GroupRows(group_design)
    result = finish(engine_design, t, dom)
    return groups, group_design, dom, result


def _check_some(groups: pd.DataFrame, plan: _Plan) -> None:
    if not groups[_ACTIVE].to_numpy(dtype=bool).any():
        raise EstimationError(
            f"no rows to estimate {', '.join(map(repr, plan.variables))}: every row misses "
            "a value of the variables or by columns"
        )
    if not (groups[_NONZERO].to_numpy() > 0).any():
        raise DesignError(f"weights column {plan.weights!r} sums to zero: at least one "
                          "weight must be positive")


class _Columns:
    """Replicate-weight columns seen by :func:`engine.finish`: the covariance of the
    replicate estimates summed by Dask (computed before, handed back here)."""

    is_replicate = False

    def __init__(self, vcov: np.ndarray) -> None:
        self._vcov = vcov

    def totals_vcov(self, totals: np.ndarray, domain: np.ndarray, n_domains: int
                    ) -> np.ndarray:
        return self._vcov


def _full_estimate(t: _Totals, plan: _Plan) -> np.ndarray:
    """(D, k) estimates from the totals, as :func:`engine.finish` computes them."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if plan.kind == "total":
            return (t.num + t.shift * t.weights[:, :, None]).sum(axis=0)
        assert t.den is not None  # means and ratios
        den = t.den if t.den.ndim == 3 else t.den[:, :, None]
        return t.shift + t.num.sum(axis=0) / den.sum(axis=0)


def _group_scores(t: _Totals, plan: _Plan) -> np.ndarray:
    """(G, D * k) linearised scores of a ratio (its residual totals), per group."""
    G, D, k = t.num.shape
    assert t.den is not None and t.cross is not None and t.den_sq is not None  # ratios
    den = t.den if t.den.ndim == 3 else t.den[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        den_total = den.sum(axis=0)
        delta = t.num.sum(axis=0) / den_total
        return ((t.num - delta * den) / den_total).reshape(G, D * k)


def _ratio_deff(result, t: _Totals, rep_resid: np.ndarray, full: np.ndarray, design
                ) -> np.ndarray:
    """R's deff of a ratio on a replicate design: the replicate variance of the
    residual totals over the SRS variance (as :func:`engine.ratio_engine`)."""
    D, k = t.sq.shape
    assert t.den is not None and t.cross is not None and t.den_sq is not None  # ratios
    den = t.den if t.den.ndim == 3 else t.den[:, :, None]
    W = t.weights.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        den_total = den.sum(axis=0)
        delta = t.num.sum(axis=0) / den_total
        spread = _spread(t.sq, 2 * delta * t.cross - delta**2 * t.den_sq)
        vsrs = spread / den_total**2 * (W / (t.n_nonzero - 1))[:, None]
        deff_var = np.diag(design._vcov_replicates(rep_resid, full))
        return deff_var.reshape(D, k) / vsrs


def _estimate_replicates(design: DaskReplicateDesign, plan: _Plan, na_rm: bool):
    """A replicate design: per-PSU factors times per-PSU totals (built from a design),
    or the replicate weights' own totals by domain (columns)."""
    groups = reduce_design(design, plan, na_rm)
    _check_some(groups, plan)
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    k = plan.n_parts
    if design.base is not None:
        rep = _group_design(design.base, groups).replicate(**design.options)
        dom = domains(rep, list(plan.by), active)
        check_domain_weights(rep, dom, list(plan.by))
        codes, n_groups = rep.score_groups()
        t = _totals(groups, plan, codes, n_groups, dom, k)
        result = finish(rep, t, dom)
        if plan.kind == "ratio":
            scores = _group_scores(t, plan)
            deff = _ratio_deff(result, t, rep._replicates_from_totals(scores),
                               scores.sum(axis=0), rep)
            result = RatioResult(result.estimate, result.vcov, deff, result.n,
                                 result.replicates)
        return groups, rep, dom, result
    options = design.options
    R = len(plan.replicate_weights)
    rep = ReplicateDesign(groups, weights=_W, replicate_weights=[_rw(r) for r in range(R)],
                          scale=options["scale"], rscales=options["rscales"],
                          mse=options["mse"], degf=options["degf"], method=options["method"])
    dom = domains(rep, list(plan.by), active)
    check_domain_weights(rep, dom, list(plan.by))
    t = _totals(groups, plan, np.zeros(len(groups), dtype=np.int64), 1, dom, k)
    estimate = _full_estimate(t, plan)
    D = dom.count
    inside = dom.codes >= 0
    bins = np.where(inside, dom.codes, D)

    def by_domain(name: str) -> np.ndarray:
        return np.bincount(bins, weights=groups[name].to_numpy(dtype=float),
                           minlength=D + 1)[:D]

    n_parts = k
    rw = np.stack([by_domain(_rwa(r)) for r in range(R)])  # (R, D)
    rn = np.stack([np.stack([by_domain(_rwn(r, j)) for j in range(n_parts)], axis=1)
                   for r in range(R)])  # (R, D, k)
    shift = np.asarray(plan.shift if plan.shift else np.zeros(k), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if plan.kind == "total":
            reps = rn + shift * rw[:, :, None]
        elif plan.kind == "ratio":
            rd = np.stack([np.stack([by_domain(_rwd(r, j)) for j in range(k)], axis=1)
                           for r in range(R)])
            reps = shift + rn / rd
        else:
            reps = shift + rn / rw[:, :, None]
    reps = reps.reshape(R, D * k)
    vcov = rep._vcov_replicates(reps, estimate.ravel())
    result = finish(_Columns(vcov), t, dom)
    result = RatioResult(result.estimate, result.vcov, result.deff, result.n, reps)
    if plan.kind == "ratio":
        assert t.den is not None  # a ratio
        den_total = t.den.sum(axis=0)
        delta = estimate - shift
        rep_resid = ((rn - delta * rd) / den_total).reshape(R, D * k)
        scores = _group_scores(t, plan)
        deff = _ratio_deff(result, t, rep_resid, scores.sum(axis=0), rep)
        result = RatioResult(result.estimate, result.vcov, deff, result.n, reps)
    return groups, rep, dom, result


def _gram_degf(groups: pd.DataFrame, plan: _Plan, rows: np.ndarray) -> int:
    """R's degf of replicate-weight columns on the groups ``rows``: the rank of the
    replicate weights (from their cross-products) minus one."""
    R = len(plan.replicate_weights)
    gram = np.zeros((R, R))
    for a, b in zip(*np.triu_indices(R), strict=True):
        value = float(groups.loc[rows, _gram(int(a), int(b))].sum())
        gram[a, b] = gram[b, a] = value
    if not gram.any():
        return -1
    # a matrix with the same cross-products as the rows' weights: its R factor (and so
    # R's pivoted QR rank) is theirs
    values, vectors = np.linalg.eigh(gram)
    matrix = np.sqrt(np.clip(values, 0, None))[:, None] * vectors.T
    return qr_rank(np.asarray(np.linalg.qr(matrix, mode="r"))) - 1


def _replicate_degf(design: DaskReplicateDesign, groups: pd.DataFrame, plan: _Plan, rep,
                    rows_codes: np.ndarray | None, n_domains: int) -> np.ndarray:
    """Degrees of freedom of a replicate design (by domain, when ``rows_codes``)."""
    if design.base is not None:
        if rows_codes is None:
            return np.array([rep.degf])
        return rep._domain_degf(rows_codes, n_domains)
    given = design.options["degf"]
    if rows_codes is None or (n_domains == 1 and (rows_codes >= 0).all()):
        whole = np.ones(len(groups), dtype=bool)
        return np.array([given if given is not None else _gram_degf(groups, plan, whole)])
    return np.array([_gram_degf(groups, plan, rows_codes == d) for d in range(n_domains)])


def _degf(groups: pd.DataFrame, plan: _Plan, group_design: SurveyDesign,
          rows: np.ndarray | None = None, n_domains: int = 1) -> Any:
    """Degrees of freedom as in memory: PSUs minus strata among rows with a non-zero
    weight (each row a PSU in a design without clusters)."""
    if not plan.moments:
        if rows is None:
            return group_design.degf
        return group_design._domain_degf(rows, n_domains)
    if rows is None:
        return int(_degf(groups, plan, group_design, np.zeros(len(groups), dtype=np.int64))[0])
    first = group_design._stages[0]
    nonzero = groups[_NONZERO].to_numpy(dtype=float)
    inside = rows >= 0
    n_psu = np.bincount(rows[inside], weights=nonzero[inside], minlength=n_domains)
    present = np.zeros((first.n_strata, n_domains), dtype=bool)
    used = inside & (nonzero > 0)
    present[first.stratum[used], rows[used]] = True
    return (n_psu - present.sum(axis=0)).astype(int)


def estimate(design: Any, kind: str, variables, denominators=None, *, by=None,
             na_rm: bool = False, level: float = 0.95) -> pd.DataFrame:
    """``mean``, ``total`` or ``ratio`` of a design on a Dask DataFrame: the table the
    in-memory estimator returns (called by :func:`perception.mean` and the others).

    Parameters
    ----------
    design : DaskSurveyDesign
        The design.
    kind : {"mean", "total", "ratio"}
        The estimator.
    variables : str or sequence of str
        Numeric column(s) (the numerators of a ratio).
    denominators : str or sequence of str, optional
        The denominators of a ratio: one, or one per numerator.
    by : str or sequence of str, optional
        Domain column(s).
    na_rm : bool
        Leave out rows missing a value of the variables or by columns.
    level : float
        Confidence level.

    Returns
    -------
    DataFrame
        The in-memory estimator's table.

    Examples
    --------
    >>> estimate(d, "mean", ["q1", "q2"], by="region")                 # doctest: +SKIP
    """
    intervals.check_level(level)
    names = column_names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable to estimate")
    den_names = column_names(denominators, "denominator") if kind == "ratio" else []
    if kind == "ratio":
        if len(den_names) == 1 and len(names) > 1:
            den_names = den_names * len(names)
        if len(den_names) != len(names):
            raise EstimationError(
                f"{len(names)} numerator(s) but {len(den_names)} denominator(s): give one "
                "denominator, or one per numerator"
            )
    by_names = column_names(by, "by")
    plan = _with_shift(design, _make_plan(design, kind, names, den_names, by_names))
    groups, group_design, dom, result = _estimate(design, plan, na_rm)
    if kind == "ratio":
        labels = [{"variable": f"{a}/{b}"} for a, b in zip(names, den_names, strict=True)]
    else:
        labels = [{"variable": v} for v in names]
    df = None
    if plan.moments:
        df = np.full(dom.count, _degf(groups, plan, group_design))
    elif isinstance(design, DaskReplicateDesign):
        df = np.full(dom.count, _replicate_degf(design, groups, plan, group_design, None, 1)[0])
    return assemble(group_design, dom, labels, result.estimate, result.vcov, result.deff,
                    result.n, level, df=df)


def proportion(design: Any, variables, *, by=None,
               method: intervals.PropMethod = "logit",
               na_rm: bool = False, level: float = 0.95) -> pd.DataFrame:
    """Proportions of each level of categorical variable(s) of a design on a Dask
    DataFrame: the table of :func:`perception.proportion`.

    Parameters
    ----------
    design : DaskSurveyDesign
        The design.
    variables : str or sequence of str
        Categorical column(s).
    by : str or sequence of str, optional
        Domain column(s).
    method : {"logit", "beta", "mean", "xlogit", "asin"}
        The interval of each level.
    na_rm : bool
        Leave out rows missing a value of the variables or by columns.
    level : float
        Confidence level.

    Returns
    -------
    DataFrame
        The in-memory table.

    Examples
    --------
    >>> proportion(d, "trust_police", by="region")                     # doctest: +SKIP
    """
    intervals.check_level(level)
    if method not in intervals.PROP_METHODS:
        raise EstimationError(
            f"method={method!r} is not a proportion interval; choose one of "
            f"{', '.join(intervals.PROP_METHODS)}"
        )
    names = column_names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable")
    by_names = column_names(by, "by")
    plan = _make_plan(design, "proportion", names, [], by_names)
    levels = _levels(design.data, names)
    plan = _Plan(**{**plan.__dict__, "levels": levels})
    groups, group_design, dom, result = _estimate(design, plan, na_rm)
    labels = [{"variable": name, "category": value}
              for name, values in zip(names, levels, strict=True) for value in values]
    k = len(labels)
    se = np.sqrt(np.clip(np.diag(result.vcov), 0, None)).reshape(dom.count, k)
    rows_codes = _domain_rows(groups, by_names, dom)
    if isinstance(design, DaskReplicateDesign):
        df = _replicate_degf(design, groups, plan, group_design, rows_codes, dom.count)
    else:
        df = _degf(groups, plan, group_design, rows_codes, dom.count)
    df = np.broadcast_to(np.asarray(df), (dom.count,))
    counts = groups[_ROWS].to_numpy(dtype=float)
    inside = rows_codes >= 0
    n_design = np.bincount(rows_codes[inside], weights=counts[inside], minlength=dom.count)
    if method == "logit" and isinstance(design, DaskReplicateDesign):
        low, high = replicate_logit_interval(group_design, None, None, dom, result.estimate,
                                             df, level, result.replicates)
    else:
        low, high = intervals.proportion_interval(result.estimate, se, df[:, None],
                                                  n_design[:, None], method, level)
    table = assemble(group_design, dom, labels, result.estimate, result.vcov, result.deff,
                     result.n, level, low, high, se, df=df)
    table.attrs["method"] = method
    return table


def _domain_index(frame: pd.DataFrame, by: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[by])


def _domain_rows(groups: pd.DataFrame, by: list[str], dom: Domains) -> np.ndarray:
    """Domain code of every group whatever its missing variables (by present)."""
    if not by:
        return np.zeros(len(groups), dtype=np.int64)
    present = ~groups[by].isna().any(axis=1).to_numpy()
    if len(by) == 1:
        codes = pd.Index(dom.frame[by[0]]).get_indexer(groups[by[0]])
    else:
        codes = pd.MultiIndex.from_frame(dom.frame).get_indexer(
            pd.MultiIndex.from_frame(groups[by]))
    return np.where(present, codes, -1).astype(np.int64)


# ------------------------------------------------------------------ quantiles --
#: bins of the first pass's value grid (from the first rows' distinct values)
GRID_BINS = 512
_VAR, _BIN, _VALUE = f"{_PREFIX}var", f"{_PREFIX}bin", f"{_PREFIX}value"


def _grid(ddf: Any, names: list[str]) -> list[np.ndarray]:
    """Bin edges of each variable: quantiles of the first rows' values (bin i holds
    ``edges[i-1] < x <= edges[i]``, the first and last bins open)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head = ddf[names].head(PILOT_ROWS, npartitions=1)
    edges = []
    for name in names:
        x = _values(head, name, "variables")
        x = np.unique(x[np.isfinite(x)])
        if x.size > GRID_BINS:
            x = np.unique(np.quantile(x, np.linspace(0, 1, GRID_BINS)))
        edges.append(x)
    return edges


def _cdf_partition(frame: pd.DataFrame, plan: _Plan, edges: list[np.ndarray],
                   windows: Any) -> tuple[pd.DataFrame, list, dict[str, Any]]:
    """One partition's weights (rows with a non-zero weight, complete) by (by values,
    variable, bin of the grid) -- or, with ``windows``, by (by values, variable, value)
    for the values inside each domain's windows of bins."""
    w = np.ones(len(frame)) if plan.weights is None else _values(frame, plan.weights,
                                                                  "weights")
    found = _problems(frame, plan, w)
    missing = _missing(frame, plan)
    info = {"gaps": {name: np.flatnonzero(mask)[: _SHOWN_ROWS + 1].tolist()
                     for name, mask in missing.items() if mask.any()},
            "counts": {name: int(mask.sum()) for name, mask in missing.items() if mask.any()},
            "length": len(frame)}
    active = np.ones(len(frame), dtype=bool)
    for mask in missing.values():
        active &= ~mask
    keep = active & np.isfinite(w) & (w != 0)
    if windows is not None and plan.by:
        codes = _domain_index(windows[0], list(plan.by)).get_indexer(
            pd.MultiIndex.from_frame(frame[list(plan.by)]))
    else:
        codes = np.zeros(len(frame), dtype=np.int64)
    tables = []
    for j, name in enumerate(plan.variables):
        x = _values(frame, name, "variables")
        rows = keep.copy()
        if windows is not None:
            lo, hi = windows[1][:, j], windows[2][:, j]  # (domains, m) bounds
            safe = np.maximum(codes, 0)
            inside = np.zeros(len(frame), dtype=bool)
            for m in range(lo.shape[1]):
                inside |= (x > lo[safe, m]) & (x <= hi[safe, m])
            rows &= inside & (codes >= 0)
        part = frame.loc[rows, list(plan.by)].reset_index(drop=True)
        part[_VAR] = j
        if windows is None:
            part[_BIN] = np.searchsorted(edges[j], x[rows], side="left")
        else:
            part[_VALUE] = x[rows]
        part[_W] = w[rows]
        part[_ROWS] = 1.0
        tables.append(part)
    table = pd.concat(tables, ignore_index=True)
    keys = [*plan.by, _VAR, _BIN if windows is None else _VALUE]
    out = table.groupby(keys, sort=False, dropna=False, observed=True)[[_W, _ROWS]].sum()
    return out.reset_index(), found, info


def _cdf_pass(design: Any, plan: _Plan, edges: list[np.ndarray], windows: Any,
              na_rm: bool) -> pd.DataFrame:
    dask = _require_dask()
    selected = design.data[plan.columns]
    delayed = dask.delayed(_cdf_partition)
    results = dask.compute(*[delayed(part, plan, edges, windows)
                             for part in selected.to_delayed()])
    found, missing = _globalise(list(results))
    _raise_found(found, missing, plan, na_rm)
    keys = [*plan.by, _VAR, _BIN if windows is None else _VALUE]
    joined = pd.concat([table for table, _, _ in results], ignore_index=True)
    return joined.groupby(keys, sort=True, dropna=False, observed=True)[[_W, _ROWS]].sum(
    ).reset_index()


def _domain_keys(table: pd.DataFrame, by: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The domains (by values) present in ``table`` and each row's domain."""
    if not by:
        return pd.DataFrame(index=range(1)), np.zeros(len(table), dtype=np.int64)
    frame = table[by].drop_duplicates().reset_index(drop=True)
    codes = _domain_index(frame, by).get_indexer(pd.MultiIndex.from_frame(table[by]))
    return frame, codes


@dataclass
class _Window:
    """Where the quantile at one probability lies: the weight below the window, the
    window's bins, the whole weight."""

    base: float
    lo: float
    hi: float
    total: float
    first_bin: bool


def _locate(hist: np.ndarray, edges: np.ndarray, total: float, p: float) -> _Window:
    """The first bin holding weight whose cumulative weight reaches ``p`` total, with
    the bins holding weight just before and after it (the next value may be needed)."""
    cum = np.cumsum(hist.astype(np.longdouble)).astype(float)
    full = np.flatnonzero(hist > 0)
    if full.size == 0:
        return _Window(0.0, np.inf, -np.inf, total, True)
    i = min(int(np.searchsorted(cum[full], p * total, side="left")), full.size - 1)
    start, stop = full[max(i - 1, 0)], full[min(i + 1, full.size - 1)]
    bounds = np.concatenate([[-np.inf], edges, [np.inf]])
    base = float(cum[start - 1]) if start > 0 else 0.0
    return _Window(base, float(bounds[start]), float(bounds[stop + 1]), total,
                   bool(start == full[0]))


def _quantile_in(window: _Window, values: pd.DataFrame, p: float) -> float:
    """R's ``qrule_math`` on the window's values (their weights and row counts), as
    ``quantiles._CDF.quantile`` on the rows."""
    if not np.isfinite(p) or window.total == 0 or values.empty:
        return float("nan")
    v = values[_VALUE].to_numpy(dtype=float)
    cumw = window.base + np.cumsum(values[_W].to_numpy(dtype=float).astype(np.longdouble)
                                   ).astype(float)
    target = p * window.total
    hits = np.flatnonzero(cumw <= target)
    if hits.size == 0:
        if window.first_bin:
            # R's qs: no cumulative weight <= p W gives the second row's value
            rows = values[_ROWS].to_numpy()
            return float(v[0] if rows[0] >= 2 or v.size == 1 else v[1])
        return float(v[0])
    pos = int(hits[-1])
    if p - cumw[pos] / window.total == 0:
        return float(v[pos])
    return float(v[min(pos + 1, v.size - 1)])


def _quantiles_at(design: Any, plan: _Plan, edges: list[np.ndarray], hist: pd.DataFrame,
                  dom_frame: pd.DataFrame, probs: np.ndarray, na_rm: bool) -> np.ndarray:
    """(D, k, P) quantiles at the probabilities ``probs`` (D, k, P) of each domain of
    ``dom_frame``: the windows of the grid that hold them, then their exact values."""
    by = list(plan.by)
    D, k, P = probs.shape
    hist_frame, hist_codes = _domain_keys(hist, by)
    lookup = (np.arange(D) if not by else
              _domain_index(hist_frame, by).get_indexer(_domain_index(dom_frame, by)))
    located: dict[tuple, _Window] = {}
    lo = np.full((D, k, P), np.nan)
    hi = np.full((D, k, P), np.nan)
    var = hist[_VAR].to_numpy()
    for d in range(D):
        for j in range(k):
            rows = (hist_codes == lookup[d]) & (var == j)
            weights = np.zeros(len(edges[j]) + 1)
            np.add.at(weights, hist.loc[rows, _BIN].to_numpy(dtype=np.int64),
                      hist.loc[rows, _W].to_numpy(dtype=float))
            total = float(np.sum(hist.loc[rows, _W].to_numpy(dtype=float).astype(
                np.longdouble)))
            for q in range(P):
                if not np.isfinite(probs[d, j, q]):
                    continue
                window = _locate(weights, edges[j], total, probs[d, j, q])
                located[d, j, q] = window
                lo[d, j, q], hi[d, j, q] = window.lo, window.hi
    out = np.full((D, k, P), np.nan)
    if not located:
        return out
    windows = (dom_frame, np.nan_to_num(lo.reshape(D, k, P), nan=np.inf),
               np.nan_to_num(hi.reshape(D, k, P), nan=-np.inf))
    exact = _cdf_pass(design, plan, edges, windows, na_rm)
    _, codes = _domain_keys(exact, by)
    if by:
        codes = _domain_index(dom_frame, by).get_indexer(pd.MultiIndex.from_frame(exact[by]))
    var = exact[_VAR].to_numpy()
    value = exact[_VALUE].to_numpy(dtype=float)
    for (d, j, q), window in located.items():
        rows = (codes == d) & (var == j) & (value > window.lo) & (value <= window.hi)
        values = exact.loc[rows].sort_values(_VALUE)
        out[d, j, q] = _quantile_in(window, values, probs[d, j, q])
    return out


def quantile(design: Any, variables, quantiles=(0.5,), *, by=None, na_rm: bool = False,
             level: float = 0.95, interval_type: str = "mean") -> pd.DataFrame:
    """Quantiles of a design on a Dask DataFrame with Woodruff intervals: the table of
    :func:`perception.quantile`.

    The weighted CDF is first summed on a grid of values (bins from the first rows),
    then the values inside the bins around each quantile are read exactly; Woodruff's
    interval needs the design variance of the share at or below each quantile (a
    third pass) and the quantiles at its bounds (a fourth).

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design.
    variables : str or sequence of str
        Numeric column(s).
    quantiles : float or sequence of float
        Probabilities between 0 and 1.
    by : str or sequence of str, optional
        Domain column(s).
    na_rm : bool
        Leave out rows missing a value of the variables or by columns.
    level : float
        Confidence level.
    interval_type : {"mean", "beta", "xlogit", "asin"}
        The interval for F inverted by Woodruff's method.

    Returns
    -------
    DataFrame
        The in-memory table.

    Examples
    --------
    >>> quantile(d, "income", [0.25, 0.5, 0.75], by="region")         # doctest: +SKIP
    """
    intervals.check_level(level)
    if interval_type == "mixed":
        interval_type = "mean"
    if interval_type not in ("mean", "beta", "xlogit", "asin"):
        raise EstimationError(
            f"interval_type={interval_type!r} is not available on a Dask DataFrame; choose "
            "one of 'mean', 'beta', 'xlogit', 'asin' (Woodruff), or compute the data in "
            "memory for the score and replicate-quantile intervals"
        )
    names = column_names(variables, "variables")
    if not names:
        raise EstimationError("give at least one variable")
    probs = [float(q) for q in np.atleast_1d(quantiles)]
    bad = [q for q in probs if not 0 <= q <= 1]
    if bad or not probs:
        raise EstimationError(f"quantiles must be probabilities between 0 and 1, got "
                              f"{bad or probs}")
    by_names = column_names(by, "by")
    plan = _make_plan(design, "mean", names, [], by_names)
    edges = _grid(design.data, names)
    hist = _cdf_pass(design, plan, edges, None, na_rm)
    k, P = len(names), len(probs)
    hist_frame, _ = _domain_keys(hist, by_names)
    if hist.empty:
        raise EstimationError(f"no rows to estimate {', '.join(map(repr, names))}: every "
                              "row misses a value of the variables or by columns")
    Dh = len(hist_frame)
    target = np.broadcast_to(np.asarray(probs), (Dh, k, P)).copy()
    qhat_h = _quantiles_at(design, plan, edges, hist, hist_frame, target, na_rm)
    # the share at or below each estimate, with the design's variance
    below = _Plan(**{**plan.__dict__, "kind": "below", "shift": (),
                     "thresholds": (hist_frame, qhat_h)})
    groups, group_design, dom, result = _estimate(design, below, na_rm)
    D = dom.count
    order = (np.arange(D) if not by_names else
             _domain_index(hist_frame, by_names).get_indexer(_domain_index(dom.frame,
                                                                           by_names)))
    qhat = qhat_h[order]
    if isinstance(design, DaskReplicateDesign):
        df = _replicate_degf(design, groups, below, group_design, dom.codes, D)
    else:
        df = np.asarray(_degf(groups, below, group_design, dom.codes, D))
    df = np.broadcast_to(df, (D,)).astype(float)
    n_design = result.n.astype(float)
    se_p = np.sqrt(np.clip(np.diag(result.vcov), 0, None)).reshape(D, k * P)
    if interval_type == "mean":
        p_low, p_high = intervals.t_interval(result.estimate, se_p, df[:, None], level)
    else:
        p_low, p_high = intervals.proportion_interval(
            result.estimate, se_p, df[:, None], n_design[:, None],
            interval_type, level)  # type: ignore[arg-type]
    p_low = np.where(p_low >= 0, p_low, np.nan).reshape(D, k, P)
    p_high = np.where(p_high <= 1, p_high, np.nan).reshape(D, k, P)
    bounds = _quantiles_at(design, plan, edges, hist, dom.frame,
                           np.concatenate([p_low, p_high], axis=2), na_rm)
    low, high = bounds[:, :, :P], bounds[:, :, P:]
    crit = intervals.t_quantile(level, df)
    with np.errstate(invalid="ignore"):
        se = (high - low) / (2 * crit[:, None, None])
    labels = [{"variable": v, "quantile": p} for v in names for p in probs]
    table = assemble(group_design, dom, labels, qhat.reshape(D, k * P), None,
                     np.full((D, k * P), np.nan), result.n, level,
                     low.reshape(D, k * P), high.reshape(D, k * P), se.reshape(D, k * P),
                     df=df.astype(int) if np.all(np.isfinite(df)) else df)
    table.attrs["interval_type"] = interval_type
    return table
