"""The one model-fitting core: weighted least squares, iteratively reweighted least
squares (R's ``glm.fit``), the rank check, and the per-row estimating functions whose
per-PSU totals give the design-based sandwich.

Every model of the package reduces to these sums over rows:

- each IRLS iteration solves the weighted least squares of the working response on the
  model matrix (its information ``X'WX`` and score ``X'Wz``);
- the covariance of the coefficients is the design covariance of the totals of the
  estimating functions ``U_i = x_i w_i (y_i - mu_i) / g'(mu_i)`` times the bread
  ``(X'WX)^-1`` (R's ``svy.varcoef``): the design needs only their per-PSU totals.

A Gaussian model with the identity link is one weighted least squares (the fast path
that ``did`` and ``change`` use); other families iterate. New families plug in as
:class:`perception.survey.families.Family` objects; a back end that holds the rows
elsewhere (Dask) supplies the same sums.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import linalg

from ..errors import EstimationError, format_rows
from .families import Family

# R's glm.control(): epsilon = 1e-8, maxit = 25
EPSILON = 1e-8
MAXIT = 25
#: R's glm.fit QR tolerance min(1e-7, epsilon / 1000): a column whose part not explained
#: by the columns before it is below this fraction of its norm is aliased
ALIAS_TOL = min(1e-7, EPSILON / 1000)


@dataclass(frozen=True)
class WLS:
    """A weighted least-squares solution: coefficients, the bread ``(X'WX)^-1``, and per
    column the part not explained by the columns before it (the triangular factor's
    diagonal) and the column's norm, both on ``sqrt(w) x``: the rank check."""

    coef: np.ndarray
    bread: np.ndarray
    r_diag: np.ndarray
    norms: np.ndarray

    def aliased(self, tol: float = ALIAS_TOL) -> np.ndarray:
        """Positions of the columns the columns before them explain (R's ``glm.fit``
        gives them NA coefficients): ``|r_jj| < tol ||x_j||``, R's QR criterion."""
        return np.flatnonzero((self.norms == 0) | (self.r_diag < tol * self.norms))


def _triangular(xw: np.ndarray, zw: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray]:
    """``Q'zw`` and the triangular factor ``R`` of the QR decomposition of ``xw``,
    without forming ``Q`` (rows of zeros, the rows without weight, change neither)."""
    n, p = xw.shape
    if n < p:  # fewer rows than columns: pad with zero rows (rank-deficient anyway)
        xw = np.vstack([xw, np.zeros((p - n, p))])
        zw = None if zw is None else np.concatenate([zw, np.zeros(p - n)])
    if zw is None:
        return None, linalg.qr(xw, mode="r", check_finite=False)[0][:p]
    qz, r = linalg.qr_multiply(xw, zw[None, :], mode="right")
    return qz[0, :p], r[:p]


def wls(x: np.ndarray, z: np.ndarray, w: np.ndarray) -> WLS:
    """Weighted least squares of ``z`` on ``x`` with weights ``w`` (rows with ``w = 0``
    take no part), by the QR decomposition of ``sqrt(w) x`` as R's ``lm.wfit`` and
    ``glm.fit``; NaN coefficients when a column is aliased (see :meth:`WLS.aliased`)."""
    root = np.sqrt(w)
    xw = x * root[:, None]
    norms = np.sqrt(np.einsum("ij,ij->j", xw, xw))
    qz, r = _triangular(xw, z * root)
    r_diag = np.abs(np.diag(r))
    p = x.shape[1]
    solution = WLS(np.full(p, np.nan), np.full((p, p), np.nan), r_diag, norms)
    if solution.aliased().size:
        return solution
    r_inv = linalg.solve_triangular(r, np.eye(p), check_finite=False)
    return WLS(r_inv @ qz, r_inv @ r_inv.T, r_diag, norms)


#: squared share of a column left unexplained above which the Gram matrix's Cholesky
#: factor certifies full rank on its own (far above R's ALIAS_TOL**2 = 1e-20 and above
#: the rounding of the Gram matrix); below it the QR decomposition decides
_CERTAIN = 1e-8


def wls_normal(x: np.ndarray, z: np.ndarray, w: np.ndarray) -> WLS:
    """Weighted least squares by the normal equations and one step of iterative
    refinement (one pass over the rows for ``X'WX``): the Gaussian fast path. The
    Cholesky factor of ``X'WX`` is the QR factor of ``sqrt(w) x``; when it leaves some
    column nearly explained by the others (squared share below ``_CERTAIN``) the QR
    decomposition (:func:`wls`) decides the rank with R's criterion and solves."""
    xw = x * w[:, None]
    gram = xw.T @ x
    diagonal = np.diag(gram).copy()
    try:
        chol = np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        return wls(x, z, w)
    r_diag = np.diag(chol).copy()
    if np.any(r_diag**2 <= _CERTAIN * diagonal) or np.any(diagonal <= 0):
        return wls(x, z, w)
    p = x.shape[1]
    l_inv = linalg.solve_triangular(chol, np.eye(p), lower=True, check_finite=False)
    bread = l_inv.T @ l_inv
    coef = bread @ (xw.T @ z)
    coef = coef + bread @ (xw.T @ (z - x @ coef))
    return WLS(coef, bread, r_diag, np.sqrt(diagonal))


def aliased(x: np.ndarray, w: np.ndarray, tol: float = ALIAS_TOL) -> np.ndarray:
    """Positions of the columns of ``x`` that the columns before them explain on the rows
    with ``w > 0`` (R's ``glm.fit`` would give them NA coefficients): the one rank check
    of every model (:meth:`WLS.aliased` on the same QR decomposition)."""
    xw = x * np.sqrt(w)[:, None]
    norms = np.sqrt(np.einsum("ij,ij->j", xw, xw))
    _, r = _triangular(xw, None)
    return WLS(np.empty(0), np.empty((0, 0)), np.abs(np.diag(r)), norms).aliased(tol)


def check_rank(x: np.ndarray, w: np.ndarray, terms: Sequence[str], what: str,
               bad: np.ndarray | None = None) -> None:
    """Raise an error naming the aliased terms of ``x`` (see :func:`aliased`; ``bad``
    when they are known already)."""
    bad = aliased(x, w) if bad is None else bad
    if bad.size:
        names = ", ".join(repr(str(terms[j])) for j in bad)
        raise EstimationError(
            f"term(s) {names} of {what} are constant or collinear with earlier terms (a "
            "linear combination of them) among the rows used, so their coefficients are "
            "not identified (R reports them as NA). Drop them from the model, or merge "
            "empty categories."
        )


@dataclass(frozen=True)
class IRLSFit:
    """Result of :func:`irls` (R's ``glm.fit``)."""

    coef: np.ndarray  # (p,)
    eta: np.ndarray  # (n,) linear predictor, offset included
    mu: np.ndarray  # (n,)
    working_weights: np.ndarray  # (n,) w^2 of the last iteration, 0 outside the fit
    working_residuals: np.ndarray  # (n,) (y - mu) / mu_eta(eta)
    bread: np.ndarray  # (p, p) (X'WX)^-1 of the last iteration
    deviance: float
    iterations: int
    converged: bool

    def estfun(self, x: np.ndarray) -> np.ndarray:
        """Per-row estimating functions ``x_i w_i r_i`` (R's ``svy.varcoef``'s estfun;
        zero outside the fit): their totals are the score, their per-PSU totals times
        the bread give the sandwich."""
        return x * (self.working_residuals * self.working_weights)[:, None]


def irls(
    x: np.ndarray,
    y: np.ndarray,
    prior: np.ndarray,
    family: Family,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
    trials: np.ndarray | None = None,
) -> IRLSFit:
    """R's ``glm.fit``: same start (``mustart``, or ``start``), same updates, step
    halving when the deviance is not finite or the mean leaves its domain, same
    stopping rule ``|dev - devold| / (|dev| + 0.1) < 1e-8``.

    ``y`` is the outcome (a proportion for the binomial with ``trials``), ``prior`` the
    prior weights (design weights, times the trials for the binomial); rows with
    ``prior == 0`` take no part.
    """
    n, p = x.shape
    offset = np.zeros(n) if offset is None else offset
    if family.name == "binomial":
        y = np.where(prior == 0, 0.0, y)
    if start is None:
        eta = family.linkfun(family.mustart(y, prior, trials))
    else:
        eta = x @ start + offset
    mu = family.linkinv(eta)
    if not family.valid_mu(mu[prior > 0]):
        raise EstimationError("cannot find valid starting values for the model: give start=")
    devold = float(np.sum(family.dev_resids(y, mu, prior)))
    coefold = start
    coef = np.full(p, np.nan) if start is None else start
    converged = False
    w = np.zeros(0)
    good = prior > 0
    bread = np.full((p, p), np.nan)
    iteration = 0
    for iteration in range(1, MAXIT + 1):  # noqa: B007 - its last value is reported
        mu_eta = family.mu_eta(eta)
        good = (prior > 0) & (mu_eta != 0)
        z = np.zeros(n)
        z[good] = (eta - offset)[good] + (y - mu)[good] / mu_eta[good]
        wt = np.zeros(n)
        wt[good] = prior[good] * mu_eta[good] ** 2 / family.variance(mu)[good]
        solution = wls(x, z, wt)
        w = np.sqrt(wt[good])
        coef, bread = solution.coef, solution.bread
        eta = x @ coef + offset
        mu = family.linkinv(eta)
        dev = float(np.sum(family.dev_resids(y, mu, prior)))
        halvings = 0
        while (not np.isfinite(dev) or not family.valid_mu(mu[prior > 0])) and halvings < MAXIT:
            if coefold is None:
                raise EstimationError(
                    "no valid set of coefficients has been found (the fit left the range "
                    "of the mean): give starting values"
                )
            coef = (coef + coefold) / 2
            eta = x @ coef + offset
            mu = family.linkinv(eta)
            dev = float(np.sum(family.dev_resids(y, mu, prior)))
            halvings += 1
        if abs(dev - devold) / (abs(dev) + 0.1) < EPSILON:
            converged = True
            break
        devold = dev
        coefold = coef
    working_weights = np.zeros(n)
    working_weights[good] = w**2
    residuals = (y - mu) / family.mu_eta(eta)
    return IRLSFit(coef, eta, mu, working_weights, residuals, bread,
                   float(np.sum(family.dev_resids(y, mu, prior))), iteration, converged)


def linear(x: np.ndarray, y: np.ndarray, w: np.ndarray, solution: WLS | None = None
           ) -> IRLSFit:
    """The Gaussian identity-link fit in one weighted least squares (the fast path):
    the coefficients, bread and working quantities :func:`irls` reaches at convergence
    (``solution``: the weighted least squares of ``y`` on ``x``, if already solved)."""
    solution = wls_normal(x, y, w) if solution is None else solution
    eta = x @ solution.coef
    residuals = y - eta
    weights = np.where(w > 0, w, 0.0)
    deviance = float(weights @ residuals**2)
    # the count R's glm.fit reports: its second pass confirms convergence, unless the
    # first already fits perfectly
    iterations = 1 if deviance / (deviance + 0.1) < EPSILON else 2
    return IRLSFit(solution.coef, eta, eta, weights, residuals, solution.bread, deviance,
                   iterations, True)


# ------------------------------------------------------------- on a design --
def fit_weights(design) -> np.ndarray:
    """The design weights over their mean in the domain (R's ``rescale = TRUE``; over
    all rows for a calibrated design, as R's): the prior weights of a model."""
    w = np.asarray(design.weight_array, dtype=float)
    base = w if design.is_calibrated else w[design.in_domain]
    return w / base.mean()


def psu_totals(design, scores: np.ndarray) -> tuple[np.ndarray, int]:
    """Per-PSU totals (P, k) of the rows' ``scores``: the reduction the variance of
    every model needs (requires ``design.totals_path``)."""
    group, n_groups = design.score_groups()
    totals = np.empty((n_groups, scores.shape[1]))
    for j in range(scores.shape[1]):
        totals[:, j] = np.bincount(group, weights=scores[:, j], minlength=n_groups)
    return totals, n_groups


def influence_vcov(design, influence: np.ndarray) -> np.ndarray:
    """Design covariance of the totals of per-row influence columns (n, k) that already
    carry the design weights (R's ``svyrecvar``), from their per-PSU totals where the
    design allows."""
    if design.totals_path:
        totals, _ = psu_totals(design, influence)
        return design.totals_vcov(totals)
    return design.score_vcov(influence)


def sandwich(design, scores: np.ndarray, bread: np.ndarray) -> np.ndarray:
    """Design covariance of the coefficients: the design covariance of the totals of
    the estimating functions ``scores`` (n, p) times ``bread`` on both sides (R's
    ``svy.varcoef``), from their per-PSU totals where the design allows."""
    if design.totals_path:
        totals, _ = psu_totals(design, scores)
        return design.totals_vcov(totals @ bread)
    return design.score_vcov(scores @ bread)


@dataclass(frozen=True)
class ModelFit:
    """A model fitted on a design: the point fit, the design-based covariance of its
    coefficients, the residual df (design df + 1 - p) and the prior weights."""

    fit: IRLSFit
    vcov: np.ndarray
    df_residual: float
    prior: np.ndarray
    discarded: int  # replicates dropped from the variance (rank-deficient, as R's NA)
    variance_design: Any  # the design of the variance: the rows of the fit (Taylor)


def _outcome_checks(y, rows, family: Family, trials, outcome: str, labels) -> None:
    values = y[rows]
    if not np.all(np.isfinite(values)):
        raise EstimationError(f"the outcome {outcome!r} has infinite values")
    if family.name == "binomial":
        bad = (values < 0) | (values > 1)
        if bad.any():
            rows_bad = format_rows(labels[np.flatnonzero(rows)[bad]])
            if trials is None:
                shown = ", ".join(f"{v:g}" for v in sorted(set(values[bad]))[:5])
                raise EstimationError(
                    f"family='binomial' needs an outcome between 0 and 1, but {outcome!r} "
                    f"takes the value(s) {shown} in rows {rows_bad}. Recode it to 0/1, for "
                    f"example I({outcome} == 1) for a yes/no item coded 1/2, or give the "
                    "number of trials (trials=) for counts of successes."
                )
            raise EstimationError(
                f"the successes {outcome!r} are negative or exceed the trials in rows "
                f"{rows_bad}"
            )
    if family.name in ("poisson", "quasipoisson") and np.any(values < 0):
        rows_bad = format_rows(labels[np.flatnonzero(rows)[values < 0]])
        raise EstimationError(
            f"family={family.name!r} needs counts or rates of 0 or more, but {outcome!r} is "
            f"negative in rows {rows_bad}"
        )


def check_separation(fit: IRLSFit, x: np.ndarray, prior: np.ndarray, terms: Sequence[str],
                     what: str, link: str = "logit") -> None:
    """Raise for a binomial fit whose probabilities reach 0 or 1 (perfect separation):
    a logit reaches them only when its coefficients diverge (|eta| > 36); the probit's
    tails reach them from |eta| > 8 in fits that exist, so for it only a fit that does
    not converge counts."""
    eps = 10 * np.finfo(float).eps
    used = prior > 0
    extreme = used & ((fit.mu < eps) | (fit.mu > 1 - eps))
    if link != "logit":
        extreme[:] = False
    if fit.converged and not extreme.any():
        return
    sd = x[used].std(axis=0)
    size = np.abs(fit.coef) * np.where(sd > 0, sd, 1.0)
    size[[i for i, t in enumerate(terms) if t == "Intercept"]] = -np.inf
    worst = terms[int(np.argmax(size))] if len(terms) > 1 else terms[0]
    why = (f"fitted probabilities are numerically 0 or 1 for {int(extreme.sum())} row(s)"
           if extreme.any() else f"the fit did not converge in {MAXIT} iterations")
    raise EstimationError(
        f"perfect separation in {what}: {why}, so the outcome is (almost) fully "
        f"determined by the predictors and the coefficients diverge (largest: {worst!r}). "
        "Drop or merge that term, or collapse categories that have only 0s or only 1s."
    )


def _linear_replicates(design, x, y, rows) -> np.ndarray:
    """Replicate coefficients of a Gaussian model from per-PSU sufficient statistics:
    the PSUs' information ``X'WX`` and cross-products ``X'Wy``, combined by each
    replicate's factors (no pass over the rows per replicate)."""
    w = np.where(rows, design.weight_array, 0.0)
    codes, n_psu = design.score_groups()
    p = x.shape[1]
    xw = x * w[:, None]
    info = np.zeros((n_psu, p, p))
    np.add.at(info, codes, xw[:, :, None] * x[:, None, :])
    cross, _ = psu_totals(design, xw * y[:, None])
    factors = design.replicate_factors
    betas = np.full((factors.shape[1], p), np.nan)
    for r in range(factors.shape[1]):
        a = np.tensordot(factors[:, r], info, axes=1)
        diagonal = np.diag(a).copy()
        try:
            chol = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            continue
        if np.any(np.diag(chol) ** 2 <= ALIAS_TOL**2 * np.where(diagonal > 0, diagonal, 1)):
            continue  # a term without weight in this replicate: R's NA
        b = factors[:, r] @ cross
        betas[r] = np.linalg.solve(chol.T, np.linalg.solve(chol, b))
    return betas


def replicate_coefficients(design, x, y, rows, family: Family, offset, trials, start
                           ) -> np.ndarray:
    """Replicate coefficients by refitting with each replicate's weights over their
    sum, from the full-sample coefficients (R's ``svyglm.svyrep.design``); NaN rows for
    replicates in which a term has no weight (R's NA, discarded by ``svrVar``)."""
    if family.canonical_identity and offset is None and design.totals_path:
        return _linear_replicates(design, x, y, rows)
    betas = np.full((design.n_replicates, x.shape[1]), np.nan)
    for r, column in enumerate(design.replicate_weight_columns()):
        wr = np.where(rows, column, 0.0)
        total = wr.sum()
        if total <= 0 or aliased(x, wr).size:
            continue
        prior = wr / total if trials is None else wr * trials / total
        betas[r] = irls(x, y, prior, family, offset=offset, start=start,
                        trials=trials).coef
    return betas


def fit_model(
    design,
    x: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    family: Family,
    terms: Sequence[str],
    what: str,
    outcome: str = "the outcome",
    offset: np.ndarray | None = None,
    trials: np.ndarray | None = None,
    separation: str = "error",
) -> ModelFit:
    """Fit a model on a design, as R's ``svyglm``: the weighted (quasi-)likelihood fit
    with the design weights over their mean as prior weights (times ``trials`` for a
    binomial with trials, ``y`` then the share of successes), and the design covariance
    of the coefficients: the sandwich from the per-PSU totals of the estimating
    functions (Taylor designs, on the rows of the fit: R's ``design[-nas, ]``), or the
    replicate formula on refits (replicate designs).

    ``x`` (n, p) and ``y`` (n,) cover all rows of the design; ``rows`` marks those in
    the fit (in the domain, complete); ``what`` names the model and ``outcome`` its
    outcome in messages. A binomial fit with separation raises an error, or with
    ``separation="warn"`` warns and goes on as R does (its coefficients diverge).
    """
    labels = design.data.index
    _outcome_checks(y, rows, family, trials, outcome, labels)
    prior = np.where(rows, fit_weights(design), 0.0)
    if trials is not None:
        prior = prior * np.where(rows, trials, 0.0)
    if not np.any(prior > 0):
        raise EstimationError(f"no rows with positive weight left to fit {what}")
    y = np.where(rows, y, 0.0)
    if family.canonical_identity and offset is None:
        solution = wls_normal(x, y, prior)  # its factor also checks the rank
        check_rank(x, prior, terms, what, solution.aliased())
        fit = linear(x, y, prior, solution)
    else:
        check_rank(x, prior, terms, what)
        fit = irls(x, y, prior, family, offset=offset, trials=trials)
    if family.name == "binomial":
        try:
            check_separation(fit, x, prior, terms, what, family.link)
        except EstimationError as separated:
            if separation == "error":
                raise
            warnings.warn(str(separated), UserWarning, stacklevel=3)
    p = x.shape[1]
    discarded = 0
    if design.is_replicate:
        betas = replicate_coefficients(design, x, y, rows, family, offset,
                            None if trials is None else np.where(rows, trials, 0.0), fit.coef)
        discarded = int(np.sum(~np.all(np.isfinite(betas), axis=1)))
        vcov = design._vcov_replicates(betas, fit.coef)
        df_design = design.degf
        fit_design = design
    else:
        fit_design = design if rows.all() or np.array_equal(rows, design.in_domain) \
            else design.subset(rows)
        # zero outside the fit: the working weights are
        vcov = sandwich(fit_design, fit.estfun(x), fit.bread)
        df_design = fit_design.degf
    return ModelFit(fit, vcov, df_design + 1 - p, prior, discarded, fit_design)
