"""Variance steps and calibration kernels of :mod:`perception.survey.weighting`.

A weighting adjustment of a ``SurveyDesign`` appends a *step* to ``design._calibration``;
``design._vcov`` passes the linearised scores (n, k), already multiplied by the adjusted
weights, through every step before the PSU and stratum sums. The steps hold what R keeps
in ``design$postStrata`` and transform the scores as R's ``svyrecvar`` does.

The calibration kernels are ports of R's ``grake`` (with ``cal.linear``, ``cal.raking``,
``cal.logit``) and ``regcalibrate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import WeightingError

#: R's ``svyrecvar`` sweeps the raking margins this many times for the variance
RAKING_VARIANCE_PASSES = 10
#: ``grake`` rescales the weights when every population/sample ratio exceeds this
#: (R's ``SOMETHRESHOLD``)
GRAKE_RESCALE_THRESHOLD = 20.0
#: tolerance of the generalised inverse in ``grake`` (R: ``MASS::ginv(tol=256 * eps)``)
GINV_RTOL = 256 * np.finfo(float).eps
#: relative tolerance for the rank of the calibration model matrix (R's ``qr`` tol)
QR_RTOL = 1e-7


# ====================================================================== variance steps
def group_sums(codes: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Sums of the rows of ``values`` (n, k) by ``codes`` (rows with code -1 left out).

    One ``np.bincount`` per column (rows in order, as ``np.add.at`` adds them, so the
    sums are the same to the last bit; ``np.add.at`` is some 20 times slower)."""
    bins = np.where(codes >= 0, codes, n_groups)  # rows left out go to an extra bin
    out = np.empty((n_groups, values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(bins, weights=values[:, j], minlength=n_groups + 1)[:n_groups]
    return out


def safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), 0.0)


@dataclass(frozen=True, eq=False)
class PostStratification:
    """Post-stratification step (an element of R's ``postStrata`` made by ``postStratify``).

    Scores lose their post-stratum means: ``x - psw * sum(x * oldw / psw) / sum(oldw)``.
    """

    codes: np.ndarray  # (n,) post-stratum of each row, -1 outside the adjusted domain
    n_levels: int
    weights: np.ndarray  # weights after the adjustment (R's attr "weights")
    oldweights: np.ndarray  # weights before it (R's attr "oldweights")

    def residualize(self, scores: np.ndarray) -> np.ndarray:
        psw = self.weights.copy()
        oldw = self.oldweights
        psw[(psw == 0) & (oldw == 0)] = 1.0  # R: zeroes <- which(psw == 0 & oldw == 0)
        num = group_sums(self.codes, scores * safe_divide(oldw, psw)[:, None], self.n_levels)
        den = group_sums(self.codes, oldw[:, None], self.n_levels)[:, 0]
        means = safe_divide(num, den[:, None])
        inside = self.codes >= 0
        out = scores.copy()
        out[inside] -= means[self.codes[inside]] * psw[inside, None]
        return out


