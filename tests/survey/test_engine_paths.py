"""The two paths of the estimation engine give the same numbers.

Means, totals, ratios and proportions of designs without weighting steps go through
per-PSU totals (one pass per column, no (n, k) score matrix, shifted sums for the
design effect); other designs through the row-level score matrix. Forcing the general
path on designs that take the fast one must not change any number beyond
``PATHS_RTOL``: lonely PSUs, domains, missing values, subsets, fpc, replicate designs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.survey import blocked, engine, estimators

PATHS_RTOL = 1e-12  # same sums in another order (and shifted): rounding only
VALUES = ["estimate", "se", "ci_low", "ci_high", "deff"]


def _general_path_only(monkeypatch) -> None:
    """Send every estimate through the (n, k) score matrix instead of per-PSU totals."""
    for module in (engine, estimators):
        monkeypatch.setattr(module, "uses_totals_path", lambda design, ratio_deff=False: False)


def _survey(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 600
    village = rng.integers(0, 30, n)
    village[village == 29] = 28  # stratum 'h5' keeps one village: a lonely PSU
    frame = pd.DataFrame({
        "stratum": np.array([f"h{v // 5}" for v in village]),
        "village": village,
        "N": np.array([40, 60, 50, 45, 80, 30])[village // 5],
        "w": rng.uniform(1, 30, n),
        "y": 1000 + 40 * rng.normal(size=n),  # a large mean: shifted sums must hold
        "x": rng.uniform(5, 9, n),
        "likert": rng.integers(1, 6, n),
        "sex": rng.choice(["f", "m"], n),
        "region": rng.integers(1, 4, n),
    })
    frame.loc[rng.random(n) < 0.05, "y"] = np.nan
    frame.loc[rng.random(n) < 0.05, "likert"] = np.nan
    return frame


def _tables(design) -> dict[str, pd.DataFrame]:
    out = {}
    for by in (None, "sex", ["region", "sex"]):
        key = str(by)
        out[f"mean {key}"] = pc.mean(design, ["y", "x"], by=by, na_rm=True)
        out[f"total {key}"] = pc.total(design, ["y", "x"], by=by, na_rm=True)
        out[f"ratio {key}"] = pc.ratio(design, ["y", "x"], "x", by=by, na_rm=True)
        out[f"proportion {key}"] = pc.proportion(design, ["likert", "sex"], by=by,
                                                 na_rm=True)
    return out


def _designs(frame: pd.DataFrame | None = None):
    frame = _survey(11) if frame is None else frame
    for lonely in ("adjust", "average", "remove"):
        yield f"taylor {lonely}", pc.SurveyDesign(frame, weights="w", strata="stratum",
                                                  psu="village", lonely_psu=lonely)
    fpc = pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village", fpc="N",
                          lonely_psu="adjust")
    yield "fpc", fpc
    yield "subset", fpc.subset((frame["region"] != 2).to_numpy())
    yield "bootstrap", fpc.replicate("bootstrap", replicates=30, seed=2)
    yield "jkn", fpc.replicate("jkn")


@pytest.mark.parametrize("name, design", list(_designs()), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_fast_path_equals_score_matrix_path(name, design, monkeypatch):
    assert engine.uses_totals_path(design)
    fast = _tables(design)
    _general_path_only(monkeypatch)
    general = _tables(design)
    for key, table in fast.items():
        expected = general[key]
        labels = [c for c in expected.columns if c not in engine.RESULT_COLUMNS]
        pd.testing.assert_frame_equal(table[labels], expected[labels])
        assert table["n"].tolist() == expected["n"].tolist(), key
        np.testing.assert_allclose(table["df"], expected["df"], rtol=0, err_msg=key)
        _assert_values_close(table, expected, key)


def _assert_values_close(table: pd.DataFrame, expected: pd.DataFrame, key: str) -> None:
    """Estimates, SEs, CIs, deff and the covariance agree to PATHS_RTOL."""
    np.testing.assert_allclose(table[VALUES].to_numpy(float),
                               expected[VALUES].to_numpy(float), rtol=PATHS_RTOL,
                               atol=0, err_msg=key)
    ours, theirs = pc.vcov(table), pc.vcov(expected)
    assert ours.index.equals(theirs.index), key
    scale = np.abs(theirs.to_numpy()).max()
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(),
                               rtol=PATHS_RTOL, atol=PATHS_RTOL * scale, err_msg=key)


def _complete_survey() -> pd.DataFrame:
    """The survey without missing values (``likert`` an integer column)."""
    frame = _survey(11)
    return frame.assign(y=frame["y"].fillna(1000.0),
                        likert=frame["likert"].fillna(3).astype(np.int64))


def _small_blocks(monkeypatch, threads: int = 1) -> list:
    """Blocks and pilot runs of a few rows, so that 600 rows span many of each, summed
    by ``threads`` threads; returns the list of the block passes made."""
    monkeypatch.setattr(blocked, "BLOCK_ROWS", 64)
    monkeypatch.setattr(blocked, "THREAD_BLOCK_ROWS", 64)
    monkeypatch.setattr(blocked, "BLOCK_PER_BIN", 0)
    monkeypatch.setattr(blocked, "THREAD_ROWS", 0 if threads > 1 else 10**9)
    monkeypatch.setattr(blocked, "available_cores", lambda: threads)
    monkeypatch.setattr(blocked, "PILOT_ROWS", 40)
    monkeypatch.setattr(blocked, "PILOT_RUNS", 4)
    calls = []
    block_sums = blocked.block_sums

    def spy(*args):
        calls.append(args)
        return block_sums(*args)

    monkeypatch.setattr(blocked, "block_sums", spy)
    return calls


def _mean_total_tables(design) -> dict[str, pd.DataFrame]:
    out = {}
    for by in (None, "sex", ["region", "sex"]):
        out[f"mean {by}"] = pc.mean(design, ["y", "x", "likert"], by=by)
        out[f"total {by}"] = pc.total(design, ["y", "x", "likert"], by=by)
    return out


@pytest.mark.parametrize("name, design", list(_designs(_complete_survey())),
                         ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("threads", [1, 2])
def test_blocked_pass_equals_score_matrix_path(name, design, threads, monkeypatch):
    calls = _small_blocks(monkeypatch, threads)
    fast = _mean_total_tables(design)
    assert len(calls) == len(fast)  # every table took the blocked pass
    _general_path_only(monkeypatch)
    general = _mean_total_tables(design)
    for key, table in fast.items():
        expected = general[key]
        pd.testing.assert_frame_equal(table.drop(columns=VALUES), expected.drop(columns=VALUES))
        _assert_values_close(table, expected, key)


@pytest.mark.parametrize("threads", [1, 2])
def test_blocked_pass_leaves_missing_values_to_the_general_path(threads, monkeypatch):
    frame = _complete_survey()
    frame.loc[590, "y"] = np.nan  # in the last block: found after the others were summed
    design = pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village",
                             lonely_psu="adjust")
    calls = _small_blocks(monkeypatch, threads)
    with pytest.raises(pc.PerceptionError, match="'y'.*missing"):
        pc.mean(design, ["x", "y"])
    table = pc.mean(design, ["x", "y"], by="sex", na_rm=True)
    assert len(calls) == 2
    expected = pc.mean(design.subset(frame["y"].notna().to_numpy()), ["x", "y"], by="sex")
    np.testing.assert_allclose(table[VALUES].to_numpy(float),
                               expected[VALUES].to_numpy(float), rtol=PATHS_RTOL)


@pytest.mark.parametrize("offset", [0.0, 25.0, 1e8])
def test_blocked_pass_keeps_its_precision_far_from_zero(offset, monkeypatch):
    # an item within SHIFT_FREE standard deviations of 0 is summed unshifted (25 sd),
    # one far from it (1e8 sd) shifted by its pilot mean: either way its SE and deff
    # equal those of the same values less the offset (an exact subtraction here)
    frame = _complete_survey()
    z = (frame["x"] - frame["x"].mean()) / frame["x"].std() + offset
    frame = frame.assign(z=z, centred=z - offset)
    design = pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village",
                             lonely_psu="adjust")
    calls = _small_blocks(monkeypatch)
    w = frame["w"].to_numpy(float)
    shift = blocked.pilot_shifts([frame["z"].to_numpy()], w)[0]
    assert (shift == 0.0) == (offset < blocked.SHIFT_FREE)
    for by in (None, "sex"):
        table = pc.mean(design, ["z", "centred"], by=by)
        far, near = table[table["variable"] == "z"], table[table["variable"] == "centred"]
        for column in ("se", "deff"):
            np.testing.assert_allclose(far[column], near[column], rtol=1e-12,
                                       err_msg=f"{column} by {by}")
        np.testing.assert_allclose(far["estimate"] - offset, near["estimate"],
                                   atol=4 * np.spacing(offset + 1.0), rtol=0)
    assert len(calls) == 2


def test_weighted_designs_keep_the_score_matrix_path():
    frame = _survey(3)
    design = pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village",
                             lonely_psu="adjust")
    raked = pc.poststratify(design, "sex", {"f": 5000, "m": 4800})
    assert engine.uses_totals_path(design) and not engine.uses_totals_path(raked)
    two_stage = pc.SurveyDesign(frame.assign(hh=np.arange(len(frame)), N2=50),
                                strata="stratum", psu=["village", "hh"], fpc=["N", "N2"],
                                lonely_psu="adjust")
    assert not engine.uses_totals_path(two_stage)


def test_levels_kept_on_the_design_follow_the_data():
    # the levels of a number column are found once per design; a column replaced in the
    # design's data (another buffer) is coded anew, and every call equals a new design's
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"c": rng.integers(1, 4, 300), "g": rng.integers(0, 2, 300),
                         "w": rng.uniform(1, 2, 300), "s": np.repeat([0, 1, 2], 100),
                         "p": np.repeat(np.arange(30), 10)})
    d = pc.SurveyDesign(data, weights="w", strata="s", psu="p")
    first = pc.proportion(d, "c", by="g")
    pd.testing.assert_frame_equal(pc.proportion(d, "c", by="g"), first)
    assert "c" in d.__dict__["_levels_cache"]
    d.data["c"] = rng.integers(2, 6, 300)  # a new column in the same frame
    fresh = pc.SurveyDesign(d.data.copy(), weights="w", strata="s", psu="p")
    again = pc.proportion(d, "c", by="g")
    assert again["category"].tolist() == pc.proportion(fresh, "c", by="g")["category"].tolist()
    np.testing.assert_allclose(again["estimate"], pc.proportion(fresh, "c", by="g")["estimate"])
    assert again["category"].tolist() != first["category"].tolist()


def test_whole_sample_weight_sums_kept_on_the_design():
    # the PSU weight totals of the whole sample are found once per design, read-only,
    # and only for its own weights: a design weighted from it finds its own
    frame = _complete_survey()
    design = pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village",
                             lonely_psu="adjust")
    first = pc.mean(design, ["x", "y"])
    kept = design.__dict__["_whole_weight_sums"][2]
    assert not any(array.flags.writeable for array in kept)
    pd.testing.assert_frame_equal(pc.total(design, ["x"]), pc.total(
        pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village",
                        lonely_psu="adjust"), ["x"]))
    pd.testing.assert_frame_equal(pc.mean(design, ["x", "y"]), first)
    scaled = pc.SurveyDesign(frame.assign(w=2 * frame["w"]), weights="w", strata="stratum",
                             psu="village", lonely_psu="adjust")
    np.testing.assert_allclose(pc.total(scaled, ["x"])["estimate"],
                               2 * pc.total(design, ["x"])["estimate"], rtol=1e-12)


def test_domain_codes_kept_on_the_design_follow_the_data():
    # the codes of a number column over every row are found once per design, read-only;
    # a column replaced in the data is coded anew; a subset leaving no row out is the
    # design itself (its caches with it)
    frame = _complete_survey()
    design = pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village",
                             lonely_psu="adjust")
    assert design.subset(np.ones(len(frame), dtype=bool)) is design
    assert design.subset(frame["sex"] == "f") is not design
    first = pc.mean(design, "x", by="likert")
    codes, _ = design.__dict__["_codes_cache"]["likert"][2]
    assert not codes.flags.writeable
    pd.testing.assert_frame_equal(pc.mean(design, "x", by="likert"), first)
    design.data["likert"] = design.data["likert"] % 2  # another buffer, other levels
    fresh = pc.SurveyDesign(design.data.copy(), weights="w", strata="stratum",
                            psu="village", lonely_psu="adjust")
    pd.testing.assert_frame_equal(pc.mean(design, "x", by="likert"),
                                  pc.mean(fresh, "x", by="likert"))
    assert len(pc.mean(design, "x", by="likert")) == 2 != len(first)


def test_constant_domain_has_no_variance():
    # values constant in a domain: every score is 0, so the SE is exactly 0, the
    # covariances with the other domains 0 and the deff NaN (R's 0/0), on every path
    frame = _complete_survey()
    frame = frame.assign(z=np.where(frame["sex"] == frame["sex"].iloc[0], 0.3,
                                    frame["x"]))
    design = pc.SurveyDesign(frame, weights="w", strata="stratum", psu="village",
                             lonely_psu="adjust")
    table = pc.mean(design, "z", by="sex")
    constant = (table["sex"] == frame["sex"].iloc[0]).to_numpy()
    assert (table.loc[constant, "se"] == 0).all() and table.loc[constant, "deff"].isna().all()
    assert (table.loc[~constant, "se"] > 0).all()
    vcov = np.asarray(table.attrs["vcov"], float)
    assert (vcov[constant] == 0).all() and (vcov[:, constant] == 0).all()
