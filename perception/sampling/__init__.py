"""Sampling: allocating the next wave's villages across strata and drawing them.

- :func:`allocate` and its result :class:`Allocation`: proportional, Neyman, optimal
  (cost per stratum) and detectable-effect allocation, whole numbers by largest
  remainders, minimum per stratum, take-all strata;
- :func:`select_pps`: systematic PPS or Sampford's method within strata, certainty
  units, reserve list, seeded;
- :func:`joint_inclusion`: the joint inclusion probabilities of a drawn sample (R's
  ``ppsmat``);
- :func:`sampford_joint`: Sampford's exact joint inclusion probabilities from a vector
  of first-order ones;
- :func:`demo_village_frame`: the village frame of the built-in Central Mali example.

Modules: ``allocation`` (methods), ``rounding`` (bounded continuous allocation and
largest remainders), ``selection`` (the frame-level draw and the reserve list), ``pps``
(certainty rule, systematic draw), ``sampford`` (exact draw and joint probabilities),
``checks`` (frame, strata and per-stratum values), ``demo_frame``.

``EXPORTS`` is the public API (re-exported by :mod:`perception`); ``SHARED`` lists the
names the other subpackages of perception use (not meant for users). Both map a name
to the module of this subpackage that defines it.
"""

from __future__ import annotations

from ..exports import lazy_exports

#: the public API: name -> module
EXPORTS: dict[str, str] = {
    "allocate": "allocation",
    "Allocation": "allocation",
    "select_pps": "selection",
    "joint_inclusion": "selection",
    "sampford_joint": "sampford",
    "demo_village_frame": "demo_frame",
}
#: names the other subpackages use: name -> module
SHARED: dict[str, str] = {
    "ALLOCATION_METHODS": "allocation",
}

__all__ = sorted(EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, {**EXPORTS, **SHARED})
