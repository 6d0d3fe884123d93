"""Design-based GLMs (``pc.glm``) of designs on a Dask DataFrame: the in-memory fit
(:mod:`perception.survey.fitting`) with its sums over rows made on the partitions.

Every quantity of the in-memory fit is a sum over rows, so each step is one pass over
the partitions (on the workers) and a small combination on the client:

1. a first pass sums the weights by group of the design columns (as the estimators'
   reduction, :mod:`perception.survey.dask_reduce`), reports missing values with their
   row numbers in the whole Dask DataFrame, and collects the levels of the categorical
   columns among the complete rows, so every partition builds the same model matrix
   (the levels the in-memory ``patsy`` call would find, in its order);
2. each iteration of R's ``glm.fit`` is one pass: every partition gives the deviance at
   the current coefficients and the triangular factor of its rows' weighted least
   squares (``[sqrt(w) X | sqrt(w) z]``); the factors of the partitions are stacked and
   factored again (a tall-skinny QR), so the solution is the QR solution of the
   in-memory fit, with its rank check, step halving and stopping rule;
3. a last pass sums the estimating functions ``U_i`` by group of the design columns;
   the in-memory design built on the groups (one row per group) turns their per-PSU
   totals into the sandwich, so strata, multistage fpc and lonely PSUs are handled by
   the in-memory variance code. A design without clusters sums the cross-products
   ``U_i U_i'`` per stratum instead (the rows' spread within each stratum).

Replicate designs refit the model per replicate as R's ``svyglm.svyrep.design`` does,
from the full-sample coefficients: all replicates iterate in the same passes (each
stops at its own convergence), their weights the full-sample weights times the
replicate factor of the row's PSU, or the replicate-weight columns.

What comes back to the client is O(groups + replicates * p^2) per pass, never O(rows).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from ..errors import DesignError, EstimationError, format_rows
from .dask_design import DaskReplicateDesign, DaskSurveyDesign
from .dask_reduce import (
    _ACTIVE,
    _IN,
    _NONZERO,
    _ONE,
    _ROWS,
    _W,
    _combine,
    _globalise,
    _moment,
    _Plan,
    _raise_found,
    _require_dask,
    _rw,
    _rwa,
    reduce_partition,
    with_empty_group,
)
from .design import ReplicateDesign, SurveyDesign
from .families import Family
from .families import family as make_family
from .fitting import EPSILON, MAXIT, WLS, check_rank
from .formulas import (
    check_formula,
    dmatrices,
    formula_names,
    model_columns,
    patsy_ready,
)

#: the stateful transforms of patsy, which learn from all rows at once
_STATEFUL = ("center", "standardize", "scale", "bs", "cr", "cc", "te")
#: complete rows each partition sends for the client's dry run of the formula
_SAMPLE_ROWS = 5


# ------------------------------------------------------------------ the model --
@dataclass(frozen=True)
class _Spec:
    """What every partition needs to build its rows of the model (sent to the workers)."""

    formula: str
    family: str
    link: str
    columns: tuple[str, ...]  # the model's columns (offset and trials included)
    levels: dict[str, tuple] = field(default_factory=dict)  # categorical columns
    weights: str | None = None
    design: tuple[str, ...] = ()
    offset: str | None = None
    trials: str | None = None
    terms: tuple[str, ...] = ()
    outcome: str = ""
    #: replicate weights: "columns" (replicate_weights), "factors" (per-PSU factors)
    replicates: str = ""
    replicate_weights: tuple[str, ...] = ()
    #: a labelled design's column of the rows it keeps (dask_labelling.py), else None
    usable: str | None = None
    psu_keys: Any = None  # DataFrame: design column values -> PSU code
    factors: Any = None  # (P, R) replicate factors

    #: an ordinal outcome: its values among the rows of the fit (numeric outcomes)
    ordinal: tuple = ()
    #: a GLM's outcome from patsy's outcome columns (``models.outcome_values``)
    reader: Any = None

    @property
    def fam(self) -> Family:
        return make_family(self.family, self.link)

    @property
    def read(self) -> list[str]:
        names = [*self.columns, *self.design, *self.replicate_weights,
                 *([self.weights] if self.weights else [])]
        return list(dict.fromkeys(names))


@dataclass
class _Rows:
    """One partition's rows in the fit (complete in every model column)."""

    x: np.ndarray
    y: np.ndarray  # the outcome (successes over trials with trials)
    w: np.ndarray  # design weights
    offset: np.ndarray
    trials: np.ndarray | None
    frame: pd.DataFrame  # the complete rows (design and replicate columns)
    positions: np.ndarray  # their row numbers in the partition


def _as_categories(frame: pd.DataFrame, levels: dict[str, tuple]) -> pd.DataFrame:
    """The categorical columns with the levels of the whole data (in the order the
    in-memory formula would use), so every partition codes them alike."""
    changes = {name: pd.Categorical(frame[name].to_numpy(dtype=object), categories=list(values))
               for name, values in levels.items()}
    return frame.assign(**changes) if changes else frame


def _complete(frame: pd.DataFrame, columns: tuple[str, ...], usable: str | None = None
              ) -> np.ndarray:
    """The rows in the fit: complete in ``columns``, and kept by a labelled design."""
    active = (np.ones(len(frame), dtype=bool) if usable is None
              else frame[usable].to_numpy(dtype=bool).copy())
    for name in columns:
        active &= ~frame[name].isna().to_numpy()
    return active


def _numbers(frame: pd.DataFrame, name: str, argument: str, start: int) -> np.ndarray:
    values = pd.to_numeric(frame[name], errors="coerce")
    bad = values.isna().to_numpy() & frame[name].notna().to_numpy()
    if bad.any():
        raise EstimationError(
            f"column {name!r} ({argument}) is not numeric: rows "
            f"{format_rows((start + np.flatnonzero(bad)).tolist())} (row numbers in the "
            "whole Dask DataFrame)"
        )
    return values.to_numpy(dtype=float)


