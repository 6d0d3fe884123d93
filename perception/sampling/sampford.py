"""Sampford's method: exact draws and exact joint inclusion probabilities.

Sampford (1967) draws a fixed-size sample of ``n`` units with prescribed first-order
inclusion probabilities ``pi_i < 1`` (``sum pi_i = n``). The classical procedure is
rejective: draw one unit with probabilities ``pi_i / n`` and ``n - 1`` more with
replacement with probabilities proportional to ``lambda_i = pi_i / (1 - pi_i)``; start
again unless all ``n`` are distinct. The sample it accepts has probability

    p(s)  proportional to  prod_{k in s} lambda_k * sum_{k in s} (1 - pi_k),

and the first-order inclusion probabilities of this design are exactly ``pi_i``.
Rejection becomes hopeless when ``n / N`` is large or some ``pi_i`` is close to 1 (the
acceptance rate falls towards zero), so this module draws from ``p(s)`` directly:
units are visited in turn and each is taken with its exact conditional probability
given the choices so far, computed from generating polynomials. There is no rejection
loop, any ``n / N`` works, and the draw has exactly the distribution of the rejective
procedure.

The joint inclusion probabilities are exact sums of ``p(s)`` over the samples holding
both units:

    pi_ij = lambda_i lambda_j [ (2 - pi_i - pi_j) e_{n-2} + d_{n-2} ] / Z,

where ``e_{n-2}`` is the elementary symmetric polynomial of degree ``n - 2`` of the
``lambda_k`` of the other units, ``d_{n-2}`` the same sum weighted by each set's
``sum (1 - pi_k)``, and ``Z`` the total weight of all samples. Both come from one
product of "dual" polynomials ``(1 + lambda_k z) + eps (pi_k z)`` (``lambda_k (1 -
pi_k) = pi_k``); every term is positive, so no cancellation loses precision.

Limits: every ``pi_i`` must be below 1 (certainty units are taken out first, see
:mod:`perception.sampling.pps`); ``n`` at most :data:`MAX_SAMPFORD_N` (the polynomial
coefficients grow like ``e^n``); the joint probabilities of all pairs of ``N`` units cost
``O(N^2 n^2)`` operations (about 10 s for ``N = 2000, n = 20``), those of the drawn units
only (what variance estimation needs) ``O(N n + m^2 n^2)`` for ``m`` units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import SamplingError

__all__ = ["MAX_SAMPFORD_N", "sampford_draw", "sampford_joint", "check_sampford_pi"]

#: largest sample size of one Sampford draw (the generating polynomials overflow beyond)
MAX_SAMPFORD_N = 500
#: relative error tolerated in the exact identities the joint probabilities must meet
IDENTITY_RTOL = 1e-8


def check_sampford_pi(pi: np.ndarray) -> int:
    """The sample size ``n = sum(pi)``, after checking ``0 < pi_i < 1`` and that the sum
    is a whole number."""
    pi = np.asarray(pi, dtype=float)
    if pi.ndim != 1 or pi.size == 0:
        raise SamplingError("Sampford: give a non-empty vector of inclusion probabilities")
    if not np.all(np.isfinite(pi)) or np.any(pi <= 0) or np.any(pi >= 1):
        bad = np.flatnonzero(~np.isfinite(pi) | (pi <= 0) | (pi >= 1))
        raise SamplingError(
            f"Sampford: inclusion probabilities must lie strictly between 0 and 1 (units "
            f"with probability 1 are taken with certainty beforehand); positions "
            f"{bad[:10].tolist()} have {pi[bad[:10]].tolist()}"
        )
    total = float(pi.sum())
    n = int(round(total))
    if abs(total - n) > 1e-9 * max(1.0, total):
        raise SamplingError(
            f"Sampford: the inclusion probabilities sum to {total!r}, not a whole sample "
            "size; they must be n * size / total(size)"
        )
    if n > MAX_SAMPFORD_N:
        raise SamplingError(
            f"Sampford: n = {n} exceeds the largest sample this implementation draws "
            f"({MAX_SAMPFORD_N}); use method='systematic' or split the stratum"
        )
    return n


def _weights(pi: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``mu = t lambda`` and ``nu = mu (1 - pi)``, scaled so that ``sum mu = n``: every
    sample has n units, so the common factor ``t^n`` cancels, and the scale keeps the
    polynomial coefficients near ``n^k / k!``."""
    lam = pi / (1.0 - pi)
    mu = lam * (n / lam.sum())
    return mu, mu * (1.0 - pi)


