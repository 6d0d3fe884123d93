"""Predictive margins and marginal effects of fitted models, by counterfactual
prediction: every row of the fit is predicted with a variable set to each of its
values, and the predictions are averaged with the design weights.

- :func:`predictive_margins` follows R's ``svypredmeans``: the model is fitted with the
  grouping variable (added when it is not in the model), the margin of a group is the
  design-weighted mean of everyone's prediction at that group, and its variance is
  Graubard and Korn's: the model part ``g' V g`` (``g`` the gradient of the margin in
  the coefficients) plus the design variance of the mean of the predictions.
- :func:`marginal_effects` gives the average effect of a variable of the model: the
  difference between the margins at each of its levels and at the first (a factor, or a
  0/1 variable), or the average derivative (a numeric variable); in percentage points
  for binomial and ordinal models. Its variance is either the full linearisation of the
  average over the design together with the coefficients (``variance="design"``; the
  replicate formula on refits for replicate designs) or the delta method with the
  covariates held at their sample values (``variance="model"``, R's ``predict`` then
  ``svycontrast``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from . import cumulative_link as kernel
from . import intervals
from .checks import column_names
from .covariance import attach_covariance
from .dask_design import refuse_rows
from .fitting import ModelFit, influence_vcov, replicate_coefficients
from .formulas import ModelFrame, model_columns
from .models import FamilyName, GLMResult, glm
from .models import Link as GLMLink
from .ordinal import Link, OLRResult, olr

Variance = Literal["design", "model"]

MARGIN_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "df", "n"]
EFFECT_COLUMNS = ["variable", "contrast", "estimate", "se", "ci_low", "ci_high", "df", "p",
                  "n"]


# ------------------------------------------------------------- predictions --
def _frame_of(fit: GLMResult) -> ModelFrame:
    assert fit._frame is not None  # set by glm()
    return fit._frame


def _fit_of(fit: GLMResult) -> ModelFit:
    assert fit._model is not None  # set by glm()
    return fit._model


@dataclass
class _Model:
    """What the counterfactual predictions need from a fit, for both kinds of model."""

    fit: GLMResult | OLRResult

    @property
    def ordinal(self) -> bool:
        return isinstance(self.fit, OLRResult)

    @property
    def rows(self) -> np.ndarray:
        return self.fit._rows if isinstance(self.fit, OLRResult) else _frame_of(self.fit).rows

    @property
    def design(self):
        return self.fit._design

    @property
    def categories(self) -> list[str]:
        return list(self.fit.categories) if isinstance(self.fit, OLRResult) else [""]

    def frame(self) -> pd.DataFrame:
        return self.design.data.loc[self.rows]

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return self.fit.model_matrix(frame).to_numpy(dtype=float)

    def predict(self, x: np.ndarray, theta: np.ndarray, offset) -> tuple[np.ndarray, np.ndarray]:
        """Predictions (n, K) and their gradients in the coefficients (n, K, p)."""
        fit = self.fit
        if isinstance(fit, OLRResult):
            q = len(fit.categories) - 1
            return (kernel.probabilities(theta, x, q, fit.link),
                    kernel.probability_gradient(theta, x, q, fit.link))
        family = fit._family()
        eta = x @ theta + offset
        mu = family.linkinv(eta)
        return mu[:, None], (family.mu_eta(eta)[:, None] * x)[:, None, :]

    def offset(self, frame: pd.DataFrame):
        fit = self.fit
        if isinstance(fit, GLMResult) and fit.offset is not None:
            return pd.to_numeric(frame[fit.offset]).to_numpy(dtype=float)
        return 0.0

    def coefficient_influence(self) -> np.ndarray:
        """Per-row influence of the coefficients (n_design, p), zero outside the fit."""
        fit = self.fit
        if isinstance(fit, OLRResult):
            w = np.where(fit._rows, fit._design.weight_array, 0.0)
            scores = kernel.scores(fit.theta, fit._x, fit._y, w, fit.link)
            return scores @ np.linalg.inv(-fit._hessian)
        return _fit_of(fit).fit.estfun(_frame_of(fit).x) @ _fit_of(fit).fit.bread

    def replicate_thetas(self) -> np.ndarray:
        """The coefficients refitted with each replicate's weights (R, p)."""
        fit = self.fit
        design = self.design
        if isinstance(fit, OLRResult):
            q = len(fit.categories) - 1
            out = np.full((design.n_replicates, len(fit.theta)), np.nan)
            for r, column in enumerate(design.replicate_weight_columns()):
                wr = np.where(fit._rows, column, 0.0)
                refit = kernel.fit(fit._x, fit._y, wr, q, fit.link, theta0=fit.theta)
                if refit.converged:
                    out[r] = refit.theta
            return out
        frame = _frame_of(fit)
        trials = None if fit._trials_values is None else np.where(frame.rows,
                                                                  fit._trials_values, 0.0)
        return replicate_coefficients(
            design, frame.x, np.where(frame.rows, frame.y, 0.0), frame.rows, fit._family(),
            fit._offset_values, trials, _fit_of(fit).fit.coef)

    @property
    def variance_design(self):
        fit = self.fit
        if isinstance(fit, OLRResult):
            rows = fit._rows
            design = fit._design
            if design.is_replicate or rows.all() or np.array_equal(rows, design.in_domain):
                return design
            return design.subset(rows)
        return _fit_of(fit).variance_design


