"""Allocation of a sample of villages across strata.

:func:`allocate` shares ``n`` units (villages) among the strata of a frame:

- ``"proportional"``: ``n_h`` proportional to ``N_h``;
- ``"neyman"``: ``n_h`` proportional to ``N_h S_h`` (Neyman 1934; smallest variance of
  a stratified mean for a given ``n``);
- ``"optimal"``: ``n_h`` proportional to ``N_h S_h / sqrt(c_h)`` with a cost ``c_h`` per
  unit (Cochran 1977, 5.5), for a total ``n`` or a total ``budget``
  (``n = budget sum(N_h S_h / sqrt(c_h)) / sum(N_h S_h sqrt(c_h))``);
- ``"mde"``: the number of villages a difference-in-differences (or a change) needs to
  detect ``effect``, from :func:`perception.sample_size` with the ICC, the weighting
  design effect and the interviews per village measured on the last wave (or given),
  shared within each arm in proportion to ``N_h``.

``N_h`` is the stratum's number of units (rows, or the sum of ``count=``); with
``size=`` (e.g. the population) the formulas use the stratum's size total ``X_h`` in its
place. Every stratum gets at least
``minimum`` units (2 by default, so that its variance can be estimated) and at most all
of its units (a take-all stratum); the continuous allocation within these bounds is
rounded to whole numbers that add up to ``n`` exactly by the largest-remainder method
(:mod:`perception.sampling.rounding`).

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"cercle": ["A"] * 10 + ["B"] * 30 + ["C"] * 4,
...                       "population": [100] * 10 + [50] * 30 + [400] * 4})
>>> a = allocate(frame, 12, strata="cercle", size="population")
>>> a.n
{'A': 3, 'B': 5, 'C': 4}
>>> a.table[["cercle", "N_h", "X_h", "n_exact", "n_h", "take_all"]]
  cercle  N_h     X_h  n_exact  n_h  take_all
0      A   10  1000.0      3.2    3     False
1      B   30  1500.0      4.8    5     False
2      C    4  1600.0      4.0    4      True
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..analysis.power import icc as measure_icc
from ..analysis.power import mde as power_mde
from ..analysis.power import sample_size
from ..errors import PerceptionError, SamplingError
from ..survey.design import SurveyDesign
from .checks import (
    Strata,
    check_frame,
    frame_strata,
    numeric_column,
    per_stratum,
    stratum_label,
    whole_number,
)
from .rounding import ROUNDING, bounded_allocation, largest_remainder

__all__ = ["allocate", "Allocation", "ALLOCATION_METHODS"]

AllocationMethod = Literal["proportional", "neyman", "optimal", "mde"]
ALLOCATION_METHODS = ("proportional", "neyman", "optimal", "mde")


@dataclass(frozen=True)
class Allocation:
    """The result of :func:`allocate`.

    Attributes
    ----------
    table : DataFrame
        One row per stratum: the stratum column(s), ``N_h`` (units in the frame),
        ``X_h`` (size total, with ``size=``), ``sd`` / ``cost`` when used, ``n_exact`` (the continuous allocation within the
        bounds), ``n_h`` (whole units), ``fraction`` (``n_h / N_h``), ``take_all``
        (every unit drawn) and ``at_minimum`` (raised to the minimum); for
        ``method="mde"`` also the arm column, ``cluster_size`` and ``n_interviews``; with
        costs, ``total_cost`` (``n_h c_h``).
    n : dict
        Stratum key -> ``n_h``: what :func:`perception.select_pps` takes as ``n``.
    method : str
    rounding : str
        How whole numbers were obtained.
    plan : DataFrame or None
        ``method="mde"``: the planning row of :func:`perception.sample_size` (villages
        needed per arm ``n_clusters``), with ``n_clusters_allocated`` (the smallest
        arm's villages after rounding and minimums) and ``mde_allocated`` (the effect
        detectable with them), and where each input came from (``*_source``).
    notes : tuple of str
        What a reader of the allocation should know (take-all strata, minimums applied,
        values measured on the last wave).
    """

    table: pd.DataFrame
    n: dict
    method: str
    rounding: str = ROUNDING
    plan: pd.DataFrame | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        """Units allocated in all strata."""
        return int(sum(self.n.values()))

    def __repr__(self) -> str:
        return (f"Allocation(method={self.method!r}, total={self.total}, "
                f"strata={len(self.n)}, rounding={self.rounding!r})")


# ------------------------------------------------------------------------- checks --
def _keys_frame(strata: Strata) -> pd.DataFrame:
    if len(strata.columns) == 1:
        return pd.DataFrame({strata.columns[0]: list(strata.keys)})
    return pd.DataFrame(list(strata.keys), columns=list(strata.columns))


def _units(frame: pd.DataFrame, strata: Strata, count: str | None) -> np.ndarray:
    if count is None:
        return np.bincount(strata.codes, minlength=strata.size).astype(float)
    values = numeric_column(frame, count, "count", integer=True)
    return np.bincount(strata.codes, values, minlength=strata.size)


def _weights(frame: pd.DataFrame, strata: Strata, size: str | None, units: np.ndarray
             ) -> np.ndarray:
    if size is None:
        return units
    values = numeric_column(frame, size, "size")
    return np.bincount(strata.codes, values, minlength=strata.size)


def _feasible(target: float, lo: np.ndarray, hi: np.ndarray, strata: Strata, what: str,
              minimum: int, cost: np.ndarray | None = None) -> None:
    c = np.ones_like(lo) if cost is None else cost
    low, high = float((c * lo).sum()), float((c * hi).sum())
    if target < low:
        raise SamplingError(
            f"{what} is below what the minimum of {minimum} unit(s) per stratum needs in "
            f"{strata.size} strata ({low:g}); raise it or lower minimum="
        )
    if target > high:
        raise SamplingError(
            f"{what} is more than the frame can give: every unit of every stratum is "
            f"{high:g}; lower it"
        )


# ----------------------------------------------------------------------- methods --
def _shares(method: str, weight: np.ndarray, sd: np.ndarray | None, cost: np.ndarray | None
            ) -> np.ndarray:
    if method == "proportional" or method == "mde":
        return weight
    spread = np.ones_like(weight) if sd is None else sd  # neyman has sd (checked)
    if method == "neyman":
        return weight * spread
    return weight * spread / np.sqrt(np.ones_like(weight) if cost is None else cost)


def _allocate_part(a: np.ndarray, lo: np.ndarray, hi: np.ndarray, total: int | None,
                   cost: np.ndarray | None = None, budget: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous and whole allocation of one group of strata, and which strata the
    minimum raised (their share ``lambda a_h`` is below it)."""
    if budget is not None:
        x, lam = bounded_allocation(a, lo, hi, budget, cost)
        n_h = largest_remainder(x, lo, hi, cost=cost, budget=budget)
    elif total is not None:
        x, lam = bounded_allocation(a, lo, hi, float(total))
        n_h = largest_remainder(x, lo, hi, total=total)
    else:
        raise TypeError("_allocate_part needs a total or a budget")
    raised = (lam * a < lo - 1e-9) & (lo < hi)
    return x, n_h, raised