def _times(a: np.ndarray, b: np.ndarray, mu, nu) -> tuple[np.ndarray, np.ndarray]:
    """(a + eps b) * ((1 + mu z) + eps nu z), truncated to a's length (last axis)."""
    a2 = a.copy()
    b2 = b.copy()
    a2[..., 1:] += mu * a[..., :-1]
    b2[..., 1:] += mu * b[..., :-1] + nu * a[..., :-1]
    return a2, b2


def _suffix(mu: np.ndarray, nu: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Dual products of the factors of units k..N-1 for every k (row N: the empty
    product), truncated to ``length`` coefficients."""
    N = mu.shape[0]
    a = np.zeros((N + 1, length))
    b = np.zeros((N + 1, length))
    a[N, 0] = 1.0
    a[:N] = a[N]
    for k in range(N - 1, -1, -1):  # in place: row k = row k+1 times unit k's factor
        a[k] = a[k + 1]
        b[k] = b[k + 1]
        a[k, 1:] += mu[k] * a[k + 1, :-1]
        b[k, 1:] += mu[k] * b[k + 1, :-1] + nu[k] * a[k + 1, :-1]
    return a, b


def sampford_draw(rng: np.random.Generator, pi: np.ndarray) -> np.ndarray:
    """Positions (sorted) of one Sampford sample drawn with probabilities ``pi``.

    Parameters
    ----------
    rng : numpy Generator.
    pi : first-order inclusion probabilities, each in (0, 1), summing to ``n``.

    Returns
    -------
    ndarray of ``n`` positions into ``pi``.

    Examples
    --------
    >>> pi = np.array([0.2, 0.7, 0.8, 0.5, 0.4, 0.4])
    >>> sampford_draw(np.random.default_rng(1), pi).size
    3

    Notes
    -----
    Unit ``k`` is taken with probability ``mu_k W(k+1, r-1, c + 1 - pi_k) / W(k, r, c)``
    where ``r`` units remain to be drawn, ``c`` is the sum of ``1 - pi`` over the units
    taken so far and ``W(k, r, c) = c e_r(k..N) + d_r(k..N)`` is the total weight of the
    completions from units ``k..N``. R: ``sampling::UPsampford`` (rejective).
    """
    pi = np.asarray(pi, dtype=float)
    n = check_sampford_pi(pi)
    mu, nu = _weights(pi, n)
    a, b = _suffix(mu, nu, n + 1)
    u = rng.random(int(pi.shape[0])).tolist()
    a_, b_ = a.tolist(), b.tolist()  # Python floats: the loop reads one value at a time
    mu_, pi_ = mu.tolist(), pi.tolist()
    chosen = []
    r, c = n, 0.0
    for k in range(pi.shape[0]):
        if r == 0:
            break
        total = c * a_[k][r] + b_[k][r]
        with_k = mu_[k] * ((c + 1.0 - pi_[k]) * a_[k + 1][r - 1] + b_[k + 1][r - 1])
        if u[k] * total < with_k:
            chosen.append(k)
            r -= 1
            c += 1.0 - pi_[k]
    if r:  # pragma: no cover - the last units are taken with probability 1
        raise SamplingError("Sampford: numerical failure while drawing; report this frame")
    return np.asarray(chosen, dtype=np.int64)


def _conv(xa: np.ndarray, xb: np.ndarray, ya: np.ndarray, yb: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """Truncated product of batches of dual polynomials (rows), length of ``xa``."""
    length = xa.shape[-1]
    za = np.zeros(np.broadcast_shapes(xa.shape, ya.shape))
    zb = np.zeros_like(za)
    for s in range(length):
        za[..., s:] += xa[..., s:s + 1] * ya[..., :length - s]
        zb[..., s:] += xa[..., s:s + 1] * yb[..., :length - s] + xb[..., s:s + 1] * ya[..., :length - s]
    return za, zb


def _coefficient(xa, xb, ya, yb, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficient of ``z^degree`` of the product of two batches of dual polynomials."""
    ra = ya[..., degree::-1]
    rb = yb[..., degree::-1]
    return ((xa[..., :degree + 1] * ra).sum(-1),
            (xa[..., :degree + 1] * rb + xb[..., :degree + 1] * ra).sum(-1))


def sampford_joint(pi: Sequence[float] | np.ndarray,
                   units: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Exact joint inclusion probabilities of Sampford's design.

    Parameters
    ----------
    pi : first-order inclusion probabilities of every unit of the stratum (each in
        (0, 1), summing to the sample size ``n``).
    units : positions of the units whose joint probabilities are wanted (e.g. the drawn
        ones); default all units.

    Returns
    -------
    ndarray (m, m): ``pi_ij`` for the ``units`` in the order given, ``pi_i`` on the
    diagonal.

    Raises
    ------
    SamplingError
        For probabilities outside (0, 1) or not summing to a whole number, and if the
        exact identities (``pi_i`` recovered from the design; ``sum_j pi_ij = (n - 1)
        pi_i`` for the full matrix) fail by more than :data:`IDENTITY_RTOL`.

    Examples
    --------
    >>> pij = sampford_joint([0.2, 0.7, 0.8, 0.5, 0.4, 0.4])
    >>> np.round(pij[0, 1:], 4).tolist()
    [0.1082, 0.1364, 0.0627, 0.0464, 0.0464]
    >>> bool(np.allclose(pij.sum(1) - np.diag(pij), 2 * np.diag(pij)))
    True

    Notes
    -----
    R: ``sampling::UPsampfordpi2(pik)`` (the same quantity). See the module docstring
    for the formula and its cost.
    """
    pi = np.asarray(pi, dtype=float)
    n = check_sampford_pi(pi)
    N = pi.shape[0]
    full = units is None
    T = np.arange(N) if full else np.asarray(units, dtype=np.int64).ravel()
    if T.size and (T.min() < 0 or T.max() >= N or np.unique(T).size != T.size):
        raise SamplingError(f"Sampford: units must be distinct positions in 0..{N - 1}")
    m = T.size
    out = np.zeros((m, m))
    out[np.arange(m), np.arange(m)] = pi[T]
    if n < 2 or m < 2:
        return out
    mu, nu = _weights(pi, n)
    # total weight of all samples
    all_a, all_b = _suffix(mu, nu, n + 1)
    Z = all_b[0, n]
    # product over the units outside T, then prefix/suffix products along T
    others = np.ones(N, dtype=bool)
    others[T] = False
    ca, cb = np.zeros(n), np.zeros(n)
    ca[0] = 1.0
    for k in np.flatnonzero(others):
        ca, cb = _times(ca, cb, mu[k], nu[k])
    pre_a, pre_b = np.zeros((m, n)), np.zeros((m, n))
    xa, xb = ca, cb
    for t in range(m):
        pre_a[t], pre_b[t] = xa, xb
        xa, xb = _times(xa, xb, mu[T[t]], nu[T[t]])
    suf_a, suf_b = _suffix(mu[T], nu[T], n)
    # first-order identity: pi_i = mu_i [(1 - pi_i) e_{n-1} + d_{n-1}] / Z without unit i
    ea, eb = _coefficient(pre_a, pre_b, suf_a[1:], suf_b[1:], n - 1)
    pi_back = mu[T] * ((1.0 - pi[T]) * ea + eb) / Z
    _check_identity(pi_back, pi[T], "the first-order probabilities")
    # pairs (t, t + d) along the diagonals; mid: product of the units strictly between
    mid_a = np.zeros((m - 1, n))
    mid_b = np.zeros((m - 1, n))
    mid_a[:, 0] = 1.0
    for d in range(1, m):
        i = np.arange(m - d)
        j = i + d
        if d > 1:
            between = T[i + d - 1]
            mid_a, mid_b = _times(mid_a[: m - d], mid_b[: m - d], mu[between][:, None],
                                  nu[between][:, None])
        else:
            mid_a, mid_b = mid_a[: m - d], mid_b[: m - d]
        xa, xb = _conv(pre_a[i], pre_b[i], mid_a, mid_b)
        ea, eb = _coefficient(xa, xb, suf_a[j + 1], suf_b[j + 1], n - 2)
        ti, tj = T[i], T[j]
        value = mu[ti] * mu[tj] * ((2.0 - pi[ti] - pi[tj]) * ea + eb) / Z
        out[i, j] = value
        out[j, i] = value
    if full:
        rows = out.sum(1) - pi
        _check_identity(rows, (n - 1) * pi, "sum_j pi_ij = (n - 1) pi_i")
    return out


def _check_identity(got: np.ndarray, want: np.ndarray, what: str) -> None:
    error = np.abs(got - want) / np.maximum(np.abs(want), 1e-300)
    if np.any(~np.isfinite(got)) or error.max() > IDENTITY_RTOL:
        raise SamplingError(
            f"Sampford: the exact joint probabilities lost precision ({what} off by a "
            f"relative {float(np.nanmax(error)):.1e}); the probabilities are too extreme "
            "for this implementation. Use method='systematic' or take the largest units "
            "with certainty"
        )
