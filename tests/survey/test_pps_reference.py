"""Designs sampled with probability proportional to size against R's ``survey`` (4.1.1).

Reference: ``tests/reference/pps_reference.csv`` from ``make_pps.R``: Brewer's,
Overton's and Hartley--Rao's approximations and matrices of joint inclusion
probabilities (R's ``svydesign(pps=)``), on R's ``election_pps``, a stratified two-stage
sample of villages and households, and one row per sampled village; every estimator,
domains, weighting steps, changes and the DiD. Every value equals R's to 1e-8
(relative; both numerically zero below 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest
from _pps_cases import PPS_FILE, computed, reference

RTOL = 1e-8
ATOL = 1e-12
ZERO_SE = 1e-14  # an SE below this fraction of its estimate is zero
SKIP = {("el_hr_psum", "psum")}  # an input of the design, not a result


def _cases():
    if not PPS_FILE.exists():
        return []
    return [pytest.param(case, values, id=case) for case, values in reference().items()
            if case != "margins"]


def test_reference_file_is_present():
    assert PPS_FILE.exists(), f"{PPS_FILE} is missing: run tests/reference/make_pps.R"


@pytest.mark.parametrize(("case", "expected"), _cases())
def test_pps_equals_r(case, expected):
    ours = computed(case)
    problems = []
    for key, theirs in expected.items():
        if (case, key) in SKIP:
            continue
        if key not in ours:
            problems.append(f"{key}: not computed (R: {theirs!r})")
            continue
        got = float(ours[key])
        if np.isnan(theirs) or np.isnan(got):
            if not (np.isnan(theirs) and np.isnan(got)):
                problems.append(f"{key}: ours {got!r}, R {theirs!r}")
            continue
        if abs(got) < ATOL and abs(theirs) < ATOL:
            continue
        if key.endswith(":se") and max(abs(got), abs(theirs)) < ZERO_SE * abs(
                expected.get(key[:-3] + ":est", 0.0)):
            continue  # both zero to rounding (the SE of a calibration variable)
        if not abs(got - theirs) <= RTOL * abs(theirs):
            problems.append(f"{key}: ours {got!r}, R {theirs!r} "
                            f"(relative difference {abs(got - theirs) / abs(theirs):.2e})")
    assert not problems, f"{case}:\n" + "\n".join(problems)
