"""What every design shares: its rows, weights, domain and ``subset``.

:class:`~perception.survey.design.SurveyDesign` and
:class:`~perception.survey.design.ReplicateDesign` build on it; it lives apart from them
so that :mod:`perception.survey.checks` can tell a design from anything else without
importing the designs (which use those checks).
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd

from ..errors import DesignError, format_rows
from .labelling import LabelledDesign


class _BaseDesign(LabelledDesign):
    """What every design shares: data, weights, domain membership, degrees of freedom."""

    _data: pd.DataFrame
    _w: np.ndarray
    _in_domain: np.ndarray

    is_replicate: bool = False


    def with_labels(self, questionnaire: Any, lang: str | None = None,
                    missing_codes: str = "exclude") -> Self:
        """The same design, labelled by ``questionnaire`` (or unlabelled with None).

        Examples
        --------
        >>> demo = pc.demo_survey(seed=1)
        >>> d = demo.design().with_labels(demo.questionnaire, lang="en")
        >>> d.lang, d.missing_codes
        ('en', 'exclude')
        """
        from .labelling import labelling, with_derived

        labels = labelling(questionnaire, lang, missing_codes)
        return self._with(_labelling=labels, _data=with_derived(self._data, labels))

    @property
    def data(self) -> pd.DataFrame:
        """The rows of the design (all of them, also those outside a subset)."""
        return self._data

    @property
    def weights(self) -> pd.Series:
        """Analysis weights aligned with ``data``; zero outside a subset."""
        return pd.Series(self._w, index=self._data.index, name="weight")

    @property
    def weight_array(self) -> np.ndarray:
        """Analysis weights as a float array aligned with ``data``, zero outside a subset
        (the array the estimators read: do not modify it)."""
        return self._w

    @property
    def is_calibrated(self) -> bool:
        """Whether weighting steps (post-stratification, raking, calibration) made the
        weights (R's ``is.calibrated``); replicate designs carry theirs in the replicate
        weights."""
        return bool(getattr(self, "_calibration", ()))

    @property
    def in_domain(self) -> np.ndarray:
        """Boolean mask of the rows inside the design's domain (``subset``)."""
        return self._in_domain

    @property
    def n(self) -> int:
        """Number of rows in the domain."""
        return int(self._in_domain.sum())

    def __len__(self) -> int:
        return self.n

    def _mask(self, mask) -> np.ndarray:
        if isinstance(mask, str):
            raise DesignError(
                "subset() takes a boolean mask such as data['sex'] == 2, not a string"
            )
        if isinstance(mask, pd.Series):
            if not mask.index.equals(self._data.index):
                mask = mask.reindex(self._data.index)
            if mask.isna().any():
                rows = self._data.index[mask.isna().to_numpy()]
                raise DesignError(
                    f"the subset mask is missing for rows {format_rows(rows)}; "
                    "give True or False for every row of the design's data"
                )
            values = mask.to_numpy()
        else:
            values = np.asarray(mask)
        if values.dtype != bool:
            raise DesignError(
                f"subset() needs a boolean mask, got dtype {values.dtype}; "
                "build it with a comparison such as data['wave'] == 1"
            )
        if values.shape != (len(self._data),):
            raise DesignError(
                f"the subset mask has {values.shape[0]} values but the design has "
                f"{len(self._data)} rows"
            )
        return values

    def _with(self, **changes: Any) -> Self:
        """A copy with some attributes replaced (designs are immutable)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def with_data(self, data: pd.DataFrame) -> Self:
        """The same design over ``data``: the same rows in the same order (the same index),
        with columns added or replaced. The design's own frame is not modified.

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> gain = d.with_data(d.data.assign(gain=d.data["api00"] - d.data["api99"]))
        >>> pc.mean(gain, "gain")[["variable", "estimate"]].round(2)
          variable  estimate
        0     gain     32.89
        """
        if not isinstance(data, pd.DataFrame) or not data.index.equals(self._data.index):
            raise DesignError(
                "with_data() needs a DataFrame with the design's rows in the same order (the "
                "same index): add or replace columns with design.data.assign(...)"
            )
        return self._with(_data=data)

    def subset(self, mask) -> _BaseDesign:
        """Restrict to a domain while keeping the full design (R's ``subset``).

        Rows outside the mask get weight zero, so every PSU and stratum still enters
        the variance and the estimates equal R's ``svyby``/``subset`` results.

        Examples
        --------
        >>> api = pc.datasets.load("apistrat")
        >>> d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
        >>> elementary = d.subset(d.data["stype"] == "E")
        >>> elementary
        SurveyDesign(100 rows in domain of 200, 3 strata, 200 PSUs, 1 stage(s), degf=99, lonely_psu='fail')
        >>> pc.mean(elementary, "api00")[["variable", "estimate", "se"]].round(2)
          variable  estimate     se
        0    api00    674.43  12.38
        """
        keep = self._mask(mask) & self._in_domain
        if np.array_equal(keep, self._in_domain) and not self._w[~keep].any():
            return self  # nothing left out: the (immutable) design itself, its caches kept
        return self._with(_in_domain=keep, _w=np.where(keep, self._w, 0.0))
