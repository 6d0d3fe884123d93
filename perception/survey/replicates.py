"""Replicate factors built from a design: jackknife, bootstrap, BRR and Fay.

Each method returns a (PSUs x replicates) matrix of factors; a row's replicate weight
is its full-sample weight times the factor of its PSU, so an (n x R) weight matrix is
never formed. Scales follow R's ``as.svrepdesign`` (``jk1weights``, ``jknweights``,
``brrweights``); the bootstrap is Rao and Wu's rescaling bootstrap (R's
``subbootweights``, with the first-stage fpc when known).
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..errors import DesignError
from .variance import Stage


def _first_stage(stage: Stage):
    psu_stratum = stage.cluster_stratum
    n_h = stage.n_sampled
    popsize = stage.popsize
    has_fpc = bool(np.isfinite(popsize).any())
    with np.errstate(divide="ignore", invalid="ignore"):
        f_h = np.where(np.isfinite(popsize), n_h / popsize, 0.0)
    return stage, psu_stratum, n_h, f_h, has_fpc


def _lonely(stage, n_h, lonely_psu: str, method: str) -> np.ndarray:
    lonely = n_h == 1
    if lonely.any() and lonely_psu == "fail":
        bad = ", ".join(str(stage.stratum_labels[h]) for h in np.flatnonzero(lonely))
        raise DesignError(
            f"stratum {bad} has only one PSU, so {method} replicates cannot estimate its "
            "variance. Fix: merge it with a similar stratum, or build the design with "
            "lonely_psu='remove', 'certainty', 'average' or 'adjust'."
        )
    return lonely


def jk1(stage: Stage):
    stage, psu_stratum, n_h, f_h, has_fpc = _first_stage(stage)
    if stage.n_strata > 1:
        raise DesignError(
            "JK1 is the jackknife of unstratified designs; this design has "
            f"{stage.n_strata} strata. Use method='jkn'."
        )
    n = stage.n_clusters
    factors = np.full((n, n), n / (n - 1))
    np.fill_diagonal(factors, 0.0)
    fpc = 1.0 - f_h[0] if has_fpc else 1.0
    return factors, fpc * (n - 1) / n, np.ones(n)


def jkn(stage: Stage, has_strata: bool, lonely_psu: str):
    stage, psu_stratum, n_h, f_h, has_fpc = _first_stage(stage)
    if not has_strata:
        # R: as.svrepdesign(type = "JKn") refuses designs without strata
        raise DesignError(
            "JKn is the jackknife of stratified designs and this design has no strata: "
            "use method='jk1' (or 'bootstrap')"
        )
    lonely = _lonely(stage, n_h, lonely_psu, "JKn")
    n_psu = stage.n_clusters
    columns: list[np.ndarray] = []
    rscales: list[float] = []
    n_strata = stage.n_strata
    for h in range(n_strata):
        members = np.flatnonzero(psu_stratum == h)
        nh = members.size
        correction = 1.0 - f_h[h]
        if correction == 0:
            continue  # all PSUs sampled: no variance, R drops these replicates
        if lonely[h]:
            if lonely_psu == "adjust":
                col = np.full(n_psu, n_strata / (n_strata - 1))
                col[members] = 0.0
                columns.append(col)
                rscales.append((n_strata - 1) / n_strata)
            continue
        for j in members:
            col = np.ones(n_psu)
            col[members] = nh / (nh - 1)
            col[j] = 0.0
            columns.append(col)
            rscales.append(correction * (nh - 1) / nh)
    if not columns:
        raise DesignError("every stratum was sampled exhaustively: there is no variance")
    scale = 1.0
    if lonely_psu == "average" and len(columns) < n_psu:
        scale = n_psu / len(columns)
    return np.column_stack(columns), scale, np.asarray(rscales)


def bootstrap(stage: Stage, lonely_psu: str, replicates: int, rng: np.random.Generator):
    stage, psu_stratum, n_h, f_h, has_fpc = _first_stage(stage)
    lonely = _lonely(stage, n_h, lonely_psu, "bootstrap")
    n_psu = stage.n_clusters
    factors = np.ones((n_psu, replicates))
    order = np.argsort(psu_stratum, kind="stable")
    starts = np.searchsorted(psu_stratum[order], np.arange(stage.n_strata))
    for h in range(stage.n_strata):
        if lonely[h]:
            continue
        nh = int(n_h[h])
        members = order[starts[h] : starts[h] + nh]
        draws = rng.integers(0, nh, size=(replicates, nh - 1))
        counts = np.zeros((replicates, nh))
        np.add.at(counts, (np.repeat(np.arange(replicates), nh - 1), draws.ravel()), 1.0)
        root = np.sqrt(1.0 - f_h[h])
        # Rao-Wu rescaling with m = n - 1, shrunk towards 1 by the fpc
        factors[members] = (1.0 - root + root * nh / (nh - 1) * counts).T
    return factors, 1.0 / (replicates - 1), np.ones(replicates)


def _sylvester(size: int) -> np.ndarray:
    h = np.array([[1.0]])
    while h.shape[0] < size:
        h = np.block([[h, h], [h, -h]])
    return h


def brr(stage: Stage, rho: float):
    stage, psu_stratum, n_h, f_h, has_fpc = _first_stage(stage)
    if not np.all(n_h == 2):
        bad = ", ".join(str(stage.stratum_labels[h]) for h in np.flatnonzero(n_h != 2)[:5])
        raise DesignError(
            f"BRR and Fay need exactly two PSUs in every stratum; strata {bad} do not. "
            "Use method='jkn' or 'bootstrap', or pair PSUs into variance strata first."
        )
    n_strata = stage.n_strata
    size = 1
    while size < n_strata + 1:
        size *= 2
    hadamard = _sylvester(size)[:, 1 : n_strata + 1]  # skip the all-ones column
    order = np.argsort(psu_stratum, kind="stable")
    first_psu = order[0::2]
    second_psu = order[1::2]
    strata_of_pair = psu_stratum[first_psu]
    factors = np.empty((stage.n_clusters, size))
    plus = hadamard[:, strata_of_pair].T > 0  # (strata, R)
    factors[first_psu] = np.where(plus, 2.0 - rho, rho)
    factors[second_psu] = np.where(plus, rho, 2.0 - rho)
    return factors, 1.0 / (size * (1.0 - rho) ** 2), np.ones(size)


def factors_from_design(
    stage: Stage, method: str, *, has_strata: bool, lonely_psu: str, calibrated: bool,
    replicates: int | None = None, seed: int | np.random.Generator | None = None,
    fay_rho: float = 0.3,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Replicate factors (PSUs x R), scale and rscales of ``method`` for a design whose
    first stage is ``stage`` (``SurveyDesign.replicate`` builds the design from them)."""
    if calibrated:
        raise DesignError(
            "replicate weights must be built before weighting: call replicate() on the "
            "unweighted design, then poststratify/rake/calibrate the replicate design"
        )
    if method == "jk1":
        return jk1(stage)
    if method == "jkn":
        return jkn(stage, has_strata, lonely_psu)
    if method == "bootstrap":
        count = 200 if replicates is None else int(replicates)
        if count < 2:
            raise DesignError("the bootstrap needs at least 2 replicates")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return bootstrap(stage, lonely_psu, count, rng)
    if method in ("brr", "fay"):
        rho = 0.0 if method == "brr" else float(fay_rho)
        if not 0 <= rho < 1:
            raise DesignError(f"fay_rho must be in [0, 1), got {fay_rho}")
        return brr(stage, rho)
    raise DesignError(
        f"unknown replicate method {method!r}; choose one of jk1, jkn, bootstrap, brr, fay"
    )