@dataclass(frozen=True, eq=False)
class Raking:
    """Raking step (R's ``postStrata`` element of class ``"raking"``).

    For each margin, in turn and ``RAKING_VARIANCE_PASSES`` times:
    ``x <- x - psw * ave(x / psw, margin)``, with ``psw`` the weights right after that
    margin's last post-stratification.

    Raking multiplies the weights of all rows of a cell (a combination of the margins'
    levels) by the same factors, so ``psw = base * factors[margin, cell]``. The sweeps
    then act on cell sums of ``x / base`` (:meth:`residualize`): the same arithmetic as
    R's over the rows, the rows read twice whatever the number of passes and margins.
    """

    cells: np.ndarray  # (n,) cell of each row
    cell_levels: np.ndarray  # (C, M) level of each margin in each cell, -1 for none
    n_levels: tuple  # (M,) levels of each margin
    base: np.ndarray  # (n,) weights before raking
    factors: np.ndarray  # (M, C) factor of each cell after each margin's last step

    @property
    def used_cells(self) -> np.ndarray:
        """(n,) cell of each row, -1 for rows without base weight (psw = 0: R leaves
        them out and unchanged)."""
        return np.where(self.base != 0, self.cells, -1)

    def cell_counts(self) -> np.ndarray:
        """(C,) rows with a base weight in each cell."""
        cells = self.used_cells
        return np.bincount(cells[cells >= 0], minlength=self.cell_levels.shape[0]
                           ).astype(float)

    def sweep(self, level_sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """(C, k) shift of each cell's ``x / base`` from the (C, k) cell sums of
        ``x / base`` and the (C,) rows of each cell: every row of cell ``c`` then loses
        ``base * shift[c]`` (the sweeps of :meth:`residualize`, on cells only)."""
        level_sums = np.array(level_sums, dtype=float)  # a copy: swept in place
        shift = np.zeros_like(level_sums)  # (C, k): what each cell's x / base has lost
        for _ in range(RAKING_VARIANCE_PASSES):
            for m, n_levels in enumerate(self.n_levels):
                level, factor = self.cell_levels[:, m], self.factors[m]
                use = (level >= 0) & (factor != 0)
                codes = np.where(use, level, -1)
                # means over the level's rows of x / psw, psw = base * factor
                sums = group_sums(codes, level_sums / np.where(use, factor, 1.0)[:, None],
                                  n_levels)
                rows = group_sums(codes, counts[:, None], n_levels)[:, 0]
                means = safe_divide(sums, rows[:, None])
                # each row's x loses psw * mean: its x / base loses factor * mean
                step = np.where(use[:, None], factor[:, None] * means[np.where(use, level, 0)],
                                0.0)
                level_sums -= counts[:, None] * step
                shift += step
        return shift

    def residualize(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=float)
        n_cells = self.cell_levels.shape[0]
        cells = self.used_cells
        divisor = np.where(self.base != 0, self.base, 1.0)
        level_sums = np.empty((n_cells, scores.shape[1]))  # (C, k): sums of x / base
        bins = np.where(cells >= 0, cells, n_cells)
        for j in range(scores.shape[1]):
            level_sums[:, j] = np.bincount(bins, weights=scores[:, j] / divisor,
                                           minlength=n_cells + 1)[:n_cells]
        shift = self.sweep(level_sums, self.cell_counts())
        # rows without a cell (code -1) take the last row: zero; column by column, as the
        # engine's score matrices are column-major
        shift = np.vstack([shift, np.zeros((1, shift.shape[1]))])
        out = np.empty(scores.shape, order="F")
        for j in range(scores.shape[1]):
            np.multiply(self.base, shift[cells, j], out=out[:, j])
            np.subtract(scores[:, j], out[:, j], out=out[:, j])
        return out


@dataclass(frozen=True, eq=False)
class GregCalibration:
    """Calibration step (R's ``greg_calibration`` at stage 0).

    ``x <- qr.resid(qr(mm * sqrt(w0)), x / (g * sqrt(w0))) * (g * sqrt(w0))``: residuals of
    a regression of the scores on the calibration variables weighted by the weights
    before calibration ``w0``; ``g`` are the calibration factors.
    """

    basis: np.ndarray  # (n, r) orthonormal basis of the columns of mm * sqrt(w0)
    scale: np.ndarray  # (n,) g * sqrt(w0)

    def residualize(self, scores: np.ndarray) -> np.ndarray:
        z = safe_divide(scores, self.scale[:, None])
        z = z - self.basis @ (self.basis.T @ z)
        return z * self.scale[:, None]


@dataclass(frozen=True, eq=False)
class NonresponseAdjustment:
    """Weighting-class nonresponse adjustment, linearised.

    The adjusted total of a variable v is ``sum_c (N_c / R_c) * sum_{resp in c} d_i v_i``
    with ``N_c`` and ``R_c`` the base-weight totals of everyone sampled and of the
    respondents in class c. Its linearised score is ``d_i m_c + a_i f_c d_i (v_i - m_c)``
    (``m_c`` the respondents' weighted mean of v in the class): respondents keep their
    deviation, and every sampled unit, nonrespondents included, carries the class mean,
    because the class totals ``N_c`` are themselves estimated.
    """

    codes: np.ndarray  # (n,) class of each sampled row, -1 outside
    n_classes: int
    base: np.ndarray  # (n,) weights before the adjustment
    adjusted: np.ndarray  # (n,) weights after it (0 for nonrespondents)

    def residualize(self, scores: np.ndarray) -> np.ndarray:
        totals = group_sums(self.codes, scores, self.n_classes)
        sampled = group_sums(self.codes, self.base[:, None], self.n_classes)[:, 0]
        means = safe_divide(totals, sampled[:, None])
        inside = self.codes >= 0
        out = scores.copy()
        out[inside] += (self.base - self.adjusted)[inside, None] * means[self.codes[inside]]
        return out


def append_step(design, step) -> tuple:
    """The design's calibration chain with ``step`` added.

    R applies ``postStrata`` in the order they were added; a nonresponse adjustment is
    the innermost adjustment of the weights, so steps added after it are applied
    before it.
    """
    chain = tuple(design._calibration)
    if isinstance(step, NonresponseAdjustment):
        return (*chain, step)
    first_nr = next(
        (i for i, s in enumerate(chain) if isinstance(s, NonresponseAdjustment)), len(chain)
    )
    return (*chain[:first_nr], step, *chain[first_nr:])


# ======================================================================== kernels
def calfun(method: str, lower: float, upper: float):
    """``(Fm1, dF)`` of R's ``cal.linear``, ``cal.raking``, ``cal.logit``."""
    if method == "linear":
        def fm1(u):
            return np.minimum(np.maximum(u + 1, lower), upper) - 1

        def df(u):
            return ((u < upper - 1) & (u > lower - 1)).astype(float)
    elif method == "raking":
        def fm1(u):
            return np.minimum(np.maximum(np.exp(u), lower), upper) - 1

        def df(u):
            return np.where((u < upper - 1) & (u > lower - 1), np.exp(u), 0.0)
    else:
        a = (upper - lower) / ((upper - 1) * (1 - lower))

        def fm1(u):
            e = np.exp(a * u)
            return (lower * (upper - 1) + upper * (1 - lower) * e) / (
                upper - 1 + (1 - lower) * e) - 1

        def df(u):
            e = np.exp(a * u)
            den = upper - 1 + (1 - lower) * e
            return (upper * (1 - lower) * e * a / den
                    - (lower * (upper - 1) + upper * (1 - lower) * e) * ((1 - lower) * e * a)
                    / den**2)
    return fm1, df


@dataclass(frozen=True)
class GrakeResult:
    """Calibration factors ``g`` and whether ``grake`` converged."""

    g: np.ndarray
    failed: float | None  # largest relative misfit when not converged
    iterations: int


def grake(mm: np.ndarray, ww: np.ndarray, method: str, lower: float, upper: float,
          population: np.ndarray, tol: float, max_iter: int) -> GrakeResult:
    """Port of R's ``grake`` (Newton-Raphson with step halving, sigma2 = 1)."""
    fm1, df = calfun(method, lower, upper)

    def evaluate(eta: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, bool]:
        weights = ww * scale
        xeta = mm @ eta
        g = 1 + fm1(xeta)
        deriv = df(xeta)
        tmat = (mm * (weights * deriv)[:, None]).T @ mm
        return tmat, mm.T @ (weights * fm1(xeta)), bool(
            np.all(np.isfinite(g)) and np.all(np.isfinite(deriv)))

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        eta, failed, iteration, scale = grake_newton(mm.T @ ww, population, evaluate, tol,
                                                     max_iter)
        g = 1 + fm1(mm @ eta)
    if scale is not None:
        g = g * scale
    return GrakeResult(g, failed, iteration)


def grake_newton(sample_total: np.ndarray, population: np.ndarray, evaluate, tol: float,
                 max_iter: int) -> tuple[np.ndarray, float | None, int, float | None]:
    """The Newton-Raphson iterations of R's ``grake`` on totals only.

    ``evaluate(eta, scale)`` returns, for the weights times ``scale``, the matrix
    ``sum w F'(x'eta) x x'``, the totals ``sum w (F(x'eta) - 1) x`` and whether every
    g-weight and derivative is finite: sums over the rows, so the rows may live
    elsewhere (the partitions of a Dask DataFrame). Returns ``eta``, the largest relative
    misfit when not converged (else None), the iterations and the rescaling of the
    weights (R's ``SOMETHRESHOLD``; None when not rescaled).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        eta = np.zeros(len(sample_total))
        iteration = 1
        scales = population / sample_total
        scale = None
        if np.min(scales) > GRAKE_RESCALE_THRESHOLD:
            scale = float(np.mean(scales))
            sample_total = sample_total * scale
        factor = 1.0 if scale is None else scale
        tmat, fitted, _ = evaluate(eta, factor)
        failed = None
        while True:
            misfit = population - sample_total - fitted
            if not (np.all(np.isfinite(tmat)) and np.all(np.isfinite(misfit))):
                failed = float("inf")
                break
            deta = np.linalg.pinv(tmat, rtol=GINV_RTOL) @ misfit
            eta = eta + deta
            tmat, fitted, finite = evaluate(eta, factor)
            while iteration < max_iter and not finite:
                iteration += 1
                deta = deta / 2
                eta = eta - deta
                tmat, fitted, finite = evaluate(eta, factor)
            misfit = population - sample_total - fitted
            relative = np.abs(misfit) / (1 + np.abs(population))
            if np.all(relative < tol):
                break
            iteration += 1
            if iteration > max_iter:
                failed = float(np.nanmax(relative)) if np.any(np.isfinite(relative)) else float(
                    "inf")
                break
    return eta, failed, iteration, scale


def regcalibrate(mm: np.ndarray, ww: np.ndarray, population: np.ndarray,
                 names: list[str]) -> np.ndarray:
    """Port of R's ``regcalibrate`` (linear calibration without bounds): closed form."""
    whalf = np.sqrt(ww)
    sample_total = mm.T @ ww
    tmat = (mm * whalf[:, None]).T @ (mm * whalf[:, None])
    return 1 + mm @ regcalibrate_coef(tmat, sample_total, population, names)


def regcalibrate_coef(tmat: np.ndarray, sample_total: np.ndarray, population: np.ndarray,
                      names: list[str]) -> np.ndarray:
    """The coefficients of ``regcalibrate`` from ``sum w x x'`` and ``sum w x``: the
    g-weights are ``1 + x' coef``."""
    try:
        # R's solve() refuses a matrix whose reciprocal condition number is below eps
        if 1.0 / np.linalg.cond(tmat, 1) < np.finfo(float).eps:
            raise np.linalg.LinAlgError
        return np.linalg.solve(tmat, population - sample_total)
    except np.linalg.LinAlgError:
        raise WeightingError(
            "the calibration variables are collinear in the sample "
            f"({', '.join(names)}): one is a combination of the others (e.g. a numeric "
            "total that is constant within a categorical margin's levels). Drop one."
        ) from None


def orthonormal_basis(matrix: np.ndarray) -> np.ndarray:
    if matrix.shape[1] == 0:
        return matrix
    u, s, _ = np.linalg.svd(matrix, full_matrices=False)
    keep = s > QR_RTOL * s[0] if s.size and s[0] > 0 else np.zeros(s.shape, dtype=bool)
    return u[:, keep]
