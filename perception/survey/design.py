"""Survey designs: the sample's structure (strata, stages of clusters, weights, fpc).

``SurveyDesign`` is the equivalent of R's ``svydesign`` and ``ReplicateDesign`` of
``svrepdesign``. Both are immutable: weighting and ``subset`` return new designs.
Domains are kept inside the full design by zeroing weights, never by cutting rows, so
every PSU stays in the variance (R's ``subset.survey.design``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from ..deprecation import renamed_argument
from ..errors import DesignError, format_rows
from . import variance as _variance
from .base import _BaseDesign
from .checks import check_columns, check_no_missing, column_names, numeric_values
from .replicates import factors_from_design, replicate_degf

LonelyPSU = Literal["fail", "remove", "certainty", "adjust", "average"]
ReplicateMethod = Literal["jk1", "jkn", "bootstrap", "brr", "fay"]


def _design_numbers(data: pd.DataFrame, name: str, argument: str) -> np.ndarray:
    """A design column (weights, fpc) as numbers, or a :class:`DesignError`."""
    return numeric_values(data, name, argument, DesignError,
                          "Fix those cells or convert the column.")


def _codes(frame: pd.DataFrame) -> tuple[np.ndarray, list]:
    """Integer codes (0..G-1, in order of first appearance) of the row tuples of ``frame``."""
    if frame.shape[1] == 0:
        return np.zeros(len(frame), dtype=np.int64), [()]
    if frame.shape[1] == 1:
        codes, uniques = pd.factorize(frame.iloc[:, 0], sort=False)
        return codes.astype(np.int64), list(uniques)
    # combine the columns' codes pairwise, renumbering by first appearance each time
    codes = np.zeros(len(frame), dtype=np.int64)
    for j in range(frame.shape[1]):
        column, uniques = pd.factorize(frame.iloc[:, j], sort=False)
        codes, _ = pd.factorize(codes * max(len(uniques), 1) + column, sort=False)
    first = np.full(int(codes.max()) + 1 if len(codes) else 0, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return codes.astype(np.int64), list(frame.iloc[first].itertuples(index=False, name=None))


def _plain(value):
    """A data value without its numpy wrapper, for messages (401, not np.int64(401))."""
    return value.item() if isinstance(value, np.generic) else value


def _stratum_labels(data, strata_cols, psu_cols, stage, codes, n_strata) -> tuple:
    """Readable label of each stratum of a stage: its value, and at later stages the
    enclosing units ("E dnum=401")."""
    first = np.full(n_strata, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)

    def values(column: str) -> list:
        # one take per column (not one .iloc per stratum: thousands at later stages)
        return [_plain(v) for v in data[column].iloc[first]]

    strata = values(strata_cols[min(stage, len(strata_cols) - 1)]) if strata_cols else []
    if stage == 0 and strata_cols:
        # first-stage strata are their own values (as R prints them)
        return tuple(strata)
    parts = [[str(v) for v in strata]] if strata_cols else []
    if stage > 0:
        units = [[f"{c}={v}" for v in values(c)] for c in psu_cols[:stage]]
        parts.append([", ".join(row) for row in zip(*units, strict=True)])
    if not parts:
        return ("all",) * n_strata
    return tuple(" ".join(row) for row in zip(*parts, strict=True))


def expand_domains(scores: np.ndarray, domain: np.ndarray, n_domains: int) -> np.ndarray:
    """Dense (n, n_domains * k) form of per-domain scores: column d * k + j."""
    n, k = scores.shape
    if n_domains == 1:
        return np.where((domain >= 0)[:, None], scores, 0.0)
    out = np.zeros((n, n_domains, k))
    rows = np.flatnonzero(domain >= 0)
    out[rows, domain[rows]] = scores[rows]  # a row's k scores go to its domain's block
    return out.reshape(n, n_domains * k)


class SurveyDesign(_BaseDesign):
    """A complex survey design for Taylor-linearised estimates (R's ``svydesign``).

    Parameters
    ----------
    data : DataFrame with one row per respondent.
    weights : column of sampling weights. ``None`` derives them from ``fpc`` (the product
        over stages of population over sample size), or gives equal weights.
    strata : column (or one column per stage) of the strata.
    psu : column of the primary sampling units, or a list of columns, one per stage
        (``["village", "household"]``). ``None``: each row is its own PSU.
    fpc : column (or list, one per stage) of population sizes (>= 1) or sampling
        fractions (< 1). Without it the first stage is taken as with replacement.
    nest : PSU ids repeat across strata and must be read within their stratum.
    lonely_psu : what to do with a stratum that has a single PSU: "fail" (error naming
        the stratum), "remove", "certainty", "adjust" or "average", as R's
        ``options(survey.lonely.psu=)``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "w": [2.0, 2, 3, 3],
    ...                    "s": ["a", "a", "b", "b"], "v": [1, 2, 3, 4]})
    >>> d = SurveyDesign(df, weights="w", strata="s", psu="v")
    >>> d.degf
    2

    Notes
    -----
    R: ``svydesign(id=~psu, strata=~strata, weights=~weights, fpc=~fpc, nest=nest)``.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        weights: str | None = None,
        strata: str | Sequence[str] | None = None,
        psu: str | Sequence[str] | None = None,
        fpc: str | Sequence[str] | None = None,
        nest: bool = False,
        lonely_psu: LonelyPSU = "fail",
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if len(data) == 0:
            raise DesignError("the data has no rows: a design needs at least two PSUs")
        if lonely_psu not in _variance.LONELY_PSU_OPTIONS:
            raise DesignError(
                f"lonely_psu={lonely_psu!r} is not an option; choose one of "
                f"{', '.join(_variance.LONELY_PSU_OPTIONS)}"
            )
        psu_cols = column_names(psu, "psu", DesignError)
        strata_cols = column_names(strata, "strata", DesignError)
        fpc_cols = column_names(fpc, "fpc", DesignError)
        weight_cols = column_names(weights, "weights", DesignError)
        check_columns(data, psu_cols, "psu", DesignError)
        check_columns(data, strata_cols, "strata", DesignError)
        check_columns(data, fpc_cols, "fpc", DesignError)
        check_columns(data, weight_cols, "weights", DesignError)
        n_stages = max(len(psu_cols), 1)
        if len(strata_cols) > n_stages:
            raise DesignError(
                f"{len(strata_cols)} strata columns for {n_stages} stage(s): give at most one "
                "strata column per stage of psu"
            )
        if len(fpc_cols) > n_stages:
            raise DesignError(
                f"{len(fpc_cols)} fpc columns for {n_stages} stage(s): give one fpc column "
                "per stage of psu"
            )
        check_no_missing(data, psu_cols, "psu")
        check_no_missing(data, strata_cols, "strata")
        check_no_missing(data, fpc_cols, "fpc")

        n = len(data)
        self._data = data.copy(deep=False)
        self._psu_columns = psu_cols
        self._strata_columns = strata_cols
        self._fpc_columns = fpc_cols
        self._weights_column = weights
        self._nest = nest
        self._lonely_psu = lonely_psu
        self._calibration: tuple = ()

        # --- cluster and stratum keys per stage, nested as R does -------------------
        row_ids = pd.DataFrame({"__row__": np.arange(n)}, index=data.index)
        stage_clusters: list[pd.DataFrame] = []
        for s in range(n_stages):
            if psu_cols:
                key = data[psu_cols[: s + 1]]
            else:
                key = row_ids
            if nest and strata_cols:
                key = pd.concat([data[strata_cols[: min(s + 1, len(strata_cols))]], key], axis=1)
            stage_clusters.append(key.set_axis(range(key.shape[1]), axis=1))
        if psu_cols and not nest and strata_cols:
            first = pd.DataFrame({"psu": data[psu_cols[0]], "stratum": data[strata_cols[0]]})
            n_strata_per_psu = first.groupby("psu", sort=False, dropna=False)["stratum"].nunique()
            crossing = n_strata_per_psu[n_strata_per_psu > 1]
            if len(crossing):
                example = crossing.index[0]
                where = first.loc[first["psu"] == example, "stratum"].unique()
                example = _plain(example)
                raise DesignError(
                    f"PSU {example!r} of column {psu_cols[0]!r} appears in strata "
                    f"{', '.join(map(repr, where[:5]))} of column {strata_cols[0]!r} "
                    f"({len(crossing)} PSU id(s) cross strata). If PSU ids are only unique "
                    "within a stratum, pass nest=True; otherwise fix the PSU or stratum codes."
                )
        first_codes, _ = _codes(stage_clusters[0])
        if first_codes.max() == 0 and not (nest and strata_cols):
            raise DesignError(
                "the design has only one primary sampling unit, so no variance can be "
                "estimated: check the psu column"
            )

        stages: list[_variance.Stage] = []
        parent = np.zeros(n, dtype=np.int64)
        sampsize_rows: list[np.ndarray] = []
        popsize_rows_all: list[np.ndarray | None] = []
        stage_data: list[tuple[np.ndarray, np.ndarray, tuple]] = []
        for s in range(n_stages):
            cluster_codes, _ = _codes(stage_clusters[s])
            if strata_cols:
                stratum_key = data[[strata_cols[min(s, len(strata_cols) - 1)]]]
            else:
                stratum_key = pd.DataFrame(index=data.index)
            stratum_key = stratum_key.set_axis(range(stratum_key.shape[1]), axis=1)
            if s > 0:
                stratum_key = pd.concat(
                    [stratum_key, pd.DataFrame({"__parent__": parent}, index=data.index)], axis=1
                )
            stratum_codes, stratum_uniques = _codes(stratum_key)
            labels = _stratum_labels(data, strata_cols, psu_cols, s, stratum_codes,
                                     len(stratum_uniques))
            n_sampled = pd.Series(cluster_codes).groupby(stratum_codes).nunique()
            sampsize_rows.append(n_sampled.to_numpy(dtype=float)[stratum_codes])
            stage_data.append((stratum_codes, cluster_codes, labels))
            parent = cluster_codes

        # --- fpc: population sizes or fractions, per stage ----------------------------
        values: np.ndarray | None
        for s in range(n_stages):
            if s < len(fpc_cols):
                values = _design_numbers(data, fpc_cols[s], "fpc")
                popsize_rows_all.append(values)
            else:
                popsize_rows_all.append(None)
        given = [v for v in popsize_rows_all if v is not None]
        if given:
            allv = np.concatenate(given)
            for s, values in enumerate(given):
                bad = (values <= 0) | ~np.isfinite(values)
                if bad.any():
                    raise DesignError(
                        f"fpc column {fpc_cols[s]!r} has zero, negative or infinite values in "
                        f"rows {format_rows(data.index[bad])}: give population sizes (>= 1) "
                        "or sampling fractions (between 0 and 1)"
                    )
            is_popsize = bool(np.any(allv > 1))
            if is_popsize and np.any(allv < 1):
                s = next(i for i, v in enumerate(given) if np.any(v < 1))
                rows = data.index[given[s] < 1]
                raise DesignError(
                    f"fpc mixes population sizes (> 1) and sampling fractions (< 1): column "
                    f"{fpc_cols[s]!r} has fractions in rows {format_rows(rows)}. Give every "
                    "stage the same kind (R: 'Must have all fpc>=1 or all fpc<=1')."
                )
            for s, values in enumerate(popsize_rows_all):
                if values is None:
                    continue
                if not is_popsize:
                    values = sampsize_rows[s] / values
                    popsize_rows_all[s] = values
                stratum_codes, _, labels = stage_data[s]
                spread = pd.Series(values).groupby(stratum_codes).nunique()
                if (spread > 1).any():
                    h = int(spread.index[spread.to_numpy() > 1][0])
                    raise DesignError(
                        f"fpc column {fpc_cols[s]!r} varies within stratum {labels[h]!r} at "
                        f"stage {s + 1}; it must be constant within each stratum"
                    )
                too_small = values < sampsize_rows[s] - 1e-9
                if too_small.any():
                    i = int(np.flatnonzero(too_small)[0])
                    raise DesignError(
                        f"fpc column {fpc_cols[s]!r} is smaller than the sample in rows "
                        f"{format_rows(data.index[too_small])}: stratum "
                        f"{labels[stratum_codes[i]]!r} has {int(sampsize_rows[s][i])} units "
                        f"sampled at stage {s + 1} but a population of {values[i]:g}. Give "
                        "population sizes (>= sample size) or sampling fractions (<= 1)."
                    )

        parent = np.zeros(n, dtype=np.int64)
        for s in range(n_stages):
            stratum_codes, cluster_codes, labels = stage_data[s]
            what = [f"stage {s + 1}"]
            if strata_cols:
                what.append(f"strata column {strata_cols[min(s, len(strata_cols) - 1)]!r}")
            what.append(f"PSU column {psu_cols[s]!r}" if psu_cols else "each row its own PSU")
            stages.append(
                _variance.make_stage(
                    stratum_codes, cluster_codes, parent, popsize_rows_all[s], labels,
                    description=", ".join(what), row_labels=data.index,
                )
            )
            parent = cluster_codes
        self._stages = tuple(stages)
        self._multistage = bool(given)

        # --- weights --------------------------------------------------------------------
        if weights is not None:
            w = _design_numbers(data, weights, "weights")
            nan = np.isnan(w)
            if nan.any():
                raise DesignError(
                    f"weights column {weights!r} has {nan.sum()} missing value(s) in rows "
                    f"{format_rows(data.index[nan])}. Every respondent needs a weight."
                )
            inf = ~np.isfinite(w)
            if inf.any():
                raise DesignError(
                    f"weights column {weights!r} has infinite values in rows "
                    f"{format_rows(data.index[inf])}; fix or drop those rows"
                )
            neg = w < 0
            if neg.any():
                raise DesignError(
                    f"weights column {weights!r} has negative values in rows "
                    f"{format_rows(data.index[neg])}; sampling weights must be >= 0: fix "
                    "those rows (or drop them) before building the design"
                )
            if not np.any(w > 0):
                raise DesignError(
                    f"weights column {weights!r} sums to zero (all {len(w)} rows have weight "
                    "0): at least one weight must be positive"
                )
        elif given:
            w = np.ones(n)
            for popsize, sampsize in zip(popsize_rows_all, sampsize_rows, strict=True):
                if popsize is not None:
                    w = w * popsize / sampsize
        else:
            w = np.ones(n)
        self._w = w
        self._in_domain = np.ones(n, dtype=bool)

    # ------------------------------------------------------------------ properties --
    @property
    def degf(self) -> int:
        """Design degrees of freedom: PSUs minus strata among rows in the domain (R's ``degf``)."""
        # kept on the (immutable) design; copies made by _with() share the memo, so an
        # entry is used only while the design still has the very weights it came from
        memo = self.__dict__.setdefault("_degf_cache", {})
        hit = memo.get("degf")
        if hit is not None and hit[0] is self._w:
            return hit[1]
        inset = self._w != 0
        first = self._stages[0]
        n_psu = np.count_nonzero(np.bincount(first.cluster[inset], minlength=first.n_clusters))
        n_strata = np.count_nonzero(np.bincount(first.stratum[inset], minlength=first.n_strata))
        memo["degf"] = (self._w, int(n_psu - n_strata))
        return int(n_psu - n_strata)

    def _domain_degf(self, domain: np.ndarray, n_domains: int) -> np.ndarray:
        """Degrees of freedom of each domain's rows: PSUs minus strata among the rows with
        ``domain == d`` and a non-zero weight (R's ``degf`` of the design cut to them)."""
        first = self._stages[0]
        rows = (domain >= 0) & (self._w != 0)
        d = domain[rows]

        def distinct(codes: np.ndarray, size: int) -> np.ndarray:
            pairs = d * size + codes[rows]
            if n_domains * size > 4 * len(pairs) + 1024:  # sparse: avoid a huge table
                return np.bincount(np.unique(pairs) // size, minlength=n_domains)
            present = np.bincount(pairs, minlength=n_domains * size) > 0
            return present.reshape(n_domains, size).sum(axis=1)

        return (distinct(first.cluster, first.n_clusters)
                - distinct(first.stratum, first.n_strata)).astype(int)

    @property
    def lonely_psu(self) -> str:
        return self._lonely_psu

    @property
    def psu_columns(self) -> list[str]:
        """The PSU column of each stage (empty when each row is its own PSU)."""
        return list(self._psu_columns)

    @property
    def n_psu(self) -> int:
        """Number of first-stage clusters in the full design."""
        return self._stages[0].n_clusters

    @property
    def psu_codes(self) -> np.ndarray:
        """Integer code of each row's first-stage cluster."""
        return self._stages[0].cluster

    @property
    def stratum_codes(self) -> np.ndarray:
        """Integer code of each row's first-stage stratum."""
        return self._stages[0].stratum

    def __repr__(self) -> str:
        first = self._stages[0]
        return (
            f"SurveyDesign({self.n} rows in domain of {len(self._data)}, "
            f"{first.n_strata} strata, {first.n_clusters} PSUs, {len(self._stages)} stage(s), "
            f"degf={self.degf}, lonely_psu={self._lonely_psu!r})"
        )

    # ------------------------------------------------------------------ variance --
    def score_vcov(
        self, scores: np.ndarray, domain: np.ndarray | None = None, n_domains: int = 1
    ) -> np.ndarray:
        """Design covariance of the column totals of linearised ``scores`` (n, k): the
        variance engine every Taylor-linearised estimate goes through (after the
        weighting steps' residuals, R's ``svyrecvar``).

        With ``domain`` (code per row, -1 outside) the result covers one block of k
        columns per domain, column ``d * k + j``.

        Examples
        --------
        >>> d = pc.SurveyDesign(pd.DataFrame({"y": [1.0, 2, 3, 4], "s": [1, 1, 2, 2]}), strata="s")
        >>> d.score_vcov(d.data[["y"]].to_numpy() - 2.5)
        array([[1.]])
        """
        scores = np.asarray(scores, dtype=float)
        if scores.ndim == 1:
            scores = scores[:, None]
        if self._calibration:
            if domain is not None:
                # calibration residuals spread a domain's scores over every row
                scores = expand_domains(scores, domain, n_domains)
                domain = None
            for step in self._calibration:
                scores = step.residualize(scores)
        return _variance.taylor_vcov(
            scores, self._stages, self._lonely_psu, self._multistage, domain, n_domains
        )

    @property
    def totals_path(self) -> bool:
        """Whether the variance needs only first-stage cluster totals of the scores
        (:meth:`score_groups`, :meth:`totals_vcov`): no weighting step (which acts on row
        scores) and one stage, or no later-stage fpc."""
        return not self._calibration and (len(self._stages) == 1 or not self._multistage)

    def score_groups(self) -> tuple[np.ndarray, int]:
        """Row codes (n,) and number of the groups whose score totals the variance needs
        (first-stage clusters); only meaningful when :attr:`totals_path` holds."""
        first = self._stages[0]
        return first.cluster, first.n_clusters

    def totals_vcov(
        self, totals: np.ndarray, domain: np.ndarray | None = None, n_domains: int = 1
    ) -> np.ndarray:
        """Design covariance from first-stage cluster totals (C, n_domains * k) of the
        linearised scores (as :meth:`score_vcov`; requires :attr:`totals_path`)."""
        return _variance.totals_vcov(
            totals, self._stages[0], self._lonely_psu, domain, n_domains
        )

    # ------------------------------------------------------------------ replicates --
    def replicate(
        self,
        method: ReplicateMethod = "jkn",
        replicates: int | None = None,
        seed: int | np.random.Generator | None = None,
        fay_rho: float = 0.3,
        mse: bool = False,
    ) -> ReplicateDesign:
        """Replicate-weight version of this design (R's ``as.svrepdesign``).

        Parameters
        ----------
        method : "jk1" (unstratified jackknife), "jkn" (stratified jackknife; R refuses
            it for designs without strata, and so does this),
            "bootstrap" (Rao–Wu rescaling bootstrap: n_h - 1 PSUs drawn with replacement
            in each stratum, with the first-stage fpc when known), "brr" and "fay"
            (balanced repeated replication for two PSUs per stratum).
        replicates : number of bootstrap replicates (default 200).
        seed : seed or Generator for the bootstrap.
        fay_rho : Fay's perturbation factor.

        Examples
        --------
        >>> clus1 = pc.datasets.load("apiclus1")
        >>> d = pc.SurveyDesign(clus1, weights="pw", psu="dnum", fpc="fpc")
        >>> jk = d.replicate("jk1")
        >>> jk
        ReplicateDesign(183 rows in domain of 183, 15 replicates, method='jk1', scale=0.914839, mse=False)
        >>> pc.mean(jk, "api00")[["variable", "estimate", "se"]].round(2)
          variable  estimate     se
        0    api00    644.17  26.33
        >>> boot = d.replicate("bootstrap", replicates=50, seed=1)

        Notes
        -----
        R: ``as.svrepdesign(design, type = "JK1" | "JKn" | "bootstrap" | "BRR" | "Fay")``.
        JK1 and JKn weights, scales, rscales and degrees of freedom equal R's. BRR and
        Fay use a Sylvester Hadamard matrix (the smallest power of 2 above the number
        of strata) where R uses its own tables (``survey:::hadamard``): both are fully
        balanced, so variances of totals (and of any linear statistic) are the same,
        those of ratios differ slightly. The bootstrap is Rao–Wu's rescaling bootstrap
        with random draws of its own.
        """
        method = method.lower()  # type: ignore[assignment]
        factors, scale, rscales = factors_from_design(
            self._stages[0], method, has_strata=bool(self._strata_columns),
            lonely_psu=self._lonely_psu, calibrated=bool(self._calibration),
            replicates=replicates, seed=seed, fay_rho=fay_rho,
        )
        rep = ReplicateDesign._from_factors(
            self._data, self._w, factors, self.psu_codes, scale, rscales, mse, method, None
        )
        return rep._with(_in_domain=self._in_domain.copy())


class ReplicateDesign(_BaseDesign):
    """A design described by replicate weights (R's ``svrepdesign``).

    Parameters
    ----------
    data : DataFrame with one row per respondent.
    weights : column of full-sample weights.
    replicate_weights : list of replicate-weight columns, or a regular expression that
        selects them (e.g. ``"rw[0-9]+"``). They are the full replicate weights (R's
        ``combined.weights=TRUE``).
    scale, rscales : variance is ``scale * sum(rscales * (theta_r - centre)^2)``.
        ``scale=None`` takes R's default for ``method``: ``1/(R-1)`` for "bootstrap",
        ``(R-1)/R`` for "jk1", ``1/R`` for "brr", else 1.
    mse : centre at the full-sample estimate (True) or the replicates' mean (False).
    degf : degrees of freedom; default the rank of the replicate weights minus one
        (R's ``degf``), recomputed on the rows of a subset.
    method : "bootstrap", "jk1", "jkn", "brr", "fay" or "other" (R's ``type``); it only
        chooses the default ``scale``. (Named ``type`` before; ``type=`` still works, with
        a DeprecationWarning, until the next release.)

    Examples
    --------
    >>> boot = pc.datasets.load("apiclus1_boot50")
    >>> rep = pc.ReplicateDesign(boot, weights="pw", replicate_weights="rw[0-9]+",
    ...                          method="bootstrap")
    >>> rep
    ReplicateDesign(183 rows in domain of 183, 50 replicates, method='bootstrap', scale=0.0204082, mse=False)
    >>> pc.mean(rep, "api00")[["variable", "estimate", "se"]].round(2)
      variable  estimate     se
    0    api00    644.17  22.95

    Notes
    -----
    R: ``svrepdesign(weights=~pw, repweights="rw[0-9]+", scale=, rscales=, mse=,
    combined.weights=TRUE)``.
    """

    is_replicate = True
    # the replicate weights are stored either as columns (_repw) or, for replicates
    # built from a design, as per-PSU factors of the full-sample weights (_factors
    # indexed by _factor_index); exactly one of the two is set
    _repw: np.ndarray | None
    _factors: np.ndarray | None
    _factor_index: np.ndarray | None

    @renamed_argument("type", "method")
    def __init__(
        self,
        data: pd.DataFrame,
        weights: str,
        replicate_weights: str | Sequence[str],
        scale: float | None = None,
        rscales: float | Sequence[float] = 1.0,
        mse: bool = False,
        degf: int | None = None,
        method: str = "other",
    ) -> None:
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        check_columns(data, [weights], "weights", DesignError)
        if isinstance(replicate_weights, str):
            if replicate_weights in data.columns:
                cols = [replicate_weights]
            else:
                cols = [c for c in data.columns if pd.Series([str(c)]).str.fullmatch(
                    replicate_weights).iloc[0]]
                if not cols:
                    raise DesignError(
                        f"replicate_weights={replicate_weights!r} matches no column; give a "
                        "list of columns or a regular expression such as 'rw[0-9]+'"
                    )
        else:
            cols = list(replicate_weights)
        check_columns(data, cols, "replicate_weights", DesignError)
        if len(cols) < 2:
            raise DesignError("a replicate design needs at least two replicate-weight columns")
        w = _design_numbers(data, weights, "weights")
        repw = np.column_stack([_design_numbers(data, c, "replicate_weights") for c in cols])
        for name, values in [(weights, w[:, None]), ("replicate weights", repw)]:
            bad = ~np.isfinite(values).all(axis=1)
            if bad.any():
                raise DesignError(
                    f"{name} have missing or infinite values in rows "
                    f"{format_rows(data.index[bad])}"
                )
            neg = np.any(values < 0, axis=1)
            if neg.any():
                raise DesignError(
                    f"{name} have negative values in rows {format_rows(data.index[neg])}"
                )
        n_rep = len(cols)
        if scale is None:
            defaults = {"bootstrap": 1 / (n_rep - 1), "jk1": (n_rep - 1) / n_rep,
                        "brr": 1 / n_rep}
            scale = defaults.get(str(method).lower(), 1.0)
        if not np.isfinite(scale) or scale <= 0:
            raise DesignError(f"scale must be a positive number, got {scale!r}")
        try:
            rscales_arr = np.broadcast_to(np.asarray(rscales, dtype=float), (n_rep,)).copy()
        except ValueError:
            raise DesignError(
                f"rscales has {np.size(rscales)} values for {n_rep} replicate-weight "
                "columns: give one value, or one per replicate"
            ) from None
        self._data = data.copy(deep=False)
        self._w = w
        self._in_domain = np.ones(len(data), dtype=bool)
        self._repw = repw
        self._factors = None
        self._factor_index = None
        self.scale = float(scale)
        self.rscales = rscales_arr
        self.mse = bool(mse)
        self.method = method
        self._degf = degf
        self._replicate_columns = cols

    @classmethod
    def _from_factors(
        cls,
        data: pd.DataFrame,
        weights: np.ndarray,
        factors: np.ndarray,
        index: np.ndarray,
        scale: float,
        rscales: np.ndarray,
        mse: bool,
        method: str,
        degf: int | None,
    ) -> ReplicateDesign:
        """Replicates as per-PSU factors: replicate weight = weight * factors[psu, r]."""
        new = object.__new__(cls)
        new._data = data
        new._w = np.asarray(weights, dtype=float)
        new._in_domain = np.ones(len(data), dtype=bool)
        new._repw = None
        new._factors = np.asarray(factors, dtype=float)
        new._factor_index = np.asarray(index, dtype=np.int64)
        new.scale = float(scale)
        new.rscales = np.asarray(rscales, dtype=float)
        new.mse = bool(mse)
        new.method = method
        new._degf = degf
        new._replicate_columns = [f"rep{r + 1}" for r in range(factors.shape[1])]
        return new

    @property
    def n_replicates(self) -> int:
        return self.rscales.shape[0]

    @property
    def type(self) -> str:
        """Old name of :attr:`method` (removed in the next release)."""
        warnings.warn(
            "ReplicateDesign.type is renamed ReplicateDesign.method and the old name will "
            "be removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.method

    @property
    def degf(self) -> int:
        """Degrees of freedom: as given, else the rank of the replicate weights of the rows
        in the domain minus one (R's ``degf``, ``qr(weights, tol = 1e-5)$rank - 1``)."""
        if self._degf is not None and self._in_domain.all():
            return int(self._degf)
        return self._rows_degf(self._in_domain)

    def _rows_degf(self, rows: np.ndarray) -> int:
        memo = self.__dict__.setdefault("_degf_memo", {})
        return replicate_degf(memo, self._w, self._factors, self._factor_index, self._repw, rows)

    def _domain_degf(self, domain: np.ndarray, n_domains: int) -> np.ndarray:
        """Degrees of freedom of each domain's rows (R's ``degf`` of the cut design)."""
        if n_domains == 1 and np.array_equal(domain >= 0, self._in_domain):
            return np.array([self.degf])
        return np.array([self._rows_degf(domain == d) for d in range(n_domains)])

    @property
    def replicate_weights(self) -> pd.DataFrame:
        """The replicate weights as an (n, R) DataFrame (zero outside a subset)."""
        mat = self.replicate_matrix()
        return pd.DataFrame(mat, index=self._data.index, columns=self._replicate_columns)

    def replicate_matrix(self) -> np.ndarray:
        """The replicate weights as an (n, R) array (zero outside a subset). Replicates
        built from a design form it from their per-PSU factors: the estimators avoid it
        (:attr:`totals_path`)."""
        if self._factors is not None:
            mat = self._w[:, None] * self._factors[self._factor_index]
        else:
            mat = self._repw
        return np.where(self._in_domain[:, None], mat, 0.0)

    def replicate_weight_columns(self) -> Iterator[np.ndarray]:
        """Each replicate's weights in turn, (n,) arrays zero outside a subset: what a
        model refitted per replicate needs, without holding all R columns at once.

        Examples
        --------
        >>> clus1 = pc.datasets.load("apiclus1")
        >>> jk = pc.SurveyDesign(clus1, weights="pw", psu="dnum", fpc="fpc").replicate("jk1")
        >>> first = next(jk.replicate_weight_columns())
        >>> bool(np.allclose(first, jk.replicate_weights.iloc[:, 0]))
        True
        """
        for r in range(self.n_replicates):
            if self._factors is not None:
                column = self._w * self._factors[self._factor_index, r]
            else:
                assert self._repw is not None  # set whenever the factors are not
                column = self._repw[:, r]
            yield np.where(self._in_domain, column, 0.0)

    @property
    def replicate_factors(self) -> np.ndarray | None:
        """(P, R) factors of the full-sample weights per PSU (:attr:`psu_codes` index the
        rows) for replicates built from a design; None for replicate weight columns.
        Sums over rows reduce to per-PSU sums, which these factors combine into every
        replicate's."""
        return self._factors

    def _replicate_totals(
        self, z: np.ndarray, domain: np.ndarray | None = None, n_domains: int = 1
    ) -> np.ndarray:
        """Replicate totals ``sum_i w_ri z_i``: (R, n_domains * k).

        Replicates built from a design reduce to per-PSU totals times the factor
        matrix, so no (n, R) weight matrix is formed.
        """
        z = np.asarray(z, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        z = np.where(self._in_domain[:, None], z, 0.0)
        if self._factors is not None:
            assert self._factor_index is not None  # set with the factors
            psu_totals = _variance.group_totals(
                self._factor_index, self._factors.shape[0], self._w[:, None] * z,
                domain, n_domains,
            )
            return self._factors.T @ psu_totals
        assert self._repw is not None  # set whenever the factors are not
        if domain is None:
            return self._repw.T @ z
        k = z.shape[1]
        out = np.zeros((self._repw.shape[1], n_domains * k))
        for d in range(n_domains):
            rows = domain == d
            out[:, d * k : (d + 1) * k] = self._repw[rows].T @ z[rows]
        return out

    @property
    def totals_path(self) -> bool:
        """Whether replicate totals come from per-PSU totals (:meth:`score_groups`):
        replicates built from a design, each a per-PSU factor, so replicate totals are
        factors' @ PSU totals."""
        return self._factors is not None

    @property
    def psu_codes(self) -> np.ndarray | None:
        """Integer code of each row's PSU for replicates built from a design
        (:meth:`SurveyDesign.replicate`); None for replicate weights given as columns."""
        return self._factor_index

    def score_groups(self) -> tuple[np.ndarray, int]:
        """Row codes (n,) of the PSUs carrying the replicate factors, and their number
        (only when :attr:`totals_path` holds)."""
        assert self._factors is not None and self._factor_index is not None  # totals_path
        return self._factor_index, self._factors.shape[0]

    def _replicates_from_totals(self, totals: np.ndarray) -> np.ndarray:
        """Replicate totals (R, m) from PSU totals (P, m) of ``w * z``."""
        assert self._factors is not None  # only on the _totals_path
        return self._factors.T @ totals

    def _vcov_replicates(self, replicates: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        return _variance.replicate_vcov(
            replicates, estimate, self.scale, self.rscales, self.mse
        )

    def __repr__(self) -> str:
        return (
            f"ReplicateDesign({self.n} rows in domain of {len(self._data)}, "
            f"{self.n_replicates} replicates, method={self.method!r}, scale={self.scale:g}, "
            f"mse={self.mse})"
        )


Design = SurveyDesign | ReplicateDesign
