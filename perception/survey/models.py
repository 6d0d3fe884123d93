"""Design-based generalised linear models (R's ``svyglm``).

The point estimate is the weighted maximum (quasi-)likelihood fit with the design
weights as prior weights, found by the same iteratively reweighted least squares as R's
``glm.fit`` (same start, same convergence rule), so coefficients equal R's to rounding.
Standard errors are design-based:

- ``SurveyDesign``: the sandwich ``A^-1 B A^-1`` where ``B`` is the design covariance of
  the total of the estimating-function contributions ``x_i w_i (y_i - mu_i) / g'(mu_i)``
  (R's ``svy.varcoef``), computed by the design's own variance engine, so multistage
  sampling, fpc, lonely PSUs and calibration all apply;
- ``ReplicateDesign``: the model is refitted with every replicate's weights and the
  replicate formula applied to the coefficients (R's ``svyglm.svyrep.design``).

t statistics use ``df_residual = design df + 1 - rank``, as R's ``summary.svyglm``.
"""

from __future__ import annotations

import ast
import difflib
import io
import keyword
import re
import tokenize
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..deprecation import renamed_argument
from ..errors import EstimationError, format_rows
from . import intervals
from .checks import check_design
from .design import ReplicateDesign, SurveyDesign
from .replicates import qr_rank

Family = Literal["gaussian", "binomial"]
PredictScale = Literal["link", "response"]

FAMILIES = ("gaussian", "binomial")
COEFFICIENT_COLUMNS = ["estimate", "se", "t", "p", "ci_low", "ci_high"]

# R's glm.control(): epsilon = 1e-8, maxit = 25
_EPSILON = 1e-8
_MAXIT = 25
#: R's glm.fit QR tolerance, min(1e-7, epsilon / 1000): a replicate whose weighted model
#: matrix is rank-deficient at it gives NA coefficients
_QR_TOL = min(1e-7, _EPSILON / 1000)
# R's glm.fit QR tolerance is min(1e-7, epsilon / 1000); a column whose part not
# explained by the previous columns is below this fraction of its norm is aliased
_ALIAS_TOL = 1e-7
_DBL_EPS = np.finfo(float).eps
# R's logit link clamps eta to (-30, 30) (C_logit_linkinv / C_logit_mu_eta)
_LOGIT_THRESH = 30.0

