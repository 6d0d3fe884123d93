"""``weight_diagnostics`` of a design on a Dask DataFrame: one pass over the partitions.

Each partition returns, by group of the ``by`` columns, its rows, the sum, the sum of
squares, the extremes and the squared deviations from its own mean of the weights of
the rows in the design's domain (the final weights of a weighted design); the client
pools the groups (the deviations by Chan's pairwise formula, so that equal weights
keep a spread of exactly 0) and writes the in-memory table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import WeightingError, format_rows
from .dask_reduce import _inside, _require_dask, _values
from .distributed import _make_plan

#: rows named in an error
_SHOWN_ROWS = 20
_STATS = ["n", "sum", "square", "min", "max", "mean", "m2"]


def _partition_sums(frame: pd.DataFrame, plan: Any, by: list[str]
                    ) -> tuple[pd.DataFrame, int, dict[str, tuple[int, list[int]]]]:
    """One partition's weight sums by group (rows in the domain), its length, and per
    problem (a missing ``by`` value, a missing weight) its count and first rows."""
    inside = _inside(frame, plan)
    w = np.ones(len(frame)) if plan.weights is None else _values(frame, plan.weights,
                                                                 "weights")
    problems: dict[str, tuple[int, list[int]]] = {}
    checks = {"weights": np.isnan(w) & inside}
    if by:
        checks["by"] = frame[by].isna().any(axis=1).to_numpy() & inside
    for what, rows in checks.items():
        found = np.flatnonzero(rows)
        if found.size:
            problems[what] = (int(found.size), found[:_SHOWN_ROWS].tolist())
    if problems:
        return pd.DataFrame(columns=[*by, *_STATS]), len(frame), problems
    keys = frame.loc[inside, by].reset_index(drop=True) if by else None
    w = w[inside]
    groups: dict[tuple, np.ndarray] = {(): np.arange(len(w))}
    if keys is not None:
        groups = {k if isinstance(k, tuple) else (k,): np.asarray(v) for k, v in
                  keys.groupby(by, sort=False, observed=True).indices.items()}
    rows = []
    for key, idx in groups.items():
        part = w[idx]
        mean = float(part.mean())
        rows.append([*key, len(part), float(part.sum()), float(part @ part),
                     float(part.min()), float(part.max()), mean,
                     float(((part - mean) ** 2).sum())])
    return pd.DataFrame(rows, columns=[*by, *_STATS]), len(frame), problems


def _pooled(parts: pd.DataFrame) -> dict[str, float]:
    """The summary of the weights of one group from its partitions' sums (Chan et al.'s
    pairwise update of the squared deviations)."""
    n, mean, m2 = 0, 0.0, 0.0
    for count, part_mean, part_m2 in parts[["n", "mean", "m2"]].itertuples(index=False):
        total = n + count
        delta = part_mean - mean
        m2 += part_m2 + delta * delta * n * count / total
        mean += delta * count / total
        n = total
    total_w, square = float(parts["sum"].sum()), float(parts["square"].sum())
    mean_w = total_w / n
    return {
        "n": n,
        "sum_weights": total_w,
        "min_weight": float(parts["min"].min()),
        "max_weight": float(parts["max"].max()),
        "mean_weight": mean_w,
        "cv": float(np.sqrt(m2 / n) / mean_w) if mean_w != 0 else float("nan"),
        "deff_kish": n * square / total_w**2 if total_w else float("nan"),
        "n_effective": total_w**2 / square if square else float("nan"),
    }


def weight_diagnostics(design: Any, by_names: list[str], overall: str,
                       columns: list[str]) -> pd.DataFrame:
    """:func:`perception.survey.weighting.weight_diagnostics` of a design on a Dask
    DataFrame (called by it; ``overall`` names the first row, ``columns`` the table's
    statistics).

    Examples
    --------
    >>> pc.weight_diagnostics(dask_design, by="region")               # doctest: +SKIP
    """
    dask = _require_dask()
    plan = _make_plan(design, "mean", [], [], by_names)
    read = list(dict.fromkeys([*by_names, *([plan.weights] if plan.weights else []),
                               *([plan.kept] if plan.kept else [])]))
    delayed = dask.delayed(_partition_sums)
    results = dask.compute(*[delayed(part, plan, by_names)
                             for part in design.data[read].to_delayed()])
    _raise_problems(results, by_names, plan.weights)
    sums = pd.concat([table for table, _, _ in results if len(table)], ignore_index=True)
    if sums.empty:
        raise WeightingError("the design has no rows in its domain to summarise")
    rows = [{**{b: overall for b in by_names}, **_pooled(sums)}]
    if by_names:
        for key, parts in sums.groupby(by_names, sort=True, observed=True):
            values = key if isinstance(key, tuple) else (key,)
            rows.append({**dict(zip(by_names, values, strict=True)), **_pooled(parts)})
    table = pd.DataFrame(rows, columns=[*by_names, *columns])
    for b in by_names:
        table[b] = table[b].astype(object)
    table["n"] = table["n"].astype(int)
    return table


def _raise_problems(results: tuple, by_names: list[str], weights: str | None) -> None:
    """The in-memory errors, rows numbered across the partitions."""
    found: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    offset = 0
    for _, length, problems in results:
        for what, (count, rows) in problems.items():
            counts[what] = counts.get(what, 0) + count
            found.setdefault(what, []).extend(offset + r for r in rows)
        offset += length
    if "weights" in found:
        raise WeightingError(
            f"column {weights!r} (weights) has {counts['weights']} missing value(s) in "
            f"rows {format_rows(pd.Index(found['weights']))} (row numbers in the whole "
            "Dask DataFrame): give every row of the design a weight"
        )
    if "by" in found:
        raise WeightingError(
            f"by column(s) {', '.join(by_names)} have missing values in rows "
            f"{format_rows(pd.Index(found['by']))} (row numbers in the whole Dask "
            "DataFrame): fill them, or summarise by other columns"
        )
