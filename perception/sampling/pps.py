"""Probabilities proportional to size: the certainty rule and systematic selection.

Pure numpy kernels on one stratum; :mod:`perception.sampling.selection` applies them to
a frame.
"""

from __future__ import annotations

import numpy as np

from ..errors import SamplingError

__all__ = ["CERTAINTY_TOLERANCE", "pps_probabilities", "systematic_draw"]

#: a unit whose probability is within this of 1 is taken with certainty (Sampford needs
#: every other probability clearly below 1)
CERTAINTY_TOLERANCE = 1e-9


def pps_probabilities(size: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Inclusion probabilities of a PPS sample of ``n`` units, with certainty units.

    Parameters
    ----------
    size : positive sizes of the stratum's units.
    n : sample size (0 <= n <= number of units).

    Returns
    -------
    pi : ``1`` for certainty units, ``n' size_i / X'`` for the others (``n'`` units left
        to draw, ``X'`` their total size).
    certain : boolean mask of the certainty units.

    Examples
    --------
    >>> pi, certain = pps_probabilities(np.array([50.0, 10, 10, 10, 10, 10]), 3)
    >>> pi.tolist(), certain.tolist()
    ([1.0, 0.4, 0.4, 0.4, 0.4, 0.4], [True, False, False, False, False, False])

    Notes
    -----
    A unit whose size is at least ``X / n`` would get a probability of 1 or more: it is
    taken with certainty and the rule is applied again to the others with ``n - 1``
    units, until no probability reaches 1 (Cochran 1977, 9A.2). Units within
    :data:`CERTAINTY_TOLERANCE` of 1 count as certain.
    """
    size = np.asarray(size, dtype=float)
    N = size.shape[0]
    if not 0 <= n <= N:
        raise SamplingError(f"cannot draw {n} units from {N}")
    certain = np.zeros(N, dtype=bool)
    while True:
        left = n - int(certain.sum())
        if left == 0:
            return certain.astype(float), certain
        rest = ~certain
        pi = np.where(certain, 1.0, left * size / size[rest].sum())
        new = rest & (pi >= 1.0 - CERTAINTY_TOLERANCE)
        if not new.any():
            return pi, certain
        certain |= new


def systematic_draw(rng: np.random.Generator, size: np.ndarray, n: int,
                    order: np.ndarray | None = None) -> np.ndarray:
    """Positions (sorted) of a systematic PPS sample of ``n`` units in random order.

    Parameters
    ----------
    rng : numpy Generator.
    size : positive sizes; every ``n size_i / sum(size)`` must be below 1 (take
        certainty units out first with :func:`pps_probabilities`).
    n : sample size.
    order : optional integer sort key (implicit stratification, e.g. the commune): units
        are listed by it, in random order within equal keys. Default: one random order.

    Examples
    --------
    >>> systematic_draw(np.random.default_rng(1), np.array([3.0, 1, 1, 2, 2, 1]), 2).size
    2

    Notes
    -----
    The units are listed in random order and their sizes cumulated; with step ``k =
    X / n`` and a uniform start ``u`` in ``[0, k)`` the units whose interval holds a
    point ``u + j k`` are drawn. Each unit is drawn with probability ``n size_i / X``
    exactly. Its joint probabilities depend on the list order: over random orders they
    are approximately Hartley and Rao's (1962), but not available exactly.
    """
    size = np.asarray(size, dtype=float)
    N = size.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    total = size.sum()
    if n * size.max() >= total * (1.0 - CERTAINTY_TOLERANCE):
        raise SamplingError("systematic PPS: a unit would be drawn with certainty; take "
                          "certainty units out first")
    key = rng.random(int(N))
    listing = np.argsort(key, kind="stable") if order is None else np.lexsort((key, order))
    cum = np.cumsum(size[listing])
    step = cum[-1] / n
    points = rng.random() * step + step * np.arange(n)
    hit = np.minimum(np.searchsorted(cum, points, side="right"), N - 1)
    return np.sort(listing[hit])
