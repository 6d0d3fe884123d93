"""Design-based tests of association in two-way tables (R's ``svychisq``).

The Pearson statistic of the weighted table is corrected for the design with the
generalised design effects ``delta`` (eigenvalues of ``Delta``, R's
``solve(denom, numr)`` built from the design covariance of the cell proportions):

- second-order Rao–Scott (``test="F"``, the default): ``F = X2 / sum(delta)`` on
  ``d0 = sum(delta)^2 / sum(delta^2)`` and ``d0 * nu`` degrees of freedom;
- first-order Rao–Scott (``"Chisq"``): ``X2 / mean(delta)`` against chi-square with
  ``(r - 1)(c - 1)`` df;
- design-based Wald tests (``"Wald"``, ``"adjWald"``) of the interaction contrasts of
  the cell totals.

``nu`` is the design's degrees of freedom (PSUs minus strata).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..deprecation import positional_deprecated, renamed_argument, warn_renamed_attribute
from ..errors import EstimationError, format_rows
from .checks import check_columns, check_design
from .engine import domains, ratio_engine
from .valid_values import prepare

ChisqTest = Literal["F", "Chisq", "Wald", "adjWald"]
TESTS = ("F", "Chisq", "Wald", "adjWald")

_METHODS = {
    "F": "Pearson's X^2: Rao & Scott adjustment (second order, F)",
    "Chisq": "Pearson's X^2: Rao & Scott adjustment (first order, chi-square)",
    "Wald": "Design-based Wald test of association",
    "adjWald": "Design-based adjusted Wald test of association",
}


@dataclass(frozen=True)
class ChisqResult:
    """Result of ``perception.chisq``.

    Attributes
    ----------
    row, col : str
        The two variables.
    test : {"F", "Chisq", "Wald", "adjWald"}
        The test ``statistic`` and ``p`` belong to (the ``test=`` argument).
    statistic, ndf, ddf, p : float
        The chosen test. For ``"F"`` the Rao–Scott F with its (fractional) degrees of
        freedom. For ``"Chisq"``, as R reports it, ``statistic`` is Pearson's X2 and ``p``
        that of the first-order corrected ``chisq``; ``ndf`` is its df and ``ddf`` is
        infinite.
    pearson : float
        Pearson's X2 of the weighted table rescaled to the number of rows (R's
        ``X-squared``).
    chisq, chisq_p : float
        First-order Rao–Scott chi-square ``pearson / mean(delta)`` and its p value.
    chisq_df : int
        Its degrees of freedom, ``(r - 1)(c - 1)``.
    design_effects : tuple of float
        Generalised design effects ``delta`` (eigenvalues, decreasing).
    n : int
        Rows that entered the test.
    method : str
        What the test is, as R prints it ("Pearson's X^2: Rao & Scott adjustment ...").
    proportions : DataFrame
        Estimated cell proportions (rows × columns); named ``table`` before.
    """

    row: str
    col: str
    test: str
    statistic: float
    ndf: float
    ddf: float
    p: float
    pearson: float
    chisq: float
    chisq_df: int
    chisq_p: float
    design_effects: tuple[float, ...]
    n: int
    method: str
    proportions: pd.DataFrame = field(repr=False, compare=False)

    @property
    def table(self) -> pd.DataFrame:
        """Old name of ``proportions`` (removed in the next release)."""
        warn_renamed_attribute("ChisqResult", "table", "proportions")
        return self.proportions

    def to_frame(self) -> pd.DataFrame:
        """The result as a one-row tidy DataFrame.

        Returns
        -------
        DataFrame
            One row: ``row``, ``col``, ``test``, ``statistic``, ``ndf``, ``ddf``, ``p``,
            ``pearson``, ``chisq``, ``chisq_df``, ``chisq_p``, ``mean_deff`` (the mean
            design effect) and ``n``.

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> pc.chisq(d, "sch_wide", "stype").to_frame()[["row", "col", "test", "statistic", "p"]]
                row    col test  statistic             p
        0  sch_wide  stype    F  17.247444  2.035046e-07
        """
        return pd.DataFrame(
            [
                {
                    "row": self.row,
                    "col": self.col,
                    "test": self.test,
                    "statistic": self.statistic,
                    "ndf": self.ndf,
                    "ddf": self.ddf,
                    "p": self.p,
                    "pearson": self.pearson,
                    "chisq": self.chisq,
                    "chisq_df": self.chisq_df,
                    "chisq_p": self.chisq_p,
                    "mean_deff": float(np.mean(self.design_effects))
                    if self.design_effects
                    else float("nan"),
                    "n": self.n,
                }
            ]
        )

    def __str__(self) -> str:
        if self.test == "Chisq":
            head = (
                f"X-squared = {self.pearson:.6g}, df = {self.chisq_df}, "
                f"p-value = {self.p:.4g}  (first-order corrected chi-square "
                f"{self.chisq:.6g})"
            )
        else:
            head = (
                f"F = {self.statistic:.6g}, ndf = {self.ndf:.6g}, ddf = {self.ddf:.6g}, "
                f"p-value = {self.p:.4g}"
            )
        return f"{self.method}\ndata: {self.row} by {self.col} ({self.n} rows)\n{head}"


def _levels(values: pd.Series, active: np.ndarray) -> list:
    present = values[active]
    if isinstance(values.dtype, pd.CategoricalDtype):
        used = set(present.dropna().unique())
        return [c for c in values.cat.categories if c in used]
    uniques = present.dropna().unique()
    try:
        return sorted(uniques)
    except TypeError:
        return sorted(uniques, key=str)


def _indicators(values: pd.Series, levels: list, active: np.ndarray) -> np.ndarray:
    """(n, L) 0/1 matrix of the levels, zero outside ``active`` (missing never matches)."""
    return np.column_stack(
        [values.eq(level).fillna(False).to_numpy(dtype=bool) & active for level in levels]
    ).astype(float)


def _design_df(design) -> float:
    """R's ``nu``: PSUs minus strata among the design's rows (``degf`` for replicates)."""
    if design.is_replicate:
        return float(design.degf)
    rows = (
        np.ones(len(design.data), dtype=bool)
        if getattr(design, "_calibration", ())
        else design.in_domain
    )
    return float(
        np.unique(design.psu_codes[rows]).size - np.unique(design.stratum_codes[rows]).size
    )


def _n_rows(design) -> int:
    """R's ``N = nrow(mm)``: rows of the design (a subset keeps all rows once calibrated)."""
    if not design.is_replicate and getattr(design, "_calibration", None):
        return len(design.data)
    return int(design.in_domain.sum())


