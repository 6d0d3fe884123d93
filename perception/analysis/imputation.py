"""Multiple imputation of item non-response: ``impute`` fills the missing answers of a
wave ``m`` times and returns the completed waves, each flagged (``imp_<variable>``)
and ready to become a design; ``pc.mi_combine`` then combines the estimates.

Two methods:

- ``"hotdeck"``: a weighted hot-deck within imputation classes. A respondent missing a
  set of variables takes all of them from one donor of its class who answered them all
  (so answers given together stay together). Each imputation first redraws the class's
  donor pool with replacement (Rubin and Schenker's approximate Bayesian bootstrap, so
  the imputations vary as much as the uncertainty about the donors' distribution), then
  draws donors from that pool with probability proportional to their design weight.
- ``"mice"``: chained equations by statsmodels' ``MICEData`` (each variable by a linear
  model of the others with predictive mean matching, so imputed values are values
  observed in the data: codes stay codes). The classes (as indicators) and the design
  weight enter every imputation model.

Observed values are never changed; the caller's frame is never modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import EstimationError, format_rows
from ..survey.design import SurveyDesign
from ..survey.fitting import aliased

Method = Literal["hotdeck", "mice"]
METHODS = ("hotdeck", "mice")


@dataclass(frozen=True)
class ImputedWaves:
    """The ``m`` completed copies of a wave made by ``impute``.

    Attributes
    ----------
    waves : tuple of DataFrame
        The completed waves: the original rows and columns, missing values of the
        imputed variables filled, and one boolean column ``imp_<variable>`` per
        variable (True where the value was imputed).
    variables : tuple of str
        The imputed variables.
    method : str
        "hotdeck" or "mice".
    missing : DataFrame
        Per variable, how many values were missing (``n_missing``) and their share of
        the rows (``share``).
    """

    waves: tuple[pd.DataFrame, ...]
    variables: tuple[str, ...]
    method: str
    missing: pd.DataFrame = field(repr=False)

    @property
    def m(self) -> int:
        """Number of completed waves."""
        return len(self.waves)

    def __len__(self) -> int:
        return self.m

    def __iter__(self):
        return iter(self.waves)

    def designs(self, **design_arguments: Any) -> list[SurveyDesign]:
        """One design per completed wave: ``pc.SurveyDesign(wave, **design_arguments)``.

        Parameters
        ----------
        **design_arguments : object
            The arguments of ``perception.SurveyDesign`` (``weights``, ``strata``,
            ``psu``, ``fpc``, ``nest``, ``lonely_psu``, ...).

        Returns
        -------
        list of SurveyDesign
            In the order of ``waves``; a replicate design of each is
            ``d.replicate(...)``.

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> holes = api.assign(ell=api["ell"].where(api.index % 6 != 0))
        >>> imp = pc.impute(holes, ["ell"], classes=["stype"], weights="pw", m=3, seed=1)
        >>> [d.n for d in imp.designs(weights="pw", strata="stype", fpc="fpc")]
        [200, 200, 200]
        """
        return [SurveyDesign(wave, **design_arguments) for wave in self.waves]

    def __repr__(self) -> str:
        counts = ", ".join(f"{v}: {n}" for v, n in zip(
            self.missing.index, self.missing["n_missing"], strict=True))
        return f"ImputedWaves(m={self.m}, method={self.method!r}, imputed {counts})"


# ----------------------------------------------------------------------- checks --
def _names(spec, argument: str) -> list[str]:
    if spec is None:
        return []
    names = [spec] if isinstance(spec, str) else list(spec)
    if not all(isinstance(n, str) for n in names):
        raise EstimationError(f"{argument} must be column names, got {names!r}")
    return names


def _check(wave, variables, classes, weights, predictors, m, method):
    if not isinstance(wave, pd.DataFrame):
        raise EstimationError(f"data must be a pandas DataFrame, got {type(wave).__name__}")
    if method not in METHODS:
        raise EstimationError(f"method={method!r} is unknown; choose one of {', '.join(METHODS)}")
    if not isinstance(m, int) or isinstance(m, bool) or m < 1:
        raise EstimationError(f"m must be a positive whole number of imputations, got {m!r}")
    variables = _names(variables, "variables")
    if not variables:
        raise EstimationError("variables is empty: name the columns to impute")
    classes = _names(classes, "classes")
    predictors = _names(predictors, "predictors")
    weight = _names(weights, "weights")
    for argument, names in (("variables", variables), ("classes", classes),
                            ("weights", weight), ("predictors", predictors)):
        unknown = [n for n in names if n not in wave.columns]
        if unknown:
            raise EstimationError(
                f"unknown column(s) {', '.join(map(repr, unknown))} in {argument}: the wave "
                "has no such column"
            )
    overlap = set(variables) & set(classes)
    if overlap:
        raise EstimationError(
            f"{', '.join(map(repr, sorted(overlap)))} both imputed and used as a class: a "
            "class must be known for every row"
        )
    flags = [f"imp_{v}" for v in variables if f"imp_{v}" in wave.columns]
    if flags:
        raise EstimationError(
            f"the wave already has column(s) {', '.join(flags)}: impute a wave only once "
            "(drop or rename those columns first)"
        )
    for name in classes + weight:
        missing = wave[name].isna().to_numpy()
        if missing.any():
            raise EstimationError(
                f"{'class' if name in classes else 'weight'} column {name!r} is missing in "
                f"rows {format_rows(wave.index[missing])}: every row needs it"
            )
    w = None
    if weights is not None:
        w = pd.to_numeric(wave[weights], errors="coerce").to_numpy(dtype=float)
        bad = ~(w > 0)
        if bad.any():
            raise EstimationError(
                f"weights {weights!r} must be positive numbers: rows "
                f"{format_rows(wave.index[bad])}"
            )
    return variables, classes, predictors, w


# ---------------------------------------------------------------------- hot-deck --
def _hotdeck(wave, variables, classes, w, m, rng) -> list[pd.DataFrame]:
    missing = wave[variables].isna().to_numpy()
    n = len(wave)
    weights = np.ones(n) if w is None else w
    class_codes = (
        wave.groupby(classes, sort=True, observed=True).ngroup().to_numpy()
        if classes else np.zeros(n, dtype=int)
    )
    # each (class, pattern of missing variables) with its recipients and donors
    cells = []
    patterns = {tuple(row) for row in missing[missing.any(axis=1)]}
    for pattern in sorted(patterns):
        columns = np.flatnonzero(pattern)
        recipients_mask = (missing == np.array(pattern)).all(axis=1)
        complete = ~missing[:, columns].any(axis=1)
        for code in np.unique(class_codes[recipients_mask]):
            recipients = np.flatnonzero(recipients_mask & (class_codes == code))
            donors = np.flatnonzero(complete & (class_codes == code))
            if donors.size == 0:
                names = [variables[j] for j in columns]
                where = ", ".join(f"{c}={wave[c].iloc[recipients[0]]!r}" for c in classes)
                raise EstimationError(
                    f"no donor for rows {format_rows(wave.index[recipients])}: nobody in "
                    f"their class ({where or 'all rows'}) answered {', '.join(names)}. Use "
                    "fewer or broader classes"
                )
            cells.append((columns, recipients, donors))
    completed = []
    for _ in range(m):
        out = wave.copy()
        for columns, recipients, donors in cells:
            pool = donors[rng.integers(0, donors.size, donors.size)]  # the bootstrap
            p = weights[pool] / weights[pool].sum()
            chosen = pool[rng.choice(pool.size, size=recipients.size, p=p)]
            for j in columns:
                column = out.columns.get_loc(variables[j])
                out.iloc[recipients, column] = wave.iloc[chosen, column].to_numpy()
        completed.append(out)
    return completed


# -------------------------------------------------------------------------- MICE --
def _mice(wave, variables, classes, predictors, weights, m, iterations, rng):
    from statsmodels.imputation.mice import MICEData

    for name in variables:
        values = wave[name]
        numeric = pd.to_numeric(values, errors="coerce")
        bad = numeric.isna() & values.notna()
        if bad.any() or isinstance(values.dtype, pd.CategoricalDtype):
            raise EstimationError(
                f"method='mice' imputes numbers (codes included): column {name!r} holds "
                f"{values[values.notna()].iloc[0]!r}; code it as numbers, or use "
                "method='hotdeck'"
            )
        if values.notna().sum() < 2:
            raise EstimationError(
                f"column {name!r} has {int(values.notna().sum())} observed value(s): too few "
                "to impute from"
            )
    frame = {f"v{j}": pd.to_numeric(wave[name], errors="coerce").to_numpy(dtype=float)
             for j, name in enumerate(variables)}
    extra = [p for p in predictors if p not in variables and p not in classes]
    for j, name in enumerate(extra):
        values = wave[name]
        if pd.api.types.is_numeric_dtype(values) and not isinstance(
                values.dtype, pd.CategoricalDtype):
            frame[f"p{j}"] = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            for k, dummy in enumerate(pd.get_dummies(values, dtype=float).T.to_numpy()[1:]):
                frame[f"p{j}_{k}"] = np.where(values.isna(), np.nan, dummy)
    for j, name in enumerate(classes):
        for k, dummy in enumerate(pd.get_dummies(wave[name], dtype=float).T.to_numpy()[1:]):
            frame[f"c{j}_{k}"] = dummy
    if weights is not None:
        frame["w"] = np.asarray(weights, dtype=float)
    data = _without_collinear(pd.DataFrame(frame))
    empty = data.isna().all(axis=1).to_numpy()
    if empty.any():
        raise EstimationError(
            f"rows {format_rows(wave.index[empty])} miss every variable the imputation "
            "models use: give classes, weights or predictors known for every row"
        )
    mice = MICEData(data, rng=rng)
    completed = []
    for _ in range(m):
        mice.update_all(iterations)
        out = wave.copy()
        for j, name in enumerate(variables):
            gaps = wave[name].isna().to_numpy()
            values = mice.data[f"v{j}"].to_numpy()[gaps]
            out.loc[gaps, name] = values.astype(out[name].dtype) if pd.api.types.is_integer_dtype(
                out[name].dtype) else values
        completed.append(out)
    return completed


def _without_collinear(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` without the complete columns that the intercept and the complete columns
    before them explain (the weight is often constant within classes): the imputation
    models would be rank-deficient. The package's one rank check decides."""
    complete = [c for c in data.columns if not data[c].isna().any()]
    x = np.column_stack([np.ones(len(data)), data[complete].to_numpy(dtype=float)])
    drop = {complete[j - 1] for j in aliased(x, np.ones(len(data)))}
    return data[[c for c in data.columns if c not in drop]]