def _positive_share_check(a: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: float,
                          strata: Strata, method: str, cost: np.ndarray | None = None
                          ) -> None:
    """The strata with a zero share stay at their minimum: the others must take the rest."""
    c = np.ones_like(lo) if cost is None else cost
    reach = float((c * np.where(a > 0, hi, lo)).sum())
    if target > reach + 1e-9:
        zero = [stratum_label(strata.keys[h]) for h in np.flatnonzero(a <= 0)]
        raise SamplingError(
            f"{method} allocation gives no share to stratum {', '.join(zero[:10])} (sd 0), "
            f"and the other strata cannot take the rest of the sample; give those strata "
            "a positive sd or lower n"
        )


# ----------------------------------------------------------------- mde planning --
def _last_wave_values(last_wave: object, variable: object) -> dict[str, Any]:
    if not isinstance(last_wave, SurveyDesign):
        raise SamplingError(
            "last_wave must be a pc.SurveyDesign of the last wave with psu= (villages), "
            f"got {type(last_wave).__name__}"
        )
    if not isinstance(variable, str):
        raise SamplingError(
            "method='mde' with last_wave= needs variable=, the 0/1 or scored item whose ICC "
            "and spread plan the sample (e.g. variable='trust_police_high')"
        )
    if variable not in last_wave.data.columns:
        raise SamplingError(f"variable: the last wave has no column {variable!r}")
    try:
        row = measure_icc(last_wave, variable, na_rm=True).iloc[0]
    except PerceptionError as exc:
        raise SamplingError(f"the ICC of {variable!r} cannot be measured on the last wave: "
                          f"{exc}") from exc
    data = last_wave.data
    inside = last_wave.in_domain & (last_wave.weights.to_numpy() > 0)
    y = pd.to_numeric(data[variable], errors="coerce").to_numpy(dtype=float)
    used = inside & np.isfinite(y)
    w = last_wave.weights.to_numpy()[used]
    y = y[used]
    mean = float((w * y).sum() / w.sum())
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    spread = float(np.sqrt((w * (y - mean) ** 2).sum() / w.sum()))
    kish = float(w.size * (w**2).sum() / w.sum() ** 2)
    psu = last_wave.psu_codes[used]
    cluster = float(used.sum() / np.unique(psu).size)
    return {"icc": float(row["icc"]), "p": mean if binary else None,
            "sd": None if binary else spread, "deff_weighting": kish,
            "cluster_size": cluster, "rows": int(used.sum()), "binary": binary}


