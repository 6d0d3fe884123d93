"""Sampling: allocating the next wave's villages across strata and drawing them.

Public API (also at the top level, ``pc.<name>``):

- :func:`~perception.sampling.allocation.allocate` and its result
  :class:`~perception.sampling.allocation.Allocation`: proportional, Neyman, optimal
  (cost per stratum) and detectable-effect allocation, whole numbers by largest
  remainders, minimum per stratum, take-all strata;
- :func:`~perception.sampling.selection.select_pps`: systematic PPS or Sampford's
  method within strata, certainty units, reserve list, seeded;
- :func:`~perception.sampling.selection.joint_inclusion`: the joint inclusion
  probabilities of a drawn sample (R's ``ppsmat``);
- :func:`~perception.sampling.sampford.sampford_joint`: Sampford's exact joint
  inclusion probabilities from a vector of first-order ones;
- :func:`~perception.sampling.demo_frame.demo_village_frame`: the village frame of the
  built-in Central Mali example.

For other subpackages (the command line): ``Selection`` (the record in a sample's
``attrs["selection"]``), ``SELECTION_COLUMNS`` and ``ALLOCATION_METHODS``.

Modules: ``allocation`` (methods), ``rounding`` (bounded continuous allocation and
largest remainders), ``selection`` (the frame-level draw and the reserve list), ``pps``
(certainty rule, systematic draw), ``sampford`` (exact draw and joint probabilities),
``checks`` (frame, strata and per-stratum values), ``demo_frame``.

Imports: ``errors``, the power functions (``icc``, ``mde``, ``sample_size``) and the
design class (``SurveyDesign``, to measure the last wave); nothing else of the package.
"""

from .allocation import ALLOCATION_METHODS, Allocation, allocate
from .demo_frame import demo_village_frame
from .sampford import sampford_joint
from .selection import SELECTION_COLUMNS, Selection, joint_inclusion, select_pps

__all__ = [
    "allocate",
    "Allocation",
    "select_pps",
    "joint_inclusion",
    "sampford_joint",
    "demo_village_frame",
    # for other subpackages
    "Selection",
    "SELECTION_COLUMNS",
    "ALLOCATION_METHODS",
]
