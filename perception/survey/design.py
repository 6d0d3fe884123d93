"""Survey designs: the sample's structure (strata, stages of clusters, weights, fpc).

``SurveyDesign`` is the equivalent of R's ``svydesign`` and ``ReplicateDesign`` of
``svrepdesign``. Both are immutable: weighting and ``subset`` return new designs.
Domains are kept inside the full design by zeroing weights, never by cutting rows, so
every PSU stays in the variance (R's ``subset.survey.design``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..deprecation import renamed_argument, warn_renamed_attribute
from ..errors import DesignError, format_rows
from . import labelling as _labelling
from . import pps_variance as _pps_variance
from . import stages as _stages
from . import variance as _variance
from .base import _BaseDesign
from .checks import check_columns
from .labelling import MissingCodes
from .replicates import factors_from_design, replicate_degf
from .stages import design_numbers as _design_numbers

LonelyPSU = Literal["fail", "remove", "certainty", "adjust", "average"]
ReplicateMethod = Literal["jk1", "jkn", "bootstrap", "brr", "fay"]
#: ``pps=``: an approximation by name, or the PSUs' joint inclusion probabilities
PPS = Literal["brewer", "overton", "hartley-rao"] | pd.DataFrame | np.ndarray


def _check_lonely_psu(lonely_psu: str) -> None:
    if lonely_psu not in _variance.LONELY_PSU_OPTIONS:
        raise DesignError(
            f"lonely_psu={lonely_psu!r} is not an option; choose one of "
            f"{', '.join(_variance.LONELY_PSU_OPTIONS)}"
        )


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
    data : DataFrame
        One row per respondent.
    weights : str, optional
        Column of sampling weights. ``None`` derives them from ``fpc`` (the product over
        stages of population over sample size), or gives equal weights.
    strata : str or sequence of str, optional
        Column (or one column per stage) of the strata.
    psu : str or sequence of str, optional
        Column of the primary sampling units, or a list of columns, one per stage
        (``["village", "household"]``). ``None``: each row is its own PSU.
    fpc : str or sequence of str, optional
        Column (or list, one per stage) of population sizes (>= 1) or sampling fractions (<
        1). Without it the first stage is taken as with replacement. With ``pps``: each
        PSU's inclusion probability (0 < p <= 1, constant within the PSU), then the
        sampling fraction of each later stage.
    nest : bool
        PSU ids repeat across strata and must be read within their stratum.
    lonely_psu : {"fail", "remove", "certainty", "adjust", "average"}
        What to do with a stratum that has a single PSU: "fail" (error naming the stratum),
        "remove", "certainty", "adjust" or "average", as R's
        ``options(survey.lonely.psu=)``.
    pps : str or DataFrame or ndarray, optional
        The first stage was drawn with probability proportional to size, without
        replacement, and ``fpc`` holds the inclusion probabilities (R's ``pps=``):
        "brewer" (Brewer's approximation: each PSU's own fpc ``1 - p``; strata and
        several stages), "overton" or "hartley-rao" (approximate joint probabilities in
        the Horvitz--Thompson variance; one stage), or the PSUs' joint inclusion
        probabilities (R's ``ppsmat``): a DataFrame whose rows and columns are labelled
        by PSU id (the row labels when each row is its own PSU), or an array in the order
        the PSUs first appear in the data, with the inclusion probabilities on the
        diagonal. ``None``: not a PPS design. Weights default to ``1 / p``.
    psum : float or str or mapping, optional
        Hartley--Rao's ``psum`` (R's ``HR(psum)``): each stratum's population sum of
        squared inclusion probabilities divided by its sample size -- a number (no
        strata), a column constant within strata, or a mapping stratum -> number. By
        default the mean probability of the stratum's sampled PSUs, as R's ``HR()``.
    pps_tolerance : float
        With a matrix of joint probabilities, the entries ``1 - p_i p_j / p_ij`` smaller
        than this in absolute value count as zero (R's ``ppsmat(tolerance = 1e-4)``); 0
        keeps them all.
    questionnaire : Questionnaire, optional
        The questionnaire of the data (``pc.load_questionnaire``): the design is then
        *labelled*, its estimators leave the declared missing codes and the blanks of skip
        logic out, refuse to average nominal columns and label their tables; the
        questionnaire's derived variables (``derived:``) that the data lack are added
        as columns (``pc.mean(d, "trust_police_high")``), the caller's frame unchanged.
    lang : str, optional
        The language of those labels: one of the questionnaire's (default its first).
    missing_codes : {"exclude", "keep"}
        "keep" analyses the declared missing codes as categories (a table of the
        "don't know" share); also a per-call argument of the estimators.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "w": [2.0, 2, 3, 3],
    ...                    "s": ["a", "a", "b", "b"], "v": [1, 2, 3, 4]})
    >>> d = SurveyDesign(df, weights="w", strata="s", psu="v")
    >>> d.degf
    2

    Villages drawn with probability proportional to their size (``pi``), then
    households by simple random sampling (``f2`` of each village's households):

    >>> villages = pd.DataFrame({
    ...     "village": ["A", "A", "B", "B", "C", "C", "D", "D"],
    ...     "household": [1, 2, 1, 2, 1, 2, 1, 2],
    ...     "pi": [0.6, 0.6, 0.3, 0.3, 0.25, 0.25, 0.85, 0.85],
    ...     "f2": [0.02, 0.02, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01],
    ...     "trust": [1.0, 0, 1, 1, 0, 0, 1, 0]})
    >>> d = SurveyDesign(villages, psu=["village", "household"], fpc=["pi", "f2"],
    ...                  pps="brewer")
    >>> pc.mean(d, "trust")[["estimate", "se"]].round(4)
       estimate      se
    0    0.4878  0.2469

    Overton's approximation takes one stage: the villages, with the households' weights:

    >>> villages["w"] = 1 / (villages["pi"] * villages["f2"])
    >>> ht = SurveyDesign(villages, weights="w", psu="village", fpc="pi", pps="overton")
    >>> ht
    SurveyDesign(8 rows in domain of 8, 1 strata, 4 PSUs, 1 stage(s), degf=3, lonely_psu='fail', pps='overton')

    Notes
    -----
    R: ``svydesign(id=~psu, strata=~strata, weights=~weights, fpc=~fpc, nest=nest)``;
    with ``pps``: ``svydesign(id=~psu, fpc=~pi, pps="brewer" | "overton" | HR() |
    HR(psum) | ppsmat(pij))``. Overton's, Hartley--Rao's and a matrix's variance is R's
    Horvitz--Thompson form ``t' Dcheck t`` of the PSU totals; R takes their weights from
    ``fpc`` alone (it drops ``weights=``, and builds ``Dcheck`` from ``probs=`` when
    given), this design uses ``weights`` when given and the PSUs' probabilities in
    ``fpc`` for ``Dcheck``: both agree when the weights are ``1 / fpc``.
    Replicate weights of a PPS design are refused, as R's ``as.svrepdesign`` refuses
    them (or drops the probabilities, for BRR and Fay). The guide ``docs/pps.md`` says
    which estimators R supports for which form and how this package matches it.
    """

    def __new__(cls, data=None, *args, **kwargs):
        # a Dask DataFrame: the design whose estimators reduce the data with Dask
        # (survey/dask_design.py; its estimators in survey/distributed.py import dask)
        if cls is SurveyDesign and type(data).__module__.split(".")[0] == "dask":
            from .dask_design import DaskSurveyDesign
            return DaskSurveyDesign(data, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        data: pd.DataFrame,
        weights: str | None = None,
        strata: str | Sequence[str] | None = None,
        psu: str | Sequence[str] | None = None,
        fpc: str | Sequence[str] | None = None,
        nest: bool = False,
        lonely_psu: LonelyPSU = "fail",
        pps: PPS | None = None,
        psum: float | str | Mapping | None = None,
        pps_tolerance: float = 1e-4,
        *,
        questionnaire: Any = None,
        lang: str | None = None,
        missing_codes: MissingCodes = "exclude",
    ) -> None:
        labels = _labelling.labelling(questionnaire, lang, missing_codes)
        data = _labelling.with_derived(data, labels)
        # the steps (survey/stages.py; pps: survey/pps_variance.py)
        columns = _stages.design_columns(data, weights, strata, psu, fpc)
        _check_lonely_psu(lonely_psu)
        pps_option = _pps_variance.pps_option(pps, psum, pps_tolerance, columns)
        layouts = _stages.stage_layouts(data, columns, nest)
        sizes = _stages.population_sizes(data, columns, layouts, pps=pps_option is not None)
        stages = _stages.make_stages(layouts, sizes, data.index,
                                     per_unit=pps_option is not None)
        joint = None if pps_option is None else _pps_variance.joint_variance(
            pps_option, data, stages[0], columns.stratum_column(0),
            columns.psu[0] if columns.psu else None,
        )
        w = _stages.design_weights(data, weights, sizes, layouts)

        self._data = data.copy(deep=False)
        self._psu_columns = columns.psu
        self._strata_columns = columns.strata
        self._fpc_columns = columns.fpc
        self._weights_column = weights
        self._nest = nest
        self._lonely_psu = lonely_psu
        self._calibration: tuple = ()
        self._stages = stages
        self._multistage = bool(columns.fpc)
        self._pps = pps_option
        self._joint = joint  # the Horvitz-Thompson variance (Overton, HR, joint matrix)
        self._w = w
        self._in_domain = np.ones(len(data), dtype=bool)
        self._labelling = labels

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
        every = bool(inset.all())  # no row to leave out: no copy of the codes
        clusters, strata = (first.cluster, first.stratum) if every else (
            first.cluster[inset], first.stratum[inset])
        n_psu = np.count_nonzero(np.bincount(clusters, minlength=first.n_clusters))
        n_strata = np.count_nonzero(np.bincount(strata, minlength=first.n_strata))
        memo["degf"] = (self._w, int(n_psu - n_strata))
        return int(n_psu - n_strata)

    def _domain_degf(self, domain: np.ndarray, n_domains: int) -> np.ndarray:
        """Degrees of freedom of each domain's rows: PSUs minus strata among the rows with
        ``domain == d`` and a non-zero weight (R's ``degf`` of the design cut to them)."""
        first = self._stages[0]
        rows = (domain >= 0) & (self._w != 0)
        every = bool(rows.all())  # no row to leave out: no copies
        d = domain if every else domain[rows]

        def distinct(codes: np.ndarray, size: int) -> np.ndarray:
            pairs = d * size + (codes if every else codes[rows])
            if n_domains * size > 4 * len(pairs) + 1024:  # sparse: avoid a huge table
                return np.bincount(np.unique(pairs) // size, minlength=n_domains)
            present = np.bincount(pairs, minlength=n_domains * size) > 0
            return present.reshape(n_domains, size).sum(axis=1)

        return (distinct(first.cluster, first.n_clusters)
                - distinct(first.stratum, first.n_strata)).astype(int)

    @property
    def lonely_psu(self) -> str:
        """What a stratum with a single PSU does (the ``lonely_psu=`` argument)."""
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

    @property
    def pps(self) -> str | None:
        """How the first stage was drawn: "brewer", "overton", "hartley-rao", "joint
        probabilities" (a matrix was given), or ``None`` (not with probability
        proportional to size, without replacement)."""
        return None if self._pps is None else self._pps.describe()

    def __repr__(self) -> str:
        first = self._stages[0]
        pps = "" if self._pps is None else f", pps={self._pps.describe()!r}"
        return (
            f"SurveyDesign({self.n} rows in domain of {len(self._data)}, "
            f"{first.n_strata} strata, {first.n_clusters} PSUs, {len(self._stages)} stage(s), "
            f"degf={self.degf}, lonely_psu={self._lonely_psu!r}{pps}"
            f"{self._labelling.describe()})"
        )

    # ------------------------------------------------------------------ variance --
    def score_vcov(
        self, scores: np.ndarray, domain: np.ndarray | None = None, n_domains: int = 1
    ) -> np.ndarray:
        """Design covariance of the column totals of linearised ``scores`` (n, k): the
        variance engine every Taylor-linearised estimate goes through (after the
        weighting steps' residuals, R's ``svyrecvar``).

        Parameters
        ----------
        scores : ndarray
            The (n, k) linearised scores, one row per row of the data.
        domain : ndarray, optional
            Domain code of each row (-1 outside every domain); the result then covers one
            block of k columns per domain, column ``d * k + j``.
        n_domains : int
            Number of domains.

        Returns
        -------
        ndarray
            The (n_domains * k, n_domains * k) covariance matrix.

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
        if self._joint is not None:
            # Horvitz-Thompson (pps="overton", "hartley-rao", joint probabilities)
            return self._joint.vcov(self._stages[0].cluster_totals(scores, domain, n_domains))
        return _variance.taylor_vcov(
            scores, self._stages, self._lonely_psu, self._multistage, domain, n_domains
        )

    @property
    def totals_path(self) -> bool:
        """Whether the variance needs only first-stage cluster totals of the scores
        (``score_groups``, ``totals_vcov``): no weighting step (which acts on row
        scores) and one stage, or no later-stage fpc."""
        return not self._calibration and (len(self._stages) == 1 or not self._multistage)

    def score_groups(self) -> tuple[np.ndarray, int]:
        """The groups whose score totals the variance needs (first-stage clusters); only
        meaningful when ``totals_path`` holds.

        Returns
        -------
        codes : ndarray
            The (n,) group code of each row.
        n_groups : int
            The number of groups.
        """
        first = self._stages[0]
        return first.cluster, first.n_clusters

    def totals_vcov(
        self, totals: np.ndarray, domain: np.ndarray | None = None, n_domains: int = 1
    ) -> np.ndarray:
        """Design covariance from first-stage cluster totals of the linearised scores (as
        ``score_vcov``; requires ``totals_path``).

        Parameters
        ----------
        totals : ndarray
            The (C, n_domains * k) score totals of the C first-stage clusters.
        domain : ndarray, optional
            Domain code of each row (-1 outside every domain).
        n_domains : int
            Number of domains.

        Returns
        -------
        ndarray
            The (n_domains * k, n_domains * k) covariance matrix.
        """
        if self._joint is not None:
            return self._joint.vcov(totals)
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
        method : {"jkn", "jk1", "bootstrap", "brr", "fay"}
            "jkn" (stratified jackknife; R refuses it for designs without strata, and so
            does this), "jk1" (unstratified jackknife), "bootstrap" (Rao–Wu rescaling
            bootstrap: n_h - 1 PSUs drawn with replacement in each stratum, with the
            first-stage fpc when known), "brr" and "fay" (balanced repeated replication for
            two PSUs per stratum).
        replicates : int, optional
            Number of bootstrap replicates (default 200).
        seed : int or Generator, optional
            Seed or Generator for the bootstrap.
        fay_rho : float
            Fay's perturbation factor.
        mse : bool
            Centre the variance at the full-sample estimate (True) rather than at the mean
            of the replicates (False, R's default).

        Returns
        -------
        ReplicateDesign
            The same rows and weights, with per-PSU replicate factors.

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
        if self._pps is not None:
            # R: as.svrepdesign stops for jk1, jkn and bootstrap ("More than one fpc value
            # given": the fpc varies within strata) and drops the probabilities for brr/fay
            raise DesignError(
                f"replicate weights cannot carry the unequal inclusion probabilities of this "
                f"design (pps={self._pps.describe()!r}): R's as.svrepdesign refuses jk1, jkn "
                "and the bootstrap for it and drops the probabilities for brr and fay. Use "
                "the design itself (Taylor linearisation), or build it without pps= (the "
                "with-replacement approximation) and replicate that"
            )
        factors, scale, rscales = factors_from_design(
            self._stages[0], method, has_strata=bool(self._strata_columns),
            lonely_psu=self._lonely_psu, calibrated=bool(self._calibration),
            replicates=replicates, seed=seed, fay_rho=fay_rho,
        )
        rep = ReplicateDesign._from_factors(
            self._data, self._w, factors, self.psu_codes, scale, rscales, mse, method, None
        )
        return rep._with(_in_domain=self._in_domain.copy(), _labelling=self._labelling)


class ReplicateDesign(_BaseDesign):
    """A design described by replicate weights (R's ``svrepdesign``).

    Parameters
    ----------
    data : DataFrame
        One row per respondent.
    weights : str
        Column of full-sample weights.
    replicate_weights : str or sequence of str
        List of replicate-weight columns, or a regular expression that selects them (e.g.
        ``"rw[0-9]+"``). They are the full replicate weights (R's
        ``combined.weights=TRUE``).
    scale : float, optional
        The variance is ``scale * sum(rscales * (theta_r - centre)^2)``. ``scale=None``
        takes R's default for ``method``: ``1/(R-1)`` for "bootstrap", ``(R-1)/R`` for
        "jk1", ``1/R`` for "brr", else 1.
    rscales : float or sequence of float
        The factor of each replicate in that sum (one number for all, or one each).
    mse : bool
        Centre at the full-sample estimate (True) or the replicates' mean (False).
    degf : int, optional
        Degrees of freedom; default the rank of the replicate weights minus one (R's
        ``degf``), recomputed on the rows of a subset.
    method : str
        "other", "bootstrap", "jk1", "jkn", "brr" or "fay" (R's ``type``); it only chooses
        the default ``scale``. (Named ``type`` before; ``type=`` still works, with a
        DeprecationWarning, until the next release.)
    questionnaire : Questionnaire, optional
        The questionnaire of the data (``pc.load_questionnaire``): the design is then
        *labelled*, its estimators leave the declared missing codes and the blanks of skip
        logic out, refuse to average nominal columns and label their tables; the
        questionnaire's derived variables (``derived:``) that the data lack are added
        as columns (``pc.mean(d, "trust_police_high")``), the caller's frame unchanged.
    lang : str, optional
        The language of those labels: one of the questionnaire's (default its first).
    missing_codes : {"exclude", "keep"}
        "keep" analyses the declared missing codes as categories (a table of the
        "don't know" share); also a per-call argument of the estimators.

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

    def __new__(cls, data=None, *args, **kwargs):
        # a Dask DataFrame: replicate-weight columns summed with Dask (survey/dask_design.py)
        if cls is ReplicateDesign and type(data).__module__.split(".")[0] == "dask":
            from .dask_design import from_columns
            return renamed_argument("type", "method")(from_columns)(data, *args, **kwargs)
        return super().__new__(cls)

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
        *,
        questionnaire: Any = None,
        lang: str | None = None,
        missing_codes: MissingCodes = "exclude",
    ) -> None:
        labels = _labelling.labelling(questionnaire, lang, missing_codes)
        if not isinstance(data, pd.DataFrame):
            raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        data = _labelling.with_derived(data, labels)
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
        self._labelling = labels

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
        """Number of replicates."""
        return self.rscales.shape[0]

    @property
    def type(self) -> str:
        """Old name of ``method`` (removed in the next release)."""
        warn_renamed_attribute("ReplicateDesign", "type", "method")
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
        """The replicate weights as an (n, R) array (zero outside a subset).

        Replicates built from a design form it from their per-PSU factors: the
        estimators avoid it (``totals_path``).

        Returns
        -------
        ndarray
            The (n, R) replicate weights.
        """
        if self._factors is not None:
            mat = self._w[:, None] * self._factors[self._factor_index]
        else:
            mat = self._repw
        return np.where(self._in_domain[:, None], mat, 0.0)

    def replicate_weight_columns(self) -> Iterator[np.ndarray]:
        """Each replicate's weights in turn, (n,) arrays zero outside a subset: what a
        model refitted per replicate needs, without holding all R columns at once.

        Yields
        ------
        ndarray
            The (n,) weights of one replicate, in the order of the replicates.

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
        """(P, R) factors of the full-sample weights per PSU (``psu_codes`` index the
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
        """Whether replicate totals come from per-PSU totals (``score_groups``):
        replicates built from a design, each a per-PSU factor, so replicate totals are
        factors' @ PSU totals."""
        return self._factors is not None

    @property
    def psu_codes(self) -> np.ndarray | None:
        """Integer code of each row's PSU for replicates built from a design
        (``SurveyDesign.replicate``); None for replicate weights given as columns."""
        return self._factor_index

    def score_groups(self) -> tuple[np.ndarray, int]:
        """The PSUs carrying the replicate factors (only when ``totals_path`` holds).

        Returns
        -------
        codes : ndarray
            The (n,) PSU code of each row.
        n_groups : int
            The number of PSUs.
        """
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
            f"mse={self.mse}{self._labelling.describe()})"
        )


Design = SurveyDesign | ReplicateDesign


# the constructors' signatures are those of __init__ (__new__ only routes a Dask
# DataFrame to survey/dask_design.py), for help() and the documentation
SurveyDesign.__new__.__signature__ = inspect.signature(SurveyDesign.__init__)  # type: ignore[attr-defined]
ReplicateDesign.__new__.__signature__ = inspect.signature(ReplicateDesign.__init__)  # type: ignore[attr-defined]