def _set(frame: pd.DataFrame, values: dict) -> pd.DataFrame:
    """``frame`` with each column of ``values`` set to one value (a categorical keeps
    its categories)."""
    changes = {}
    for column, value in values.items():
        original = frame[column]
        if isinstance(original.dtype, pd.CategoricalDtype):
            changes[column] = pd.Categorical([value] * len(frame),
                                             categories=original.cat.categories,
                                             ordered=original.cat.ordered)
        else:
            changes[column] = pd.Series([value] * len(frame), index=frame.index,
                                        dtype=original.dtype)
    return frame.assign(**changes)


def _levels(column: pd.Series) -> list:
    present = column.dropna()
    if isinstance(column.dtype, pd.CategoricalDtype):
        used = set(present)
        return [c for c in column.cat.categories if c in used]
    return sorted(pd.unique(present))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _text(value) -> str:
    """A level as a label: ``1`` rather than ``1.0``."""
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class _Averages:
    """Design-weighted averages of counterfactual quantities over the rows of a fit:
    one column per (setting, category), their gradients in the coefficients, and per
    row the quantities themselves (for the influence of the average)."""

    estimate: np.ndarray  # (m,)
    gradient: np.ndarray  # (m, p)
    values: np.ndarray  # (n_rows, m)


def _averages(model: _Model, settings: list[dict], theta: np.ndarray, w: np.ndarray,
              derivative: str | None = None) -> _Averages:
    """Averages of the predictions with each setting (or, with ``derivative``, of their
    derivative in that numeric column, by central differences of the model matrix)."""
    frame = model.frame()
    estimates, gradients, values = [], [], []
    for setting in settings:
        changed = _set(frame, setting)
        offset = model.offset(changed)
        if derivative is None:
            pred, grad = model.predict(model.matrix(changed), theta, offset)
        else:
            x0 = frame[derivative].to_numpy(dtype=float)
            h = 1e-5 * max(float(np.std(x0)), 1.0)
            up = model.matrix(changed.assign(**{derivative: x0 + h}))
            down = model.matrix(changed.assign(**{derivative: x0 - h}))
            x = model.matrix(changed)
            dx = (up - down) / (2 * h)  # exact for terms linear in the variable
            pred, grad = _derivative(model, x, dx, theta, offset)
        estimates.append(w @ pred / w.sum())
        gradients.append(np.einsum("n,nkp->kp", w, grad) / w.sum())
        values.append(pred)
    return _Averages(np.concatenate(estimates), np.concatenate(gradients),
                     np.concatenate(values, axis=1))


