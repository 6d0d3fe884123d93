"""The estimation core against the R reference ``tests/reference/r_survey_api.csv``.

Every core row of that file (R survey 4.1, 15 significant digits; provenance in
``tests/reference/README.md``) for the stratified (``strat``) and one-stage cluster
(``clus1``) api designs: degrees of freedom, means with
SEs and deffs, the mean of enroll with ``na.rm``, totals, the ratio api00/api99, domain
means and totals by school type, the school-type proportions and the logit, beta and
mean intervals of ``sch.wide == "Yes"``. The ``glm_gaussian`` rows belong to the models
tests; ``meta`` rows are not estimates.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _core_cases import Failed, estimates, read_reference, relative_difference

REFERENCE_FILE = Path(__file__).resolve().parents[1] / "reference" / "r_survey_api.csv"
ESTIMATE_RTOL = 1e-8  # estimates and degrees of freedom
SE_RTOL = 1e-6  # standard errors, deffs and interval bounds
ZERO_ATOL = 1e-12  # SEs that are zero by design (school type is the stratum): R prints 0
CORE_CASES = ("degf", "mean", "mean_enroll_narm", "total", "ratio", "by_stype_mean",
              "by_stype_total", "prop_stype", "ciprop_logit", "ciprop_beta", "ciprop_mean")
NOT_CORE = ("glm_gaussian",)

REFERENCE = read_reference(REFERENCE_FILE)


def _core_rows() -> list:
    params = []
    for case, values in REFERENCE.items():
        design, _, what = case.partition("/")
        if design == "meta" or what in NOT_CORE:
            continue
        for key, value in values.items():
            params.append(pytest.param(case, key, value, id=f"{case}:{key}"))
    return params


def test_every_core_row_is_checked():
    kinds = {case.partition("/")[2] or "degf" for case in REFERENCE
             if case != "meta" and case.partition("/")[2] not in NOT_CORE}
    assert kinds == set(CORE_CASES), kinds ^ set(CORE_CASES)
    assert len(_core_rows()) == 82


@pytest.mark.parametrize(("case", "key", "expected"), _core_rows())
def test_r_survey_api_reference(case, key, expected):
    computed = estimates(case.split("/")[0])[case]
    if isinstance(computed, Failed):
        raise computed.error
    got = float(computed[key])
    is_estimate = key in ("degf", "est") or key.endswith(":est")
    tolerance = ESTIMATE_RTOL if is_estimate else SE_RTOL
    both_zero = abs(got) < ZERO_ATOL and abs(expected) < ZERO_ATOL
    assert both_zero or relative_difference(got, expected) < tolerance, (
        f"{case} {key}: ours {got!r}, R {expected!r}"
    )
