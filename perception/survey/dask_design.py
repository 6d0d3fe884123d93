"""The design of a Dask DataFrame: its columns and options, checked without reading
the data (``pc.SurveyDesign(dask_frame, ...)`` returns it; its estimators are in
:mod:`perception.survey.distributed`).

dask is an optional import: this module never imports it (a Dask DataFrame is
recognised by its type's module), so ``import perception`` does not load dask.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd

from ..errors import DesignError, format_rows
from .checks import check_columns, column_names
from .labelling import UNLABELLED, LabelledDesign, Labelling, labelling, with_derived
from .variance import LONELY_PSU_OPTIONS

#: the boolean column of the rows inside a subset's domain (:meth:`_Domain.subset`):
#: the estimators read it as the rows a labelled design keeps (``dask_reduce._inside``)
SUBSET = "__pc_subset"
#: the weights of a subset of a design without a weights column: 1 inside, 0 outside
SUBSET_WEIGHTS = "__pc_subset_w"
_SHOWN_ROWS = 10


def is_dask_frame(data: Any) -> bool:
    """Whether ``data`` is a Dask DataFrame (checked without importing dask).

    Examples
    --------
    >>> is_dask_frame(pd.DataFrame({"a": [1]}))
    False
    """
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "to_delayed")


class _Domain(LabelledDesign):
    """The domain of a design on a Dask DataFrame: every row, or those of a subset
    (the column :data:`SUBSET` of its frame), and ``subset`` itself."""

    _data: Any
    _source: Any

    @property
    def subset_column(self) -> str | None:
        """The column of the rows inside the design's subset (None: every row)."""
        return SUBSET if SUBSET in self._data.columns else None

    @property
    def kept_column(self) -> str | None:
        """The boolean column of the rows an estimate keeps in the design's domain: the
        subset's, or the column a labelled design's analysis sets on the copy it reads
        (:mod:`perception.survey.dask_labelling`, which folds the subset into it)."""
        return self.__dict__.get("_kept_column", self.subset_column)

    @kept_column.setter
    def kept_column(self, name: str | None) -> None:
        self.__dict__["_kept_column"] = name

    @kept_column.deleter
    def kept_column(self) -> None:
        self.__dict__.pop("_kept_column", None)  # back to the subset's rows

    def subset(self, mask: Any) -> Self:
        """Restrict to a domain while keeping the full design (R's ``subset``), as
        ``SurveyDesign.subset`` does in memory.

        Rows outside the mask get weight zero and leave the domain: every PSU and
        stratum still enters the variance, the degrees of freedom are those of the PSUs
        with rows of non-zero weight in the subset, and every estimator, analysis,
        model and weighting step gives the table of the in-memory subset. Nothing is
        read but the mask's own columns, and only when it may hold missing values (a
        nullable boolean column).

        Parameters
        ----------
        mask : dask Series of bool
            A boolean Dask Series computed from the design's data (the same partitions),
            such as ``d.data["region"] == "Mopti"`` (a boolean column: ``d.data[name]``).
            A subset of a subset keeps the rows inside both.

        Returns
        -------
        The same kind of design, restricted to the domain.

        Raises
        ------
        DesignError
            For a mask that is not a boolean Series of the design's data (a numpy array,
            a pandas Series, a Series of another Dask DataFrame or of other partitions),
            or that has missing values (their rows named).

        Examples
        --------
        >>> mopti = d.subset(d.data["region"] == "Mopti")              # doctest: +SKIP
        >>> pc.mean(mopti, "trust_police", by="wave")                  # doctest: +SKIP
        """
        return _with_subset(self, subset_mask(self, mask))