def _model_rows(frame: pd.DataFrame, spec: _Spec, start: int) -> _Rows:
    """The model matrix and outcome of the partition's complete rows (``start``: the
    partition's first row number in the whole data, for messages)."""
    active = _complete(frame, spec.columns, spec.usable)
    positions = np.flatnonzero(active)
    rows = frame.iloc[positions].reset_index(drop=True)
    p = len(spec.terms)
    w = (np.ones(len(rows)) if spec.weights is None
         else pd.to_numeric(rows[spec.weights]).to_numpy(dtype=float))
    if not len(rows):
        return _Rows(np.zeros((0, p)), np.zeros(0), w, np.zeros(0),
                     None if spec.trials is None else np.zeros(0), rows, positions)
    ready = _as_categories(patsy_ready(rows, list(spec.columns)), spec.levels)
    y_frame, x_frame = dmatrices(spec.formula, ready, na_drop=False)
    if tuple(x_frame.columns) != spec.terms:  # pragma: no cover - the levels are global
        raise EstimationError(
            f"the model matrix of {spec.formula!r} differs between partitions: "
            f"{list(x_frame.columns)} and {list(spec.terms)}"
        )
    if spec.family == "ordinal":
        y = _ordinal_codes(y_frame, spec)
    else:
        y, _ = spec.reader(y_frame)
    x = x_frame.to_numpy(dtype=float)
    bad = ~np.isfinite(x).all(axis=1) | np.isnan(y)
    if bad.any():
        raise EstimationError(
            f"the formula {spec.formula!r} gives a missing or infinite value in rows "
            f"{format_rows((start + positions[bad]).tolist())} (row numbers in the whole "
            "Dask DataFrame), whose columns are complete: compute the variable in the "
            "data first and mask those values, then pass na_rm=True"
        )
    if not np.all(np.isfinite(y)):
        raise EstimationError(f"the outcome {spec.outcome!r} has infinite values")
    if spec.family == "ordinal":
        return _Rows(x, y, w, np.zeros(len(rows)), None, rows, positions)
    offset = (np.zeros(len(rows)) if spec.offset is None
              else _numbers(rows, spec.offset, "offset", start))
    trials = None
    if spec.trials is not None:
        trials = _numbers(rows, spec.trials, "trials", start)
        negative = trials < 0
        if negative.any():
            raise EstimationError(
                f"trials {spec.trials!r} are negative in rows "
                f"{format_rows((start + positions[negative]).tolist())}"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(trials > 0, y / trials, 0.0)
    _check_outcome(y, spec, trials, start + positions)
    return _Rows(x, y, w, offset, trials, rows, positions)


def _ordinal_codes(y_frame: pd.DataFrame, spec: _Spec) -> np.ndarray:
    """An ordinal outcome's category codes (the in-memory ``_ordinal_outcome``): a
    numeric outcome's values coded by the values of the whole fit (``spec.ordinal``;
    the raw values while they are collected), a categorical's level positions."""
    if y_frame.shape[1] == 1:
        values = y_frame.iloc[:, 0].to_numpy(dtype=float)
    else:
        values = np.argmax(y_frame.to_numpy(dtype=float), axis=1).astype(float)
    if not spec.ordinal:
        return values
    return np.searchsorted(np.asarray(spec.ordinal, dtype=float), values).astype(float)


def _check_outcome(y: np.ndarray, spec: _Spec, trials, labels: np.ndarray) -> None:
    """The in-memory checks of the outcome (``fitting._outcome_checks``), row numbers
    of the whole data."""
    if spec.family == "binomial":
        bad = (y < 0) | (y > 1)
        if bad.any():
            rows_bad = format_rows(labels[bad].tolist())
            if trials is None:
                shown = ", ".join(f"{v:g}" for v in sorted(set(y[bad]))[:5])
                raise EstimationError(
                    f"family='binomial' needs an outcome between 0 and 1, but "
                    f"{spec.outcome!r} takes the value(s) {shown} in rows {rows_bad} (row "
                    "numbers in the whole Dask DataFrame). Recode it to 0/1, for example "
                    f"I({spec.outcome} == 1) for a yes/no item coded 1/2, or give the "
                    "number of trials (trials=) for counts of successes."
                )
            raise EstimationError(
                f"the successes {spec.outcome!r} are negative or exceed the trials in rows "
                f"{rows_bad}"
            )
    if spec.family in ("poisson", "quasipoisson") and np.any(y < 0):
        raise EstimationError(
            f"family={spec.family!r} needs counts or rates of 0 or more, but "
            f"{spec.outcome!r} is negative in rows {format_rows(labels[y < 0].tolist())} "
            "(row numbers in the whole Dask DataFrame)"
        )


def _priors(rows: _Rows, spec: _Spec, which: str, scales: np.ndarray) -> np.ndarray:
    """(K, n) prior weights of the fits: the design weights over their mean (``main``)
    or each replicate's weights over their sum, times the trials."""
    if which == "main":
        base = (rows.w / scales[0])[None, :]
        return base if rows.trials is None else base * rows.trials[None, :]
    if spec.replicates == "columns":
        reps = np.stack([pd.to_numeric(rows.frame[name]).to_numpy(dtype=float)
                         for name in spec.replicate_weights])
    else:
        codes = _psu_codes(rows.frame, spec)
        reps = rows.w[None, :] * spec.factors[codes].T
    if rows.trials is None:
        return reps / scales[:, None]
    return reps * rows.trials[None, :] / scales[:, None]


def _psu_codes(frame: pd.DataFrame, spec: _Spec) -> np.ndarray:
    keys = spec.psu_keys
    names = [c for c in keys.columns if c != "__pc_psu"]
    index = pd.MultiIndex.from_frame(keys[names])
    codes = index.get_indexer(pd.MultiIndex.from_frame(frame[names]))
    return keys["__pc_psu"].to_numpy()[codes]


def _triangle(xw: np.ndarray, zw: np.ndarray) -> np.ndarray:
    """The (p+1, p+1) triangular factor of ``[xw | zw]`` (zero rows when none)."""
    p = xw.shape[1]
    stacked = np.column_stack([xw, zw])
    if stacked.shape[0] < p + 1:
        stacked = np.vstack([stacked, np.zeros((p + 1 - stacked.shape[0], p + 1))])
    return linalg.qr(stacked, mode="r", check_finite=False)[0][: p + 1]


def _eta(rows: _Rows, fam: Family, y: np.ndarray, prior: np.ndarray, point) -> np.ndarray:
    if point is None:  # R's mustart
        return fam.linkfun(fam.mustart(y, prior, rows.trials))
    return rows.x @ point + rows.offset


def _fit_y(rows: _Rows, fam: Family, prior: np.ndarray) -> np.ndarray:
    return np.where(prior == 0, 0.0, rows.y) if fam.name == "binomial" else rows.y


def _working(fam: Family, rows: _Rows, y, prior, eta, mu) -> tuple[np.ndarray, np.ndarray]:
    """The working response and weights of ``glm.fit`` at ``eta`` (0 where not good)."""
    mu_eta = fam.mu_eta(eta)
    good = (prior > 0) & (mu_eta != 0)
    n = len(y)
    z = np.zeros(n)
    z[good] = (eta - rows.offset)[good] + (y - mu)[good] / mu_eta[good]
    wt = np.zeros(n)
    wt[good] = prior[good] * mu_eta[good] ** 2 / fam.variance(mu)[good]
    return z, wt


def _irls_partition(frame: pd.DataFrame, spec: _Spec, start: int, which: str,
                    scales: np.ndarray, points: dict[int, Any]) -> dict[int, tuple]:
    """For each fit ``k`` of ``points``: the deviance and validity of the mean at its
    point, and the triangular factor of the weighted least squares there."""
    rows = _model_rows(frame, spec, start)
    fam = spec.fam
    priors = _priors(rows, spec, which, scales)
    p = len(spec.terms)
    out: dict[int, tuple] = {}
    for k, point in points.items():
        prior = priors[k]
        y = _fit_y(rows, fam, prior)
        eta = _eta(rows, fam, y, prior, point)
        mu = fam.linkinv(eta)
        valid = fam.valid_mu(mu[prior > 0])
        dev = float(np.sum(fam.dev_resids(y, mu, prior)))
        z, wt = _working(fam, rows, y, prior, eta, mu)
        root = np.sqrt(wt)
        xw = rows.x * root[:, None]
        out[k] = (dev, valid, _triangle(xw, z * root) if len(y) else np.zeros((p + 1, p + 1)),
                  np.einsum("ij,ij->j", xw, xw))
    return out


def _solve(triangles: list[np.ndarray], normsq: np.ndarray, p: int) -> WLS:
    """The weighted least squares from the partitions' triangular factors: one more QR
    of their stack (R's ``glm.fit`` solution by the QR decomposition)."""
    r_aug = linalg.qr(np.vstack(triangles), mode="r", check_finite=False)[0][: p + 1]
    r, qz = r_aug[:p, :p], r_aug[:p, p]
    norms = np.sqrt(normsq)
    solution = WLS(np.full(p, np.nan), np.full((p, p), np.nan), np.abs(np.diag(r)), norms)
    if solution.aliased().size:
        return solution
    r_inv = linalg.solve_triangular(r, np.eye(p), check_finite=False)
    return WLS(r_inv @ qz, r_inv @ r_inv.T, solution.r_diag, norms)


@dataclass
class _Fit:
    """The state of one IRLS (the full sample, or a replicate)."""

    point: Any  # where the next pass evaluates (None: R's mustart)
    stage: str = "init"
    coefold: Any = None
    devold: float = np.nan
    dev: float = np.nan
    iteration: int = 0
    halvings: int = 0
    converged: bool = False
    done: bool = False
    wls_point: Any = None  # where the weighted least squares of the last step was built
    solution: WLS | None = None
    failed: str = ""


def _step(state: _Fit, dev: float, valid: bool, solution_here, linear: bool) -> None:
    """One pass's worth of R's ``glm.fit`` for one fit (see :func:`fitting.irls`)."""
    if state.stage == "init":
        if not valid:
            state.failed = "cannot find valid starting values for the model: give start="
            state.done = True
            return
        state.devold, state.coefold = dev, state.point
        solution = solution_here()
        if solution.aliased().size:
            state.failed, state.solution, state.done = "aliased", solution, True
            return
        state.wls_point, state.solution = state.point, solution
        state.point, state.iteration, state.halvings, state.stage = solution.coef, 1, 0, "check"
        if linear:
            state.converged, state.done = True, True
        return
    if (not np.isfinite(dev) or not valid) and state.halvings < MAXIT:
        if state.coefold is None:
            state.failed = ("no valid set of coefficients has been found (the fit left the "
                            "range of the mean): give starting values")
            state.done = True
            return
        state.point = (state.point + state.coefold) / 2
        state.halvings += 1
        return
    state.dev = dev
    if abs(dev - state.devold) / (abs(dev) + 0.1) < EPSILON:
        state.converged, state.done = True, True
        return
    if state.iteration >= MAXIT:
        state.done = True
        return
    state.devold, state.coefold = dev, state.point
    solution = solution_here()
    state.wls_point, state.solution = state.point, solution
    state.point, state.iteration, state.halvings = solution.coef, state.iteration + 1, 0


def _guarded(function, part: pd.DataFrame, *args) -> Any:
    """``function`` on a partition, its error (bad input) returned to the client."""
    try:
        return function(part, *args)
    except (EstimationError, DesignError) as error:
        return _Failure(error)


@dataclass(frozen=True)
class _Failure:
    error: Exception


def _map(ddf: Any, function, *args) -> list:
    """``function(partition, spec, start, *rest)`` on every partition (on the
    workers); bad input raises the error of the first partition that has some, so
    the rows it names are the first ones, whatever the order the workers finish in."""
    dask = _require_dask()
    lengths = _lengths_of(ddf)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    delayed = dask.delayed(_guarded)
    results = list(dask.compute(*[delayed(function, part, args[0], int(s), *args[1:])
                                  for part, s in zip(ddf.to_delayed(), starts, strict=True)]))
    for result in results:
        if isinstance(result, _Failure):
            raise result.error
    return results


def _lengths_of(ddf: Any) -> list[int]:
    lengths = getattr(ddf, "_pc_lengths", None)
    if lengths is None:  # pragma: no cover - set by the first pass
        raise RuntimeError("the partitions' lengths are not known")
    return lengths


def _run(ddf: Any, spec: _Spec, which: str, scales: np.ndarray, states: list[_Fit],
         linear: bool) -> None:
    """Iterate the fits ``states`` together, one pass per iteration."""
    p = len(spec.terms)
    while True:
        todo = {k: s.point for k, s in enumerate(states) if not s.done}
        if not todo:
            return
        parts = _map(ddf, _irls_partition, spec, which, scales, todo)
        for k in todo:
            pieces = [part[k] for part in parts]
            dev = float(np.sum([piece[0] for piece in pieces]))
            valid = all(piece[1] for piece in pieces)
            normsq = np.sum([piece[3] for piece in pieces], axis=0)

            def solution_here(pieces=pieces, normsq=normsq) -> WLS:
                return _solve([piece[2] for piece in pieces], normsq, p)

            _step(states[k], dev, valid, solution_here, linear)


# ------------------------------------------------------------- the last pass --
def _by_design(rows: _Rows, spec: _Spec, scores: np.ndarray, moments: bool
               ) -> pd.DataFrame:
    """The rows' estimating functions (and their cross-products, for a design without
    clusters) summed by group of the design columns."""
    p = scores.shape[1]
    sums: dict[str, Any] = {f"__pc_u{j}": scores[:, j] for j in range(p)}
    if moments:
        for a in range(p):
            for b in range(a, p):
                sums[_moment(a + 1, b + 1)] = scores[:, a] * scores[:, b]
    keys = list(spec.design)
    if keys:
        table = pd.concat([rows.frame[keys], pd.DataFrame(sums)], axis=1)
        grouped = table.groupby(keys, sort=False, dropna=False, observed=True).sum()
        return grouped.reset_index()
    return pd.DataFrame({name: [float(np.sum(v))] for name, v in sums.items()})


def _final_partition(frame: pd.DataFrame, spec: _Spec, start: int, scale: float,
                     point: np.ndarray, wls_point: Any, linear: bool, moments: bool,
                     factor: float) -> dict[str, Any]:
    """The estimating functions summed by group of the design columns, the sums of the
    dispersion and of the separation check, and the deviance at ``point``."""
    rows = _model_rows(frame, spec, start)
    fam = spec.fam
    prior = _priors(rows, spec, "main", np.array([scale]))[0]
    y = _fit_y(rows, fam, prior)
    eta = rows.x @ point + rows.offset
    mu = fam.linkinv(eta)
    if linear:
        ww = np.where(prior > 0, prior, 0.0)
        residuals = y - eta
    else:
        before = _eta(rows, fam, y, prior, wls_point)
        _, wt = _working(fam, rows, y, prior, before, fam.linkinv(before))
        ww = np.sqrt(wt) ** 2  # as glm.fit's w^2
        residuals = (y - mu) / fam.mu_eta(eta)
    grouped = _by_design(rows, spec, rows.x * (residuals * ww)[:, None], moments)
    # R's dispersion: the design-weighted variance of the Pearson residuals
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = (rows.y - mu) / np.sqrt(fam.variance(mu)) * np.sqrt(
            factor if rows.trials is None else factor * rows.trials)
    w = rows.w
    eps = 10 * np.finfo(float).eps
    used = prior > 0
    return {
        "groups": grouped,
        "deviance": float(np.sum(fam.dev_resids(y, mu, prior))),
        "disp": np.array([w.sum(), (w * pearson).sum(), (w * pearson**2).sum()]),
        "nonzero": int(np.sum(w != 0)),
        "extreme": int(np.sum(used & ((mu < eps) | (mu > 1 - eps)))),
        "x": np.array([rows.x[used].sum(axis=0), (rows.x[used] ** 2).sum(axis=0)]),
        "used": int(used.sum()),
    }


# -------------------------------------------------------------- the first pass --
def _scan_partition(frame: pd.DataFrame, plan: _Plan, start: int, categorical: tuple
                    ) -> tuple:
    """The group sums of the weights (dask_reduce), the levels of the categorical
    columns among the complete rows, and a few complete rows (the client's dry run)."""
    table, found, missing = reduce_partition(frame, plan)
    active = _complete(frame, plan.variables, plan.usable)
    levels = [(np.asarray(pd.unique(frame[name][active].dropna())),
               list(frame[name].cat.categories)
               if isinstance(frame[name].dtype, pd.CategoricalDtype) else [])
              for name in categorical]
    sample = frame.loc[active, list(plan.variables)].head(_SAMPLE_ROWS)
    return table, found, missing, levels, sample


def _level_order(ddf: Any, name: str, values: list, categories: list) -> tuple:
    """The levels in the order the in-memory formula uses: a categorical column's
    categories (those of its dtype, or, when the Dask DataFrame does not know them, the
    partitions' categories in order, as ``ddf.compute()`` unites them), else patsy's
    sort; only the levels of the rows in the fit."""
    from patsy.util import SortAnythingKey

    dtype = ddf[name].dtype
    present = set(values)
    if isinstance(dtype, pd.CategoricalDtype):
        known = list(dtype.categories)
        order = categories if "__UNKNOWN_CATEGORIES__" in known else known
        return tuple(dict.fromkeys(c for c in order if c in present))
    return tuple(sorted(present, key=SortAnythingKey))


def _categorical_columns(ddf: Any, formula: str, columns: list[str]) -> list[str]:
    """The columns patsy codes as categories (text, categorical dtype; numbers inside
    ``C()``); bool columns keep patsy's fixed levels."""
    names = formula_names(formula)
    out = []
    for name in columns:
        dtype = ddf[name].dtype
        if pd.api.types.is_bool_dtype(dtype):
            continue
        if not pd.api.types.is_numeric_dtype(dtype):
            out.append(name)
            continue
        quoted = re.escape(name)
        inside = len(re.findall(rf"\bC\(\s*(?:{quoted}|Q\(\s*['\"]{quoted}['\"]\s*\))\s*[,)]",
                                formula))
        if inside and inside == names.count(name):
            out.append(name)
        elif inside:
            raise EstimationError(
                f"column {name!r} is used both inside C() and as a number in {formula!r}: on "
                "a Dask DataFrame make a text copy of it for C() (ddf.assign(...))"
            )
    return out


# -------------------------------------------------------------------- glm --
@dataclass
class _Prepared:
    """The first pass's results: what the fits of a model need."""

    spec: _Spec
    work: _Partitions
    groups: pd.DataFrame
    plan: _Plan
    y_frame: pd.DataFrame
    design_info: Any
    replicate: bool
    by_columns: bool
    base: Any

    @property
    def active(self) -> np.ndarray:
        return self.groups[_ACTIVE].to_numpy(dtype=bool)

    @property
    def moments(self) -> bool:
        """A design without clusters (each row its own PSU)."""
        return not self.replicate and not self.base._psu

    def mean_weight(self, rows: bool = False) -> float:
        """The mean design weight of all rows (or of the rows in the fit)."""
        keep = self.active if rows else np.ones(len(self.groups), dtype=bool)
        return float(self.groups.loc[keep, _W].sum() / self.groups.loc[keep, _ROWS].sum())

    @property
    def n(self) -> int:
        return int(self.groups.loc[self.active, _ROWS].sum())


def _prepare(design: Any, formula: str, family: str, link: str, na_rm: bool,
             offset: str | None = None, trials: str | None = None) -> _Prepared:
    """The first pass: the design's group sums, missing values, the levels of the
    categorical columns; the model's spec for the later passes."""
    ddf = design.data
    check_formula(formula, ddf.columns, table="the Dask DataFrame")
    for name in _STATEFUL:
        if re.search(rf"\b{name}\s*\(", formula):
            raise EstimationError(
                f"{name}() in a formula learns from all rows at once, which a design on a "
                "Dask DataFrame does not do: compute the variable in the Dask DataFrame "
                "first (ddf.assign(...)) and use its column"
            )
    for argument, given in (("offset", offset), ("trials", trials)):
        if given is not None and (not isinstance(given, str) or given not in ddf.columns):
            raise EstimationError(f"{argument}={given!r} is not a column of the design's data")
    columns = model_columns(formula, ddf)
    columns += [c for c in (offset, trials) if c is not None and c not in columns]
    replicate = isinstance(design, DaskReplicateDesign)
    base = design.base if replicate else design
    if getattr(base, "_weighting", None) is not None:
        # the adjustment's residuals are summed for the estimators only
        # (dask_weighting._Residuals): a model's SEs would leave them out
        raise EstimationError(
            "a model (glm, olr, a DiD with covariates) of a post-stratified, raked, "
            "calibrated or nonresponse-adjusted design on a Dask DataFrame is not "
            "available yet: its standard "
            "errors would leave out the adjustment. Fit it on the data in memory "
            "(ddf.compute()), or weight a design of replicate-weight columns "
            "(pc.ReplicateDesign(ddf, weights=..., replicate_weights=...)), whose "
            "adjusted columns the models refit; the estimators (mean, proportion, ...) "
            "and a DiD without covariates take the adjustment in"
        )
    by_columns = replicate and base is None
    weights = design.options["weights"] if by_columns else base._weights
    design_columns = () if by_columns else tuple(base.design_columns)
    rep_columns = tuple(design.options["replicate_weights"]) if by_columns else ()
    # a labelled design's left-out rows: out of the fit, in the domain (as in memory);
    # a subset's other rows: out of the domain (zero weight, as in memory)
    plan = _Plan(weights, design_columns, design_columns, (), tuple(columns), (),
                 "proportion", (), tuple(() for _ in columns), False, rep_columns,
                 by_columns, kept=getattr(design, "subset_column", None),
                 usable=getattr(design, "kept_column", None))
    categorical = _categorical_columns(ddf, formula, columns)
    read = list(dict.fromkeys([*plan.columns, *columns]))
    selected = ddf[read]
    dask = _require_dask()
    delayed = dask.delayed(_scan_partition)
    scanned = dask.compute(*[delayed(part, plan, 0, tuple(categorical))
                             for part in selected.to_delayed()])
    tables, offset_rows = [], 0
    lengths = []
    for table, _, found, _, _ in scanned:
        if len(table):
            tables.append(table.assign(__pc_first=table["__pc_first"] + offset_rows))
        offset_rows += found["length"]
        lengths.append(found["length"])
    found_all, missing = _globalise([(t, f, m) for t, f, m, _, _ in scanned])
    _raise_found(found_all, missing, plan, na_rm)
    if not tables:
        raise EstimationError("the Dask DataFrame has no rows")
    groups = _combine(tables, plan)
    if not groups[_ACTIVE].to_numpy(dtype=bool).any():
        raise EstimationError(
            f"no complete rows left for {formula!r}: every row in the design's domain "
            "has a missing model variable"
        )
    if not (groups[_NONZERO].to_numpy() > 0).any():
        raise DesignError(f"weights column {weights!r} sums to zero: at least one weight "
                          "must be positive")
    levels = {}
    for i, name in enumerate(categorical):
        values = [v for part in scanned for v in part[3][i][0].tolist()]
        categories = [c for part in scanned for c in part[3][i][1]]
        levels[name] = _level_order(ddf, name, values, categories)
    sample = pd.concat([part[4] for part in scanned], ignore_index=True)
    ready = _as_categories(patsy_ready(sample, columns), levels)
    y_frame, x_frame = dmatrices(formula, ready, na_drop=False)
    spec = _Spec(formula, family, link, tuple(columns), levels, weights, design_columns,
                 offset, trials, tuple(x_frame.columns), usable=plan.usable)
    return _Prepared(spec, _Partitions(selected, lengths), groups, plan, y_frame,
                     x_frame.design_info, replicate, by_columns, base)


@dataclass(frozen=True)
class DaskFit:
    """A model fitted on a design on a Dask DataFrame: what the in-memory result
    objects (``GLMResult``, ``OLRResult``) are built from."""

    coef: np.ndarray
    vcov: np.ndarray
    terms: list[str]
    df_residual: float
    n: int
    deviance: float
    iterations: int
    design_info: Any
    link: str
    dispersion: float = np.nan  # a GLM's
    levels: tuple = ()  # an ordinal outcome's categories
    hessian: Any = None  # an ordinal model's


def glm(design: Any, formula: str, *, family: str, link: str | None, na_rm: bool,
        offset: str | None, trials: str | None, reader) -> DaskFit:
    """``pc.glm`` of a design on a Dask DataFrame (arguments checked by the caller;
    ``reader(y_frame)`` gives the outcome and its name from patsy's outcome columns)."""
    fam = make_family(family, link)
    prepared = _prepare(design, formula, family, fam.link, na_rm, offset, trials)
    _, outcome = reader(prepared.y_frame)
    spec = _Spec(**{**prepared.spec.__dict__, "outcome": outcome, "reader": reader})
    terms, work, groups, plan = spec.terms, prepared.work, prepared.groups, prepared.plan
    replicate, by_columns, base = prepared.replicate, prepared.by_columns, prepared.base
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    p = len(terms)
    w_all = groups[_W].to_numpy(dtype=float)
    n_all = groups[_IN if plan.kept else _ROWS].to_numpy(dtype=float)
    # the prior weights: the design weights over their mean in the domain (all rows)
    mean_w = w_all.sum() / n_all.sum()
    linear = fam.canonical_identity and offset is None
    main = [_Fit(None)]
    _run(work, spec, "main", np.array([mean_w]), main, linear)
    state = main[0]
    if state.failed == "aliased":
        assert state.solution is not None
        check_rank(np.zeros((0, p)), np.zeros(0), list(terms), repr(formula),
                   state.solution.aliased())
    if state.failed:
        raise EstimationError(state.failed)
    assert state.solution is not None
    coef, bread = state.point, state.solution.bread
    # the ratio of the mean weight of the rows in the fit to that of all rows (R's
    # Pearson residuals of a fit without some rows)
    factor = (w_all[active].sum() / n_all[active].sum()) / mean_w
    moments = prepared.moments
    final = _map(work, _final_partition, spec, mean_w, coef, state.wls_point,
                 linear, moments, factor)
    deviance = float(np.sum([part["deviance"] for part in final]))
    n_fit = int(n_all[active].sum())
    iterations = state.iteration
    if linear:
        iterations = 1 if deviance / (deviance + 0.1) < EPSILON else 2
    if fam.name == "binomial":
        _separation(state, final, coef, terms, formula, fam)
    discarded = 0
    if replicate:
        vcov, df_design, discarded = _replicate_vcov(design, groups, spec, work, coef, mean_w,
                                                     active, by_columns, linear, plan)
    else:
        vcov, df_design = _taylor_vcov(base, groups, final, bread, terms, active, moments,
                                       plan)
    if discarded:
        warnings.warn(
            f"{discarded} replicate(s) gave NA results (a term of {formula!r} has no "
            "weight in them) and were discarded from the variance, as R's svrVar does",
            UserWarning, stacklevel=3,
        )
    df_residual = df_design + 1 - p
    disp = np.sum([part["disp"] for part in final], axis=0)
    n_disp = n_fit if replicate else int(np.sum([part["nonzero"] for part in final]))
    mean_r = disp[1] / disp[0]
    dispersion = float((disp[2] / disp[0] - mean_r**2) * n_disp / (n_disp - 1))
    return DaskFit(coef, vcov, list(terms), df_residual, n_fit, deviance, iterations,
                   prepared.design_info, fam.link, dispersion=dispersion)


class _Partitions:
    """The Dask DataFrame of the model's columns, with its partitions' lengths (known
    from the first pass: the row numbers of messages)."""

    def __init__(self, ddf: Any, lengths: list[int]) -> None:
        self._ddf = ddf
        self._pc_lengths = lengths
        self._delayed: list | None = None

    def to_delayed(self) -> list:
        """The partitions as delayed objects (the graph optimised once; each pass reads
        the partitions again, so the workers hold no more than a partition)."""
        if self._delayed is None:
            self._delayed = self._ddf.to_delayed()
        return self._delayed


def _separation(state: _Fit, final: list, coef, terms, formula: str, fam: Family) -> None:
    """R's separation check (``fitting.check_separation``) from the partitions' sums."""
    extreme = int(np.sum([part["extreme"] for part in final]))
    if fam.link != "logit":
        extreme = 0
    if state.converged and not extreme:
        return
    x_sums = np.sum([part["x"] for part in final], axis=0)
    used = int(np.sum([part["used"] for part in final]))
    mean = x_sums[0] / used
    sd = np.sqrt(np.clip(x_sums[1] / used - mean**2, 0, None))
    # the in-memory message, from the same pieces
    size = np.abs(coef) * np.where(sd > 0, sd, 1.0)
    size[[i for i, t in enumerate(terms) if t == "Intercept"]] = -np.inf
    worst = terms[int(np.argmax(size))] if len(terms) > 1 else terms[0]
    why = (f"fitted probabilities are numerically 0 or 1 for {extreme} row(s)" if extreme
           else f"the fit did not converge in {MAXIT} iterations")
    raise EstimationError(
        f"perfect separation in {formula!r}: {why}, so the outcome is (almost) fully "
        f"determined by the predictors and the coefficients diverge (largest: {worst!r}). "
        "Drop or merge that term, or collapse categories that have only 0s or only 1s."
    )


# ---------------------------------------------------------------- the variance --
def _group_scores(groups: pd.DataFrame, final: list, keys: list[str], names: list[str]
                  ) -> np.ndarray:
    """(G, m) sums ``names`` of the last pass on the rows of each group of ``groups``
    (zero for the groups of rows outside the fit)."""
    active = groups[_ACTIVE].to_numpy(dtype=bool)
    out = np.zeros((len(groups), len(names)))
    tables = [part["groups"] for part in final if len(part["groups"])]
    if not keys:
        # one group of the rows in the fit
        out[np.flatnonzero(active)[0]] = np.sum(
            [t[names].to_numpy(dtype=float).sum(axis=0) for t in tables], axis=0)
        return out
    joined = pd.concat(tables, ignore_index=True)
    summed = joined.groupby(keys, sort=False, dropna=False, observed=True)[names].sum()
    index = summed.index if len(keys) > 1 else pd.MultiIndex.from_arrays([summed.index])
    where = index.get_indexer(pd.MultiIndex.from_frame(groups.loc[active, keys]))
    out[np.flatnonzero(active)] = summed.to_numpy(dtype=float)[where]
    return out


def _taylor_vcov(base: DaskSurveyDesign, groups: pd.DataFrame, final: list,
                 bread: np.ndarray, terms, active: np.ndarray, moments: bool, plan: _Plan
                 ) -> tuple[np.ndarray, int]:
    """The sandwich of a design (R's ``svy.varcoef``) and the design df, from the
    estimating functions summed by group: the in-memory design on the groups (cut to
    the groups of the fit, as ``design[-nas, ]``)."""
    from .distributed import _degf, _group_design, _moment_vcov

    p = len(terms)
    keys = list(base.design_columns)
    scores = _group_scores(groups, final, keys, [f"__pc_u{j}" for j in range(p)])
    if not moments:
        group_design = _group_design(base, groups)
        fit_design: Any = group_design if active.all() else group_design.subset(active)
        if fit_design.totals_path:
            codes, n_groups = fit_design.score_groups()
            totals = np.zeros((n_groups, p))
            for j in range(p):
                totals[:, j] = np.bincount(codes, weights=scores[:, j], minlength=n_groups)
            return fit_design.totals_vcov(totals @ bread), int(fit_design.degf)
        return fit_design.score_vcov(scores @ bread), int(fit_design.degf)
    # each row its own PSU: the cross-products of the rows' estimating functions per
    # stratum (pieces 1..p; the constant piece 0 has coefficient 0)
    pairs = [(a, b) for a in range(p) for b in range(a, p)]
    products = _group_scores(groups, final, keys, [_moment(a + 1, b + 1) for a, b in pairs])
    groups = groups.copy()
    if len(groups) == 1:
        # one group (no strata, every row in the fit): see with_empty_group
        groups = with_empty_group(groups)
        scores = np.vstack([scores, np.zeros((1, p))])
        products = np.vstack([products, np.zeros((1, products.shape[1]))])
        active = np.append(active, False)
    for i in range(p + 1):
        groups[_moment(0, i)] = 0.0
    for column, (a, b) in enumerate(pairs):
        groups[_moment(a + 1, b + 1)] = products[:, column]
    groups[_ONE] = np.arange(len(groups))
    group_design = SurveyDesign(groups, weights=_W, strata=base._strata or None, psu=_ONE,
                                fpc=base._fpc or None,
                                lonely_psu=base.lonely_psu)  # type: ignore[arg-type]
    first = group_design._stages[0]
    totals = np.zeros((first.n_strata, p))
    np.add.at(totals, first.stratum, scores @ bread)
    domain = np.where(active, 0, -1).astype(np.int64)
    vcov = _moment_vcov(groups, group_design, domain, totals,
                        (np.zeros((1, p)), bread[None, :, :]))
    moment_plan = _Plan(**{**plan.__dict__, "moments": True})
    df = int(np.asarray(_degf(groups, moment_plan, group_design, domain, 1))[0])
    return vcov, df


def _replicate_vcov(design: DaskReplicateDesign, groups: pd.DataFrame, spec: _Spec,
                    work: _Partitions, coef: np.ndarray, mean_w: float, active: np.ndarray,
                    by_columns: bool, linear: bool, plan: _Plan
                    ) -> tuple[np.ndarray, int, int]:
    """Refits per replicate from the full-sample coefficients (R's
    ``svyglm.svyrep.design``), all replicates in the same passes; the replicate
    covariance, the design df and the number of replicates discarded."""
    rep, rep_spec, df, sums = _replicate_setup(design, groups, spec, active, by_columns, plan)
    R = len(sums)
    states = [_Fit(coef.copy()) for _ in range(R)]
    for r in range(R):
        if not sums[r] > 0:
            states[r].done, states[r].failed = True, "empty"
    _run(work, rep_spec, "rep", np.where(sums > 0, sums, 1.0), states, linear)
    betas = np.full((R, len(coef)), np.nan)
    for r, state in enumerate(states):
        if state.failed in ("empty", "aliased"):
            continue
        if state.failed:
            raise EstimationError(state.failed)
        betas[r] = state.point
    discarded = int(np.sum(~np.all(np.isfinite(betas), axis=1)))
    return rep._vcov_replicates(betas, coef), df, discarded


def _replicate_setup(design: DaskReplicateDesign, groups: pd.DataFrame, spec: _Spec,
                     active: np.ndarray, by_columns: bool, plan: _Plan
                     ) -> tuple[Any, _Spec, int, np.ndarray]:
    """The in-memory replicate design on the groups (its variance formula), the spec
    of the replicate passes, the design df and each replicate's weight total in the
    fit."""
    from .distributed import _gram_degf, _group_design

    if by_columns:
        options = design.options
        R = len(plan.replicate_weights)
        rep = ReplicateDesign(groups, weights=_W,
                                   replicate_weights=[_rw(r) for r in range(R)],
                                   scale=options["scale"], rscales=options["rscales"],
                                   mse=options["mse"], degf=options["degf"],
                                   method=options["method"])
        sums = np.array([groups.loc[active, _rwa(r)].sum() for r in range(R)])
        given = options["degf"]
        df = int(given) if given is not None else _gram_degf(
            groups, plan, np.ones(len(groups), dtype=bool))
        rep_spec = _Spec(**{**spec.__dict__, "replicates": "columns",
                            "replicate_weights": tuple(plan.replicate_weights)})
    else:
        assert design.base is not None
        rep = _group_design(design.base, groups).replicate(**design.options)
        codes, _ = rep.score_groups()
        factors = rep.replicate_factors
        assert factors is not None  # replicates of a design
        w = np.where(active, groups[_W].to_numpy(dtype=float), 0.0)
        sums = (w[:, None] * factors[codes]).sum(axis=0)
        keys = list(design.base.design_columns)
        lookup = groups[keys].assign(__pc_psu=codes).drop_duplicates(keys)
        df = int(rep.degf)
        rep_spec = _Spec(**{**spec.__dict__, "replicates": "factors", "psu_keys": lookup,
                            "factors": factors})
    return rep, rep_spec, df, sums


# -------------------------------------------------------------------- olr --
def _outcome_partition(frame: pd.DataFrame, spec: _Spec, start: int) -> tuple:
    """An ordinal outcome's values (or level positions) and their weights, and the
    triangular factor of the weighted model matrix with an intercept (the rank check)."""
    rows = _model_rows(frame, spec, start)
    weights = pd.Series(rows.w).groupby(rows.y).sum()
    x = _slopes(rows, spec)
    xw = np.column_stack([np.ones(len(rows.y)), x]) * np.sqrt(rows.w)[:, None]
    triangle = _triangle(xw, np.zeros(len(rows.y))) if len(rows.y) else np.zeros(
        (xw.shape[1] + 1, xw.shape[1] + 1))
    return dict(zip(weights.index.tolist(), weights.tolist(), strict=True)), triangle, \
        np.einsum("ij,ij->j", xw, xw)


def _slopes(rows: _Rows, spec: _Spec) -> np.ndarray:
    keep = [j for j, t in enumerate(spec.terms) if t != "Intercept"]
    return rows.x[:, keep]


def _olr_partition(frame: pd.DataFrame, spec: _Spec, start: int, which: str,
                   points: dict[int, Any]) -> dict[int, tuple]:
    """For each fit ``k``: the weighted log-likelihood, its gradient and Hessian at its
    point (``cumulative_link``'s, summed over the partition's rows)."""
    from . import cumulative_link as kernel

    rows = _model_rows(frame, spec, start)
    x, y = _slopes(rows, spec), rows.y.astype(int)
    R = spec.factors.shape[1] if spec.replicates == "factors" else len(spec.replicate_weights)
    priors = _priors(rows, spec, which, np.ones(max(R, 1)))
    out: dict[int, tuple] = {}
    for k, theta in points.items():
        w = priors[k]
        if not len(y):
            out[k] = (0.0, np.zeros(len(theta)), np.zeros((len(theta), len(theta))))
            continue
        out[k] = (kernel.loglik(theta, x, y, w, spec.link),
                  kernel.scores(theta, x, y, w, spec.link).sum(axis=0),
                  kernel.hessian(theta, x, y, w, spec.link))
    return out


def _olr_final_partition(frame: pd.DataFrame, spec: _Spec, start: int, theta: np.ndarray,
                         moments: bool) -> dict[str, Any]:
    from . import cumulative_link as kernel

    rows = _model_rows(frame, spec, start)
    x, y = _slopes(rows, spec), rows.y.astype(int)
    scores = kernel.scores(theta, x, y, rows.w, spec.link) if len(y) else np.zeros(
        (0, len(theta)))
    return {"groups": _by_design(rows, spec, scores, moments)}


@dataclass
class _Newton:
    """The state of one Newton fit of the ordinal model (``cumulative_link.fit``)."""

    point: np.ndarray
    theta: Any = None
    value: float = np.nan
    gradient: Any = None
    hessian: Any = None
    step: Any = None
    factor: float = 1.0
    iteration: int = 0
    stage: str = "init"
    converged: bool = False
    done: bool = False
    failed: bool = False


def _newton_next(state: _Newton, maxit: int) -> None:
    if state.iteration >= maxit:
        state.done = True
        return
    state.iteration += 1
    try:
        state.step = np.linalg.solve(-state.hessian, state.gradient)
    except np.linalg.LinAlgError:
        state.done = True
        return
    state.factor, state.point, state.stage = 1.0, state.theta + state.step, "line"


def _newton_step(state: _Newton, value: float, gradient, hessian, maxit: int,
                 tol: float) -> None:
    """One pass's worth of ``cumulative_link.fit`` for one fit."""
    if state.stage == "init":
        if not np.isfinite(value):
            state.failed = state.done = True
            return
        state.theta, state.value = state.point, value
        state.gradient, state.hessian = gradient, hessian
        _newton_next(state, maxit)
        return
    if not (np.isfinite(value) and value >= state.value - 1e-12 * abs(state.value)):
        state.factor /= 2
        if state.factor >= 1e-10:
            state.point = state.theta + state.factor * state.step
            return
        candidate, value = state.theta, state.value
        gradient, hessian = state.gradient, state.hessian
    else:
        candidate = state.point
    small = np.max(np.abs(candidate - state.theta) / (1 + np.abs(state.theta))) <= tol
    state.theta, state.value = candidate, value
    state.gradient, state.hessian = gradient, hessian
    if small:
        state.converged = state.done = True
        return
    _newton_next(state, maxit)


def _newton(work: _Partitions, spec: _Spec, which: str, states: list[_Newton]) -> None:
    """Newton's method with step halving for the fits ``states``, one pass per step."""
    from . import cumulative_link as kernel

    while True:
        todo = {k: s.point for k, s in enumerate(states) if not s.done}
        if not todo:
            return
        parts = _map(work, _olr_partition, spec, which, todo)
        for k in todo:
            pieces = [part[k] for part in parts]
            value = float(np.sum([piece[0] for piece in pieces]))
            gradient = np.sum([piece[1] for piece in pieces], axis=0)
            hessian = np.sum([piece[2] for piece in pieces], axis=0)
            _newton_step(states[k], value, gradient, hessian, kernel._MAXIT, 1e-10)


def olr(design: Any, formula: str, *, link: str, na_rm: bool, reader, label) -> DaskFit:
    """``pc.olr`` of a design on a Dask DataFrame (arguments checked by the caller;
    ``reader(y_frame, formula)`` gives the outcome's codes, name and levels from patsy's
    outcome columns, ``label`` prints a level)."""
    from . import cumulative_link as kernel

    prepared = _prepare(design, formula, "ordinal", link, na_rm)
    _, outcome, sample_levels = reader(prepared.y_frame, formula)
    spec = _Spec(**{**prepared.spec.__dict__, "outcome": outcome})
    work = prepared.work
    parts = _map(work, _outcome_partition, spec)
    weights: dict[float, float] = {}
    for found, _, _ in parts:
        for value, total in found.items():
            weights[value] = weights.get(value, 0.0) + total
    used = sorted(weights)
    numeric = prepared.y_frame.shape[1] == 1
    levels = used if numeric else [sample_levels[int(c)] for c in used]
    lhs = formula.split("~", 1)[0].strip()
    if len(levels) < 3:
        raise EstimationError(
            f"the outcome {lhs!r} has {len(levels)} categories among the rows used "
            f"({', '.join(map(label, levels))}): an ordinal model needs three or more; use "
            "pc.glm(..., family='binomial') for two"
        )
    spec = _Spec(**{**spec.__dict__, "ordinal": tuple(float(v) for v in used)})
    slopes = [t for t in spec.terms if t != "Intercept"]
    if slopes:
        rank = _solve([part[1] for part in parts], np.sum([part[2] for part in parts], axis=0),
                      len(slopes) + 1)
        check_rank(np.zeros((0, 0)), np.zeros(0), ["Intercept", *slopes], repr(formula),
                   rank.aliased())
    q = len(levels) - 1
    # cumulative_link.start from the category weights
    totals = np.array([weights[v] for v in used])
    shares = np.clip(np.cumsum(totals)[:q] / totals.sum(), 1e-6, 1 - 1e-6)
    zeta = np.maximum.accumulate(kernel.quantile(shares, link) + np.arange(q) * 1e-6)
    main = [_Newton(np.concatenate([np.zeros(len(slopes)), zeta]))]
    _newton(work, spec, "main", main)
    fit = main[0]
    if fit.failed or not fit.converged:
        raise EstimationError(
            f"the ordinal model {formula!r} did not converge: a category may be fully "
            "determined by the terms (separation); merge sparse categories or drop terms"
        )
    theta = fit.theta
    bread = np.linalg.inv(-fit.hessian)
    names = slopes + [f"{label(levels[k])}|{label(levels[k + 1])}" for k in range(q)]
    groups, active, plan = prepared.groups, prepared.active, prepared.plan
    if prepared.replicate:
        rep, rep_spec, df_design, sums = _replicate_setup(
            design, groups, spec, active, prepared.by_columns, plan)
        states = [_Newton(theta.copy()) for _ in sums]
        for r, total in enumerate(sums):
            if not total > 0:
                states[r].done = True
        _newton(work, rep_spec, "rep", states)
        betas = np.full((len(sums), len(theta)), np.nan)
        for r, state in enumerate(states):
            if state.converged:
                betas[r] = state.theta
        vcov = rep._vcov_replicates(betas, theta)
    else:
        final = _map(work, _olr_final_partition, spec, theta, prepared.moments)
        vcov, df_design = _taylor_vcov(prepared.base, groups, final, bread, names, active,
                                       prepared.moments, plan)
    deviance = -2 * fit.value / prepared.mean_weight(rows=True)
    return DaskFit(theta, vcov, names, df_design - len(slopes), prepared.n, deviance,
                   fit.iteration, prepared.design_info, link, levels=tuple(levels),
                   hessian=fit.hessian)


# ------------------------------------------- shared with the list experiments --
# The pieces of the models' passes that the ML model of a list experiment reuses
# (perception/analysis/dask_list_models.py), under names other subpackages may import.
ModelSpec = _Spec
PartitionFailure = _Failure
group_by_design = _by_design
guarded = _guarded
partition_lengths = _lengths_of
map_partitions = _map
model_rows = _model_rows
prepare_model = _prepare
prior_weights = _priors
replicate_setup = _replicate_setup
taylor_vcov = _taylor_vcov
