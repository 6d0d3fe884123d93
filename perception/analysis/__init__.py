"""Analyses built on survey estimates: small-area estimation.

Public API (also at the top level, ``pc.<name>``): :func:`fay_herriot` and its result
:class:`FayHerriotResult` (module :mod:`perception.analysis.small_area`).

Other subpackages may use: nothing else.
"""

from __future__ import annotations

from .small_area import FayHerriotResult, fay_herriot

__all__ = ["fay_herriot", "FayHerriotResult"]