class DaskSurveyDesign(_Domain):
    """A survey design on a Dask DataFrame (built by ``pc.SurveyDesign(dask_frame, ...)``).

    Parameters
    ----------
    data : dask.dataframe.DataFrame
        One row per respondent, in partitions (read with ``dd.read_parquet``, say).
    weights : str, optional
        Column of sampling weights; ``None`` gives every row a weight of 1.
    strata : str or sequence of str, optional
        Column (or one column per stage) of the strata.
    psu : str or sequence of str, optional
        Column of the primary sampling units, or one column per stage. ``None``: each
        row is its own PSU.
    fpc : str or sequence of str, optional
        Column (or one per stage) of population sizes or sampling fractions.
    nest : bool
        PSU ids repeat across strata and must be read within their stratum.
    lonely_psu : {"fail", "remove", "certainty", "adjust", "average"}
        What a stratum with a single PSU does, as in :class:`SurveyDesign`.
    pps, psum, pps_tolerance
        PPS designs are not available on a Dask DataFrame (an error).
    questionnaire : Questionnaire, optional
        The questionnaire of the data: the design is then *labelled*, as in memory
        (declared missing codes and skip-logic blanks left out of every estimate and
        counted in ``n_excluded``/``excluded``, label columns, derived variables added
        partition by partition; :mod:`perception.survey.dask_labelling`).
    lang : str, optional
        The language of the labels (default: the questionnaire's first).
    missing_codes : {"exclude", "keep"}
        What estimators do with declared missing codes.

    Examples
    --------
    >>> import dask.dataframe as dd                                    # doctest: +SKIP
    >>> d = pc.SurveyDesign(dd.read_parquet("waves/"), weights="w", strata="stratum",
    ...                     psu="village")                             # doctest: +SKIP
    >>> pc.mean(d, ["q1", "q2"], by="region")                          # doctest: +SKIP

    Notes
    -----
    The design's columns are checked for missing values, negative weights and the
    structure of strata and PSUs on the first estimate (the data are read only then).
    Weights are ``weights`` alone: weights derived from ``fpc`` and PPS designs need
    the data in memory.
    """

    is_replicate = False
    is_dask = True

    def __init__(
        self,
        data: Any,
        weights: str | None = None,
        strata: str | Sequence[str] | None = None,
        psu: str | Sequence[str] | None = None,
        fpc: str | Sequence[str] | None = None,
        nest: bool = False,
        lonely_psu: str = "fail",
        pps: Any = None,
        psum: Any = None,
        pps_tolerance: float = 1e-4,
        *,
        questionnaire: Any = None,
        lang: str | None = None,
        missing_codes: str = "exclude",
    ) -> None:
        labels = labelling(questionnaire, lang, missing_codes)
        if pps is not None or psum is not None:
            raise DesignError(
                "pps= is not available on a Dask DataFrame: compute the design's data in "
                "memory (ddf.compute()) for a PPS design"
            )
        if weights is not None and not isinstance(weights, str):
            raise DesignError(f"weights must be one column name, got {weights!r}")
        self._strata = column_names(strata, "strata", DesignError)
        self._psu = column_names(psu, "psu", DesignError)
        self._fpc = column_names(fpc, "fpc", DesignError)
        self._weights = weights
        columns = list(data.columns)
        for names, argument in ((self._psu, "psu"), (self._strata, "strata"),
                                (self._fpc, "fpc"), ([weights] if weights else [], "weights")):
            check_columns(columns, names, argument, DesignError, where="the Dask DataFrame")
        n_stages = max(len(self._psu), 1)
        if len(self._strata) > n_stages or len(self._fpc) > n_stages:
            raise DesignError(
                f"{len(self._strata)} strata and {len(self._fpc)} fpc column(s) for "
                f"{n_stages} stage(s): give at most one of each per stage of psu"
            )
        if weights is None and self._fpc:
            raise DesignError(
                "weights=None with fpc: on a Dask DataFrame give the weights column (weights "
                "derived from the fpc need the sample sizes of every stage in memory)"
            )
        if lonely_psu not in LONELY_PSU_OPTIONS:
            raise DesignError(
                f"lonely_psu={lonely_psu!r} is not an option; choose one of "
                f"{', '.join(LONELY_PSU_OPTIONS)}"
            )
        self._source = data  # without the derived variables (dask_labelling reads it)
        self._data = with_derived(data, labels)
        self._labelling = labels
        self._nest = bool(nest)
        self._lonely_psu = lonely_psu

    @property
    def data(self) -> Any:
        """The Dask DataFrame of the design."""
        return self._data

    @property
    def lonely_psu(self) -> str:
        """What a stratum with a single PSU does."""
        return self._lonely_psu

    @property
    def design_columns(self) -> list[str]:
        """The strata, PSU and fpc columns, once each."""
        return list(dict.fromkeys([*self._strata, *self._psu, *self._fpc]))

    def __repr__(self) -> str:
        return (f"DaskSurveyDesign({self._data.npartitions} partitions, weights="
                f"{self._weights!r}, strata={self._strata}, psu={self._psu}, fpc={self._fpc}, "
                f"lonely_psu={self._lonely_psu!r}{_described(self)}"
                f"{self._labelling.describe()})")

    def replicate(
        self,
        method: str = "jkn",
        replicates: int | None = None,
        seed: Any = None,
        fay_rho: float = 0.3,
        mse: bool = False,
    ) -> DaskReplicateDesign:
        """Replicate-weight version of this design (R's ``as.svrepdesign``): per-PSU
        factors times per-PSU totals, as ``SurveyDesign.replicate``.

        Parameters
        ----------
        method : {"jkn", "jk1", "bootstrap", "brr", "fay"}
            As ``SurveyDesign.replicate``.
        replicates : int, optional
            Number of bootstrap replicates (default 200).
        seed : int or Generator, optional
            Seed of the bootstrap; PSUs are met in the order of the data, so the same
            seed draws the same replicates as in memory.
        fay_rho : float
            Fay's perturbation factor.
        mse : bool
            Centre the variance at the full-sample estimate.

        Returns
        -------
        DaskReplicateDesign
            The design whose estimates use the replicates.

        Examples
        --------
        >>> d.replicate("jkn")                                           # doctest: +SKIP
        """
        if not self._psu:
            raise DesignError(
                "replicates of a design without clusters need one factor per row: on a Dask "
                "DataFrame give the PSU column (psu=), or replicate weights as columns "
                "(pc.ReplicateDesign(dask_frame, ...))"
            )
        options = {"method": method, "replicates": replicates, "seed": seed,
                   "fay_rho": fay_rho, "mse": mse}
        return DaskReplicateDesign(self, options)


