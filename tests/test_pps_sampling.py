"""From the draw to the estimates: a Sampford sample of ``pc.select_pps`` and its joint
probabilities (``pc.joint_inclusion``) give the Horvitz--Thompson variance written out
by hand, and the villages' respondents the same design (sampling/ and survey/)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import perception as pc


@pytest.fixture(scope="module")
def sample(demo) -> pd.DataFrame:
    frame = pc.demo_village_frame(demo)
    return pc.select_pps(frame, "adults", n=3, strata="cercle", method="sampford", seed=1)


def test_joint_probabilities_give_the_horvitz_thompson_variance(sample):
    pij = pc.joint_inclusion(sample)
    d = pc.SurveyDesign(sample, strata="cercle", fpc="pi", pps=pij, pps_tolerance=0.0)
    total = pc.total(d, "households")
    y = sample["households"].to_numpy(dtype=float) / sample["pi"].to_numpy()
    p = pij.to_numpy()
    pi = np.diag(p)
    by_hand = float(y @ ((p - np.outer(pi, pi)) / p) @ y)
    assert total["estimate"].iloc[0] == pytest.approx(y.sum(), rel=1e-12)
    assert total["se"].iloc[0] ** 2 == pytest.approx(by_hand, rel=1e-10)
    # Brewer's approximation needs only pi, and is close to it here
    brewer = pc.total(pc.SurveyDesign(sample, strata="cercle", fpc="pi", pps="brewer"),
                      "households")
    assert brewer["se"].iloc[0] == pytest.approx(total["se"].iloc[0], rel=0.2)


def test_respondents_in_the_drawn_villages(sample):
    """Respondents carry their village's code; the joint probabilities are relabelled
    from the sample's rows to the village codes."""
    rows = sample.loc[sample.index.repeat(4)].reset_index(drop=True)
    rows["answer"] = np.tile([1.0, 0.0, 1.0, 1.0], len(sample))
    pij = pc.joint_inclusion(sample)
    code = sample["village"]
    by_village = pij.rename(index=code, columns=code)
    d = pc.SurveyDesign(rows, strata="cercle", psu="village", fpc="pi", pps=by_village)
    assert d.n_psu == len(sample)
    assert np.isfinite(pc.mean(d, "answer")["se"]).all()