def _mde_plan(kw: dict[str, Any]) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """The sample_size() row and the planning inputs, measured where not given."""
    notes: list[str] = []
    effect = kw["effect"]
    if effect is None:
        raise SamplingError("method='mde' needs effect=, the difference-in-differences (or "
                          "change) to detect, e.g. effect=0.10 for 10 percentage points")
    measured: dict[str, Any] = {}
    needs = [k for k in ("icc", "cluster_size") if kw[k] is None]
    if kw["p"] is None and kw["sd"] is None:
        needs.append("p (or sd)")
    if needs and kw["last_wave"] is None:
        raise SamplingError(
            f"method='mde' needs {', '.join(needs)}: give them, or give last_wave= (a "
            "pc.SurveyDesign of the last wave) and variable= to measure them on it"
        )
    if kw["last_wave"] is not None:
        measured = _last_wave_values(kw["last_wave"], kw["variable"])
    source = {}
    values = {}
    for name in ("icc", "deff_weighting", "cluster_size"):
        if kw[name] is not None:
            values[name], source[name] = kw[name], "given"
        elif name in measured:
            values[name], source[name] = measured[name], "last wave"
        else:  # no last wave: unweighted, as pc.sample_size's default
            values[name], source[name] = 1.0, "default"
    if kw["p"] is not None or kw["sd"] is not None:
        values["p"], values["sd"] = kw["p"], kw["sd"]
        source["spread"] = "given"
    else:
        values["p"], values["sd"] = measured["p"], measured["sd"]
        source["spread"] = "last wave"
    if source["cluster_size"] == "last wave":
        exact = values["cluster_size"]
        values["cluster_size"] = max(1, int(round(exact)))
        notes.append(f"interviews per village measured on the last wave: {exact:.1f}, "
                     f"planned as {values['cluster_size']}")
    if source["icc"] == "last wave":
        if not values["icc"] >= 0:
            raise SamplingError(
                f"the ICC of {kw['variable']!r} measured on the last wave is "
                f"{values['icc']:.3f} (villages less alike than chance); give icc= for "
                "planning, e.g. icc=0.05"
            )
        notes.append(f"ICC of {kw['variable']!r} measured on the last wave "
                     f"({measured['rows']} rows with a value): {values['icc']:.3f}")
    if source["deff_weighting"] == "last wave":
        notes.append("weighting design effect (1 + CV^2 of the weights) measured on the "
                     f"last wave: {values['deff_weighting']:.3f}")
    if source["spread"] == "last wave":
        notes.append(f"{'p' if measured['binary'] else 'sd'} of {kw['variable']!r} measured "
                     f"on the last wave: {values['p'] if measured['binary'] else values['sd']:.3f}")
    args = dict(cluster_size=values["cluster_size"], icc=values["icc"], p=values["p"],
                sd=values["sd"], deff_weighting=values["deff_weighting"], alpha=kw["alpha"],
                power=kw["power"], design=kw["design"], revisited=kw["revisited"],
                r_cluster=kw["r_cluster"])
    try:
        plan = sample_size(effect, **args)
    except PerceptionError as exc:
        raise SamplingError(f"method='mde': {exc}") from exc
    if len(plan) != 1:
        raise SamplingError("method='mde' plans for one effect, ICC and p (or sd) at a time; "
                          "give single numbers")
    for name, where in source.items():
        plan[f"{name}_source"] = where
    return plan, notes, args


