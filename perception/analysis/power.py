"""Power of before/after designs: intra-cluster correlation, detectable effects, sample sizes.

The planning formulas of a cluster sample (villages as PSUs, ``m`` respondents each):

- cluster design effect ``deff_c = 1 + (m - 1) ICC`` per wave;
- revisited villages (new respondents in the same villages) share the village effect
  across waves; with ``r_cluster`` its correlation between waves, the covariance of the
  two waves' means removes ``m ICC r_cluster`` from the design effect of a change:
  ``deff_change = (1 + (m - 1) ICC - m ICC r_cluster) * deff_weighting``;
- the weighting design effect ``deff_weighting`` (Kish's ``1 + CV^2`` of the weights)
  multiplies it;
- ``Var(change of one group) = 2 sd^2 deff_change / (k m)`` with ``k`` villages per wave;
  a two-wave DiD compares two such changes (treated and comparison, ``k`` villages per
  arm): ``Var(DiD) = 4 sd^2 deff_change / (k m)``;
- detectable effect ``MDE = (z_{1-alpha/2} + z_{power}) SE`` (two-sided test).

For a proportion ``sd^2 = p (1 - p)``, largest at ``p = 0.5`` (the conservative choice).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from ..survey.checks import check_columns, check_design, column_names, numeric_values
from ..survey.design import SurveyDesign
from ..survey.engine import active_rows

__all__ = ["icc", "mde", "sample_size", "PLAN_COLUMNS"]

PlanDesign = Literal["change", "did"]

#: columns shared by the tables of :func:`mde` and :func:`sample_size`
PLAN_COLUMNS = [
    "design", "n_clusters", "cluster_size", "icc", "sd", "deff_cluster", "deff_weighting",
    "revisited", "r_cluster", "deff_change", "alpha", "power", "se", "mde", "n_interviews",
]

# number of independent (cell mean) variances in the estimate: 2 for one group's
# change, 4 for a two-wave DiD (two arms x two waves)
_CELLS = {"change": 2, "did": 4}


# ------------------------------------------------------------------------- ICC --
def icc(
    design: SurveyDesign,
    var: str | Sequence[str],
    weighted: bool = False,
    within_strata: bool = True,
    na_rm: bool = False,
) -> pd.DataFrame:
    """ANOVA estimate of the intra-cluster correlation at the PSU (village) level.

    Parameters
    ----------
    design : SurveyDesign with PSUs (villages). Use ``design.subset(...)`` to estimate
        the ICC within one wave: a village revisited at several waves pools them.
    var : numeric or 0/1 column(s).
    weighted : False (default) -- the classical unweighted one-way ANOVA estimator, the
        quantity used by planning formulas. True -- a design-weighted version: counts,
        means and sums of squares use the weights normalised to sum to the number of
        rows (a pseudo-ANOVA; approximate, reported for comparison).
    within_strata : clusters are compared with their stratum's mean (clusters nested in
        strata, between-stratum differences removed: the ICC that drives the design
        effect of a stratified sample). False: one-way ANOVA over all PSUs.
    na_rm : leave out rows with a missing value (otherwise an error naming the column).

    Returns
    -------
    DataFrame with ``variable``, ``icc``, ``msb`` (between-cluster mean square), ``msw``
    (within), ``n0`` (the ANOVA's average cluster size), ``n_clusters``, ``n``, and
    ``weighted``.

    Examples
    --------
    >>> d = pc.demo_survey(seed=1).design()
    >>> baseline = d.subset(d.data["wave"] == 0)
    >>> pc.icc(baseline, "trust_police")[["variable", "icc", "n_clusters", "n"]].round(3)
           variable    icc  n_clusters     n
    0  trust_police  0.049         322  4001

    Notes
    -----
    ``ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW)`` with ``n0 = (n - sum_h sum_i n_hi^2 /
    n_h) / (C - H)`` (C clusters, H strata; H = 1 without ``within_strata``). R:
    the mean squares of ``anova(lm(y ~ factor(stratum) + factor(psu)))`` (with
    ``weights=`` for the weighted version); there is no ICC in R's ``survey``.
    The estimate can be negative when clusters are more alike than chance would give.
    """
    check_design(design)
    if not isinstance(design, SurveyDesign):
        raise EstimationError(
            "icc() needs a SurveyDesign with PSUs: a replicate design does not say which "
            "village each respondent belongs to"
        )
    if not design.psu_columns:
        raise EstimationError(
            "the design has no psu= column (each row is its own PSU), so there is no "
            "cluster to correlate within; build the design with psu='psu_id'"
        )
    names = column_names(var, "var")
    if not names:
        raise EstimationError("give at least one variable to icc()")
    check_columns(design.data, names, "var")
    rows = []
    for name in names:
        y = numeric_values(design.data, name)
        active = active_rows(design, [name], np.isnan(y), na_rm, "var")
        rows.append({"variable": name, **_anova_icc(design, y, active, weighted,
                                                    within_strata)})
    return pd.DataFrame(rows)


def _anova_icc(design: SurveyDesign, y: np.ndarray, active: np.ndarray, weighted: bool,
               within_strata: bool) -> dict:
    cluster = design.psu_codes[active]
    stratum = design.stratum_codes[active] if within_strata else np.zeros(
        int(active.sum()), dtype=np.int64)
    y = y[active]
    n = y.shape[0]
    if weighted:
        w = design.weight_array[active]
        w = w * n / w.sum()
    else:
        w = np.ones(n)
    _, cluster = np.unique(cluster, return_inverse=True)
    _, stratum = np.unique(stratum, return_inverse=True)
    n_i = np.bincount(cluster, w)
    mean_i = np.bincount(cluster, w * y) / n_i
    cl_st = np.zeros(n_i.shape[0], dtype=np.int64)
    cl_st[cluster] = stratum
    n_h = np.bincount(stratum, w)
    mean_h = np.bincount(stratum, w * y) / n_h
    n_clusters, n_strata = n_i.shape[0], n_h.shape[0]
    df_b, df_w = n_clusters - n_strata, n - n_clusters
    if df_b < 1 or df_w < 1:
        raise EstimationError(
            f"{n_clusters} PSU(s) in {n_strata} stratum(s) for {n} rows: the ICC needs more "
            "PSUs than strata and more rows than PSUs"
        )
    ssb = float((n_i * (mean_i - mean_h[cl_st]) ** 2).sum())
    ssw = float((w * (y - mean_i[cluster]) ** 2).sum())
    msb, msw = ssb / df_b, ssw / df_w
    n0 = (w.sum() - float((np.bincount(cl_st, n_i**2) / n_h).sum())) / df_b
    denominator = msb + (n0 - 1) * msw
    value = (msb - msw) / denominator if denominator > 0 else float("nan")
    return {"icc": value, "msb": msb, "msw": msw, "n0": n0, "n_clusters": n_clusters,
            "n": n, "weighted": weighted}


# ----------------------------------------------------------------- MDE / size --
def _sd(p, sd) -> np.ndarray:
    if (p is None) == (sd is None):
        raise EstimationError(
            "give exactly one of p= (a proportion, e.g. p=0.5: sd = sqrt(p (1 - p))) or "
            "sd= (the standard deviation of a mean's item)"
        )
    if p is not None:
        p = np.atleast_1d(np.asarray(p, dtype=float))
        if np.any((p <= 0) | (p >= 1)) or not np.all(np.isfinite(p)):
            raise EstimationError(f"p must lie strictly between 0 and 1, got {p.tolist()}")
        return np.sqrt(p * (1 - p))
    sd = np.atleast_1d(np.asarray(sd, dtype=float))
    if np.any(sd <= 0) or not np.all(np.isfinite(sd)):
        raise EstimationError(f"sd must be positive, got {sd.tolist()}")
    return sd


def _as_grid_values(value, name: str, low: float, integer: bool = False) -> list[float]:
    values = np.atleast_1d(np.asarray(value, dtype=float)).ravel().tolist()
    if not values:
        raise EstimationError(f"{name} is empty")
    for v in values:
        if not np.isfinite(v) or v < low:
            raise EstimationError(f"{name} must be >= {low:g}, got {v!r}")
        if integer and v != int(v):
            raise EstimationError(f"{name} must be a whole number, got {v!r}")
    return values


def _check_plan(design: str, alpha: float, power: float, deff_weighting: float,
                r_cluster: float) -> None:
    if design not in _CELLS:
        raise EstimationError(
            f"design={design!r} is not an option; choose 'change' (one group, two waves) or "
            "'did' (two-wave difference-in-differences, n_clusters per arm)"
        )
    if not 0 < alpha < 1:
        raise EstimationError(f"alpha must lie between 0 and 1, got {alpha!r}")
    if not 0 < power < 1:
        raise EstimationError(f"power must lie between 0 and 1, got {power!r}")
    if not deff_weighting >= 1:
        raise EstimationError(
            f"deff_weighting must be >= 1 (Kish's 1 + CV^2 of the weights), got "
            f"{deff_weighting!r}"
        )
    if not 0 <= r_cluster <= 1:
        raise EstimationError(
            f"r_cluster (correlation of a village's effect between waves) must lie in [0, 1], "
            f"got {r_cluster!r}"
        )


def _deff_change(m, rho, deff_weighting, revisited, r_cluster):
    deff_cluster = 1 + (m - 1) * rho
    gain = m * rho * r_cluster if revisited else 0.0
    return deff_cluster, (deff_cluster - gain) * deff_weighting


def _multiplier(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def mde(
    n_clusters: float | Sequence[float],
    cluster_size: float | Sequence[float],
    icc: float | Sequence[float],
    p: float | Sequence[float] | None = None,
    sd: float | Sequence[float] | None = None,
    deff_weighting: float = 1.0,
    alpha: float = 0.05,
    power: float = 0.8,
    design: PlanDesign = "change",
    revisited: bool = False,
    r_cluster: float = 0.5,
) -> pd.DataFrame:
    """Minimum detectable effect of a change or a two-wave DiD.

    Parameters
    ----------
    n_clusters : villages per wave (``design="change"``) or per arm and wave
        (``design="did"``). Several values give one row each (a planning grid, with
        ``cluster_size``, ``icc`` and ``p``/``sd``).
    cluster_size : respondents per village and wave (``m``).
    icc : intra-cluster correlation of the item (see :func:`icc`; plan with 0.05-0.20 for
        trust items).
    p : proportion of a binary item (``sd = sqrt(p (1 - p))``); or
    sd : standard deviation of a scored item.
    deff_weighting : design effect of unequal weights (1 + CV^2 of the weights).
    alpha : two-sided significance level.
    power : probability of detecting an effect of size ``mde``.
    design : "change" (one group, wave 2 minus wave 1) or "did" (treated minus
        comparison change).
    revisited : the same villages are surveyed at both waves (new respondents).
    r_cluster : correlation of a village's effect between the waves (used with
        ``revisited``); 0.5 is a middling planning value.

    Returns
    -------
    DataFrame (:data:`PLAN_COLUMNS`): one row per combination, with the design effects,
    the SE of the estimate and ``mde`` (in the item's units: proportion points for
    ``p``), and ``n_interviews`` (all interviews of the design).

    Examples
    --------
    >>> row = mde(40, 15, 0.10, p=0.5, deff_weighting=1.3, design="did").iloc[0]
    >>> round(float(row["mde"]), 3)
    0.202
    >>> round(float(mde(40, 15, 0.10, p=0.5, deff_weighting=1.3, design="did",
    ...                 revisited=True)["mde"].iloc[0]), 3)
    0.168

    Notes
    -----
    ``SE = sqrt(c sd^2 deff_change / (n_clusters m))`` with ``c = 2`` (change) or 4
    (DiD), ``MDE = (z_{1-alpha/2} + z_{power}) SE`` (normal approximation; with few
    villages the t distribution makes detectable effects a little larger). No R
    ``survey`` equivalent; for ``icc = 0`` and no weighting it is the two-sample z test
    of ``pwr``/statsmodels ``NormalIndPower``.
    """
    _check_plan(design, alpha, power, deff_weighting, r_cluster)
    sds = _sd(p, sd)
    k_values = _as_grid_values(n_clusters, "n_clusters", 2)
    m_values = _as_grid_values(cluster_size, "cluster_size", 1)
    rho_values = _as_grid_values(icc, "icc", 0)
    if any(r >= 1 for r in rho_values):
        raise EstimationError(f"icc must be below 1, got {rho_values}")
    z = _multiplier(alpha, power)
    rows = []
    for k, m, rho, s in itertools.product(k_values, m_values, rho_values, sds.tolist()):
        deff_cluster, deff_change = _deff_change(m, rho, deff_weighting, revisited, r_cluster)
        se = float(np.sqrt(_CELLS[design] * s**2 * deff_change / (k * m)))
        rows.append(_plan_row(design, k, m, rho, s, deff_cluster, deff_weighting, revisited,
                              r_cluster, deff_change, alpha, power, se, z * se))
    return pd.DataFrame(rows)[PLAN_COLUMNS]


def _plan_row(design, k, m, rho, s, deff_cluster, deff_weighting, revisited, r_cluster,
              deff_change, alpha, power, se, detectable) -> dict:
    arms = 2 if design == "did" else 1
    k = int(k) if float(k).is_integer() else k
    m = int(m) if float(m).is_integer() else m
    return {
        "design": design, "n_clusters": k, "cluster_size": m, "icc": rho, "sd": s,
        "deff_cluster": deff_cluster, "deff_weighting": float(deff_weighting),
        "revisited": bool(revisited), "r_cluster": float(r_cluster) if revisited else 0.0,
        "deff_change": deff_change, "alpha": alpha, "power": power, "se": se,
        "mde": detectable, "n_interviews": int(round(2 * arms * k * m)),
    }


def sample_size(
    effect: float | Sequence[float],
    cluster_size: float | Sequence[float],
    icc: float | Sequence[float],
    p: float | Sequence[float] | None = None,
    sd: float | Sequence[float] | None = None,
    deff_weighting: float = 1.0,
    alpha: float = 0.05,
    power: float = 0.8,
    design: PlanDesign = "change",
    revisited: bool = False,
    r_cluster: float = 0.5,
) -> pd.DataFrame:
    """Villages needed to detect ``effect`` (the inverse of :func:`mde`).

    Parameters are those of :func:`mde`, with ``effect`` (in the item's units, e.g. 0.12
    for 12 proportion points) instead of ``n_clusters``.

    Returns
    -------
    DataFrame (:data:`PLAN_COLUMNS` plus ``effect``): ``n_clusters`` is the whole
    number of villages per wave (``"change"``) or per arm (``"did"``) that reaches the
    power, ``mde`` the detectable effect with that many villages (<= ``effect``).

    Examples
    --------
    >>> int(sample_size(0.12, 20, 0.10, p=0.5, deff_weighting=1.3, design="did",
    ...                 revisited=True)["n_clusters"].iloc[0])
    68

    Notes
    -----
    ``n_clusters = ceil(c sd^2 deff_change (z_{1-alpha/2} + z_{power})^2 / (m effect^2))``.
    """
    _check_plan(design, alpha, power, deff_weighting, r_cluster)
    sds = _sd(p, sd)
    effects = _as_grid_values(effect, "effect", 0)
    if any(e <= 0 for e in effects):
        raise EstimationError(f"effect must be positive, got {effects}")
    m_values = _as_grid_values(cluster_size, "cluster_size", 1)
    rho_values = _as_grid_values(icc, "icc", 0)
    if any(r >= 1 for r in rho_values):
        raise EstimationError(f"icc must be below 1, got {rho_values}")
    z = _multiplier(alpha, power)
    rows = []
    for e, m, rho, s in itertools.product(effects, m_values, rho_values, sds.tolist()):
        deff_cluster, deff_change = _deff_change(m, rho, deff_weighting, revisited, r_cluster)
        exact = _CELLS[design] * s**2 * deff_change * z**2 / (m * e**2)
        k = max(2, int(np.ceil(exact - 1e-9)))
        se = float(np.sqrt(_CELLS[design] * s**2 * deff_change / (k * m)))
        row = _plan_row(design, k, m, rho, s, deff_cluster, deff_weighting, revisited,
                        r_cluster, deff_change, alpha, power, se, z * se)
        rows.append({"effect": e, **row})
    return pd.DataFrame(rows)[["effect", *PLAN_COLUMNS]]