class DaskReplicateDesign(_Domain):
    """A replicate design on a Dask DataFrame: built from a design
    (:meth:`DaskSurveyDesign.replicate`) or from replicate-weight columns
    (``pc.ReplicateDesign(dask_frame, ...)``, see :func:`from_columns`).

    Parameters
    ----------
    base : DaskSurveyDesign or None
        The design whose PSUs carry the replicate factors (None: replicate-weight
        columns).
    options : dict
        The arguments of ``SurveyDesign.replicate``, or of ``ReplicateDesign`` (without
        ``data``) for replicate-weight columns.
    data : dask.dataframe.DataFrame, optional
        The data, with replicate-weight columns.

    Examples
    --------
    >>> pc.SurveyDesign(ddf, weights="w", strata="s", psu="v").replicate("jkn")  # doctest: +SKIP
    """

    is_replicate = True
    is_dask = True

    def __init__(self, base: DaskSurveyDesign | None, options: dict, data: Any = None,
                 labels: Labelling = UNLABELLED) -> None:
        self.base = base
        self.options = dict(options)
        self._labelling = base.labelling if base is not None else labels
        self._source = base._source if base is not None else data
        self._data = base.data if base is not None else with_derived(data, labels)

    @property
    def data(self) -> Any:
        """The Dask DataFrame of the design."""
        return self._data

    def __repr__(self) -> str:
        source = "factors of the design's PSUs" if self.base is not None else "columns"
        return (f"DaskReplicateDesign({self._data.npartitions} partitions, replicates from "
                f"{source}, method={self.options.get('method')!r}{_described(self)}"
                f"{self._labelling.describe()})")


def from_columns(data: Any, weights: str, replicate_weights: str | Sequence[str],
                 scale: float | None = None, rscales: Any = 1.0, mse: bool = False,
                 degf: int | None = None, method: str = "other", *,
                 questionnaire: Any = None, lang: str | None = None,
                 missing_codes: str = "exclude") -> DaskReplicateDesign:
    """``pc.ReplicateDesign(dask_frame, ...)``: replicate weights given as columns.

    Parameters
    ----------
    data : dask.dataframe.DataFrame
        The respondents.
    weights : str
        Column of full-sample weights.
    replicate_weights : str or sequence of str
        Replicate-weight columns, or a regular expression that selects them.
    scale, rscales, mse, degf, method
        As :class:`perception.ReplicateDesign`.
    questionnaire, lang, missing_codes
        A labelled design, as :class:`DaskSurveyDesign`.

    Returns
    -------
    DaskReplicateDesign
        The design.

    Examples
    --------
    >>> pc.ReplicateDesign(ddf, weights="w", replicate_weights="rw[0-9]+")  # doctest: +SKIP
    """
    import re

    labels = labelling(questionnaire, lang, missing_codes)
    columns = list(data.columns)
    check_columns(columns, [weights], "weights", DesignError, where="the Dask DataFrame")
    if isinstance(replicate_weights, str):
        if replicate_weights in columns:
            cols = [replicate_weights]
        else:
            pattern = re.compile(replicate_weights)
            cols = [c for c in columns if pattern.fullmatch(str(c))]
            if not cols:
                raise DesignError(
                    f"replicate_weights={replicate_weights!r} matches no column; give a list "
                    "of columns or a regular expression such as 'rw[0-9]+'"
                )
    else:
        cols = list(replicate_weights)
    check_columns(columns, cols, "replicate_weights", DesignError, where="the Dask DataFrame")
    if len(cols) < 2:
        raise DesignError("a replicate design needs at least two replicate-weight columns")
    options = {"weights": weights, "replicate_weights": cols, "scale": scale,
               "rscales": rscales, "mse": mse, "degf": degf, "method": method}
    return DaskReplicateDesign(None, options, data, labels)


