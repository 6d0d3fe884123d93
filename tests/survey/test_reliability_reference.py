"""Replicate designs whose replicates leave a model term, a level or a domain without
weight, against R (tests/reference/make_reliability.R, survey 4.1).

These are the cases the contract battery and the property tests found wrong:

- ``glm`` on bootstrap replicates, one of which has no weight in a treated x wave cell
  of a group: R's ``glm.fit`` gives NA for that term and ``svrVar`` discards the
  replicate (with a warning); perception used to keep a near-singular fit (SEs of 1e15).
- ``proportion(method="logit")`` on replicates: each level's interval from its own
  replicates (R's ``svyciprop`` per level); a rare level whose share is 0 in a
  replicate used to drop that replicate from every level and domain.
- ``mean(by=)`` on jackknife replicates with a domain held by one village: the replicate
  dropping the village is NaN for that domain only (R's ``svyby``); it used to be
  discarded from every domain's variance.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import perception as pc

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
DATA = REFERENCE / "reliability_data.csv"
RTOL = 1e-10  # closed-form replicate variances
IRLS_RTOL = 1e-6  # svyglm and svyciprop(logit) iterate to R's convergence tolerance
R_TERMS = {  # R's coefficient names -> patsy's
    "(Intercept)": "Intercept",
    "grpsouth": "C(grp)[T.south]",
    "treated": "treated",
    "factor(wave)1": "C(wave)[T.1]",
    "grpsouth:treated": "C(grp)[T.south]:treated",
    "grpsouth:factor(wave)1": "C(grp)[T.south]:C(wave)[T.1]",
    "treated:factor(wave)1": "treated:C(wave)[T.1]",
    "grpsouth:treated:factor(wave)1": "C(grp)[T.south]:treated:C(wave)[T.1]",
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, float]]:
    table = pd.read_csv(REFERENCE / "reliability_reference.csv", dtype={"key": str})
    out: dict[str, dict[str, float]] = {}
    for case, key, value in table.itertuples(index=False):
        out.setdefault(case, {})[key] = float(value)
    return out


def _bootstrap(data: pd.DataFrame) -> pc.ReplicateDesign:
    columns = [c for c in data.columns if c.startswith("rw")]
    return pc.ReplicateDesign(data, weights="w", replicate_weights=columns,
                              scale=1 / (len(columns) - 1))


def test_glm_discards_replicates_without_weight_in_a_term(data, reference):
    ref = reference["glm_discarded"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = pc.glm(_bootstrap(data), "y ~ C(grp) * treated * C(wave)", na_rm=True)
    messages = [str(w.message) for w in caught if "replicate" in str(w.message)]
    assert ref["discarded"] == 1
    assert messages and messages[0].startswith("1 replicate(s) gave NA results")
    for r_term, term in R_TERMS.items():
        np.testing.assert_allclose(fit.coefficients.loc[term, "estimate"],
                                   ref[f"{r_term}:est"], rtol=IRLS_RTOL, err_msg=term)
        np.testing.assert_allclose(fit.coefficients.loc[term, "se"], ref[f"{r_term}:se"],
                                   rtol=IRLS_RTOL, err_msg=term)


def test_logit_interval_of_each_level_uses_its_own_replicates(data, reference):
    ref = reference["ciprop_logit_boot"]
    design = _bootstrap(data)
    compared = 0
    for group in ("north", "south"):
        inside = (data["grp"] == group).to_numpy()
        table = pc.proportion(design.subset(inside), "t1", method="logit")
        weights = design.replicate_weights.to_numpy()[inside]
        for level in (0, 1, 2, 3):
            row = table[table["category"] == level].iloc[0]
            key = f"{group}:{level}"
            # R: expit of the svyglm coefficient (IRLS)
            np.testing.assert_allclose(row["estimate"], ref[f"{key}:est"], rtol=IRLS_RTOL)
            hits = (data.loc[inside, "t1"] == level).to_numpy()
            shares = (weights * hits[:, None]).sum(axis=0) / weights.sum(axis=0)
            if ((shares > 0) & (shares < 1)).all():
                for bound, column in (("lo", "ci_low"), ("hi", "ci_high")):
                    np.testing.assert_allclose(row[column], ref[f"{key}:{bound}"],
                                               rtol=IRLS_RTOL, err_msg=f"{key} {bound}")
                compared += 1
            else:
                # a replicate share of 0: R keeps glm.fit's unconverged logit (an interval
                # of almost [0, 1]); perception drops that replicate for this level only
                assert row["ci_low"] < row["estimate"] < row["ci_high"]
    assert compared >= 6


def test_domain_without_weight_in_a_replicate_leaves_other_domains_alone(data, reference):
    ref = reference["svyby_jkn_tiny"]
    design = pc.SurveyDesign(data, weights="w", strata="s", psu="v").replicate("jkn")
    table = pc.mean(design, "x", by="tiny").set_index("tiny")
    for level in ("common", "rare"):
        np.testing.assert_allclose(table.loc[level, "estimate"], ref[f"{level}:est"],
                                   rtol=RTOL)
    np.testing.assert_allclose(table.loc["common", "se"], ref["common:se"], rtol=RTOL)
    assert table.loc["rare", "se"] == pytest.approx(ref["rare:se"], abs=1e-12)
    # the same SE as the domain's own estimate (a subset), as svyby computes it
    alone = pc.mean(design.subset((data["tiny"] == "common").to_numpy()), "x")
    np.testing.assert_allclose(alone["se"].iloc[0], table.loc["common", "se"], rtol=RTOL)