# ------------------------------------------------------------------------- allocate --
def allocate(
    frame: pd.DataFrame,
    n: int | None = None,
    *,
    strata: str | Sequence[str],
    method: AllocationMethod = "proportional",
    size: str | None = None,
    count: str | None = None,
    sd: str | Mapping[Hashable, float] | float | None = None,
    cost: str | Mapping[Hashable, float] | float | None = None,
    budget: float | None = None,
    minimum: int = 2,
    effect: float | None = None,
    cluster_size: float | None = None,
    icc: float | None = None,
    p: float | None = None,
    deff_weighting: float | None = None,
    last_wave: SurveyDesign | None = None,
    variable: str | None = None,
    design: Literal["did", "change"] = "did",
    arm: str | None = None,
    revisited: bool = False,
    r_cluster: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
) -> Allocation:
    """Allocate a sample of units (villages) across strata.

    Parameters
    ----------
    frame : DataFrame
        One row per unit (village), or one row per group of units with ``count=``;
        never modified.
    n : int
        Units to draw in all strata (not with ``method="mde"``, which derives it, nor
        with ``budget=``).
    strata : str or list of str
        Stratum column(s).
    method : {"proportional", "neyman", "optimal", "mde"}
        See the module docstring.
    size : str, optional
        Column whose stratum totals ``X_h`` replace ``N_h`` in the formulas (e.g.
        ``"population"``: villages are shared in proportion to people); default: the
        number of units.
    count : str, optional
        Column of the number of units each row stands for (a frame of strata or
        communes); default one unit per row. Caps each stratum at its units.
    sd : column, mapping or number
        The standard deviation ``S_h`` of the item in each stratum (``"neyman"``,
        required; ``"optimal"``, default equal): a column holding the stratum's value on
        each of its rows, or ``{stratum: sd}``.
    cost : column, mapping or number
        ``"optimal"``: cost of one unit in each stratum (e.g. travel and interviewing
        cost of one village).
    budget : float
        ``"optimal"``: total cost instead of ``n``; the allocation spends at most it.
    minimum : int
        Units per stratum at least (2: a stratum's variance needs two PSUs); strata
        smaller than this are taken whole.
    effect, cluster_size, icc, p, deff_weighting, design, revisited, r_cluster, alpha, power
        ``"mde"``: the planning inputs of :func:`perception.sample_size` (``effect`` the
        difference-in-differences to detect; ``cluster_size`` interviews per village;
        ``p`` or ``sd`` the item's spread). Those not given are measured on
        ``last_wave``; without it ``deff_weighting`` is 1.
    last_wave : SurveyDesign, optional
        ``"mde"``: the last wave's design (with ``psu=``), on which the ICC of
        ``variable`` (:func:`perception.icc`, within strata), the weighting design effect
        (``1 + CV^2`` of the weights), the interviews per village and ``p`` (0/1 item) or
        ``sd`` are measured.
    variable : str, optional
        ``"mde"``: the item measured on ``last_wave``.
    arm : str, optional
        ``"mde"`` with ``design="did"``: the column of the arm (treated or comparison),
        constant within strata; each arm gets the villages ``sample_size`` gives per arm.

    Returns
    -------
    Allocation
        ``.table`` (one row per stratum), ``.n`` (``{stratum: n_h}``, for
        :func:`perception.select_pps`), ``.plan`` (``"mde"``), ``.notes``.

    Raises
    ------
    SamplingError
        For a missing or non-numeric column, missing strata, an unknown method, a
        missing ``sd``/``cost``/``effect``, ``n`` below the minimums or above the
        frame, or a mapping that misses a stratum.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"cercle": ["A"] * 20 + ["B"] * 20,
    ...                       "sd": [0.3] * 20 + [0.6] * 20})
    >>> allocate(frame, 9, strata="cercle", method="neyman", sd="sd").n
    {'A': 3, 'B': 6}
    >>> allocate(frame, strata="cercle", method="optimal", sd="sd",
    ...          cost={"A": 1.0, "B": 4.0}, budget=40).n
    {'A': 8, 'B': 8}

    Notes
    -----
    No R ``survey`` function allocates; the formulas are Cochran (1977), 5.5 and 5.9.
    R's ``sampling`` package offers none either (``PracTools::strAlloc`` does
    proportional, Neyman and optimal allocation without rounding).
    """
    frame = check_frame(frame, "allocate")
    if method not in ALLOCATION_METHODS:
        raise SamplingError(
            f"method={method!r} is not an allocation method; choose one of "
            f"{', '.join(map(repr, ALLOCATION_METHODS))}"
        )
    if strata is None:
        raise SamplingError("allocate() shares a sample across strata: give strata= "
                          "(e.g. strata='cercle')")
    minimum = whole_number(minimum, "minimum", 0)
    st = frame_strata(frame, strata)
    units = _units(frame, st, count)
    weight = _weights(frame, st, size, units)
    if np.any(weight <= 0):
        empty = [stratum_label(st.keys[h]) for h in np.flatnonzero(weight <= 0)]
        raise SamplingError(f"stratum {', '.join(empty[:10])} has no units or a size total of "
                          "0; remove it from the frame")
    lo = np.minimum(minimum, units)
    hi = units.copy()
    notes: list[str] = []
    sd_h = cost_h = None
    plan = None
    if method in ("neyman", "optimal"):
        if method == "neyman" and sd is None:
            raise SamplingError(
                "method='neyman' needs sd=, the standard deviation of the item in each "
                "stratum: a column (the stratum's value on each row), a mapping "
                "{stratum: sd} or one number"
            )
        if sd is not None:
            sd_h = per_stratum(frame, st, sd, "sd")
            if not np.any(sd_h > 0):
                raise SamplingError("sd is 0 in every stratum: Neyman allocation is undefined; "
                                  "use method='proportional'")
    if method == "optimal":
        if cost is None:
            raise SamplingError("method='optimal' needs cost=, the cost of one unit in each "
                              "stratum (column, mapping or number)")
        cost_h = per_stratum(frame, st, cost, "cost", positive=True)
        if (n is None) == (budget is None):
            raise SamplingError("method='optimal' needs exactly one of n= (total units) or "
                              "budget= (total cost)")
    elif cost is not None or budget is not None:
        raise SamplingError(f"cost= and budget= apply to method='optimal', not {method!r}")
    if method != "mde":
        unused = [k for k, v in dict(effect=effect, cluster_size=cluster_size, icc=icc, p=p,
                                     deff_weighting=deff_weighting, last_wave=last_wave,
                                     variable=variable, arm=arm).items() if v is not None]
        if unused:
            raise SamplingError(f"{', '.join(unused)} apply to method='mde', not {method!r}")
    if method == "mde" and sd is not None and not isinstance(sd, numbers.Real):
        raise SamplingError("method='mde' takes sd= as one number (the item's standard "
                          "deviation), not per stratum")
    a = _shares(method, weight, sd_h, cost_h)

    arm_h = None
    if method == "mde":
        if n is not None:
            raise SamplingError("method='mde' derives the number of villages from effect=; "
                              "leave n out")
        plan, plan_notes, args = _mde_plan(dict(
            effect=effect, cluster_size=cluster_size, icc=icc, p=p, sd=sd,
            deff_weighting=deff_weighting, last_wave=last_wave, variable=variable,
            design=design, revisited=revisited, r_cluster=r_cluster, alpha=alpha,
            power=power))
        notes += plan_notes
        k = int(plan["n_clusters"].iloc[0])
        groups, arm_h = _arms(frame, st, arm, design)
        x = np.zeros(st.size)
        n_h = np.zeros(st.size, dtype=np.int64)
        raised = np.zeros(st.size, dtype=bool)
        for label, members in groups:
            what = f"the {k} villages needed{'' if label is None else f' in arm {label!r}'}"
            _feasible(k, lo[members], hi[members], st, what, minimum)
            x[members], n_h[members], raised[members] = _allocate_part(
                a[members], lo[members], hi[members], k)
        per_arm = [int(n_h[members].sum()) for _, members in groups]
        achieved = power_mde(min(per_arm), **args)
        plan["n_clusters_allocated"] = min(per_arm)
        plan["mde_allocated"] = float(achieved["mde"].iloc[0])
        m = int(args["cluster_size"]) if float(args["cluster_size"]).is_integer() else args[
            "cluster_size"]
    else:
        if budget is not None:
            budget = float(budget)
            if not np.isfinite(budget) or budget <= 0:
                raise SamplingError(f"budget must be a positive number, got {budget!r}")
            _feasible(budget, lo, hi, st, f"budget={budget:g}", minimum, cost_h)
            _positive_share_check(a, lo, hi, budget, st, method, cost_h)
            x, n_h, raised = _allocate_part(a, lo, hi, None, cost_h, budget)
        else:
            if n is None:
                raise SamplingError(f"method={method!r} needs n=, the units to draw in all "
                                  "strata")
            total = whole_number(n, "n", 1)
            _feasible(total, lo, hi, st, f"n={total}", minimum)
            _positive_share_check(a, lo, hi, total, st, method)
            x, n_h, raised = _allocate_part(a, lo, hi, total)

    table = _keys_frame(st)
    if arm_h is not None:
        table[arm] = arm_h
    table["N_h"] = units.astype(np.int64)
    if size is not None:
        table["X_h"] = weight
    if sd_h is not None:
        table["sd"] = sd_h
    if cost_h is not None:
        table["cost"] = cost_h
    table["n_exact"] = x
    table["n_h"] = n_h.astype(np.int64)
    table["fraction"] = n_h / units
    table["take_all"] = (n_h == units)
    table["at_minimum"] = raised
    if cost_h is not None:
        table["total_cost"] = n_h * cost_h
    if method == "mde":
        table["cluster_size"] = m
        table["n_interviews"] = n_h * m
    take_all = [stratum_label(st.keys[h]) for h in np.flatnonzero(table["take_all"])]
    if take_all:
        notes.append(f"take-all strata (every unit drawn): {', '.join(take_all)}")
    at_minimum = [stratum_label(st.keys[h]) for h in np.flatnonzero(table["at_minimum"])]
    if at_minimum:
        notes.append(f"strata raised to the minimum of {minimum}: {', '.join(at_minimum)}")
    if budget is not None and cost_h is not None:
        notes.append(f"cost {float((n_h * cost_h).sum()):g} of a budget of {budget:g}")
    result_n = {key: int(v) for key, v in zip(st.keys, n_h, strict=True)}
    return Allocation(table=table, n=result_n, method=method, plan=plan, notes=tuple(notes))


