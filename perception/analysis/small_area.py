"""Small-area estimation: the Fay–Herriot area-level model and its EBLUP.

A survey of a few thousand adults gives 20–60 respondents per commune: the direct
(design-based) estimate of a commune is too noisy to publish. The Fay–Herriot model
(Fay & Herriot 1979) borrows strength from the other communes through area-level
auxiliaries:

    direct_i = theta_i + e_i,   e_i ~ N(0, psi_i)  (psi_i: the direct variance, known)
    theta_i  = x_i' beta + v_i, v_i ~ N(0, sigma_v^2)

The EBLUP ``gamma_i * direct_i + (1 - gamma_i) * x_i' beta`` with
``gamma_i = sigma_v^2 / (sigma_v^2 + psi_i)`` leans on the direct estimate where it is
precise and on the regression where it is not. Areas without a sample get the synthetic
estimate ``x_i' beta``.

Everything here is a pure function of the table of direct estimates: no design, no raw
data. The formulas are those of Rao & Molina (2015), *Small Area Estimation*, 2nd ed.,
chapter 6, and equal R's ``sae::mseFH`` and samplics' ``EblupAreaModel`` (checked in
``tests/analysis/test_small_area.py`` against an independent base-R computation,
``tests/reference/make_fay_herriot.R``, and samplics 0.6.1, to 1e-6).

Examples
--------
>>> import pandas as pd
>>> direct = pd.DataFrame({
...     "commune": list("abcdefgh"),
...     "estimate": [0.32, 0.65, 0.21, 0.72, 0.48, 0.29, 0.58, 0.55],
...     "se": [0.08, 0.10, 0.07, 0.12, 0.09, 0.06, 0.11, 0.08],
...     "urban": [1, 1, 0, 1, 0, 0, 1, 0]})
>>> res = fay_herriot(direct, "estimate ~ urban", area="commune", se="se", n_psu=None, n=None)
>>> round(res.model_variance, 4)
0.0215
>>> res.estimates[["area", "estimate", "rmse", "gamma"]].round(3).head(3)
  area  estimate   rmse  gamma
0    a     0.374  0.078  0.771
1    b     0.620  0.095  0.683
2    c     0.241  0.069  0.815
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..disclosure.suppression import DEFAULT_MIN_CELL, check_count
from ..errors import EstimationError, format_rows
from ..survey.models import check_formula, formula_environment, patsy_ready

if TYPE_CHECKING:  # pragma: no cover
    from ..questionnaire.model import Questionnaire

__all__ = ["fay_herriot", "FayHerriotResult", "METHODS", "DEFAULT_MIN_PSU"]

Method = Literal["REML", "ML", "FH"]
GVFForm = Literal["inverse_n", "free"]
#: how the model variance sigma_v^2 is estimated
METHODS = ("REML", "ML", "FH")
#: forms of the generalised variance function: the coefficient of log n fixed at -1, or free
GVF_FORMS = ("inverse_n", "free")
#: direct variances resting on fewer PSUs than this are replaced by the GVF
DEFAULT_MIN_PSU = 5
# a direct variance below this fraction of the median positive one is 0 up to rounding
_ZERO_VARIANCE = 1e-16
#: MSE estimator used with each method
MSE_METHODS = {
    "REML": "Prasad-Rao (Datta-Lahiri 2000 for REML)",
    "ML": "Datta-Lahiri (with the ML bias correction)",
    "FH": "Datta-Rao-Smith (Fay-Herriot moment method)",
}

# ---------------------------------------------------------------------------------------
# The result


@dataclass(frozen=True)
class FayHerriotResult:
    """A fitted Fay–Herriot model: EBLUPs of the areas with their MSE.

    Attributes
    ----------
    estimates : DataFrame
        One row per area (sampled areas, then the areas of ``areas=`` without a
        sample): ``area``, the ``keep`` columns, ``estimate`` (the EBLUP, or the
        synthetic ``x'beta`` for an area without a sample; benchmarked when
        ``benchmark=`` was given), ``mse``, ``rmse``, ``cv`` (rmse / |estimate|),
        ``ci_low``, ``ci_high`` (estimate ± z·rmse), ``direct``, ``direct_se`` (as
        given), ``sampling_se`` (the standard error the model used: the direct one or
        the GVF's), ``gamma`` (weight of the direct estimate), ``synthetic`` (no sample:
        model only), ``smoothed`` (direct variance replaced by the GVF),
        ``variance_source`` (why), ``n`` and ``n_psu`` (when given), and with
        benchmarking ``eblup`` (before benchmarking) and ``benchmark_ratio``.
    coefficients : DataFrame
        Indexed by term (patsy names): ``estimate``, ``se``, ``z``, ``p``, ``ci_low``,
        ``ci_high`` (GLS at the estimated model variance; normal reference, as R's sae).
    model_variance : float
        sigma_v^2, the variance of the area effects (0 when truncated).
    model_variance_se : float
        Its asymptotic standard error (the sqrt of the variance used in the MSE's g3).
    method : "REML", "ML" or "FH".
    mse_method : the MSE estimator (see :data:`MSE_METHODS`).
    mse_terms : DataFrame
        Per area: ``g1``, ``g2``, ``g3`` and ``bias_term`` (the ML/FH bias correction
        ``b(sigma_v^2)·(1-gamma)^2`` subtracted; 0 for REML), so ``mse = g1 + g2 + 2·g3
        - bias_term``.
    gvf : DataFrame or None
        The generalised variance function when some direct variances were smoothed:
        ``term`` (``Intercept``, ``log_n``, ``estimate``), ``coefficient``, ``fixed``
        (the log n coefficient of ``gvf="inverse_n"``, -1); its ``attrs`` hold ``form``,
        ``smearing`` (Duan's factor), ``n_areas`` (areas it was fitted on) and
        ``r_squared`` (of the log variances).
    formula, area, level, iterations, notes
        The model formula, the area column's name, the interval level, Fisher-scoring
        iterations, and what the user should know (truncation, smoothing, benchmarking).
    """

    estimates: pd.DataFrame
    coefficients: pd.DataFrame
    model_variance: float
    model_variance_se: float
    method: str
    mse_method: str
    mse_terms: pd.DataFrame
    gvf: pd.DataFrame | None
    formula: str
    area: str
    level: float
    iterations: int
    notes: tuple[str, ...] = ()
    benchmark: dict[str, Any] | None = None
    keep: tuple[str, ...] = field(default=(), repr=False)

    @property
    def params(self) -> pd.Series:
        """The regression coefficients as a Series."""
        return self.coefficients["estimate"].copy()

    def summary(self) -> str:
        """A printable account of the fit: method, model variance, coefficients, MSE
        estimator, smoothing, benchmarking.

        Examples
        --------
        >>> print(res.summary())                          # doctest: +SKIP
        """
        est = self.estimates
        sampled = int((~est["synthetic"]).sum())
        lines = [
            f"Fay-Herriot area-level model, {self.method} ({_METHOD_NAMES[self.method]})",
            f"Formula: {self.formula}    areas: {sampled} sampled"
            + (f", {len(est) - sampled} without a sample (synthetic)" if len(est) > sampled
               else ""),
            f"Model variance sigma_v^2: {_num(self.model_variance)} "
            f"(se {_num(self.model_variance_se)}); Fisher-scoring iterations: "
            f"{self.iterations}",
            f"MSE: {self.mse_method}",
            "",
            "Coefficients (GLS at the estimated model variance):",
        ]
        table = self.coefficients
        names = [str(t) for t in table.index]
        width = max([len(s) for s in names] + [4])
        lines.append(f"{'':<{width}}  {'Estimate':>12}  {'Std. Error':>12}  {'z value':>9}  "
                     f"{'Pr(>|z|)':>10}")
        columns = (table[c].to_numpy(dtype=float) for c in ("estimate", "se", "z", "p"))
        for name, estimate, se, z, p in zip(names, *columns, strict=True):
            lines.append(f"{name:<{width}}  {_num(estimate):>12}  {_num(se):>12}  "
                         f"{z:>9.3f}  {p:>10.4g}")
        gamma = est.loc[~est["synthetic"], "gamma"]
        gain = est.loc[~est["synthetic"], "rmse"] / est.loc[~est["synthetic"], "sampling_se"]
        lines += [
            "",
            f"Weight of the direct estimate (gamma): median {_num(gamma.median())}, "
            f"range {_num(gamma.min())} to {_num(gamma.max())}",
            f"rMSE of the EBLUP / sampling SE of the direct estimate: median "
            f"{_num(gain.median())}",
        ]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def area_codes(self, *, coarse: str = "cercle") -> pd.DataFrame:
        """The key of the anonymised codes of :meth:`published`: ``area``, ``coarse``,
        ``area_code``. Keep it with the restricted data; never publish it.

        The code of an area is ``A01``, ``A02``, ... within its ``coarse`` unit, in the
        order of the published estimates (lowest first): it tells nothing the published
        estimate does not, and the codes of two tables do not link their areas.

        Examples
        --------
        >>> res.area_codes(coarse="cercle").head()        # doctest: +SKIP
        """
        est = self.estimates
        if coarse not in est.columns:
            raise EstimationError(
                f"the estimates have no {coarse!r} column to show the areas by. Fix: fit "
                f"with keep=[{coarse!r}] (a column of the area table), or choose coarse= "
                f"among {', '.join(map(repr, self.keep)) or '(no kept column)'}"
            )
        missing = est[coarse].isna()
        if missing.any():
            raise EstimationError(
                f"{coarse!r} is missing for the areas {format_rows(est.loc[missing, 'area'])}:"
                " every area needs its coarse unit to be published by it. Fix: complete the "
                f"{coarse!r} column of the area table"
            )
        order = est.sort_values([coarse, "estimate", "rmse"], kind="mergesort")
        rank = order.groupby(coarse, sort=False).cumcount() + 1
        width = max(2, len(str(int(rank.max())))) if len(rank) else 2
        codes = "A" + rank.astype(str).str.zfill(width)
        key = pd.DataFrame({"area": order["area"].to_numpy(), coarse: order[coarse].to_numpy(),
                            "area_code": codes.to_numpy()})
        return key.set_index("area").loc[est["area"]].reset_index()

    def published(
        self,
        *,
        min_cell: int = DEFAULT_MIN_CELL,
        questionnaire: Questionnaire | None = None,
        reveal_areas: bool = False,
        coarse: str = "cercle",
    ) -> pd.DataFrame:
        """The table that may leave the project.

        Model-based estimates are not cell counts: every area's EBLUP is shown with its
        root-MSE and interval. An area's ``n`` and its ``direct`` estimate (with its
        ``direct_se``) are shown only when ``n >= min_cell``; otherwise they are blank
        and ``direct_suppressed`` is True. Areas the questionnaire marks ``sensitive``
        (communes are) -- or every area when no questionnaire is given or it does not
        declare the area column -- are shown by
        their ``coarse`` unit (the cercle) and an anonymised code (:meth:`area_codes`)
        instead of their name, unless ``reveal_areas=True``.

        Parameters
        ----------
        min_cell : int
            Fewest respondents whose direct estimate and count may be shown (30).
        questionnaire : Questionnaire, optional
            Says whether the area variable is ``sensitive``.
        reveal_areas : bool
            Show the areas' names even when sensitive (a restricted release).
        coarse : str
            The column (kept with ``keep=``) that sensitive areas are shown by. The other
            kept columns are shown too: keep only columns coarser than the area.

        Returns
        -------
        DataFrame
            ``area`` (or ``coarse`` and ``area_code``), the other kept columns,
            ``estimate``, ``rmse``, ``cv``, ``ci_low``, ``ci_high``, ``synthetic``,
            ``n``, ``direct``, ``direct_se``, ``direct_suppressed``; ``attrs`` record
            the method and ``min_cell``.

        Examples
        --------
        >>> res.published(questionnaire=q)               # doctest: +SKIP
        """
        check_count("min_cell", min_cell)
        est = self.estimates
        sensitive = True
        if questionnaire is not None:
            variables = questionnaire.variables
            row = variables[variables["name"] == self.area]
            if len(row):
                sensitive = bool(row["sensitive"].fillna(False).iloc[0])
        hide_names = sensitive and not reveal_areas
        out = pd.DataFrame(index=est.index)
        kept = [c for c in self.keep if c != coarse or not hide_names]
        if hide_names:
            codes = self.area_codes(coarse=coarse)
            out[coarse] = codes[coarse].to_numpy()
            out["area_code"] = codes["area_code"].to_numpy()
        else:
            out["area"] = est["area"].to_numpy()
        for column in kept:
            out[column] = est[column].to_numpy()
        for column in ("estimate", "rmse", "cv", "ci_low", "ci_high", "synthetic"):
            out[column] = est[column].to_numpy()
        n = est["n"] if "n" in est.columns else pd.Series(np.nan, index=est.index)
        n = pd.to_numeric(n, errors="coerce").astype(float)
        # an unknown n cannot be shown to reach min_cell
        small = ~(n >= min_cell)
        out["n"] = _as_count(n.where(~small))
        out["direct"] = est["direct"].where(~small)
        out["direct_se"] = est["direct_se"].where(~small)
        out["direct_suppressed"] = (small & ~est["synthetic"]).to_numpy()
        if hide_names:
            out = out.sort_values([coarse, "area_code"], kind="mergesort")
        out = out.reset_index(drop=True)
        out.attrs = {"method": self.method, "mse_method": self.mse_method,
                     "min_cell": int(min_cell), "level": self.level,
                     "area_column": self.area, "anonymised": hide_names,
                     "coarse": coarse if hide_names else None}
        return out


_METHOD_NAMES = {"REML": "restricted maximum likelihood", "ML": "maximum likelihood",
                 "FH": "Fay-Herriot moment method"}


def _as_count(values: pd.Series) -> pd.Series:
    """Counts as nullable integers when they are whole numbers (floats otherwise)."""
    values = values.astype(float)
    finite = values.dropna().to_numpy()
    return values.astype("Int64") if np.all(finite == np.round(finite)) else values


def _num(value: float) -> str:
    return "NA" if value is None or not np.isfinite(value) else f"{value:.6g}"


# ---------------------------------------------------------------------------------------
# The statistics (pure functions of arrays)


def _gls(y: np.ndarray, X: np.ndarray, psi: np.ndarray, s2: float
         ) -> tuple[np.ndarray, np.ndarray]:
    """GLS coefficients and their covariance ``(X'V^-1 X)^-1``, V = diag(s2 + psi)."""
    w = 1.0 / (s2 + psi)
    xtw = X.T * w
    Q = np.linalg.inv(xtw @ X)
    return Q @ (xtw @ y), Q


def _step(y: np.ndarray, X: np.ndarray, psi: np.ndarray, s2: float, method: str) -> float:
    """The Fisher-scoring step of the model variance at ``s2``.

    REML: score ``(y'PPy - tr P) / 2``, information ``tr(PP) / 2``; ML: score
    ``(sum r^2/v^2 - sum 1/v) / 2``, information ``sum 1/v^2 / 2``; FH: the Newton step
    of Fay and Herriot's moment equation ``sum r^2/v = m - p`` (R's sae, samplics).
    P is never formed: ``Py = r / v`` and its traces reduce to p × p products.
    """
    m, p = X.shape
    w = 1.0 / (s2 + psi)
    beta, Q = _gls(y, X, psi, s2)
    r = y - X @ beta
    if method == "ML":
        return float((np.sum(r**2 * w**2) - np.sum(w)) / np.sum(w**2))
    if method == "REML":
        xw2x = (X.T * w**2) @ X
        q_xw2x = Q @ xw2x
        tr_p = np.sum(w) - np.trace(q_xw2x)
        tr_pp = (np.sum(w**2) - 2.0 * np.trace(Q @ ((X.T * w**3) @ X))
                 + np.trace(q_xw2x @ q_xw2x))
        return float((np.sum((w * r) ** 2) - tr_p) / tr_pp)
    slope = np.sum(w**2 * r**2)
    excess = np.sum(w * r**2) - (m - p)
    if slope <= 0.0:  # every residual is zero: no variance left for the area effects
        return -math.inf
    return float(excess / slope)


def _prasad_rao_start(y: np.ndarray, X: np.ndarray, psi: np.ndarray) -> float:
    """Prasad and Rao's simple moment estimator from OLS residuals (the start value)."""
    m, p = X.shape
    xtx_inv = np.linalg.inv(X.T @ X)
    h = np.einsum("ij,jk,ik->i", X, xtx_inv, X)
    resid = y - X @ (xtx_inv @ (X.T @ y))
    return max(0.0, float((np.sum(resid**2) - np.sum(psi * (1.0 - h))) / (m - p)))


def _fit_variance(y: np.ndarray, X: np.ndarray, psi: np.ndarray, method: str, *,
                  tol: float, max_iter: int) -> tuple[float, int]:
    """The model variance by Fisher scoring, kept in [0, inf).

    An iterate below 0 is set to 0; a step that still points below 0 from there ends
    the iteration at 0. This is the truncation ``max(sigma_v^2, 0)`` of R's
    ``sae::eblupFH`` and samplics when the score has one root: a negative root is
    reported as 0 (all areas get the synthetic estimate's weight, gamma = 0).
    """
    s2 = _prasad_rao_start(y, X, psi)
    scale = float(np.mean(psi))
    for iteration in range(1, max_iter + 1):
        new = s2 + _step(y, X, psi, s2, method)
        new = max(new, 0.0)
        if abs(new - s2) <= tol * (new + scale):
            return new, iteration
        s2 = new
    raise EstimationError(
        f"the {method} estimate of the model variance did not converge in {max_iter} "
        f"Fisher-scoring iterations (last value {s2:.6g}). Fix: raise max_iter=, or check "
        "the direct variances (se=) for outliers"
    )


def _variance_of_variance(psi: np.ndarray, s2: float, method: str) -> float:
    """Asymptotic variance of the model-variance estimator (used in g3): ``2 / sum
    v^-2`` for REML and ML, ``2 m / (sum v^-1)^2`` for the FH moment method (Datta,
    Rao & Smith 2005)."""
    w = 1.0 / (s2 + psi)
    if method == "FH":
        return float(2.0 * psi.size / np.sum(w) ** 2)
    return float(2.0 / np.sum(w**2))


def _bias(X: np.ndarray, psi: np.ndarray, s2: float, Q: np.ndarray, method: str) -> float:
    """Bias of the model-variance estimator to order 1/m: 0 for REML;
    ``-tr[(X'V^-1X)^-1 X'V^-2X] / sum v^-2`` for ML (Datta & Lahiri 2000);
    ``2 [m sum v^-2 - (sum v^-1)^2] / (sum v^-1)^3`` for FH (Datta, Rao & Smith 2005)."""
    w = 1.0 / (s2 + psi)
    if method == "ML":
        return float(-np.trace(Q @ ((X.T * w**2) @ X)) / np.sum(w**2))
    if method == "FH":
        sw = np.sum(w)
        return float(2.0 * (psi.size * np.sum(w**2) - sw**2) / sw**3)
    return 0.0


def _mse_terms(X: np.ndarray, psi: np.ndarray, s2: float, Q: np.ndarray, vbar: float,
               bias: float) -> dict[str, np.ndarray]:
    """g1, g2, g3 and the bias term of each sampled area (Rao & Molina 2015, 6.2)."""
    v = s2 + psi
    shrink = psi / v  # 1 - gamma
    h = np.einsum("ij,jk,ik->i", X, Q, X)
    return {
        "g1": s2 * psi / v,
        "g2": shrink**2 * h,
        "g3": shrink**2 * vbar / v,
        "bias_term": bias * shrink**2,
    }


def _gvf(estimate: np.ndarray, variance: np.ndarray, n: np.ndarray, fit: np.ndarray,
         form: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Generalised variance function ``log v = a + b log n + c estimate`` fitted by least
    squares on the areas ``fit``, with ``b = -1`` for ``form="inverse_n"`` (variance
    inversely proportional to n: ``log(n v) = a + c estimate``) or ``b`` estimated for
    ``form="free"``. Predictions are back-transformed with Duan's smearing factor
    ``mean(exp(residual))`` (the exponential of a fitted log is biased low)."""
    log_n = np.log(n)
    if form == "free":
        Z = np.column_stack([np.ones(estimate.size), log_n, estimate])
        offset = np.zeros(estimate.size)
    else:
        Z = np.column_stack([np.ones(estimate.size), estimate])
        offset = -log_n
    target = np.log(variance[fit]) - offset[fit]
    coef, _, rank, _ = np.linalg.lstsq(Z[fit], target, rcond=None)
    if rank < Z.shape[1]:
        raise EstimationError(
            "the generalised variance function (log variance on log n and the estimate) "
            f"cannot be fitted on the {int(fit.sum())} areas with enough PSUs: their "
            f"{'n or their ' if form == 'free' else ''}estimates do not vary. Fix: give "
            "n_psu=None to use the direct variances as they are, or smooth them yourself "
            "and pass the result as se=")
    resid = target - Z[fit] @ coef
    smearing = float(np.mean(np.exp(resid)))
    log_v = np.log(variance[fit])
    total = float(np.sum((log_v - log_v.mean()) ** 2))
    if form == "free":
        table = pd.DataFrame({"term": ["Intercept", "log_n", "estimate"], "coefficient": coef,
                              "fixed": [False, False, False]})
    else:
        table = pd.DataFrame({"term": ["Intercept", "log_n", "estimate"],
                              "coefficient": [coef[0], -1.0, coef[1]],
                              "fixed": [False, True, False]})
    table.attrs = {"form": form, "smearing": smearing, "n_areas": int(fit.sum()),
                   "r_squared": 1.0 - float(np.sum(resid**2)) / total if total > 0 else 1.0}
    return np.exp(Z @ coef + offset) * smearing, table


# ---------------------------------------------------------------------------------------
# Checking and assembling the inputs


def _split_formula(formula: str, columns: Sequence[str], auxiliaries: Sequence[str]
                   ) -> tuple[str, str]:
    """The formula's outcome column (one of ``columns``) and right-hand side, whose
    names must be ``auxiliaries`` (columns) or the functions a formula may use."""
    if not isinstance(formula, str) or "~" not in formula:
        raise EstimationError(
            f"formula must be a string 'estimate ~ auxiliaries', got {formula!r}")
    lhs, rhs = (part.strip() for part in formula.split("~", 1))
    if lhs not in columns:
        raise EstimationError(
            f"the left-hand side of {formula!r} must be the column of direct estimates, "
            f"one of: {', '.join(map(str, columns))}. Fix: transform the estimates in the "
            "table first")
    if not rhs:
        raise EstimationError(f"formula {formula!r} has no right-hand side; use '~ 1' "
                              "for a model with an intercept only")
    check_formula(formula, [lhs, *auxiliaries], table="the area table")
    return lhs, rhs


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise EstimationError(
            f"the {table} table has no column(s) {', '.join(map(repr, missing))}; it has: "
            f"{', '.join(map(str, frame.columns))}")


def _unique_areas(frame: pd.DataFrame, area: str, table: str) -> None:
    missing = frame[area].isna()
    if missing.any():
        raise EstimationError(
            f"the area column {area!r} of the {table} table is empty in rows "
            f"{format_rows(frame.index[missing])}. Fix: give every row its area")
    dup = frame[area].duplicated(keep=False)
    if dup.any():
        raise EstimationError(
            f"the {table} table has several rows for the areas "
            f"{format_rows(pd.unique(frame.loc[dup, area]))} (rows "
            f"{format_rows(frame.index[dup])}); it needs one row per area. Fix: estimate "
            f"by {area!r} alone, or filter the table")


def _numeric(frame: pd.DataFrame, column: str, table: str, *, positive: bool = False,
             allow_missing: bool = False) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        raise EstimationError(
            f"column {column!r} of the {table} table is not numeric in rows "
            f"{format_rows(frame.index[bad])}")
    if not allow_missing and values.isna().any():
        rows = frame.index[values.isna()]
        raise EstimationError(
            f"column {column!r} of the {table} table is missing in rows {format_rows(rows)}. "
            "Fix: fill the value, or drop these areas from the direct table (list them in "
            "areas= with their auxiliaries to get a synthetic estimate)")
    array = values.to_numpy(dtype=float)
    if not np.all(np.isfinite(array[~np.isnan(array)])):
        raise EstimationError(f"column {column!r} of the {table} table holds infinite values")
    if positive and np.any(array[~np.isnan(array)] < 0):
        rows = frame.index[values < 0]
        raise EstimationError(
            f"column {column!r} of the {table} table is negative in rows {format_rows(rows)}")
    return array


def _model_matrices(frame: pd.DataFrame, rhs: str, sampled: np.ndarray, formula: str):
    import patsy

    env = formula_environment()
    data = patsy_ready(frame, list(frame.columns))
    fitted = data.loc[sampled]
    try:
        X = patsy.dmatrix(rhs, fitted, eval_env=env, NA_action=patsy.NAAction(NA_types=["None", "NaN"]),
                          return_type="dataframe")
    except patsy.PatsyError as exc:
        message = str(exc).splitlines()[0]
        if "missing" in message.lower() or "nan" in message.lower():
            raise EstimationError(
                f"an auxiliary of {formula!r} is missing for some sampled areas: {message}. "
                "Fix: complete the auxiliaries (every area needs them)") from None
        raise EstimationError(f"cannot build the model matrix of {formula!r}: {message}") from None
    if len(X) != int(sampled.sum()):
        raise EstimationError(
            f"an auxiliary of {formula!r} is missing for some sampled areas. Fix: complete "
            "the auxiliaries (every area needs them)")
    X_out = None
    if (~sampled).any():
        try:
            (X_out,) = patsy.build_design_matrices([X.design_info], data.loc[~sampled],
                                                   NA_action="raise", return_type="dataframe")
        except patsy.PatsyError as exc:
            message = str(exc).splitlines()[0]
            raise EstimationError(
                f"the auxiliaries of the areas without a sample cannot enter {formula!r}: "
                f"{message}. A factor level seen in no sampled area has no coefficient; "
                "missing auxiliaries must be completed") from None
    return X, X_out


def _area_table(direct: pd.DataFrame, areas: pd.DataFrame | None, *, area: str, outcome: str,
                se: str, n: str | None, n_psu: str | None) -> pd.DataFrame:
    """One row per area: the direct table's estimates, and with ``areas=`` every area
    of the population with its auxiliaries (read from ``areas``)."""
    own = [c for c in (area, outcome, se, n, n_psu) if c is not None]
    if areas is None:
        frame = direct.reset_index(drop=True).copy()
        frame["__sampled"] = True
        return frame
    if not isinstance(areas, pd.DataFrame):
        raise EstimationError(
            f"areas= must be a DataFrame of every area with its auxiliaries, got "
            f"{type(areas).__name__}")
    _require_columns(areas, [area], "areas")
    _unique_areas(areas, area, "areas")
    clash = [c for c in own[1:] if c in areas.columns]
    if clash:
        raise EstimationError(
            f"the areas table also has the column(s) {', '.join(map(repr, clash))} of the "
            "direct table; the direct estimates come from the direct table only. Fix: drop "
            "or rename them in areas=")
    unknown = ~direct[area].isin(areas[area])
    if unknown.any():
        raise EstimationError(
            f"the areas {format_rows(direct.loc[unknown, area])} of the direct table are not "
            "in the areas table: with areas=, it lists every area with its auxiliaries. "
            "Fix: add them to areas=")
    frame = areas.reset_index(drop=True).merge(direct[own], on=area, how="left",
                                               validate="one_to_one")
    frame["__sampled"] = frame[area].isin(direct[area]).to_numpy()
    # sampled areas first, in the direct table's order; then the others, in areas' order
    position = pd.Series(np.arange(len(direct)), index=direct[area].to_numpy())
    order = np.array(frame[area].map(position), dtype=float)
    rest = np.isnan(order)
    order[rest] = len(direct) + np.arange(int(rest.sum()))
    frame["__order"] = order
    return frame.sort_values("__order", kind="mergesort").drop(columns="__order").reset_index(
        drop=True)


def _benchmark_targets(targets: Any, by: str) -> dict:
    if isinstance(targets, pd.DataFrame):
        _require_columns(targets, [by, "estimate"], "benchmark_to")
        dup = targets[by].duplicated()
        if dup.any():
            raise EstimationError(
                f"benchmark_to has several rows for {by} = "
                f"{format_rows(targets.loc[dup, by])}; give one target per group")
        return dict(zip(targets[by], pd.to_numeric(targets["estimate"]), strict=True))
    if isinstance(targets, pd.Series):
        return targets.to_dict()
    if isinstance(targets, Mapping):
        return dict(targets)
    raise EstimationError(
        f"benchmark_to must be a table with columns {by!r} and 'estimate' (such as "
        f"pc.mean(design, ..., by={by!r}) returns) or a mapping {by} -> estimate, got "
        f"{type(targets).__name__}")


# ---------------------------------------------------------------------------------------
# The public function


def fay_herriot(
    direct: pd.DataFrame,
    formula: str,
    *,
    area: str,
    se: str = "se",
    method: Method = "REML",
    areas: pd.DataFrame | None = None,
    n: str | None = "n",
    n_psu: str | None = "n_psu",
    min_psu: int = DEFAULT_MIN_PSU,
    gvf: GVFForm = "inverse_n",
    benchmark: str | None = None,
    benchmark_by: str | None = None,
    benchmark_to: Any = None,
    keep: Sequence[str] | None = None,
    level: float = 0.95,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> FayHerriotResult:
    """Fay–Herriot small-area estimates: the EBLUP of each area with its MSE.

    Parameters
    ----------
    direct : DataFrame
        One row per sampled area: the direct (design-based) estimate, its standard
        error, and (unless ``areas=`` gives them) the area-level auxiliaries; e.g.
        ``pc.mean(design, "trusts_police", by="commune")`` joined to census data.
        Never modified.
    formula : str
        ``"estimate ~ x1 + C(region)"``: the column of direct estimates, then the
        auxiliaries (patsy syntax, as :func:`perception.glm`).
    area : str
        The column naming the areas.
    se : str
        The column of the direct estimates' standard errors (their squares are the
        sampling variances psi_i the model treats as known).
    method : {"REML", "ML", "FH"}
        How the model variance is estimated: restricted or full maximum likelihood
        (Fisher scoring) or Fay and Herriot's moment method. The MSE follows the
        method: Prasad–Rao for REML, Datta–Lahiri (with ML's bias correction) for ML,
        Datta–Rao–Smith for FH.
    areas : DataFrame, optional
        Every area of the population with its auxiliaries (one row each), areas without
        a sample included: these get the synthetic estimate ``x'beta`` with MSE
        ``sigma_v^2 + x'(X'V^-1X)^-1x - b(sigma_v^2)``. With ``areas=``, the
        auxiliaries, ``keep`` and benchmark columns are read from it for every area.
    n : str or None
        The column of respondents per area (``pc.mean``'s ``n``): the GVF's sample size,
        and the count :meth:`FayHerriotResult.published` checks against ``min_cell``.
    n_psu : str or None
        The column of PSUs each direct estimate rests on (e.g.
        ``wave.groupby("commune")["psu_id"].nunique()``). Direct variances resting on
        fewer than ``min_psu`` PSUs, or equal to 0, are replaced by a generalised
        variance function fitted on the other areas. ``None`` uses every direct
        variance as given (then a zero one is an error).
    min_psu : int
        Fewest PSUs a direct variance is trusted on (5).
    gvf : {"inverse_n", "free"}
        The generalised variance function ``log(se^2) = a + b log(n) + c estimate``,
        fitted by least squares on the areas with ``min_psu`` PSUs or more and
        back-transformed with Duan's smearing factor. ``"inverse_n"`` (default) fixes
        ``b = -1``: the variance falls as 1/n (a design effect common to the areas);
        ``"free"`` estimates ``b``. The areas it is fitted on are the large ones, few and
        with a narrow range of n: a free slope extrapolated to the small areas
        underestimated their variances by a third in ``benchmarks/small_area_simulation.py``.
    benchmark : str, optional
        A column of area populations: with ``benchmark_by`` and ``benchmark_to``, the
        estimates of each group's areas, weighted by population, add up to the group's
        target (ratio benchmarking: each area's EBLUP times the group's ratio).
    benchmark_by : str, optional
        The group column (e.g. ``"region"``).
    benchmark_to : DataFrame or mapping, optional
        The groups' direct estimates: a table with ``benchmark_by`` and ``estimate``
        (``pc.mean(design, ..., by="region")``) or a mapping group -> value.
    keep : list of str, optional
        Area-level columns carried into the estimates (e.g. ``["cercle", "region"]``:
        :meth:`FayHerriotResult.published` shows sensitive areas by their cercle).
    level : float
        Level of the intervals ``estimate ± z·rmse``.
    tol, max_iter
        Convergence of Fisher scoring: relative change of the model variance.

    Returns
    -------
    FayHerriotResult

    Raises
    ------
    EstimationError
        Missing or non-numeric estimates, standard errors or auxiliaries (naming rows),
        duplicate areas, too few areas, collinear auxiliaries, a GVF that cannot be fitted.

    Notes
    -----
    R: ``sae::eblupFH(yi ~ x, vardir = se^2, method = "REML")`` and ``sae::mseFH``
    (same model variance, EBLUPs and MSEs); Python: samplics' ``EblupAreaModel``.
    A model variance estimate below 0 is truncated to 0, as both do. The MSE of a
    benchmarked estimate is reported as the EBLUP's (see ``docs/small_areas.md``).

    Examples
    --------
    >>> import pandas as pd
    >>> direct = pd.DataFrame({"area": list("abcdef"), "y": [1.0, 1.9, 0.6, 1.2, 2.4, 0.7],
    ...                        "se": [0.2, 0.3, 0.25, 0.2, 0.3, 0.2], "x": [1, 2, 1, 2, 3, 1]})
    >>> areas = pd.DataFrame({"area": list("abcdefg"), "x": [1, 2, 1, 2, 3, 1, 2]})
    >>> res = fay_herriot(direct, "y ~ x", area="area", areas=areas, n=None, n_psu=None)
    >>> round(res.model_variance, 4)
    0.0309
    >>> res.estimates[["area", "estimate", "rmse", "synthetic"]].round(3).tail(2)
      area  estimate   rmse  synthetic
    5    f     0.734  0.215      False
    6    g     1.531  0.226       True
    """
    keep = _check_arguments(direct, area=area, se=se, method=method, n=n, n_psu=n_psu,
                            min_psu=min_psu, keep=keep, level=level, gvf=gvf)
    outcome, rhs = _split_formula(formula, [str(c) for c in direct.columns],
                                  [str(c) for c in (direct if areas is None else areas).columns])
    frame = _area_table(direct, areas, area=area, outcome=outcome, se=se, n=n, n_psu=n_psu)
    source = "areas" if areas is not None else "direct"
    _require_columns(frame, keep, source)
    sampled = frame["__sampled"].to_numpy(dtype=bool)
    d = frame.loc[sampled]
    y = _numeric(d, outcome, "direct")
    se_given = _numeric(d, se, "direct", positive=True)
    n_values = _numeric(d, n, "direct", positive=True) if n is not None else None
    psus = _numeric(d, n_psu, "direct", positive=True) if n_psu is not None else None
    psi, reason, gvf_table, notes = _sampling_variances(
        y, se_given**2, n_values, psus, min_psu=min_psu, areas=d[area], gvf=gvf)

    X_frame, X_out_frame = _model_matrices(frame, rhs, sampled, formula)
    model = _fit(y, X_frame.to_numpy(dtype=float), psi,
                 None if X_out_frame is None else np.asarray(X_out_frame, dtype=float),
                 method=method, formula=formula, terms=list(X_frame.columns), tol=tol,
                 max_iter=max_iter)
    if model.s2 == 0.0:
        notes.append(
            "the model variance estimate is 0 (truncated, as R's sae and samplics): every "
            "EBLUP is the synthetic regression estimate; check the model and the direct "
            "variances")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    se_beta = np.sqrt(np.diag(model.Q))
    zval = model.beta / se_beta
    coefficients = pd.DataFrame(
        {"estimate": model.beta, "se": se_beta, "z": zval,
         "p": 2.0 * stats.norm.sf(np.abs(zval)),
         "ci_low": model.beta - z * se_beta, "ci_high": model.beta + z * se_beta},
        index=pd.Index(X_frame.columns, name="term"))

    out = _estimates_table(frame, sampled, model, area=area, keep=keep, n=n, n_psu=n_psu,
                           direct=y, direct_se=se_given, psi=psi, reason=reason)
    if np.any(out["mse"] < 0):
        notes.append(
            f"the MSE estimate is negative for {int(np.sum(out['mse'] < 0))} areas (the bias "
            "correction of the model variance exceeds the other terms); their rmse is blank")
    benchmark_info = None
    if benchmark is not None or benchmark_by is not None or benchmark_to is not None:
        out, benchmark_info = _benchmark(out, frame, benchmark, benchmark_by, benchmark_to,
                                         source)
        notes.append(
            f"ratio benchmarking: within each {benchmark_by}, the {benchmark}-weighted mean "
            "of the estimates equals the target; mse is the EBLUP's (it ignores the "
            "benchmarking)")
    out["cv"] = out["rmse"] / out["estimate"].abs()
    out["ci_low"] = out["estimate"] - z * out["rmse"]
    out["ci_high"] = out["estimate"] + z * out["rmse"]
    order = (["area", *keep, "estimate", "mse", "rmse", "cv", "ci_low", "ci_high", "direct",
              "direct_se", "sampling_se", "gamma", "synthetic", "smoothed", "variance_source"]
             + [c for c in ("n", "n_psu", "eblup", "benchmark_ratio") if c in out.columns])
    out = out[order]
    out.attrs = {"method": method, "mse_method": MSE_METHODS[method], "level": level,
                 "model_variance": model.s2, "area_column": area}
    return FayHerriotResult(
        estimates=out, coefficients=coefficients, model_variance=model.s2,
        model_variance_se=math.sqrt(model.vbar), method=method,
        mse_method=MSE_METHODS[method], mse_terms=_mse_table(frame[area], sampled, model),
        gvf=gvf_table, formula=formula, area=area, level=float(level),
        iterations=model.iterations, notes=tuple(notes), benchmark=benchmark_info,
        keep=tuple(keep))


def _check_arguments(direct: Any, *, area: str, se: str, method: str, n: str | None,
                     n_psu: str | None, min_psu: Any, keep: Any, level: Any, gvf: Any
                     ) -> list[str]:
    """Refuse bad arguments up front; return ``keep`` as a list."""
    if not isinstance(direct, pd.DataFrame):
        raise EstimationError(
            f"direct must be a DataFrame of direct estimates per area, got {type(direct).__name__}")
    if method not in METHODS:
        raise EstimationError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if isinstance(level, bool) or not (isinstance(level, float | int) and 0 < level < 1):
        raise EstimationError(f"level must be between 0 and 1, got {level!r}")
    if isinstance(min_psu, bool) or not isinstance(min_psu, int | np.integer) or min_psu < 2:
        raise EstimationError(f"min_psu must be a whole number of at least 2, got {min_psu!r}")
    if gvf not in GVF_FORMS:
        raise EstimationError(f"gvf must be one of {', '.join(GVF_FORMS)}, got {gvf!r}")
    if len(direct) == 0:
        raise EstimationError("the direct table has no rows")
    _require_columns(direct, [area, se], "direct")
    if n_psu is not None and n_psu not in direct.columns:
        raise EstimationError(
            f"the direct table has no {n_psu!r} column: the number of PSUs each direct "
            f"estimate rests on (direct variances on fewer than {min_psu} PSUs are replaced "
            "by a generalised variance function). Fix: add it, e.g. "
            f"direct.merge(wave.groupby({area!r})['psu_id'].nunique().rename('n_psu'), "
            f"on={area!r}); name your column with n_psu=...; or pass n_psu=None to use the "
            "direct variances as they are")
    if n is not None and n not in direct.columns:
        raise EstimationError(
            f"the direct table has no {n!r} column: the respondents of each area (pc.mean's "
            "'n'), which the GVF and published() need. Fix: name your column with n=..., or "
            "pass n=None (published() then shows no direct estimate)")
    _unique_areas(direct, area, "direct")
    return [keep] if isinstance(keep, str) else list(keep or [])


def _sampling_variances(y: np.ndarray, psi: np.ndarray, n: np.ndarray | None,
                        psus: np.ndarray | None, *, min_psu: int, areas: pd.Series, gvf: str
                        ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame | None, list[str]]:
    """The sampling variances the model takes as known: the direct ones, or the GVF's
    for areas on fewer than ``min_psu`` PSUs or with a zero variance. Returns them with
    each area's ``variance_source``, the GVF table and a note."""
    reason = np.array(["direct"] * y.size, dtype=object)
    # a variance that is 0 up to rounding (a domain whose answers are all equal gives
    # 1e-34, not 0) counts as 0: its log would wreck the GVF, its area would get gamma 1
    positive = psi[psi > 0]
    zero = psi <= _ZERO_VARIANCE * (np.median(positive) if positive.size else 1.0)
    if psus is None:
        if np.any(zero):
            raise EstimationError(
                f"the direct standard error is 0 for the areas {format_rows(areas[zero])}: "
                "the model would take their direct estimates as exact. Fix: give n_psu= (and "
                "n=) so that a generalised variance function replaces them, or smooth them "
                "yourself")
        return psi, reason, None, []
    few = psus < min_psu
    smoothed = few | zero
    reason[few] = f"gvf: fewer than {min_psu} PSUs"
    reason[zero & ~few] = "gvf: direct se is 0"
    if not smoothed.any():
        return psi, reason, None, []
    if n is None:
        raise EstimationError(
            "smoothing the direct variances needs the areas' sample sizes (the GVF "
            "regresses the log variance on log n): give n= the column of respondents")
    if np.any(n <= 0):
        raise EstimationError(
            f"the respondents (n) are 0 for the areas {format_rows(areas[n <= 0])}; a "
            "sampled area has respondents")
    fit = ~smoothed
    if fit.sum() < 5:
        raise EstimationError(
            f"only {int(fit.sum())} areas rest on {min_psu} or more PSUs with a positive "
            f"direct variance: too few to fit the generalised variance function (5 "
            f"needed) that replaces the {int(smoothed.sum())} others. Fix: lower "
            "min_psu=, pool areas, or pass n_psu=None to use the direct variances as "
            "they are")
    predicted, table = _gvf(y, np.where(fit, psi, np.nan), n, fit, gvf)
    form = ("log(se^2) ~ log(n) + estimate" if gvf == "free"
            else "log(se^2) ~ offset(-log(n)) + estimate")
    note = (f"{int(smoothed.sum())} of {y.size} direct variances rest on fewer than "
            f"{min_psu} PSUs or are 0: replaced by the generalised variance function "
            f"{form} fitted on the {int(fit.sum())} other areas (column smoothed)")
    return np.where(smoothed, predicted, psi), reason, table, [note]


@dataclass(frozen=True)
class _Model:
    """The fitted model: variance, coefficients, EBLUPs and MSE terms."""

    s2: float
    beta: np.ndarray
    Q: np.ndarray
    vbar: float
    bias: float
    iterations: int
    gamma: np.ndarray
    eblup: np.ndarray
    terms: dict[str, np.ndarray]
    mse: np.ndarray
    synthetic: np.ndarray  # x'beta of the areas without a sample
    h_out: np.ndarray  # their x'(X'V^-1X)^-1 x
    mse_out: np.ndarray


def _fit(y: np.ndarray, X: np.ndarray, psi: np.ndarray, X_out: np.ndarray | None, *,
         method: str, formula: str, terms: list[str], tol: float, max_iter: int) -> _Model:
    """Fit the model on the sampled areas and predict every area."""
    m, p = X.shape
    if m <= p + 1:
        raise EstimationError(
            f"{m} sampled areas for {p} coefficients: the model variance needs at least "
            f"{p + 2} areas. Fix: use fewer auxiliaries")
    if np.linalg.matrix_rank(X) < p:
        raise EstimationError(
            f"the auxiliaries of {formula!r} are collinear over the sampled areas (terms "
            f"{', '.join(terms)}): a coefficient cannot be estimated. Fix: drop a "
            "term, or merge factor levels that only some areas have")
    s2, iterations = _fit_variance(y, X, psi, method, tol=tol, max_iter=max_iter)
    beta, Q = _gls(y, X, psi, s2)
    if not (np.all(np.isfinite(Q)) and np.all(np.diag(Q) > 0)):
        raise EstimationError(
            "the GLS fit is numerically singular: the sampling variances span "
            f"{np.log10(psi.max() / psi.min()):.0f} orders of magnitude. Fix: check the "
            "direct standard errors (se=) for values near 0")
    vbar = _variance_of_variance(psi, s2, method)
    bias = _bias(X, psi, s2, Q, method)
    mse_terms = _mse_terms(X, psi, s2, Q, vbar, bias)
    gamma = s2 / (s2 + psi)
    X_out = np.empty((0, p)) if X_out is None else X_out
    # an area without a sample: the limit of the sampled-area MSE as psi grows without
    # bound (gamma -> 0, g1 -> sigma_v^2, g3 -> 0, bias term -> b)
    h_out = np.einsum("ij,jk,ik->i", X_out, Q, X_out)
    return _Model(
        s2=float(s2), beta=beta, Q=Q, vbar=vbar, bias=bias, iterations=iterations,
        gamma=gamma, eblup=gamma * y + (1.0 - gamma) * (X @ beta), terms=mse_terms,
        mse=mse_terms["g1"] + mse_terms["g2"] + 2.0 * mse_terms["g3"] - mse_terms["bias_term"],
        synthetic=X_out @ beta, h_out=h_out, mse_out=s2 + h_out - bias)


def _spread(sampled: np.ndarray, inside: Any, outside: Any, dtype: Any = float) -> np.ndarray:
    """One value per area from the sampled areas' values and the others'."""
    out = np.empty(sampled.size, dtype=dtype)
    out[sampled] = inside
    out[~sampled] = outside
    return out


def _estimates_table(frame: pd.DataFrame, sampled: np.ndarray, model: _Model, *, area: str,
                     keep: list[str], n: str | None, n_psu: str | None, direct: np.ndarray,
                     direct_se: np.ndarray, psi: np.ndarray, reason: np.ndarray
                     ) -> pd.DataFrame:
    out = pd.DataFrame({"area": frame[area].to_numpy()})
    for column in keep:
        out[column] = frame[column].to_numpy()
    mse = _spread(sampled, model.mse, model.mse_out)
    out["estimate"] = _spread(sampled, model.eblup, model.synthetic)
    out["mse"] = mse
    out["rmse"] = np.sqrt(np.where(mse >= 0, mse, np.nan))
    out["direct"] = _spread(sampled, direct, np.nan)
    out["direct_se"] = _spread(sampled, direct_se, np.nan)
    out["sampling_se"] = _spread(sampled, np.sqrt(psi), np.nan)
    out["gamma"] = _spread(sampled, model.gamma, 0.0)
    out["synthetic"] = ~sampled
    out["smoothed"] = _spread(sampled, reason != "direct", False, bool)
    out["variance_source"] = _spread(sampled, reason, "none: synthetic", object)
    if n is not None:
        out["n"] = _as_count(pd.to_numeric(frame[n], errors="coerce").where(sampled, 0))
    if n_psu is not None:
        out["n_psu"] = _as_count(pd.to_numeric(frame[n_psu], errors="coerce").where(sampled, 0))
    return out


def _mse_table(areas: pd.Series, sampled: np.ndarray, model: _Model) -> pd.DataFrame:
    table = pd.DataFrame({"area": areas.to_numpy()})
    outside = {"g1": model.s2, "g2": model.h_out, "g3": 0.0, "bias_term": model.bias}
    for key, values in model.terms.items():
        table[key] = _spread(sampled, values, outside[key])
    return table


def _benchmark(out: pd.DataFrame, frame: pd.DataFrame, benchmark: str | None,
               by: str | None, targets: Any, source: str) -> tuple[pd.DataFrame, dict]:
    """Ratio benchmarking: ``estimate_i * T_g / (sum_g N_i estimate_i / sum_g N_i)``."""
    if benchmark is None or by is None or targets is None:
        raise EstimationError(
            "benchmarking needs benchmark= (the population column), benchmark_by= (the "
            "group, e.g. 'region') and benchmark_to= (the groups' direct estimates)")
    _require_columns(frame, [benchmark, by], source)
    weight = _numeric(frame, benchmark, source, positive=True)
    if np.any(weight <= 0):
        raise EstimationError(
            f"the population column {benchmark!r} is 0 for the areas "
            f"{format_rows(out.loc[weight <= 0, 'area'])}; benchmark weights must be positive")
    group = frame[by]
    if group.isna().any():
        raise EstimationError(
            f"the group column {by!r} is missing for the areas "
            f"{format_rows(out.loc[group.isna().to_numpy(), 'area'])}")
    target = _benchmark_targets(targets, by)
    unknown = sorted(set(target) - set(group), key=str)
    if unknown:
        raise EstimationError(
            f"benchmark_to has targets for {by} = {format_rows(unknown)}, which no area "
            "belongs to: check the group codes")
    absent = sorted(set(group) - set(target), key=str)
    if absent:
        raise EstimationError(
            f"benchmark_to has no target for {by} = {format_rows(absent)}; give one for "
            "every group of the areas")
    est = out["estimate"].to_numpy()
    wmean = pd.Series(weight * est).groupby(group.to_numpy()).sum() / \
        pd.Series(weight).groupby(group.to_numpy()).sum()
    if np.any(wmean.to_numpy() <= 0):
        raise EstimationError(
            f"the weighted mean of the estimates is 0 or negative in {by} = "
            f"{format_rows(wmean.index[wmean.to_numpy() <= 0])}: ratio benchmarking needs "
            "positive estimates")
    ratio_by_group = {g: float(target[g]) / float(wmean[g]) for g in wmean.index}
    ratio = group.map(ratio_by_group).to_numpy(dtype=float)
    out = out.copy()
    out["eblup"] = est
    out["benchmark_ratio"] = ratio
    out["estimate"] = est * ratio
    info = {"population": benchmark, "by": by, "targets": dict(target),
            "ratios": ratio_by_group, "kind": "ratio"}
    return out, info