@positional_deprecated("test", "na_rm")
@renamed_argument("statistic", "test")
def chisq(
    design,
    row: str,
    col: str,
    *,
    test: ChisqTest = "F",
    na_rm: bool = False,
) -> ChisqResult:
    """Design-based test of independence of two categorical variables (R's ``svychisq``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign
        The survey design (domains via ``design.subset``).
    row, col : str
        The two categorical columns.
    test : {"F", "Chisq", "Wald", "adjWald"}
        The test (R's ``statistic=``): "F" (second-order Rao–Scott, default), "Chisq"
        (first-order Rao–Scott), "Wald" or "adjWald". Named ``statistic`` before.
    na_rm : bool
        Leave rows missing either variable out (R's default); otherwise a missing value
        raises an error naming the column.

    Returns
    -------
    ChisqResult
        ``statistic``, ``ndf``, ``ddf``, ``p`` of the chosen test, and always the
        first-order chi-square (``chisq``, ``chisq_df``, ``chisq_p``), Pearson's X2, the
        design effects and the cell proportions. ``.to_frame()`` gives one row.

    Examples
    --------
    Whether schools met their growth target, by school type:

    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> res = pc.chisq(d, "sch_wide", "stype")
    >>> round(res.statistic, 3), round(res.ndf, 4), round(res.ddf, 2), f"{res.p:.2e}"
    (17.247, 1.8287, 360.25, '2.04e-07')

    Notes
    -----
    R: ``svychisq(~sch.wide + stype, design, statistic="F")`` (and ``"Chisq"``,
    ``"Wald"``, ``"adjWald"``). Levels are those present in the design's domain; R also
    counts levels seen only outside a subset, which gives it NaN.
    """
    check_design(design)
    if test not in TESTS:
        raise EstimationError(
            f"test={test!r} is not available; choose one of {', '.join(TESTS)}"
        )
    for name, argument in ((row, "row"), (col, "col")):
        if not isinstance(name, str):
            raise EstimationError(f"{argument} must be a column name, got {name!r}")
    check_columns(design.data, [row], "row")
    check_columns(design.data, [col], "col")
    if row == col:
        raise EstimationError(f"row and col are both {row!r}: give two different variables")
    # the questionnaire's missing codes and skipped questions out (survey/valid_values)
    design = prepare(design, [row, col]).design
    data = design.data
    inside = design.in_domain
    missing = data[[row, col]].isna().any(axis=1).to_numpy() & inside
    if missing.any() and not na_rm:
        counts = [
            f"{c!r} ({int((data[c].isna().to_numpy() & inside).sum())})"
            for c in (row, col)
            if (data[c].isna().to_numpy() & inside).any()
        ]
        raise EstimationError(
            f"missing values in {', '.join(counts)} in rows "
            f"{format_rows(data.index[missing])}. Pass na_rm=True to leave those rows out "
            "of the test (R's default), or recode them first."
        )
    active = inside & ~missing
    row_levels = _levels(data[row], active)
    col_levels = _levels(data[col], active)
    for name, levels in ((row, row_levels), (col, col_levels)):
        if len(levels) < 2:
            only = f"only the level {levels[0]!r}" if levels else "no non-missing value"
            raise EstimationError(
                f"column {name!r} has {only} among the rows tested, so there is no "
                "association to test: pick a variable with at least two levels, or check "
                "the domain (design.subset) and missing values"
            )
    nr, nc = len(row_levels), len(col_levels)
    row_ind = _indicators(data[row], row_levels, active)
    col_ind = _indicators(data[col], col_levels, active)
    # cells in R's order: interaction(row, col), the row level varying fastest
    cells = np.column_stack(
        [row_ind[:, i] * col_ind[:, j] for j in range(nc) for i in range(nr)]
    )
    dom = domains(design, [], active)
    nu = _design_df(design)
    n_total = _n_rows(design)

    # Pearson's X2 of the weighted table rescaled to N rows (R's svytable(Ntotal=N))
    w = np.where(active, design._w, 0.0)
    counts = (w @ cells).reshape(nc, nr).T
    table = counts / counts.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = float(n_total * np.sum((table - expected) ** 2 / expected))

    # design effect matrix Delta from the covariance of the cell proportions
    means = ratio_engine(design, cells, np.where(active, 1.0, 0.0)[:, None] * np.ones_like(cells),
                         dom)
    p_hat = means.estimate.ravel()
    v = means.vcov
    grid_rows = np.tile(np.arange(nr), nc)
    grid_cols = np.repeat(np.arange(nc), nr)
    x1 = np.column_stack(
        [np.ones(nr * nc)]
        + [(grid_rows == i).astype(float) for i in range(1, nr)]
        + [(grid_cols == j).astype(float) for j in range(1, nc)]
    )
    x12 = np.column_stack(
        [
            ((grid_rows == i) & (grid_cols == j)).astype(float)
            for j in range(1, nc)
            for i in range(1, nr)
        ]
    )
    cmat = x12 - x1 @ np.linalg.lstsq(x1, x12, rcond=None)[0]
    with np.errstate(divide="ignore"):
        inv_p = np.where(p_hat == 0, 0.0, 1 / np.where(p_hat == 0, 1.0, p_hat))
    denom = cmat.T @ (inv_p[:, None] / n_total * cmat)
    numr = cmat.T @ (inv_p[:, None] * v * inv_p[None, :]) @ cmat
    delta = np.linalg.solve(denom, numr)
    trace = float(np.trace(delta))
    d0 = trace**2 / float(np.trace(delta @ delta))
    deltas = np.sort(np.real(np.linalg.eigvals(delta)))[::-1]
    df1 = (nr - 1) * (nc - 1)
    chisq_adj = pearson / (trace / delta.shape[0])
    chisq_p = float(stats.chi2.sf(chisq_adj, df1))

    if test == "F":
        statistic_value = pearson / trace
        ndf, ddf = d0, d0 * nu
        p = float(stats.f.sf(statistic_value, ndf, ddf))
    elif test == "Chisq":
        statistic_value, ndf, ddf, p = pearson, float(df1), float("inf"), chisq_p
    else:
        statistic_value, ndf, ddf = _wald(design, active, cells, row_ind, col_ind, nr, nc,
                                          nu, test)
        p = float(stats.f.sf(statistic_value, ndf, ddf))

    table_frame = pd.DataFrame(
        table,
        index=pd.Index(row_levels, name=row),
        columns=pd.Index(col_levels, name=col),
    )
    return ChisqResult(
        row=row,
        col=col,
        test=test,
        statistic=float(statistic_value),
        ndf=float(ndf),
        ddf=float(ddf),
        p=p,
        pearson=pearson,
        chisq=float(chisq_adj),
        chisq_df=df1,
        chisq_p=chisq_p,
        design_effects=tuple(float(x) for x in deltas),
        n=int(active.sum()),
        method=_METHODS[test],
        proportions=table_frame,
    )


