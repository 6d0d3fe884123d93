"""What every fitted model of the package offers to the functions that use its
coefficients (``contrast``, ``vcov``, ``wald_test``, ``mi_combine``, the margins):
a coefficient table, their covariance, residual degrees of freedom, a confidence level
and the number of rows used."""

from __future__ import annotations

import pandas as pd


class FittedModel:
    """Base of the model results (:class:`~perception.GLMResult`,
    :class:`~perception.OLRResult`): ``coefficients`` (a DataFrame indexed by term with
    ``estimate``), ``vcov``, ``df_residual``, ``level`` and ``n``."""

    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    df_residual: float
    level: float
    n: int

    @property
    def terms(self) -> list[str]:
        """Names of the coefficients."""
        return list(self.coefficients.index)

    @property
    def params(self) -> pd.Series:
        """The coefficient estimates as a Series."""
        return self.coefficients["estimate"].copy()

    def _ci_df(self) -> float:
        return self.df_residual if self.df_residual > 0 else float("nan")