def _derivative(model: _Model, x, dx, theta, offset) -> tuple[np.ndarray, np.ndarray]:
    """d prediction / d variable per row (n, K) and its gradient in theta (n, K, p), for
    a model matrix ``x`` whose derivative in the variable is ``dx``."""
    fit = model.fit
    if isinstance(fit, OLRResult):
        q = len(fit.categories) - 1
        p = x.shape[1]
        eta = x @ theta[:p]
        deta = dx @ theta[:p]
        z = theta[p:][None, :] - eta[:, None]
        f, df = _density(z, fit.link)
        # P(Y <= k) = F(zeta_k - eta): d/dvar = -f_k deta
        dcum = -f * deta[:, None]
        n = x.shape[0]
        grad_cum = np.zeros((n, q, len(theta)))
        # d/dbeta of -f(z) deta = f'(z) x deta - f(z) dx
        grad_cum[:, :, :p] = (df * deta[:, None])[:, :, None] * x[:, None, :] \
            - f[:, :, None] * dx[:, None, :]
        grad_cum[:, np.arange(q), p + np.arange(q)] = -df * deta[:, None]
        pad = np.zeros((n, 1))
        value = np.diff(np.column_stack([pad, dcum, pad]), axis=1)
        padg = np.zeros((n, 1, len(theta)))
        grad = np.diff(np.concatenate([padg, grad_cum, padg], axis=1), axis=1)
        return value, grad
    family = fit._family()
    eta = x @ theta + offset
    deta = dx @ theta
    d1 = family.mu_eta(eta)
    h = 1e-6
    d2 = (family.mu_eta(eta + h) - family.mu_eta(eta - h)) / (2 * h)
    value = (d1 * deta)[:, None]
    grad = (d2 * deta)[:, None] * x + d1[:, None] * dx
    return value, grad[:, None, :]