def _wald(design, active, cells, row_ind, col_ind, nr, nc, nu, test):
    """R's Wald / adjusted Wald statistic on the interaction contrasts of the totals."""
    one = active.astype(float)[:, None]
    z = np.column_stack([cells, row_ind, col_ind, one])
    dom = domains(design, [], active)
    totals = ratio_engine(design, z, None, dom)
    t = totals.estimate.ravel()
    k = nr * nc
    row_tot = t[k : k + nr]
    col_tot = t[k + nr : k + nr + nc]
    grand = t[k + nr + nc]
    grid_rows = np.tile(np.arange(nr), nc)
    grid_cols = np.repeat(np.arange(nc), nr)
    jac = np.column_stack(
        [
            np.eye(k),
            -(grid_rows[:, None] == np.arange(nr)[None, :]).astype(float) * (col_tot[grid_cols] / grand)[:, None],
            -(grid_cols[:, None] == np.arange(nc)[None, :]).astype(float) * (row_tot[grid_rows] / grand)[:, None],
            (np.outer(row_tot, col_tot).T.ravel() / grand**2)[:, None],
        ]
    )
    y = t[:k] - np.outer(row_tot, col_tot).T.ravel() / grand
    v = jac @ totals.vcov @ jac.T
    use = np.flatnonzero((grid_rows > 0) & (grid_cols > 0))
    stat = float(y[use] @ np.linalg.solve(v[np.ix_(use, use)], y[use]))
    ndf = (nr - 1) * (nc - 1)
    if test == "Wald":
        return stat / ndf, float(ndf), float(nu)
    ddf = nu - ndf + 1
    return stat * ddf / (ndf * nu), float(ndf), float(ddf)
