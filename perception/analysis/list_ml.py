"""The maximum-likelihood fit of a list experiment's regression (Imai 2011), written once.

The sensitive item is a logistic regression, the count of control items a binomial
one; the weighted pseudo-log-likelihood is maximised by EM, then polished by
Newton-Raphson on the observed likelihood. The iterations are a generator of requests
for sums over the rows (:func:`ml_iterations`): :func:`fit_list_ml` answers them from
rows in memory, :mod:`perception.analysis.dask_list_models` from the partitions of a
Dask DataFrame, so both paths take the same steps (used by
:func:`perception.analysis.list_models.list_regression`).

Examples
--------
>>> x = np.ones((4, 1)); y = np.array([0.0, 1, 1, 2]); t = np.array([0.0, 0, 1, 1])
>>> fit = fit_list_ml(x, y, t, 1, np.ones(4))
>>> len(fit[0])
2
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

#: EM: stop when the pseudo-log-likelihood per respondent gains less than this, or after
#: EM_MAX_ITER iterations (EM is slow near the optimum); Newton-Raphson on the observed
#: likelihood then converges quadratically, until the largest step is below NEWTON_TOL
EM_TOL = 1e-8
EM_MAX_ITER = 5000
NEWTON_TOL = 1e-10
NEWTON_MAX_ITER = 50


def list_log_likelihood(params: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray,
                        J: int, w: np.ndarray | None = None) -> float:
    """The (weighted) log-likelihood of Imai's ML model at ``params = [delta, psi]``.

    Parameters
    ----------
    params : (2p,) the sensitive model's coefficients, then the control items' model's.
    x : (n, p) covariates (with the intercept); y : (n,) counts; t : (n,) 0/1 list heard.
    J : the number of control items. w : (n,) weights (default 1).

    Examples
    --------
    >>> x = np.ones((3, 1)); y = np.array([0.0, 1, 2]); t = np.array([0.0, 1, 1])
    >>> round(list_log_likelihood(np.zeros(2), x, y, t, 1), 4)
    -2.7726
    """
    ll, _ = _observed(params, x, y, t, J)
    weights = np.ones(len(y)) if w is None else w
    return float(weights @ ll)


def _observed(params: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood and the posterior probability of the sensitive item (0 on
    the control list)."""
    p = x.shape[1]
    eta_d, eta_p = x @ params[:p], x @ params[p:]
    log_pi, log_1mpi = -np.logaddexp(0.0, -eta_d), -np.logaddexp(0.0, eta_d)
    log_q, log_1mq = -np.logaddexp(0.0, -eta_p), -np.logaddexp(0.0, eta_p)
    log_b = _log_binomial(y, J, log_q, log_1mq)
    log_b1 = _log_binomial(y - 1, J, log_q, log_1mq)
    treated = t == 1
    yes = log_pi + log_b1
    no = log_1mpi + log_b
    with np.errstate(invalid="ignore"):
        mixture = np.logaddexp(yes, no)
        ll = np.where(treated, mixture, log_b)
        posterior = np.where(treated, np.exp(yes - mixture), 0.0)
    return ll, np.nan_to_num(posterior)


def _log_binomial(k: np.ndarray, J: int, log_q: np.ndarray, log_1mq: np.ndarray
                  ) -> np.ndarray:
    """log P(K = k) for K ~ Binomial(J, q), -inf outside 0..J."""
    inside = (k >= 0) & (k <= J)
    kk = np.where(inside, k, 0.0)
    log_choose = special.gammaln(J + 1) - special.gammaln(kk + 1) - special.gammaln(J - kk + 1)
    return np.where(inside, log_choose + kk * log_q + (J - kk) * log_1mq, -np.inf)