def _arms(frame: pd.DataFrame, strata: Strata, arm: str | None, design: str
          ) -> tuple[list[tuple[Any, np.ndarray]], list | None]:
    """Groups of strata that each receive the villages of sample_size(): the two arms
    (DiD) or all strata (change)."""
    if design != "did":
        if arm is not None:
            raise SamplingError("arm= applies to design='did'")
        return [(None, np.arange(strata.size))], None
    if arm is None:
        raise SamplingError(
            "design='did' gives the villages needed per arm: give arm=, the column of the "
            "treatment arm (constant within strata, e.g. strata=['cercle', 'treated'], "
            "arm='treated')"
        )
    if arm not in frame.columns:
        raise SamplingError(f"arm: the frame has no column {arm!r}")
    values = frame[arm]
    if values.isna().any():
        raise SamplingError(f"arm column {arm!r} is missing in rows "
                          f"{list(frame.index[values.isna().to_numpy()][:10])}")
    arm_h = []
    for h in range(strata.size):
        v = values.iloc[strata.rows(h)].unique()
        if len(v) != 1:
            raise SamplingError(
                f"arm column {arm!r} varies within stratum {stratum_label(strata.keys[h])}; "
                "strata must lie within one arm: add the arm to strata= (e.g. "
                f"strata=[..., {arm!r}])"
            )
        arm_h.append(v[0].item() if isinstance(v[0], np.generic) else v[0])
    levels = list(dict.fromkeys(arm_h))
    if len(levels) != 2:
        raise SamplingError(f"arm column {arm!r} must have two values (treated and comparison), "
                          f"has {levels}")
    groups = [(level, np.flatnonzero(np.array([v == level for v in arm_h])))
              for level in sorted(levels, key=str)]
    return groups, arm_h