def qr_rank(matrix: np.ndarray, tol: float = 1e-5) -> int:
    """Rank as R's ``qr(x, tol = 1e-5)$rank`` (LINPACK ``dqrdc2``, limited pivoting).

    Columns are taken in order; a column counts when the part of it orthogonal to the
    columns already counted keeps at least ``tol`` of its original norm.

    Examples
    --------
    >>> qr_rank(np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 1.0]]))
    2
    """
    matrix = np.asarray(matrix, dtype=float)
    n, p = matrix.shape
    basis = np.zeros((n, 0))
    for j in range(p):
        if basis.shape[1] >= n:
            break
        column = matrix[:, j]
        norm = np.linalg.norm(column)
        if norm == 0:
            continue
        residual = column - basis @ (basis.T @ column)
        residual = residual - basis @ (basis.T @ residual)  # re-orthogonalise once
        rest = np.linalg.norm(residual)
        if rest >= tol * norm:
            basis = np.column_stack([basis, residual / rest])
    return basis.shape[1]


def replicate_degf(
    memo: dict, w: np.ndarray, factors: np.ndarray | None, factor_index: np.ndarray | None,
    repw: np.ndarray | None, rows: np.ndarray,
) -> int:
    """R's ``degf`` of a replicate design cut to ``rows``: rank of its weights minus 1.

    The replicate weights are ``repw`` (n x R), or ``w`` times ``factors`` (PSUs x R) of
    each row's PSU ``factor_index``. The rank is taken on a matrix with the same
    cross-products as the (rows x R) analysis weights (for designs built from replicate
    factors: one row per PSU, scaled by the root of the sum of its squared weights),
    reduced to R rows by a QR factorisation, so no (n x R) matrix is formed. Results are
    kept in ``memo`` (the design's: it is immutable) for each set of rows.
    """
    # copies made by design._with() share the memo: an entry holds the arrays it was
    # computed from and is used only while the copy still has those very arrays
    key = hashlib.blake2b(np.packbits(rows).tobytes(), digest_size=16).hexdigest()
    sources = (w, factors, repw)
    hit = memo.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], sources, strict=True)):
        return hit[1]
    keep = rows & (w != 0)
    if factors is not None:
        assert factor_index is not None  # set with the factors
        psu = factor_index[keep]
        mass = np.bincount(psu, weights=w[keep] ** 2, minlength=factors.shape[0])
        used = mass > 0
        matrix = factors[used] * np.sqrt(mass[used])[:, None]
    else:
        assert repw is not None  # set whenever the factors are not
        matrix = repw[keep]
    if matrix.shape[0] > matrix.shape[1]:
        matrix = np.asarray(np.linalg.qr(matrix, mode="r"))
    result = qr_rank(matrix) - 1 if matrix.size else -1
    memo[key] = (sources, result)
    return result