def _scores(params: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row scores (n, 2p), the per-row weights of the Hessian blocks and the
    posterior: ``H_i = -[a xx', c xx'; c xx', b xx']`` with (a, b, c) returned."""
    p = x.shape[1]
    pi = special.expit(x @ params[:p])
    q = special.expit(x @ params[p:])
    _, r = _observed(params, x, y, t, J)
    s_delta = (t * (r - pi))[:, None] * x
    s_psi = (y - t * r - J * q)[:, None] * x
    v = t * r * (1 - r)
    a = t * pi * (1 - pi) - v
    b = J * q * (1 - q) - v
    c = v  # the cross block of -H is +v xx'
    return np.hstack([s_delta, s_psi]), np.column_stack([a, b, c]), r


def _information(x: np.ndarray, parts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weighted observed information ``-sum w_i H_i``."""
    a, b, c = (w * parts[:, k] for k in range(3))
    xa, xb, xc = x.T @ (x * a[:, None]), x.T @ (x * b[:, None]), x.T @ (x * c[:, None])
    return np.block([[xa, xc], [xc, xb]])


def logistic_moments(x: np.ndarray, successes: np.ndarray, trials: float, w: np.ndarray,
                     beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and the information of a weighted (binomial) logistic regression at
    ``beta``: sums over the rows (a partition's add up)."""
    mu = special.expit(x @ beta)
    grad = x.T @ (w * (successes - trials * mu))
    hess = x.T @ (x * (w * trials * mu * (1 - mu))[:, None])
    return grad, hess


def start_excess(x: np.ndarray, y: np.ndarray, psi: np.ndarray, J: int) -> np.ndarray:
    """The treatment list's counts minus their expected control count, clipped to
    0.02..0.98: the outcome of the sensitive item's starting regression."""
    return np.clip(y - J * special.expit(x @ psi), 0.02, 0.98)


# The iterations of the ML fit are written once, as a generator: it yields what it needs
# summed over the rows -- a request -- and receives the sums. ``fit_list_ml`` answers
# from the arrays in memory; on a Dask DataFrame each answer is one pass over the
# partitions (``dask_list_models``), several fits (the replicates) in the same passes.
# A request is a tuple: ("control", beta) and ("treated", psi, beta), the starting
# regressions; ("em", theta, delta, psi), the log-likelihood at theta and the M-steps'
# regressions at delta and psi (None: not needed) with the posterior at theta;
# ("newton", theta), the log-likelihood, its gradient and the observed information.
Request = tuple
Sums = tuple


def ml_sums(request: Request, x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int,
            w: np.ndarray, cache: dict | None = None) -> Sums:
    """The sums over rows that ``request`` asks for (see :func:`ml_iterations`).

    Parameters
    ----------
    request : tuple
        What to sum, and where.
    x, y, t, J, w
        The rows: covariates, counts, lists (0/1), J, weights.
    cache : dict, optional
        Keeps the posterior of the last ``theta`` of an "em" request (the M-steps ask
        several times at one theta).

    Returns
    -------
    tuple
        "control", "treated": (gradient, information) of the regression; "em":
        (log-likelihood, weight total, the sensitive item's M-step moments or None, the
        control items' or None); "newton": (log-likelihood, gradient, information).

    Examples
    --------
    >>> x = np.ones((3, 1)); y = np.array([0.0, 1, 2]); t = np.array([0.0, 1, 1])
    >>> round(ml_sums(("newton", np.zeros(2)), x, y, t, 1, np.ones(3))[0], 4)
    -2.7726
    """
    kind = request[0]
    if kind == "control":
        keep = t == 0
        return logistic_moments(x[keep], y[keep], float(J), w[keep], request[1])
    if kind == "treated":
        keep = t == 1
        return logistic_moments(x[keep], start_excess(x[keep], y[keep], request[1], J), 1.0,
                                w[keep], request[2])
    theta = request[1]
    if kind == "em":
        if cache is not None and cache.get("theta") is theta:
            rows, r = cache["rows"], cache["r"]
        else:
            rows, r = _observed(theta, x, y, t, J)
            if cache is not None:
                cache.update(theta=theta, rows=rows, r=r)
        delta, psi = request[2], request[3]
        keep = t == 1
        return (float(w @ rows), float(w.sum()),
                None if delta is None else logistic_moments(x[keep], r[keep], 1.0, w[keep],
                                                            delta),
                None if psi is None else logistic_moments(x, y - t * r, float(J), w, psi))
    rows, _ = _observed(theta, x, y, t, J)
    scores, parts, _ = _scores(theta, x, y, t, J)
    return float(w @ rows), scores.T @ w, _information(x, parts, w)


def add_sums(a: Any, b: Any) -> Any:
    """Two answers to one request added (a partition's to the others').

    Examples
    --------
    >>> add_sums((1.0, None, np.ones(2)), (2.0, None, np.ones(2)))
    (3.0, None, array([2., 2.]))
    """
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(add_sums(u, v) for u, v in zip(a, b, strict=True))
    return a + b


def _logistic(request, beta: np.ndarray):
    """Newton-Raphson of a starting regression from ``beta`` (``request(beta)`` its
    request); at most 25 steps, until a step is below 1e-10."""
    for _ in range(25):
        grad, hess = yield request(beta)
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def _m_steps(theta: np.ndarray, p: int, first: Sums):
    """The two M-steps of an EM iteration from ``theta`` (the posterior at theta): the
    sensitive item's logistic regression of the posterior on the treatment list and the
    control items' binomial regression of ``y - t r``, each Newton-Raphson from its part
    of theta (at most 25 steps, until a step is below 1e-10), both in the same requests."""
    betas = [theta[:p].copy(), theta[p:].copy()]
    steps = [0, 0]
    done = [False, False]
    sums = first
    while True:
        for k in range(2):
            if done[k]:
                continue
            grad, hess = sums[2 + k]
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
            betas[k] = betas[k] + step
            steps[k] += 1
            done[k] = steps[k] >= 25 or np.max(np.abs(step)) < 1e-10
        if all(done):
            return betas
        sums = yield ("em", theta, None if done[0] else betas[0], None if done[1] else betas[1])


def ml_iterations(p: int, start: np.ndarray | None = None):
    """The iterations of the ML fit (a generator of requests, see :func:`ml_sums`): the
    starting values (R's ``ictreg`` start) unless ``start``; EM until the
    pseudo-log-likelihood per unit of weight gains less than ``EM_TOL``; then
    Newton-Raphson on the observed likelihood with step halving, until a step is below
    ``NEWTON_TOL``. Returns ``(params, EM iterations, Newton steps, converged)``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> x = np.ones((2000, 1)); t = (rng.random(2000) < 0.5).astype(float)
    >>> y = rng.binomial(3, 0.4, 2000) + t * (rng.random(2000) < 0.3)
    >>> answer = lambda request: ml_sums(request, x, y, t, 3, np.ones(2000))
    >>> params, em, newton, converged = run_iterations(ml_iterations(1), answer)
    >>> converged, em > 0
    (True, True)
    """
    if start is None:
        # the control items on the control list; the sensitive item on the treatment
        # list's counts minus their expected control count
        psi = yield from _logistic(lambda beta: ("control", beta), np.zeros(p))
        delta = yield from _logistic(lambda beta: ("treated", psi, beta), np.zeros(p))
        params = np.concatenate([delta, psi])
    else:
        params = np.array(start, dtype=float)
    # the log-likelihood here and the first steps of the M-steps, in one request
    sums = yield ("em", params, params[:p], params[p:])
    ll_old = sums[0] / sums[1]
    em = 0  # the iterations done, reported
    for em in range(1, EM_MAX_ITER + 1):  # noqa: B007 (em is the count returned)
        delta, psi = yield from _m_steps(params, p, sums)
        params = np.concatenate([delta, psi])
        sums = yield ("em", params, params[:p], params[p:])
        ll = sums[0] / sums[1]
        if abs(ll - ll_old) < EM_TOL:
            break
        ll_old = ll
    converged = False
    newton = 0
    here = yield ("newton", params)
    for newton in range(1, NEWTON_MAX_ITER + 1):  # noqa: B007 (returned)
        base, grad, info = here
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        size = 1.0
        trial = None
        while size > 1e-6:  # step halving: the likelihood must not fall
            trial = yield ("newton", params + size * step)
            if trial[0] >= base - 1e-12 * abs(base):
                break
            trial = None
            size /= 2
        params = params + size * step
        if np.max(np.abs(size * step)) < NEWTON_TOL:
            converged = True
            break
        here = trial if trial is not None else (yield ("newton", params))
    return params, em, newton, converged


def run_iterations(steps, answer) -> Any:
    """Run the generator ``steps`` to its end, ``answer(request)`` answering each
    request; its return value.

    Examples
    --------
    >>> def steps():
    ...     total = yield "a request"
    ...     return total + 1
    >>> run_iterations(steps(), lambda request: 41)
    42
    """
    try:
        request = next(steps)
        while True:
            request = steps.send(answer(request))
    except StopIteration as stop:
        return stop.value


def fit_list_ml(x: np.ndarray, y: np.ndarray, t: np.ndarray, J: int, w: np.ndarray,
                start: np.ndarray | None = None) -> tuple[np.ndarray, int, int, bool]:
    """Maximise the weighted pseudo-log-likelihood of Imai's ML model.

    EM (the E-step: each treatment-list respondent's posterior probability ``r`` of the
    sensitive item; the M-steps: a weighted logistic regression of ``r`` for the
    sensitive item, a weighted binomial regression of ``y - t r`` out of J for the
    control items) until the likelihood gains less than ``EM_TOL``, then Newton-Raphson
    on the observed likelihood with step halving (:func:`ml_iterations`, its sums over
    the rows in memory).

    Returns
    -------
    (params, EM iterations, Newton steps, converged)

    Examples
    --------
    Three control items true with probability 0.4 each, a sensitive item held by 30%:

    >>> rng = np.random.default_rng(3)
    >>> x = np.ones((5000, 1)); t = (rng.random(5000) < 0.5).astype(float)
    >>> y = rng.binomial(3, 0.4, 5000) + t * (rng.random(5000) < 0.3)
    >>> params, *_, converged = fit_list_ml(x, y, t, 3, np.ones(5000))
    >>> np.round(special.expit(params), 2).tolist(), converged
    ([0.31, 0.39], True)
    """
    cache: dict = {}
    return run_iterations(ml_iterations(x.shape[1], start),
                          lambda request: ml_sums(request, x, y, t, J, w, cache))


@dataclass(frozen=True)
class MLFit:
    """A fit of the ML model (in memory or on the partitions of a Dask DataFrame).

    Attributes
    ----------
    params : (2p,) the sensitive model's coefficients, then the control items' model's.
    vcov : (2p, 2p) their design-based covariance (None when not converged).
    terms : the covariates' terms.
    df_residual : design df + 1 - 2p.
    n : rows in the fit.
    log_likelihood : the weighted pseudo-log-likelihood, weights over their mean.
    iterations : (EM iterations, Newton steps).
    converged : whether the iterations converged.
    """

    params: np.ndarray
    vcov: np.ndarray | None
    terms: list[str]
    df_residual: float
    n: int
    log_likelihood: float
    iterations: tuple[int, int]
    converged: bool

    @property
    def steps(self) -> str:
        """The iterations done, for a message."""
        em, newton = self.iterations
        return f"EM {em} iterations, Newton {newton} steps"


def replicate_refits(weights: Iterable[np.ndarray], R: int, x: np.ndarray, y: np.ndarray,
                     t: np.ndarray, J: int, params: np.ndarray, n_rows: int) -> np.ndarray:
    """The ML fit of each replicate from ``params`` (R's refits of a replicate design):
    (R, 2p), NaN for a replicate without weight in the fit or that does not converge.

    Parameters
    ----------
    weights : iterable of (m,) arrays
        Each replicate's weights of the rows (or of groups of identical rows).
    R : int
        The number of replicates.
    x, y, t, J
        The rows (or groups): covariates, counts, lists, J.
    params : (2p,) array
        The full-sample estimates, where each refit starts.
    n_rows : int
        The rows in the fit (the weights are scaled to a mean of 1 over them).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> x = np.ones((4, 1)); y = np.array([0.0, 1, 1, 2]); t = np.array([0.0, 0, 1, 1])
    >>> replicate_refits([np.zeros(4)], 1, x, y, t, 1, np.zeros(2), 4).tolist()
    [[nan, nan]]
    """
    estimates = np.full((R, len(params)), np.nan)
    for r, wr in enumerate(weights):
        total = wr.sum()
        if total <= 0:
            continue
        fitted, _, _, converged = fit_list_ml(x, y, t, J, wr / (total / n_rows), start=params)
        if converged:
            estimates[r] = fitted
    return estimates