def impute(
    data: pd.DataFrame,
    variables: str | Sequence[str],
    *,
    method: Method = "hotdeck",
    classes: str | Sequence[str] | None = None,
    weights: str | None = None,
    predictors: str | Sequence[str] | None = None,
    m: int = 5,
    seed: int | np.random.Generator | None = None,
    iterations: int = 10,
) -> ImputedWaves:
    """Multiple imputation of missing answers (item non-response).

    Parameters
    ----------
    data : DataFrame
        The wave, one row per respondent; missing answers are missing values (recode
        "don't know"/refusal codes to missing first, e.g. with ``pc.recode_missing``).
    variables : str or sequence of str
        The columns to impute.
    method : {"hotdeck", "mice"}
        "hotdeck" (weighted hot-deck within ``classes``) or "mice" (chained equations,
        statsmodels' ``MICEData`` with predictive mean matching).
    classes : str or sequence of str, optional
        Imputation classes: donors come from the recipient's class (hot-deck); indicators
        of the classes enter every imputation model (mice). Never missing.
    weights : str, optional
        The design-weight column: donors are drawn proportionally to it (hot-deck); it
        enters every imputation model (mice).
    predictors : str or sequence of str, optional
        More columns the mice models use (categorical ones as indicators); the hot-deck
        ignores them.
    m : int
        Number of completed waves.
    seed : int or Generator, optional
        Seed or ``numpy.random.Generator``: the same seed gives the same imputations.
    iterations : int
        Mice cycles before the first completed wave and between two.

    Returns
    -------
    ImputedWaves
        With ``.waves`` (m completed copies with ``imp_<variable>`` flags), ``.missing``
        and ``.designs(weights=..., strata=..., psu=..., fpc=...)``.

    Raises
    ------
    EstimationError
        for unknown columns, missing classes or weights, a class without donors, or
        non-numeric variables with ``method="mice"``.

    Examples
    --------
    >>> api = pc.datasets.load("apistrat")
    >>> holes = api.assign(ell=api["ell"].where(api.index % 6 != 0))
    >>> imp = pc.impute(holes, ["ell"], classes=["stype"], weights="pw", m=5, seed=1)
    >>> imp
    ImputedWaves(m=5, method='hotdeck', imputed ell: 34)
    >>> first = imp.waves[0]
    >>> int(first["imp_ell"].sum()), bool(first["ell"].notna().all())
    (34, True)
    >>> bool((first.loc[~first["imp_ell"], "ell"] == api.loc[~first["imp_ell"], "ell"]).all())
    True

    Notes
    -----
    R: ``mitools::imputationList`` holds completed data sets made elsewhere (R's
    ``mice`` or a hot-deck); ``with(svydesign(..., data = imputationList(...)), ...)``
    then ``MIcombine`` is ``[estimator(d) for d in imp.designs(...)]`` then
    ``pc.mi_combine``.
    """
    variables, classes, predictors, w = _check(
        data, variables, classes, weights, predictors, m, method
    )
    if not isinstance(iterations, int) or iterations < 1:
        raise EstimationError(f"iterations must be a positive whole number, got {iterations!r}")
    rng = np.random.default_rng(seed)
    missing = data[variables].isna()
    counts = pd.DataFrame(
        {"n_missing": missing.sum().astype(int), "share": missing.mean()},
        index=pd.Index(variables, name="variable"),
    )
    if method == "hotdeck":
        completed = _hotdeck(data, variables, classes, w, m, rng)
    else:
        completed = _mice(data, variables, classes, predictors, w, m, iterations, rng)
    flags = {f"imp_{v}": missing[v].to_numpy() for v in variables}
    waves = tuple(out.assign(**flags) for out in completed)
    return ImputedWaves(waves, tuple(variables), method, counts)
