"""Analyses built on the survey estimators: changes between waves, difference-in-
differences, attrition, power and sample size, scales and indices, small-area
estimation (Fay–Herriot).

``EXPORTS`` is the public API (re-exported by :mod:`perception`); ``SHARED`` lists the
names the other subpackages of perception use (not meant for users). Both map a name
to the module of this subpackage that defines it.
"""

from __future__ import annotations

from ..exports import lazy_exports

#: the public API: name -> module
EXPORTS: dict[str, str] = {
    "change": "changes",
    "did": "diff_in_diff",
    "DiDResult": "diff_in_diff",
    "attrition": "panel",
    "icc": "power",
    "mde": "power",
    "sample_size": "power",
    "likert": "scales",
    "top_box": "scales",
    "top_box_scores": "scales",
    "index": "scales",
    "index_scores": "scales",
    "cronbach_alpha": "scales",
    "item_nonresponse": "scales",
    "fay_herriot": "small_area",
    "FayHerriotResult": "small_area",
}
#: names the other subpackages use: name -> module
SHARED: dict[str, str] = {
}

__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {**EXPORTS, **SHARED})
