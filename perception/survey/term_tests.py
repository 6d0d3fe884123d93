"""Tests that a set of a model's coefficients is zero (R's ``regTermTest``): the
design-based Wald test and the Rao–Scott working likelihood-ratio test.

- Wald: ``chisq = b' V^-1 b`` for the tested coefficients ``b`` and their design-based
  covariance ``V``; reported as ``F = chisq / k`` on ``(k, df_residual)`` (or the
  chi-squared with ``df=inf``).
- Working LRT (Lumley and Scott 2014): the difference of the deviances of the model
  without and with the tested terms, refitted on the same rows; under the null it is
  distributed as ``sum_i lambda_i X_i`` with ``lambda`` the eigenvalues of
  ``V0^-1 V`` (``V0`` the model-based covariance), whose tail is approximated by the
  saddlepoint (R's default) or Satterthwaite (:mod:`perception.survey.saddlepoint`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from . import cumulative_link as kernel
from .dask_design import refuse_rows
from .fitting import irls, linear
from .models import GLMResult
from .ordinal import OLRResult
from .saddlepoint import APPROXIMATIONS, chisq_sum_sf, f_sum_sf

Method = Literal["Wald", "LRT"]
METHODS = ("Wald", "LRT")

COLUMNS = ["terms", "method", "chisq", "ndf", "ddf", "statistic", "p"]


def _canonical(term: str) -> str:
    """A term's name without ``C(...)``/``Q("...")`` wrappers and with its factors in
    sorted order (R's ``canonicalOrder``): ``C(stype):meals`` -> ``meals:stype``."""
    parts = []
    for part in term.split(":"):
        part = part.strip()
        part = re.sub(r'^Q\(["\'](.+)["\']\)$', r"\1", part)
        part = re.sub(r"^C\(([^,()]+)(,.*)?\)$", r"\1", part)
        part = re.sub(r'^Q\(["\'](.+)["\']\)$', r"\1", part)
        parts.append(part)
    return ":".join(sorted(parts))


def _positions(fit, terms: Sequence[str]) -> list[int]:
    """Positions, among the fit's coefficients, of the columns of ``terms``."""
    info = fit._design_info
    names = list(fit.coefficients.index)
    by_term = {_canonical(name): info.column_names[columns]
               for name, columns in info.term_name_slices.items()}
    positions: list[int] = []
    for term in terms:
        columns = by_term.get(_canonical(term))
        if columns is None or not columns:
            known = [t for t in info.term_name_slices if t != "Intercept"]
            raise EstimationError(
                f"term {term!r} is not in the model {fit.formula!r}; its terms are "
                f"{', '.join(map(repr, known))}"
            )
        positions += [names.index(c) for c in columns if c in names]
    return sorted(set(positions))


def _terms(spec) -> list[str]:
    if isinstance(spec, str):
        spec = spec.lstrip("~").strip()
        return [t.strip() for t in spec.split("+") if t.strip()]
    names = list(spec)
    if not names or not all(isinstance(t, str) for t in names):
        raise EstimationError(f"terms must be a term name or a list of them, got {spec!r}")
    return names


def _lrt_pieces(fit, positions: list[int]) -> tuple[float, np.ndarray]:
    """The working LRT statistic (deviance without minus with the terms, on the same
    rows) and ``V0``, the model-based covariance of the tested coefficients."""
    if isinstance(fit, GLMResult):
        assert fit._model is not None and fit._frame is not None
        model, frame = fit._model, fit._frame
        keep = [j for j in range(frame.x.shape[1]) if j not in positions]
        family = fit._family()
        x = frame.x[:, keep]
        y = np.where(frame.rows, frame.y, 0.0)
        if family.canonical_identity and fit.offset is None:
            smaller = linear(x, y, model.prior)
        else:
            smaller = irls(x, y, model.prior, family, offset=fit._offset_values,
                           trials=fit._trials_values)
        v0 = model.fit.bread[np.ix_(positions, positions)]
        return smaller.deviance - model.fit.deviance, v0
    rows = fit._rows
    w = np.where(rows, fit._design.weight_array, 0.0)
    scale = w[rows].mean()
    keep = [j for j in range(fit._x.shape[1]) if j not in positions]
    q = len(fit.categories) - 1
    reduced = kernel.fit(fit._x[:, keep], fit._y, w, q, fit.link)
    full = kernel.loglik(fit.theta, fit._x, fit._y, w, fit.link)
    # the Hessian of the log-likelihood with the weights over their mean, as the deviance
    v0 = np.linalg.inv(-fit._hessian / scale)[np.ix_(positions, positions)]
    return -2 * (reduced.loglik - full) / scale, v0


def wald_test(
    fit,
    terms: str | Sequence[str],
    *,
    method: Method = "Wald",
    approximation: Literal["saddlepoint", "satterthwaite"] = "saddlepoint",
    df: float | None = None,
) -> pd.DataFrame:
    """Test that the coefficients of some terms of a model are all zero (R's
    ``regTermTest``).

    Parameters
    ----------
    fit : GLMResult or OLRResult
        A fit of ``perception.glm`` or ``perception.olr``.
    terms : str or sequence of str
        The terms to test, as in the formula: ``"stype"``, ``["ell", "meals"]``,
        ``"ell + meals"``, ``"stype:meals"`` (``C(...)`` and ``Q("...")`` may be left
        out); every coefficient of each term is tested.
    method : {"Wald", "LRT"}
        "Wald" (design-based Wald test) or "LRT" (Rao–Scott working likelihood-ratio
        test).
    approximation : {"saddlepoint", "satterthwaite"}
        For the LRT, the tail of its weighted sum of chi-squares: "saddlepoint" (R's
        default) or "satterthwaite".
    df : float, optional
        Denominator degrees of freedom; default the model's ``df_residual``;
        ``float("inf")`` for chi-squared forms.

    Returns
    -------
    DataFrame
        One row: ``terms``, ``method``, ``chisq`` (Wald statistic, or the working
        ``2 log LR``), ``ndf`` (coefficients tested), ``ddf``, ``statistic`` (the Wald F
        ``chisq / ndf``, or ``chisq`` for the LRT and for an infinite ``df``) and ``p``.
        For the LRT, ``attrs["design_effects"]`` holds the eigenvalues ``lambda``.

    Raises
    ------
    EstimationError
        for a term that is not in the model, an unknown method or approximation.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> fit = pc.glm(d, "api00 ~ ell + meals + mobility + stype")
    >>> pc.wald_test(fit, ["ell", "mobility"]).round(4)
                terms method   chisq  ndf  ddf  statistic      p
    0  ell + mobility   Wald  2.7844    2  192     1.3922  0.251
    >>> pc.wald_test(fit, "ell + mobility", method="LRT").round(4)
                terms method       chisq  ndf  ddf   statistic       p
    0  ell + mobility    LRT  13275.1666    2  192  13275.1666  0.1508

    Notes
    -----
    R: ``regTermTest(fit, ~ell + mobility)`` and ``regTermTest(fit, ~ell + mobility,
    method = "LRT")`` (the working ``2 log LR`` of a Gaussian model is on the scale of the
    outcome's variance: 13275 here, with eigenvalues near 5000).
    The smaller model of the LRT drops the tested coefficients and is refitted on the
    same rows (R refits it by ``update()``, on the rows complete for its own terms).
    For an ordinal model R's LRT uses the Hessian of the raw-weight log-likelihood
    with a deviance over weights scaled to mean one, so its eigenvalues are ``mean(w)``
    times too large; here both are on one scale.
    """
    if not isinstance(fit, GLMResult | OLRResult):
        raise EstimationError(
            f"wald_test takes a fit of pc.glm or pc.olr, got {type(fit).__name__}"
        )
    if method not in METHODS:
        raise EstimationError(f"method={method!r} is unknown; choose 'Wald' or 'LRT'")
    if approximation not in APPROXIMATIONS:
        raise EstimationError(
            f"approximation={approximation!r} is unknown; choose 'saddlepoint' or "
            "'satterthwaite'"
        )
    names = _terms(terms)
    positions = _positions(fit, names)
    ddf = fit.df_residual if df is None else float(df)
    beta = fit.coefficients["estimate"].to_numpy()[positions]
    v = fit.vcov.to_numpy()[np.ix_(positions, positions)]
    k = len(positions)
    label = " + ".join(names)
    if method == "Wald":
        chisq = float(beta @ np.linalg.solve(v, beta))
        if np.isfinite(ddf):
            statistic, p = chisq / k, float(stats.f.sf(chisq / k, k, ddf))
        else:
            statistic, p = chisq, float(stats.chi2.sf(chisq, k))
        table = pd.DataFrame([{"terms": label, "method": method, "chisq": chisq, "ndf": k,
                               "ddf": ddf, "statistic": statistic, "p": p}])
        return table[COLUMNS]
    refuse_rows(fit._design, "wald_test(method='LRT') (it refits the smaller model)")
    chisq, v0 = _lrt_pieces(fit, positions)
    lam = np.sort(np.linalg.eigvals(np.linalg.solve(v0, v)).real)[::-1]
    p = (f_sum_sf(chisq, lam, ddf, approximation) if np.isfinite(ddf)
         else chisq_sum_sf(chisq, lam, approximation))
    table = pd.DataFrame([{"terms": label, "method": method, "chisq": chisq, "ndf": k,
                           "ddf": ddf, "statistic": chisq, "p": p}])[COLUMNS]
    table.attrs["design_effects"] = tuple(float(x) for x in lam)
    return table