# names a formula may use besides the data's columns (patsy adds C, I, Q, ...)
_FORMULA_NAMESPACE = {"np": np, "log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}


# --------------------------------------------------------------------- families --
@dataclass(frozen=True)
class _GLMFamily:
    """The pieces of an R ``family`` object that IRLS needs."""

    name: str
    link: str

    def linkfun(self, mu: np.ndarray) -> np.ndarray:
        if self.link == "identity":
            return mu
        return np.log(mu / (1 - mu))

    def linkinv(self, eta: np.ndarray) -> np.ndarray:
        if self.link == "identity":
            return eta
        tmp = np.where(
            eta < -_LOGIT_THRESH,
            _DBL_EPS,
            np.where(eta > _LOGIT_THRESH, 1 / _DBL_EPS, np.exp(np.clip(eta, -50, 50))),
        )
        return tmp / (1 + tmp)

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        if self.link == "identity":
            return np.ones_like(eta)
        e = np.exp(np.clip(eta, -50, 50))
        out = e / (1 + e) ** 2
        return np.where(np.abs(eta) > _LOGIT_THRESH, _DBL_EPS, out)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        if self.link == "identity":
            return np.ones_like(mu)
        return mu * (1 - mu)

    def dev_resids(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        if self.link == "identity":
            return wt * (y - mu) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(y > 0, y * np.log(y / mu), 0.0)
            b = np.where(y < 1, (1 - y) * np.log((1 - y) / (1 - mu)), 0.0)
        return 2 * wt * (a + b)

    def mustart(self, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
        if self.link == "identity":
            return y.copy()
        return (wt * y + 0.5) / (wt + 1)


_GAUSSIAN = _GLMFamily("gaussian", "identity")
_QUASIBINOMIAL = _GLMFamily("quasibinomial", "logit")


# ------------------------------------------------------------------------ IRLS --
@dataclass(frozen=True)
class _Fit:
    coef: np.ndarray  # (p,)
    eta: np.ndarray  # (n,)
    mu: np.ndarray  # (n,)
    working_weights: np.ndarray  # (n,) w^2 of the last iteration, 0 outside the fit
    working_residuals: np.ndarray  # (n,) (y - mu) / mu_eta(eta)
    cov_unscaled: np.ndarray  # (p, p) inverse of X'WX of the last iteration
    iterations: int
    converged: bool


def _wls(x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares by QR: coefficients and (R'R)^-1."""
    q, r = np.linalg.qr(x)
    coef = np.linalg.solve(r, q.T @ z)
    r_inv = np.linalg.solve(r, np.eye(r.shape[0]))
    return coef, r_inv @ r_inv.T


def _irls(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    family: _GLMFamily,
    start: np.ndarray | None = None,
) -> _Fit:
    """R's ``glm.fit``: same start (``mustart`` or ``start``), updates and stopping rule.

    Rows with zero weight take no part in the fit (R's ``good``).
    """
    y = np.where(weights == 0, 0.0, y) if family.link == "logit" else y
    if start is None:
        eta = family.linkfun(family.mustart(y, weights))
    else:
        eta = x @ start
    mu = family.linkinv(eta)
    devold = float(np.sum(family.dev_resids(y, mu, weights)))
    coefold = start  # coef itself comes from the first pass (_MAXIT >= 1)
    converged = False
    w = np.zeros(0)
    good = weights > 0
    cov_unscaled = np.full((x.shape[1], x.shape[1]), np.nan)
    iteration = 0
    for iteration in range(1, _MAXIT + 1):  # noqa: B007 - its last value is reported
        mu_eta_val = family.mu_eta(eta)
        good = (weights > 0) & (mu_eta_val != 0)
        z = eta[good] + (y - mu)[good] / mu_eta_val[good]
        w = np.sqrt(weights[good] * mu_eta_val[good] ** 2 / family.variance(mu)[good])
        coef, cov_unscaled = _wls(x[good] * w[:, None], z * w)
        eta = x @ coef
        mu = family.linkinv(eta)
        dev = float(np.sum(family.dev_resids(y, mu, weights)))
        halvings = 0
        while not np.isfinite(dev) and coefold is not None and halvings < _MAXIT:
            coef = (coef + coefold) / 2
            eta = x @ coef
            mu = family.linkinv(eta)
            dev = float(np.sum(family.dev_resids(y, mu, weights)))
            halvings += 1
        if abs(dev - devold) / (abs(dev) + 0.1) < _EPSILON:
            converged = True
            break
        devold = dev
        coefold = coef
    working_weights = np.zeros(len(y))
    working_weights[good] = w**2
    residuals = (y - mu) / family.mu_eta(eta)
    return _Fit(coef, eta, mu, working_weights, residuals, cov_unscaled, iteration, converged)


# ------------------------------------------------------------------ formula → X --
def _formula_names(formula: str) -> list[str]:
    """Names and quoted strings (``Q("sch.wide")``) the formula refers to."""
    names: list[str] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(formula).readline):
            if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string):
                names.append(tok.string)
            elif tok.type == tokenize.STRING:
                try:
                    names.append(str(ast.literal_eval(tok.string)))
                except (ValueError, SyntaxError):  # pragma: no cover - only a hint
                    pass
    except (tokenize.TokenError, IndentationError):
        pass
    return names


def _model_columns(formula: str, data: pd.DataFrame) -> list[str]:
    """The data columns a formula uses, in order of appearance."""
    seen: list[str] = []
    columns = {str(c): c for c in data.columns}
    for name in _formula_names(formula):
        if name in columns and columns[name] not in seen:
            seen.append(columns[name])
    return seen


def patsy_ready(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Nullable columns (``Int64``, ``Float64``, ``boolean``) as patsy understands them.

    patsy cannot test ``pd.NA``: integers and floats become float64 with NaN, nullable
    booleans become objects True/False/None (categorical, like a plain bool column).
    """
    changes: dict[str, pd.Series | np.ndarray] = {}
    for column in columns:
        values = frame[column]
        dtype = values.dtype
        if isinstance(dtype, pd.BooleanDtype):
            changes[column] = values.astype(object).where(values.notna(), None)
        elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and (
            pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype)
        ):
            changes[column] = values.to_numpy(dtype=float, na_value=np.nan)
    return frame.assign(**changes) if changes else frame


def _patsy_error(exc: Exception, formula: str, data: pd.DataFrame) -> EstimationError:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    unknown = re.search(r"name '([^']+)' is not defined", message)
    if unknown:
        name = unknown.group(1)
        close = difflib.get_close_matches(name, [str(c) for c in data.columns], n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        dotted = [str(c) for c in data.columns if "." in str(c) and str(c).startswith(name + ".")]
        if dotted:
            hint += (
                f" A column name with a dot such as {dotted[0]!r} must be quoted in a "
                f'formula: Q("{dotted[0]}").'
            )
        return EstimationError(
            f"unknown column {name!r} in formula {formula!r}: the design's data has no such "
            f"column.{hint}"
        )
    return EstimationError(f"cannot build the model matrix of formula {formula!r}: {message}")


#: what a formula may call besides the data's columns: patsy's helpers and the
#: functions of _FORMULA_NAMESPACE (patsy evaluates formulas as Python, with builtins)
_FORMULA_FUNCTIONS = frozenset({
    "C", "Q", "I", "Treatment", "Sum", "Poly", "Diff", "Helmert", "center", "standardize",
    "scale", "bs", "cr", "cc", "te", *_FORMULA_NAMESPACE,
})
#: numpy functions a formula may call as np.<name>
_FORMULA_NUMPY = frozenset({
    "log", "log1p", "log2", "log10", "exp", "expm1", "sqrt", "abs", "square", "power",
    "clip", "where", "round", "floor", "ceil", "isnan", "minimum", "maximum", "sign",
    "pi", "e", "nan",
})
_FORMULA_KEYWORDS = frozenset({"True", "False", "None", "and", "or", "not", "in", "is"})


def check_formula(formula: str, columns: Iterable[Any], *,
                  table: str = "the design's data") -> None:
    """Refuse a formula naming anything but ``columns``, keyword arguments and the allowed
    functions: patsy evaluates formulas as Python code, so ``__import__('os')`` in a
    formula (from a configuration file, say) would run. ``table`` names where the
    columns come from in the message.

    Examples
    --------
    >>> check_formula("y ~ np.log(x) + C(region)", ["y", "x", "region"])
    >>> check_formula("y ~ open('notes.txt')", ["y"])
    Traceback (most recent call last):
    ...
    perception.errors.EstimationError: unknown column 'open' in formula ...
    """
    columns = {str(c) for c in columns}
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(formula).readline)
                  if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return  # patsy reports the syntax error
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME:
            continue
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if before == ".":
            if i >= 2 and tokens[i - 2].string == "np" and tok.string in _FORMULA_NUMPY:
                continue
            raise EstimationError(
                f"formula {formula!r} uses the attribute {tok.string!r}: a formula may only "
                f"call np.{', np.'.join(sorted(_FORMULA_NUMPY))} besides the columns. Fix: "
                "compute the variable in the data first, then use its column."
            )
        if (tok.string in columns or tok.string in _FORMULA_FUNCTIONS
                or tok.string in _FORMULA_KEYWORDS or after == "="):
            continue
        close = difflib.get_close_matches(tok.string, sorted(columns), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        dotted = sorted(c for c in columns if c.startswith(tok.string + "."))
        if dotted:
            hint += (f" A column name with a dot such as {dotted[0]!r} must be quoted in a "
                     f'formula: Q("{dotted[0]}").')
        raise EstimationError(
            f"unknown column {tok.string!r} in formula {formula!r}: {table} has no "
            f"such column, and it is not a function a formula may use "
            f"({', '.join(sorted(_FORMULA_FUNCTIONS))}).{hint}"
        )


def formula_environment():
    """The names a formula is evaluated with (patsy's ``eval_env``): numpy as ``np`` and
    the functions :func:`check_formula` allows."""
    import patsy

    return patsy.EvalEnvironment([_FORMULA_NAMESPACE])


def _dmatrices(formula: str, frame: pd.DataFrame, na_drop: bool):
    import patsy

    check_formula(formula, frame.columns)
    env = formula_environment()
    na_action = "drop" if na_drop else patsy.NAAction(NA_types=[])
    try:
        return patsy.dmatrices(
            formula, frame, eval_env=env, NA_action=na_action, return_type="dataframe"
        )
    except patsy.PatsyError as exc:
        raise _patsy_error(exc, formula, frame) from None


def _outcome(y_frame: pd.DataFrame, family: Family, formula: str) -> tuple[np.ndarray, str]:
    """The outcome as floats; a two-level factor (or a comparison) codes its last level 1."""
    names = list(y_frame.columns)
    if len(names) == 1:
        return y_frame.iloc[:, 0].to_numpy(dtype=float), names[0]
    lhs = formula.split("~", 1)[0].strip()
    if family == "binomial" and len(names) == 2:
        # patsy splits a logical or two-level outcome into indicator columns: as R, the
        # event is "not the first level" (True for a comparison such as I(x == "Yes"))
        return y_frame.iloc[:, 1].to_numpy(dtype=float), names[1]
    raise EstimationError(
        f"the outcome {lhs!r} of formula {formula!r} is categorical with levels "
        f"{', '.join(names)}: family={family!r} needs a numeric outcome"
        + (
            " coded 0/1; build one with I(column == 'level')"
            if family == "binomial"
            else "; use family='binomial' with a 0/1 outcome such as I(column == 'level')"
        )
    )


@dataclass(frozen=True)
class ModelFrame:
    x: np.ndarray  # (n, p) zero rows outside the fit
    y: np.ndarray  # (n,) zero outside the fit
    rows: np.ndarray  # (n,) bool: row enters the fit (in domain, complete)
    terms: list[str]
    outcome: str
    design_info: object


def _model_frame(design, formula: str, family: Family, na_rm: bool) -> ModelFrame:
    data = design.data
    n = len(data)
    inside = np.flatnonzero(design.in_domain)
    columns = _model_columns(formula, data)
    frame = patsy_ready(data.iloc[inside].reset_index(drop=True), columns)
    y_frame, x_frame = _dmatrices(formula, frame, na_drop=True)
    # a row is missing when patsy drops it, or when any column the formula uses is
    # missing there: patsy evaluates I(x == 1) to False on a missing x, R to NA
    complete_mask = np.zeros(len(frame), dtype=bool)
    complete_mask[y_frame.index.to_numpy()] = True
    raw_missing = (
        frame[columns].isna().any(axis=1).to_numpy() if columns else np.zeros(len(frame), bool)
    )
    complete_mask &= ~raw_missing
    kept = np.flatnonzero(complete_mask)
    if kept.size < len(frame):
        missing_pos = np.flatnonzero(~complete_mask)
        if not na_rm:
            labels = data.index[inside[missing_pos]]
            counts = []
            for column in columns:
                k = int(frame[column].iloc[missing_pos].isna().sum())
                if k:
                    counts.append(f"{column!r} ({k})")
            where = f" in column(s) {', '.join(counts)}" if counts else ""
            raise EstimationError(
                f"the model variables of {formula!r} have missing values{where}, in "
                f"{missing_pos.size} row(s): {format_rows(labels)}. Pass na_rm=True to "
                "leave those rows out of the fit (they stay in the design with zero "
                "weight, as R's svyglm does), or recode them first."
            )
        if kept.size == 0:
            raise EstimationError(
                f"no complete rows left for {formula!r}: every row in the design's domain "
                "has a missing model variable"
            )
    # levels absent from the rows that enter the fit are dropped, as R's glm does
    complete = frame.iloc[kept].reset_index(drop=True)
    shrunk = False
    for column in complete.columns:
        if isinstance(complete[column].dtype, pd.CategoricalDtype):
            used = complete[column].cat.remove_unused_categories()
            if len(used.cat.categories) != len(complete[column].cat.categories):
                complete[column] = used
                shrunk = True
    if shrunk or kept.size < len(frame):
        y_frame, x_frame = _dmatrices(formula, complete, na_drop=False)
    y_values, outcome = _outcome(y_frame, family, formula)
    rows = np.zeros(n, dtype=bool)
    positions = inside[kept]
    rows[positions] = True
    x = np.zeros((n, x_frame.shape[1]))
    x[positions] = x_frame.to_numpy(dtype=float)
    y = np.zeros(n)
    y[positions] = y_values
    return ModelFrame(x, y, rows, list(x_frame.columns), outcome, x_frame.design_info)


def _check_binomial_outcome(mf: ModelFrame, data: pd.DataFrame) -> None:
    y = mf.y[mf.rows]
    bad = ~np.isfinite(y) | (y < 0) | (y > 1)
    if bad.any():
        labels = data.index[np.flatnonzero(mf.rows)[bad]]
        values = sorted(pd.unique(y[bad]))[:5]
        raise EstimationError(
            f"family='binomial' needs an outcome between 0 and 1, but {mf.outcome!r} takes "
            f"the value(s) {', '.join(f'{v:g}' for v in values)} in rows "
            f"{format_rows(labels)}. Recode it to 0/1, for example "
            f"I({mf.outcome} == 1) for a yes/no item coded 1/2."
        )


def _check_aliasing(mf: ModelFrame, weights: np.ndarray, formula: str) -> None:
    """Raise for terms that are linear combinations of earlier ones (R gives NA)."""
    xw = mf.x[weights > 0] * np.sqrt(weights[weights > 0])[:, None]
    aliased = []
    basis = np.zeros((xw.shape[0], 0))
    for j, term in enumerate(mf.terms):
        col = xw[:, j]
        norm = np.linalg.norm(col)
        if basis.shape[1]:
            col = col - basis @ (basis.T @ col)
            col = col - basis @ (basis.T @ col)
        rest = np.linalg.norm(col)
        if norm == 0 or rest < _ALIAS_TOL * norm:
            aliased.append(term)
        else:
            basis = np.column_stack([basis, col / rest])
    if aliased:
        raise EstimationError(
            f"term(s) {', '.join(map(repr, aliased))} of {formula!r} are constant or a "
            "linear combination of earlier terms among the rows used, so their "
            "coefficients are not identified (R reports them as NA). Drop them from the "
            "formula, or merge empty categories."
        )


def _check_separation(fit: _Fit, mf: ModelFrame, weights: np.ndarray, formula: str) -> None:
    eps = 10 * _DBL_EPS
    used = weights > 0
    extreme = used & ((fit.mu < eps) | (fit.mu > 1 - eps))
    if not fit.converged or extreme.any():
        sd = mf.x[used].std(axis=0)
        size = np.abs(fit.coef) * np.where(sd > 0, sd, 1.0)
        size[[i for i, t in enumerate(mf.terms) if t == "Intercept"]] = -np.inf
        worst = mf.terms[int(np.argmax(size))] if len(mf.terms) > 1 else mf.terms[0]
        why = (
            f"fitted probabilities are numerically 0 or 1 for {int(extreme.sum())} row(s)"
            if extreme.any()
            else f"the fit did not converge in {_MAXIT} iterations"
        )
        raise EstimationError(
            f"perfect separation in {formula!r}: {why}, so the outcome "
            f"{mf.outcome!r} is (almost) fully determined by the predictors and the "
            f"coefficients diverge (largest: {worst!r}). Drop or merge that term, or "
            "collapse categories that have only 0s or only 1s."
        )


# ---------------------------------------------------------------------- result --
@dataclass(frozen=True)
class GLMResult:
    """A fitted design-based GLM.

    Attributes
    ----------
    coefficients : DataFrame indexed by term: ``estimate``, ``se``, ``t``, ``p``,
        ``ci_low``, ``ci_high`` (t interval on ``df_residual`` degrees of freedom).
    vcov : design-based covariance of the coefficients (DataFrame, terms × terms).
    df_residual : degrees of freedom of the t tests: design df + 1 - rank.
    family : "gaussian" or "binomial" (quasibinomial, logit link).
    formula : the model formula.
    n : number of rows that entered the fit.
    dispersion : R's reported dispersion, the design-weighted variance of the Pearson
        residuals (not used by the design-based standard errors).
    iterations : IRLS (Fisher scoring) iterations.
    level : confidence level of ``ci_low``/``ci_high``.
    """

    coefficients: pd.DataFrame
    vcov: pd.DataFrame
    df_residual: float
    family: str
    formula: str
    n: int
    dispersion: float
    iterations: int
    level: float
    design_repr: str = ""
    _design_info: object = field(default=None, repr=False)
    _fitted: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def terms(self) -> list[str]:
        """Names of the coefficients, as patsy gives them."""
        return list(self.coefficients.index)

    @property
    def params(self) -> pd.Series:
        """The coefficient estimates as a Series."""
        return self.coefficients["estimate"].copy()

    def _family(self) -> _GLMFamily:
        return _GAUSSIAN if self.family == "gaussian" else _QUASIBINOMIAL

    @renamed_argument("type", "scale")
    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        scale: PredictScale = "link",
    ) -> pd.DataFrame:
        """Predictions with design-based standard errors (R's ``predict.svyglm``).

        Parameters
        ----------
        newdata : rows to predict for; ``None`` predicts for the rows used in the fit.
        scale : "link" (linear predictor) or "response" (mean of the outcome: the
            probability for a binomial model); R's ``type``. (Named ``type`` before;
            ``type=`` still works, with a DeprecationWarning, until the next release.)

        Returns
        -------
        DataFrame indexed like ``newdata`` with ``estimate``, ``se`` (delta method for the
        response, as R), ``ci_low`` and ``ci_high`` (t interval on ``df_residual`` on the
        link scale, transformed to the response scale for ``scale="response"``).

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> fit = pc.glm(d, "api00 ~ ell + meals + mobility")
        >>> fit.predict(pd.DataFrame({"ell": [10], "meals": [50], "mobility": [15]})).round(2)
           estimate    se  ci_low  ci_high
        0    662.39  6.91  648.77   676.01

        Notes
        -----
        R: ``predict(fit, newdata, type=, se.fit=TRUE)``; ``SE()`` of the result.
        """
        if scale not in ("link", "response"):
            raise EstimationError(f"scale={scale!r}; choose 'link' or 'response'")
        if newdata is None:
            x = self._fitted
        else:
            if not isinstance(newdata, pd.DataFrame):
                raise EstimationError(
                    f"newdata must be a pandas DataFrame, got {type(newdata).__name__}"
                )
            import patsy

            newdata = patsy_ready(newdata, _model_columns(self.formula, newdata))
            try:
                (matrix,) = patsy.build_design_matrices(
                    [self._design_info], newdata, NA_action=patsy.NAAction(NA_types=[]),
                    return_type="dataframe",
                )
            except patsy.PatsyError as exc:
                raise _patsy_error(exc, self.formula, newdata) from None
            x = matrix
        xv = x.to_numpy(dtype=float)
        beta = self.coefficients["estimate"].to_numpy()
        v = self.vcov.to_numpy()
        eta = xv @ beta
        se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", xv, v, xv), 0, None))
        low, high = intervals.t_interval(eta, se, self._ci_df(), self.level)
        fam = self._family()
        if scale == "response":
            d = np.abs(fam.mu_eta(eta))
            estimate, se = fam.linkinv(eta), d * se
            low, high = fam.linkinv(low), fam.linkinv(high)
        else:
            estimate = eta
        return pd.DataFrame(
            {"estimate": estimate, "se": se, "ci_low": low, "ci_high": high}, index=x.index
        )

    def __repr__(self) -> str:
        return (
            f"GLMResult({self.formula!r}, family={self.family!r}, n={self.n}, "
            f"df_residual={self.df_residual:g}, terms={self.terms!r})"
        )

    def _ci_df(self) -> float:
        return self.df_residual if self.df_residual > 0 else float("nan")

    def summary(self) -> str:
        """An R-like printable table of the coefficients.

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> fit = pc.glm(d, "api00 ~ ell + meals + mobility")
        >>> print(fit.summary())
        Survey design-based GLM: gaussian family, identity link
        Formula: api00 ~ ell + meals + mobility
        Design:  SurveyDesign(200 rows in domain of 200, 3 strata, 200 PSUs, 1 stage(s), degf=197, lonely_psu='fail')
        <BLANKLINE>
        Coefficients:
                       Estimate    Std. Error    t value    Pr(>|t|)
        Intercept       820.887       10.0777       81.5     < 2e-16 ***
        ell           -0.480587      0.391973      -1.23       0.222
        meals          -3.14154      0.283947      -11.1     < 2e-16 ***
        mobility       0.225713      0.393218      0.574       0.567
        ---
        Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
        <BLANKLINE>
        (Dispersion parameter for gaussian family taken to be 5171.97)
        Residual df: 194 (design df + 1 - number of coefficients); rows used: 200; Fisher scoring iterations: 2
        """
        table = self.coefficients
        link = "identity" if self.family == "gaussian" else "logit"
        family = "gaussian" if self.family == "gaussian" else "quasibinomial"
        lines = [
            f"Survey design-based GLM: {family} family, {link} link",
            f"Formula: {self.formula}",
        ]
        if self.design_repr:
            lines.append(f"Design:  {self.design_repr}")
        lines.append("")
        names = [str(t) for t in table.index]
        width = max([len(s) for s in names] + [4])
        header = (
            f"{'':<{width}}  {'Estimate':>12}  {'Std. Error':>12}  {'t value':>9}  "
            f"{'Pr(>|t|)':>10}"
        )
        lines += ["Coefficients:", header]
        row: Any  # a row of the coefficient table (floats), as itertuples gives it
        for name, row in zip(names, table.itertuples(index=False), strict=True):
            lines.append(
                f"{name:<{width}}  {_num(row.estimate):>12}  {_num(row.se):>12}  "
                f"{_num(row.t, 3):>9}  {_pvalue(row.p):>10} {_stars(row.p)}"
            )
        lines += [
            "---",
            "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
            "",
            f"(Dispersion parameter for {family} family taken to be {self.dispersion:.6g})",
            f"Residual df: {self.df_residual:g} (design df + 1 - number of coefficients); "
            f"rows used: {self.n}; Fisher scoring iterations: {self.iterations}",
        ]
        if self.df_residual <= 0:
            lines.append("Zero or negative residual df; p-values not defined")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _num(value: float, digits: int = 6) -> str:
    if not np.isfinite(value):
        return "NaN"
    return f"{value:.{digits}g}"


def _pvalue(p: float) -> str:
    if not np.isfinite(p):
        return "NaN"
    return "< 2e-16" if p < 2e-16 else f"{p:.3g}"


def _stars(p: float) -> str:
    if not np.isfinite(p):
        return ""
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return mark
    return ""


# ------------------------------------------------------------------------ glm --
def _fit_weights(design) -> np.ndarray:
    """Design weights over their mean (R's ``rescale``): the scale only affects IRLS's start."""
    w = np.asarray(design._w, dtype=float)
    calibrated = bool(getattr(design, "_calibration", ()))
    base = w if calibrated else w[design.in_domain]
    return w / base.mean()


def _dispersion(fit: _Fit, mf: ModelFrame, family: _GLMFamily, design) -> float:
    """R's ``summary.svyglm`` dispersion: ``svyvar(resid(fit, "pearson"), design)``.

    R's Pearson residuals of a svyglm are ``(y - mu) / sqrt(V(mu))`` times the square
    root of the ratio of the mean weight after and before rows with missing values were
    dropped (1 without missing values); that factor is kept here to match R.
    """
    rows = mf.rows
    w = np.where(rows, design._w, 0.0)
    calibrated = bool(getattr(design, "_calibration", ()))
    before = design._w if calibrated else design._w[design.in_domain]
    after = w if calibrated else design._w[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (mf.y - fit.mu) / np.sqrt(family.variance(fit.mu))
    r = np.where(rows, r * np.sqrt(after.mean() / before.mean()), 0.0)
    n = int(rows.sum()) if design.is_replicate else int(np.sum(w != 0))
    mean_r = np.sum(w * r) / np.sum(w)
    return float(np.sum(w * (r - mean_r) ** 2) / np.sum(w) * n / (n - 1))


def glm(
    design: SurveyDesign | ReplicateDesign,
    formula: str,
    family: Family = "gaussian",
    na_rm: bool = False,
    level: float = 0.95,
) -> GLMResult:
    """Fit a design-based generalised linear model (R's ``svyglm``).

    Parameters
    ----------
    design : SurveyDesign or ReplicateDesign (subsets and weighted designs included).
    formula : patsy formula on the design's columns, e.g. ``"api00 ~ ell + meals"``,
        ``"trusts_police ~ C(region) + treated * wave"``. Categorical terms with ``C()``
        (string columns are categorical anyway); columns whose name has a dot are quoted:
        ``Q("sch.wide")``. Besides the columns, a formula may use ``np``, ``log``,
        ``exp``, ``sqrt`` and ``abs``.
    family : "gaussian" (identity link) or "binomial" (quasibinomial with logit link,
        as R's ``family=quasibinomial()``): the outcome must lie in [0, 1], e.g. a 0/1
        item, a proportion, or a comparison such as ``I(Q("sch.wide") == "Yes")``.
    na_rm : leave rows with a missing model variable out of the fit (they stay in the
        design with zero weight, so every PSU still enters the variance); otherwise a
        missing value raises an error naming the columns.
    level : confidence level of ``ci_low``/``ci_high``.

    Returns
    -------
    GLMResult with ``.coefficients`` (term-indexed DataFrame: ``estimate``, ``se``,
    ``t``, ``p``, ``ci_low``, ``ci_high``), ``.vcov``, ``.df_residual``, ``.summary()``
    and ``.predict()``.

    Raises
    ------
    EstimationError
        for an unknown column, missing values (without ``na_rm``), a binomial outcome
        outside [0, 1], collinear terms, or perfect separation.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> fit = pc.glm(d, "api00 ~ ell + meals + mobility")
    >>> fit.coefficients[["estimate", "se", "p"]].round(4)
               estimate       se       p
    term
    Intercept  820.8873  10.0777  0.0000
    ell         -0.4806   0.3920  0.2217
    meals       -3.1415   0.2839  0.0000
    mobility     0.2257   0.3932  0.5666

    Notes
    -----
    R: ``svyglm(api00 ~ ell + meals + mobility, design)`` and, for
    ``family="binomial"``, ``svyglm(y ~ x, design, family=quasibinomial())``.
    Term names follow patsy (``Intercept``, ``C(stype)[T.H]``, ``treated:wave``), where R
    writes ``(Intercept)``, ``stypeH``. Aliased (collinear) terms raise an error where R
    reports ``NA``.
    """
    check_design(design)
    if not isinstance(formula, str) or "~" not in formula:
        raise EstimationError(
            f"formula must be a string 'outcome ~ terms' such as 'api00 ~ ell + meals', got "
            f"{formula!r}"
        )
    if family not in FAMILIES:
        raise EstimationError(
            f"family={family!r} is not supported; choose one of {', '.join(FAMILIES)} "
            "('binomial' is R's quasibinomial)"
        )
    intervals.check_level(level)
    fam = _GAUSSIAN if family == "gaussian" else _QUASIBINOMIAL
    mf = _model_frame(design, formula, family, na_rm)
    fit, vcov, df_residual = fit_frame(design, mf, family, formula)
    dispersion = _dispersion(fit, mf, fam, design)
    p = len(mf.terms)

    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = fit.coef / se
    if df_residual > 0:
        pval = 2 * stats.t.sf(np.abs(t), df_residual)
        low, high = intervals.t_interval(fit.coef, se, df_residual, level)
    else:
        pval = np.full(p, np.nan)
        low = high = np.full(p, np.nan)
    index = pd.Index(mf.terms, name="term")
    coefficients = pd.DataFrame(
        {"estimate": fit.coef, "se": se, "t": t, "p": pval, "ci_low": low, "ci_high": high},
        index=index,
    )
    fitted = pd.DataFrame(
        mf.x[mf.rows], index=design.data.index[mf.rows], columns=mf.terms
    )
    return GLMResult(
        coefficients=coefficients,
        vcov=pd.DataFrame(vcov, index=index, columns=index.copy()),
        df_residual=df_residual,
        family=family,
        formula=formula,
        n=int(mf.rows.sum()),
        dispersion=dispersion,
        iterations=fit.iterations,
        level=level,
        design_repr=repr(design),
        _design_info=mf.design_info,
        _fitted=fitted,
    )


def fit_frame(design, mf: ModelFrame, family: Family, formula: str
               ) -> tuple[_Fit, np.ndarray, float]:
    """The IRLS fit of a model frame, the design-based covariance of its coefficients
    and the residual degrees of freedom (design df + 1 - p), as R's ``svyglm``.

    ``formula`` only names the model in error messages; :func:`glm` builds ``mf`` from
    it, :func:`perception.did` builds its design matrix itself.
    """
    fam = _GAUSSIAN if family == "gaussian" else _QUASIBINOMIAL
    if family == "binomial":
        _check_binomial_outcome(mf, design.data)
    elif not np.all(np.isfinite(mf.y[mf.rows])):
        raise EstimationError(f"the outcome {mf.outcome!r} has infinite values")
    pw = np.where(mf.rows, _fit_weights(design), 0.0)
    if not np.any(pw > 0):
        raise EstimationError(f"no rows with positive weight left to fit {formula!r}")
    _check_aliasing(mf, pw, formula)
    fit = _irls(mf.x, mf.y, pw, fam)
    if family == "binomial":
        _check_separation(fit, mf, pw, formula)
    p = len(mf.terms)
    if design.is_replicate:
        df_design = design.degf
        reps = design.replicate_matrix() * mf.rows[:, None]
        betas = np.full((reps.shape[1], p), np.nan)
        for r in range(reps.shape[1]):
            wr = reps[:, r]
            total = wr.sum()
            if total <= 0:
                continue
            inside = wr > 0
            if qr_rank(mf.x[inside] * np.sqrt(wr[inside] / total)[:, None], _QR_TOL) < p:
                # a term has no weight in this replicate: R's glm.fit gives NA and
                # svrVar discards the replicate (with a warning)
                continue
            betas[r] = _irls(mf.x, mf.y, wr / total, fam, start=fit.coef).coef
        discarded = int(np.sum(~np.all(np.isfinite(betas), axis=1)))
        if discarded:
            warnings.warn(
                f"{discarded} replicate(s) gave NA results (a term of {formula!r} has no "
                "weight in them) and were discarded from the variance, as R's svrVar does",
                UserWarning, stacklevel=3,
            )
        vcov = design._vcov_replicates(betas, fit.coef)
    else:
        fit_design = design if mf.rows.all() or np.array_equal(
            mf.rows, design.in_domain) else design.subset(mf.rows)
        df_design = fit_design.degf
        estfun = mf.x * (fit.working_residuals * fit.working_weights)[:, None]
        estfun[~mf.rows] = 0.0
        vcov = fit_design.score_vcov(estfun @ fit.cov_unscaled)
    return fit, vcov, df_design + 1 - p
