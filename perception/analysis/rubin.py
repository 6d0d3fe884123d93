"""Combining the results of multiply imputed data sets: Rubin's rules (R's
``mitools::MIcombine``).

With ``m`` results ``Q_j`` and their covariances ``U_j``: the estimate is their mean
``Qbar``, the within-imputation covariance ``Ubar`` the mean of the ``U_j``, the
between-imputation covariance ``B`` the sample covariance of the ``Q_j``, and the total
``T = Ubar + (1 + 1/m) B``. Per estimate, with ``r = (1 + 1/m) B / Ubar`` (the relative
increase in variance):

- Rubin's degrees of freedom ``(m - 1)(1 + 1/r)^2``;
- with the complete-data df ``nu`` (``df_complete``), Barnard and Rubin's small-sample
  df ``1 / (1/nu_obs + 1/df_Rubin)``, ``nu_obs = (nu + 1)/(nu + 3) nu Ubar/(Ubar + B)``
  (mitools' form of their ``(1 - gamma)``);
- the fraction of missing information ``(r + 2/(df + 3)) / (r + 1)``.

Results are matched by the identity of their rows (``by`` values, ``variable``,
``category``; a model's terms), never by position, so tables sorted differently in
different imputations still combine correctly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from ..survey import intervals
from ..survey.covariance import attach_covariance, covariance_of

#: where estimate tables keep their covariance (perception.survey.covariance)
_VCOV = "vcov"

COLUMNS = ["estimate", "se", "ci_low", "ci_high", "df", "fmi", "riv"]


def _is_model(result) -> bool:
    return isinstance(getattr(result, "coefficients", None), pd.DataFrame) and isinstance(
        getattr(result, "vcov", None), pd.DataFrame
    )


def _identity_columns(table: pd.DataFrame) -> list[str]:
    """The columns telling a table's rows apart: those its covariance is keyed by, or
    else (a table without covariance, e.g. quantiles) the columns before ``estimate``."""
    cov = table.attrs.get(_VCOV)
    if cov is not None:
        return list(cov.columns)
    return list(table.columns[: table.columns.get_loc("estimate")])


def _pieces(result, position: int) -> tuple[list[tuple], np.ndarray, np.ndarray,
                                             pd.DataFrame, np.ndarray | None]:
    """Keys, estimates, covariance, identity frame and row counts of one result."""
    if _is_model(result):
        coefficients = result.coefficients
        terms = [str(t) for t in coefficients.index]
        vcov = result.vcov.loc[coefficients.index, coefficients.index].to_numpy(dtype=float)
        identity = pd.DataFrame({"term": terms})
        n = getattr(result, "n", None)
        counts = None if n is None else np.full(len(terms), n)
        return ([(t,) for t in terms], coefficients["estimate"].to_numpy(dtype=float), vcov,
                identity, counts)
    if not isinstance(result, pd.DataFrame) or "estimate" not in result.columns:
        raise EstimationError(
            f"result {position + 1} is a {type(result).__name__}: mi_combine takes estimate "
            "tables (pc.mean, pc.total, pc.proportion, pc.change, ...) or fitted models "
            "(pc.glm, ...), one per imputed data set"
        )
    columns = _identity_columns(result)
    identity = result[columns].reset_index(drop=True)
    keys = [tuple(None if pd.isna(v) else v for v in row)
            for row in identity.itertuples(index=False, name=None)]
    if result.attrs.get(_VCOV) is not None:
        vcov = covariance_of(result).to_numpy(dtype=float)
    elif "se" in result.columns:
        vcov = np.diag(result["se"].to_numpy(dtype=float) ** 2)
    else:
        raise EstimationError(
            f"result {position + 1} has neither a covariance nor an 'se' column: nothing "
            "to combine its variance from"
        )
    counts = result["n"].to_numpy() if "n" in result.columns else None
    return keys, result["estimate"].to_numpy(dtype=float), vcov, identity, counts


def _aligned(results: Sequence) -> tuple[pd.DataFrame, np.ndarray, np.ndarray,
                                          np.ndarray | None, bool]:
    """Estimates (m, k) and covariances (m, k, k) of all results in the first's row
    order, its identity frame, the smallest row count per estimate, and whether the
    results are models."""
    models = [_is_model(r) for r in results]
    if len(set(models)) > 1:
        raise EstimationError(
            "mi_combine got both fitted models and estimate tables: combine one kind of "
            "result, one per imputed data set"
        )
    first_keys, _, _, identity, _ = _pieces(results[0], 0)
    if len(set(first_keys)) != len(first_keys):
        raise EstimationError(
            "the rows of result 1 are not told apart by their identity columns "
            f"({', '.join(identity.columns)}): pass tables as the estimators return them"
        )
    where = {key: i for i, key in enumerate(first_keys)}
    k = len(first_keys)
    estimates = np.empty((len(results), k))
    covariances = np.empty((len(results), k, k))
    counts: np.ndarray | None = np.full(k, np.iinfo(np.int64).max)
    for j, result in enumerate(results):
        keys, estimate, vcov, _, n = _pieces(result, j)
        extra = [key for key in keys if key not in where]
        absent = [key for key in first_keys if key not in set(keys)]
        if extra or absent or len(keys) != k:
            shown = ", ".join(":".join(map(str, key)) for key in (extra or absent)[:5])
            raise EstimationError(
                f"result {j + 1} does not hold the same estimates as result 1 "
                f"({'extra' if extra else 'missing'}: {shown}): every imputed data set must "
                "give the same rows (e.g. a category imputed in some data sets only). "
                "Estimate the same variables, domains and categories in each"
            )
        order = np.array([where[key] for key in keys])
        estimates[j, order] = estimate
        covariances[j][np.ix_(order, order)] = vcov
        if counts is not None and n is not None:
            counts[order] = np.minimum(counts[order], n)
        else:
            counts = None
    return identity, estimates, covariances, counts, models[0]


def mi_combine(
    results: Sequence,
    *,
    df_complete: float | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Combine the results of multiply imputed data sets with Rubin's rules.

    Parameters
    ----------
    results : sequence of DataFrame or GLMResult
        One result per completed data set, all of one kind: estimate tables (``pc.mean``,
        ``pc.total``, ``pc.ratio``, ``pc.proportion``, ``pc.quantile``, ``pc.change``,
        ``pc.contrast``; rows matched by their identity) or fitted models (``pc.glm``;
        matched by term). At least two.
    df_complete : float, optional
        The complete-data degrees of freedom (e.g. the design's ``degf``): Barnard and
        Rubin's small-sample df. ``None`` (default): Rubin's large-sample df.
    level : float
        Confidence level of ``ci_low``/``ci_high`` (t interval on ``df``).

    Returns
    -------
    DataFrame
        The identity columns of the first result (the ``by`` columns, ``variable``,
        ``category``... for tables; ``term`` for models), then ``estimate``, ``se``,
        ``ci_low``, ``ci_high``, ``df``, ``fmi`` (fraction of missing information),
        ``riv`` (relative increase in variance due to non-response), and for models
        ``t`` and ``p`` (two-sided, on ``df``), and ``n`` when the results have it (the
        smallest over the data sets). ``attrs["vcov"]`` holds the total covariance
        ``T``, keyed by the identity columns, so ``pc.contrast`` and ``pc.vcov`` work on
        the combined table.

    Raises
    ------
    EstimationError
        for fewer than two results, results of different kinds or with different rows.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> holes = api.assign(ell=api["ell"].where(api.index % 6 != 0))
    >>> imp = pc.impute(holes, ["ell"], classes=["stype"], weights="pw", m=5, seed=1)
    >>> designs = imp.designs(weights="pw", strata="stype", fpc="fpc")
    >>> pc.mi_combine([pc.mean(d, "ell") for d in designs]).round(3)
      variable  estimate     se  ci_low  ci_high       df    fmi    riv    n
    0      ell    23.434  1.736  20.025   26.844  623.813  0.083  0.087  200

    Notes
    -----
    R: ``MIcombine(with(svydesign(..., data = imputationList(completed)),
    svymean(~ell)), df.complete = Inf)`` of mitools. mitools' Barnard–Rubin df uses
    ``Ubar/(Ubar + B)`` where their paper writes ``1 - gamma = Ubar/T``; this follows
    mitools, the reference. An estimate that no imputation moved (``B = 0``) gets
    ``df = inf`` (``nu_obs`` with ``df_complete``) and ``fmi = 0``.
    """
    intervals.check_level(level)
    results = list(results)
    if len(results) < 2:
        raise EstimationError(
            f"mi_combine needs the results of two or more imputed data sets, got "
            f"{len(results)}"
        )
    if df_complete is not None and not (
        isinstance(df_complete, int | float) and df_complete > 0
    ):
        raise EstimationError(f"df_complete must be a positive number, got {df_complete!r}")
    identity, estimates, covariances, counts, is_model = _aligned(results)
    m = len(results)
    estimate = estimates.mean(axis=0)
    within = covariances.mean(axis=0)
    between = np.atleast_2d(np.cov(estimates, rowvar=False, ddof=1))
    total = within + (1 + 1 / m) * between
    u, b = np.diag(within), np.diag(between)
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / u
        df = (m - 1) * (1 + 1 / riv) ** 2
        if df_complete is not None:
            observed = (df_complete + 1) / (df_complete + 3) * df_complete * u / (u + b)
            df = 1 / (1 / observed + 1 / df)
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
    se = np.sqrt(np.diag(total))
    q = stats.t.ppf((1 + level) / 2, df)
    out = identity.copy()
    out["estimate"] = estimate
    out["se"] = se
    out["ci_low"] = estimate - q * se
    out["ci_high"] = estimate + q * se
    out["df"] = df
    out["fmi"] = fmi
    out["riv"] = riv
    if is_model:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["t"] = estimate / se
        out["p"] = 2 * stats.t.sf(np.abs(out["t"]), df)
    if counts is not None:
        out["n"] = counts.astype(int)
    return attach_covariance(out, total, list(identity.columns))