def with_frame(design: Any, frame: Any, labelling: Labelling | None = None) -> Any:
    """A copy of ``design`` (and of the design its replicates are built from) over the
    Dask DataFrame ``frame`` (the design's columns and more, partition by partition),
    with ``labelling`` if given; ``design`` itself unchanged.

    Examples
    --------
    >>> with_frame(dask_design, dask_design.data.assign(z=1)).data.columns  # doctest: +SKIP
    """
    out = copy.copy(design)
    out._data = frame
    if labelling is not None:
        out._labelling = labelling
    base = getattr(design, "base", None)
    if isinstance(design, DaskReplicateDesign) and base is not None:
        out.base = with_frame(base, frame, labelling)
    return out


def refuse_rows(design: Any, what: str) -> None:
    """Raise for ``what`` of a model fitted on a design on a Dask DataFrame when it
    needs the fit's rows (the fit keeps only coefficients, covariance and sums).

    Examples
    --------
    >>> refuse_rows(None, "predict()")
    """
    from ..errors import EstimationError

    if getattr(design, "is_dask", False):
        raise EstimationError(
            f"{what} needs the rows of the fit, which a model fitted on a design on a Dask "
            "DataFrame does not keep (its coefficients, covariance and degrees of freedom "
            "are those of the in-memory fit): use wald_test(method='Wald'), contrast() or "
            "predict(newdata=...), or fit the model on the data in memory (ddf.compute())"
        )


# ------------------------------------------------------------------- subsets --
def _described(design: Any) -> str:
    return ", subset" if design.subset_column else ""


def _is_dask_series(value: Any) -> bool:
    return is_dask_frame(value) and getattr(value, "ndim", 0) == 1


def _co_aligned(frame: Any, series: Any) -> bool:
    """Whether ``series`` has the partitions of ``frame`` (is computed from it, or from
    the data it is read from, partition by partition), so that it can be one of its
    columns without a shuffle or a silent misalignment."""
    if series.npartitions != frame.npartitions:
        return False
    if frame.known_divisions and series.known_divisions and (
            tuple(frame.divisions) != tuple(series.divisions)):
        return False
    try:  # dask's own test (dask >= 2025: every collection is an expression)
        from dask.dataframe.dask_expr._expr import are_co_aligned
    except ImportError:  # pragma: no cover - older dask: the partitions' count and bounds
        return True
    return bool(are_co_aligned(frame.expr, series.expr))


def _missing_partition(part: pd.Series) -> tuple[int, list[int], int]:
    missing = part.isna().to_numpy()
    return int(missing.sum()), np.flatnonzero(missing)[:_SHOWN_ROWS].tolist(), len(part)


def _check_no_missing(series: Any, what: str) -> None:
    """Raise for the missing values of a nullable boolean mask (one pass over its
    partitions; rows numbered in the whole Dask DataFrame)."""
    import dask

    parts = dask.compute(*[dask.delayed(_missing_partition)(part)
                           for part in series.to_delayed()])
    count, rows, offset = 0, [], 0
    for n, first, length in parts:
        count += n
        rows += [offset + r for r in first]
        offset += length
    if count:
        raise DesignError(
            f"{what} is missing for {count} row(s): rows {format_rows(rows[:_SHOWN_ROWS])}"
            " (row numbers in the whole Dask DataFrame); give True or False for every row "
            "of the design's data (mask.fillna(False) leaves them out of the domain)"
        )