def _density(z: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    if link == "logit":
        p = 1 / (1 + np.exp(-z))
        f = p * (1 - p)
        return f, f * (1 - 2 * p)
    f = stats.norm.pdf(z)
    return f, -z * f


# -------------------------------------------------------------- variances --
def _mean_vcov(model: _Model, values: np.ndarray, w_rows: np.ndarray) -> np.ndarray:
    """Design covariance of the weighted means of per-row ``values`` (n_rows, m) over the
    rows of the fit (R's ``svymean`` of the predictions)."""
    design = model.variance_design
    rows = model.rows
    total = w_rows.sum()
    means = w_rows @ values / total
    if design.is_replicate:
        full = np.zeros((len(rows), values.shape[1]))
        full[rows] = values
        replicate_totals = design._replicate_totals(full)
        replicate_weights = design._replicate_totals(rows.astype(float)[:, None])
        return design._vcov_replicates(replicate_totals / replicate_weights, means)
    influence = np.zeros((len(rows), values.shape[1]))
    influence[rows] = w_rows[:, None] * (values - means) / total
    return influence_vcov(design, influence)


def _design_vcov(model: _Model, averages: _Averages, w_rows: np.ndarray,
                 settings: list[dict], derivative: str | None) -> np.ndarray:
    """Covariance of the averages from one linearisation of the averages and the
    coefficients (Taylor designs), or from refits (replicate designs)."""
    design = model.variance_design
    rows = model.rows
    if design.is_replicate:
        thetas = model.replicate_thetas()
        replicates = np.full((len(thetas), len(averages.estimate)), np.nan)
        for r, (theta, column) in enumerate(zip(thetas, design.replicate_weight_columns(),
                                                strict=True)):
            if np.all(np.isfinite(theta)):
                replicates[r] = _averages(model, settings, theta, column[rows],
                                          derivative).estimate
        return design._vcov_replicates(replicates, averages.estimate)
    total = w_rows.sum()
    influence = np.zeros((len(rows), len(averages.estimate)))
    influence[rows] = w_rows[:, None] * (averages.values - averages.estimate) / total
    influence += model.coefficient_influence() @ averages.gradient.T
    return influence_vcov(design, influence)


# ---------------------------------------------------------------- the API --
def _check_fit(fit, function: str) -> _Model:
    if not isinstance(fit, GLMResult | OLRResult) or fit._design is None:
        raise EstimationError(
            f"{function} takes a model fitted by pc.glm or pc.olr, got {type(fit).__name__}"
        )
    refuse_rows(fit._design, function)
    return _Model(fit)


def _in_model(fit, names: list[str]) -> list[str]:
    used = set(model_columns(fit.formula, fit._design.data))
    return [n for n in names if n not in used]


def _table(keys: pd.DataFrame, estimate, vcov, df, counts, level, identity,
           scale: float = 1.0) -> pd.DataFrame:
    estimate = np.asarray(estimate) * scale
    vcov = np.asarray(vcov) * scale**2
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    low, high = intervals.t_interval(estimate, se, df, level)
    out = keys.reset_index(drop=True).assign(estimate=estimate, se=se, ci_low=low,
                                             ci_high=high, df=df, n=counts)
    return attach_covariance(out, vcov, identity)


def predictive_margins(
    fit: GLMResult | OLRResult,
    by: str | Sequence[str],
    *,
    level: float = 0.95,
) -> pd.DataFrame:
    """Predictive margins of groups: everyone's prediction with ``by`` set to each
    group, averaged with the design weights (R's ``svypredmeans``).

    Parameters
    ----------
    fit : GLMResult or OLRResult
        A model of ``perception.glm`` or ``perception.olr``. As in R, the grouping
        columns need not be in the model: they are added to it (as in the data: a
        categorical as factor, a number as numeric) and the model refitted on the rows
        that have them. Columns already in the model (with their interactions) are used
        as they are.
    by : str or sequence of str
        The grouping column(s); with several, every combination of their values.
    level : float
        Confidence level of ``ci_low``/``ci_high`` (t on the design df).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``category`` (ordinal models), ``estimate`` (the margin: mean
        of the outcome, or a probability), ``se`` (Graubard and Korn: model part plus the
        design variance of the mean of the predictions), ``ci_low``, ``ci_high``, ``df``
        and ``n`` (rows of the fit in the group; every row of the fit enters each
        margin). ``attrs["vcov"]`` holds their covariance: ``pc.contrast`` gives
        differences of margins (e.g. a difference-in-differences from a logistic model).

    Raises
    ------
    EstimationError
        for a fit that is not a glm or olr, or an unknown column.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> fit = pc.glm(d, "api00 ~ ell + mobility")
    >>> pc.predictive_margins(fit, "stype").round(3)
      stype  estimate      se   ci_low  ci_high   df    n
    0     E   685.134  11.156  663.134  707.134  197  100
    1     H   585.173  12.340  560.838  609.509  197   50
    2     M   620.259  14.432  591.798  648.720  197   50

    Notes
    -----
    R: ``svypredmeans(svyglm(api00 ~ ell + mobility, design), ~stype)``. R's
    ``svypredmeans`` fails on replicate designs in survey 4.1.1; here they use the
    replicate covariance of the coefficients and of the mean of the predictions.
    """
    model = _check_fit(fit, "predictive_margins")
    intervals.check_level(level)
    names = column_names(by, "by", required=True)
    data = fit._design.data
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise EstimationError(f"unknown column(s) {', '.join(map(repr, missing))} in by")
    added = _in_model(fit, names)
    if added:
        formula = fit.formula + "".join(f' + Q("{n}")' for n in added)
        if isinstance(fit, OLRResult):
            fit = olr(fit._design, formula, link=cast(Link, fit.link), na_rm=True, level=fit.level)
        else:
            fit = glm(fit._design, formula, family=cast(FamilyName, fit.family), na_rm=True,
                      level=fit.level, link=cast(GLMLink, fit.link), offset=fit.offset,
                      trials=fit.trials)
        model = _Model(fit)
    frame = model.frame()
    groups = frame[names].drop_duplicates()
    combos = pd.MultiIndex.from_frame(groups).sort_values() if len(names) > 1 else None
    if combos is None:
        values = _levels(frame[names[0]])
        settings = [{names[0]: v} for v in values]
    else:
        settings = [dict(zip(names, combo, strict=True)) for combo in combos]
    w_rows = fit._design.weight_array[model.rows]
    theta = fit.coefficients["estimate"].to_numpy()
    averages = _averages(model, settings, theta, w_rows)
    v_beta = fit.vcov.to_numpy()
    vcov = averages.gradient @ v_beta @ averages.gradient.T + _mean_vcov(model, averages.values,
                                                                          w_rows)
    categories = model.categories
    keys = pd.DataFrame([{**{k: _plain(v) for k, v in s.items()},
                          **({"category": c} if model.ordinal else {})}
                         for s in settings for c in categories])
    counts = [int((frame[names] == pd.Series(s)).all(axis=1).sum())
              for s in settings for _ in categories]
    identity = names + (["category"] if model.ordinal else [])
    df = model.variance_design.degf
    return _table(keys, averages.estimate, vcov, df, counts, level, identity)[
        [*identity, *MARGIN_COLUMNS]]


def marginal_effects(
    fit: GLMResult | OLRResult,
    variable: str,
    *,
    by: str | Sequence[str] | None = None,
    variance: Variance = "design",
    level: float = 0.95,
) -> pd.DataFrame:
    """Average marginal effect of a variable of a model, by counterfactual prediction.

    Parameters
    ----------
    fit : GLMResult or OLRResult
        A model of ``perception.glm`` or ``perception.olr`` that has ``variable`` among
        its terms.
    variable : str
        A factor, or a 0/1 variable: the effect of each level against the first
        (everyone's prediction at that level minus at the first, averaged with the
        design weights); a numeric variable: the average derivative of the prediction
        (per unit of the variable).
    by : str or sequence of str, optional
        Columns of the model set to each of their values too: the effects within each
        group (e.g. the effect of ``treated`` in each wave; their difference, by
        ``pc.contrast``, is the difference-in-differences on the outcome's scale).
    variance : {"design", "model"}
        "design" (default): one linearisation of the average over the design and the
        coefficients together (replicate designs: refits), the variance of a population
        average effect; "model": the delta method with the covariates held at their
        sample values (R's ``predict(..., vcov = TRUE)`` then ``svycontrast``).
    level : float
        Confidence level (t on the design df).

    Returns
    -------
    DataFrame
        The ``by`` columns, ``variable``, ``contrast`` (``"H - E"``, or ``"dy/dx"``),
        ``category`` (ordinal models: the effect on the probability of each category),
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``df``, ``p`` and ``n`` (rows of
        the fit). Binomial and ordinal models give percentage points; other models the
        outcome's unit. ``attrs["vcov"]`` holds the covariance of the rows.

    Raises
    ------
    EstimationError
        for a variable not in the model, a fit that is not a glm or olr, or an unknown
        ``variance``.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    >>> d = d.with_data(d.data.assign(yes=(d.data["sch_wide"] == "Yes").astype(float)))
    >>> fit = pc.glm(d, "yes ~ stype + ell + meals", family="binomial")
    >>> pc.marginal_effects(fit, "stype")[["contrast", "estimate", "se", "p"]].round(3)
      contrast  estimate     se      p
    0    H - E   -43.795  8.320  0.000
    1    M - E   -22.520  7.005  0.002

    Notes
    -----
    R has no such function; the references (``tests/reference/make_models_more.R``)
    are ``svycontrast`` of ``predict(fit, newdata, type = "response", vcov = TRUE)`` for
    ``variance="model"``, and the influence functions of the averages and of the
    coefficients summed and passed to ``svyrecvar`` (or replicate refits) for
    ``variance="design"``.
    """
    model = _check_fit(fit, "marginal_effects")
    intervals.check_level(level)
    if variance not in ("design", "model"):
        raise EstimationError(f"variance={variance!r} is unknown; choose 'design' or 'model'")
    if not isinstance(variable, str):
        raise EstimationError(f"variable must be one column name, got {variable!r}")
    by_names = column_names(by, "by")
    absent = _in_model(fit, [variable, *by_names])
    if absent:
        raise EstimationError(
            f"{', '.join(map(repr, absent))} not in the model {fit.formula!r}: a marginal "
            "effect is that of a variable of the model (use pc.predictive_margins for a "
            "grouping outside it)"
        )
    frame = model.frame()
    column = frame[variable]
    numeric = pd.api.types.is_numeric_dtype(column) and not isinstance(
        column.dtype, pd.CategoricalDtype) and not pd.api.types.is_bool_dtype(column)
    discrete = not numeric or set(pd.unique(column.dropna())) <= {0, 1}
    by_groups = ([dict(zip(by_names, combo, strict=True)) for combo in
                  pd.MultiIndex.from_frame(frame[by_names].drop_duplicates()).sort_values()]
                 if by_names else [{}])
    if discrete:
        levels = _levels(column)
        if len(levels) < 2:
            raise EstimationError(f"{variable!r} has one value among the rows of the fit")
        settings = [{**g, variable: v} for g in by_groups for v in levels]
    else:
        levels = []
        settings = by_groups
    w_rows = fit._design.weight_array[model.rows]
    theta = fit.coefficients["estimate"].to_numpy()
    derivative = None if discrete else variable
    averages = _averages(model, settings, theta, w_rows, derivative)
    k = len(model.categories)
    # the effects as linear combinations of the averages (per by group and category)
    rows_out, weights = [], []
    per_group = len(levels) if discrete else 1
    for gi, group in enumerate(by_groups):
        for li in range(1, len(levels)) if discrete else [0]:
            for ci, category in enumerate(model.categories):
                combo = np.zeros(len(averages.estimate))
                if discrete:
                    combo[(gi * per_group + li) * k + ci] = 1.0
                    combo[(gi * per_group) * k + ci] = -1.0
                    label = f"{_text(levels[li])} - {_text(levels[0])}"
                else:
                    combo[gi * k + ci] = 1.0
                    label = "dy/dx"
                weights.append(combo)
                rows_out.append({**{n: _plain(v) for n, v in group.items()},
                                 "variable": variable, "contrast": label,
                                 **({"category": category} if model.ordinal else {})})
    combos = np.array(weights)
    if variance == "model":
        v_avg = averages.gradient @ fit.vcov.to_numpy() @ averages.gradient.T
    else:
        v_avg = _design_vcov(model, averages, w_rows, settings, derivative)
    estimate = combos @ averages.estimate
    vcov = combos @ v_avg @ combos.T
    scale = 100.0 if isinstance(fit, OLRResult) or fit.family == "binomial" else 1.0
    identity = [*by_names, "variable", "contrast"] + (["category"] if model.ordinal else [])
    df = model.variance_design.degf
    table = _table(pd.DataFrame(rows_out), estimate, vcov, df, int(model.rows.sum()), level,
                   identity, scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["p"] = 2 * stats.t.sf(np.abs(table["estimate"] / table["se"]), df)
    return table[[*by_names, "variable", "contrast",
                  *(["category"] if model.ordinal else []), *EFFECT_COLUMNS[2:]]]