def subset_mask(design: Any, mask: Any) -> Any:
    """The boolean Dask Series (numpy ``bool``, no missing value, the partitions of the
    design's data) that ``design.subset(mask)`` keeps; a clear error for any other mask.

    Parameters
    ----------
    design : DaskSurveyDesign or DaskReplicateDesign
        The design.
    mask : dask Series
        A boolean Series of the design's data.

    Returns
    -------
    dask Series
        The mask.

    Examples
    --------
    >>> subset_mask(d, d.data["adult"]).dtype                          # doctest: +SKIP
    dtype('bool')
    """
    frame = design.data
    how = "such as d.subset(d.data['region'] == 'Mopti')"
    if isinstance(mask, str):  # as in memory
        raise DesignError(
            f"subset() takes a boolean mask such as d.data[{mask!r}] == 2, not a string "
            "(for a boolean column, give d.data[name])"
        )
    if _is_dask_series(mask):
        if not _co_aligned(frame, mask):
            raise DesignError(
                "the subset mask does not have the partitions of the design's data (it "
                "comes from another Dask DataFrame, or was repartitioned): build it from "
                f"the design's data, {how}"
            )
        series, what = mask, "the subset mask"
    else:
        kind = type(mask).__module__.split(".")[0] + "." + type(mask).__name__
        raise DesignError(
            "subset() of a design on a Dask DataFrame takes a boolean Dask Series of the "
            f"design's data, {how}; got a {kind}, which has no partitions (a mask "
            "computed in memory cannot be matched to the rows of the partitions)"
        )
    dtype = series.dtype
    if not pd.api.types.is_bool_dtype(dtype):
        raise DesignError(
            f"subset() needs a boolean mask, got dtype {dtype} ({what}); build it with a "
            "comparison such as d.data['wave'] == 1"
        )
    if dtype != np.dtype(bool):  # a nullable boolean: its missing values are refused
        _check_no_missing(series, what)
        series = series.astype(bool)
    return series


def _zeroed(weights: Any, inside: Any) -> Any:
    """The weights column with 0 outside ``inside``; invalid weights (missing, negative,
    infinite) left as they are, so the estimates still name their rows."""
    if not pd.api.types.is_numeric_dtype(weights.dtype):
        return weights  # refused as "not numeric" by the first estimate
    valid = (weights >= 0) & (weights < np.inf)
    return weights.where(inside | ~valid, 0.0)


def _weight_columns(design: Any) -> list[str]:
    """The weight columns a subset sets to zero outside its rows, as ``subset`` does in
    memory: a design's weights, or the full-sample and replicate-weight columns. A
    weighted design keeps its adjusted weights (its adjustment's residuals read them on
    every row, as in memory): its subset leaves the domain only."""
    if isinstance(design, DaskReplicateDesign):
        return [design.options["weights"], *design.options["replicate_weights"]]
    if type(design) is not DaskSurveyDesign:
        return []
    return [design._weights or SUBSET_WEIGHTS]


def _with_subset(design: Any, mask: Any) -> Any:
    """A copy of ``design`` whose frames (``_source`` and ``_data``) hold the rows
    inside both its subset and ``mask`` in the column :data:`SUBSET`, and whose weights
    are zero outside them; ``design`` itself unchanged."""
    if isinstance(design, DaskReplicateDesign) and design.base is not None:
        base = _with_subset(design.base, mask)  # the replicates are factors of its PSUs
        out = copy.copy(design)
        out.base, out._source, out._data = base, base._source, base._data
        out.__dict__.pop("_kept_column", None)
        return out
    out = copy.copy(design)
    out.__dict__.pop("_kept_column", None)
    names = _weight_columns(design)
    for attribute in ("_source", "_data"):
        frame = getattr(design, attribute)
        inside = frame[SUBSET] & mask if SUBSET in frame.columns else mask
        columns = {SUBSET: inside}
        for name in names:
            columns[name] = (inside.astype(float) if name == SUBSET_WEIGHTS
                             else _zeroed(frame[name], inside))
        setattr(out, attribute, frame.assign(**columns))
    if SUBSET_WEIGHTS in names:
        out._weights = SUBSET_WEIGHTS
    if isinstance(design, DaskReplicateDesign):
        # R's degf of the subset: the rank of its rows' replicate weights (recomputed in
        # memory whenever the domain is not every row)
        out.options = {**design.options, "degf": None}
    return out
