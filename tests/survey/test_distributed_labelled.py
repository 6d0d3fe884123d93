"""Labelled designs on a Dask DataFrame: the same tables as the in-memory labelled design.

The demo's waves (with the Central Mali questionnaire: declared missing codes, skip
logic, derived variables, a select-multiple question) are written as a Parquet dataset
of three files, read with dask, and every estimator runs on a ``dask.distributed``
LocalCluster of two worker processes. Each table -- estimates, covariance, and the
columns a labelled design adds (``n_excluded``, ``excluded``, ``variable_label``,
``category_label``, ``<by>_label``) -- must equal the in-memory one to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perception as pc
from perception.errors import DesignError, EstimationError
from perception.survey.valid_values import counts_by_row, exclusions

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from test_distributed import assert_same  # noqa: E402  (after the importorskip)

REPLICATES = [f"rw{r}" for r in range(6)]
DESIGN = {"weights": "w_final", "strata": "stratum", "psu": "psu_id"}


def labelled_waves(root, demo_factory, n_per_wave: int):
    """The demo's waves (``n_per_wave`` adults a wave), with replicate-weight columns,
    as a Parquet dataset of three files in ``root``; and its questionnaire."""
    demo = demo_factory(seed=1, n_per_wave=n_per_wave)
    data = demo.waves.copy()
    rng = np.random.default_rng(3)
    for name in REPLICATES:
        data[name] = data["w_final"] * rng.uniform(0.5, 1.5, len(data))
    path = root / "waves"
    dd.from_pandas(data, npartitions=3).to_parquet(path, write_index=False)
    return path, demo.questionnaire


@pytest.fixture(scope="module")
def waves(tmp_path_factory, demo_factory):
    return labelled_waves(tmp_path_factory.mktemp("labelled"), demo_factory, 600)


def _frames(waves, change=None) -> tuple[pd.DataFrame, object]:
    path, _ = waves
    ddf = dd.read_parquet(path)
    data = ddf.compute().reset_index(drop=True)
    if change is not None:
        data = change(data)
        ddf = dd.from_pandas(data, npartitions=3)
    return data, ddf


def _designs(waves, kind: str, **labels):
    """The in-memory and the Dask design of one kind, labelled alike."""
    data, ddf = _frames(waves)
    q = waves[1]
    if kind == "columns":
        arguments = {"weights": "w_final", "replicate_weights": "rw[0-9]", "method": "jk1",
                     "questionnaire": q, **labels}
        return (pc.ReplicateDesign(data, **arguments),
                pc.ReplicateDesign(ddf, **arguments))
    arguments = {**DESIGN, "questionnaire": q, **labels}
    if kind == "rows":  # each row its own PSU: the per-stratum moments
        arguments.pop("psu")
    memory, spread = pc.SurveyDesign(data, **arguments), pc.SurveyDesign(ddf, **arguments)
    if kind == "jkn":
        return memory.replicate("jkn"), spread.replicate("jkn")
    return memory, spread


CALLS = {
    # missing codes, and skip logic (req_help_bribe is asked if req_help = 1)
    "mean": (pc.mean, (["trust_police", "req_help_bribe"],), {"by": "wave"}),
    # derived variables, computed partition by partition
    "total": (pc.total, ("trust_police_high",), {"by": "region"}),
    "derived": (pc.mean, ("trust_fsi_mean",), {"by": ["wave", "sex"]}),
    "ratio": (pc.ratio, ("trust_police", "hh_size"), {"by": "wave"}),
    "proportion": (pc.proportion, (["trust_police", "ca_participated"],),
                   {"by": "wave", "method": "beta"}),
    # a by column with missing codes: its coded rows are left out too
    "by codes": (pc.proportion, ("sec_change",), {"by": "educ"}),
    "quantile": (pc.quantile, ("age", [0.25, 0.5]), {"by": "wave"}),
}
#: every estimator on the two-stage design; the paths each other design adds
KINDS = {
    "clusters": list(CALLS),
    "rows": ["mean", "ratio", "by codes", "quantile"],
    "jkn": ["derived", "proportion", "quantile"],
    "columns": ["total", "ratio", "by codes"],
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_labelled_estimators_equal_in_memory(client, waves, kind):
    memory, spread = _designs(waves, kind)
    assert spread.questionnaire is memory.questionnaire
    for call in KINDS[kind]:
        function, arguments, options = CALLS[call]
        want = function(memory, *arguments, **options)
        got = function(spread, *arguments, **options)
        assert {"n_excluded", "excluded", "variable_label"} <= set(got.columns)
        assert_same(got, want)
        assert got.attrs.get("lang") == want.attrs.get("lang")


def test_excluded_counts_and_labels(client, waves):
    data, _ = _frames(waves)
    memory, spread = _designs(waves, "clusters", lang="en")
    got = pc.proportion(spread, "trust_police", by="wave")
    assert_same(got, pc.proportion(memory, "trust_police", by="wave"))
    first = got[got["wave"] == got["wave"].iloc[0]].iloc[0]
    coded = data[data["wave"] == first["wave"]]["trust_police"]
    assert first["n_excluded"] == int(coded.isin([8, 9]).sum()) > 0
    assert first["excluded"].startswith("8 Refused: ")
    assert first["category_label"] and first["wave_label"] and first["variable_label"]
    # skip logic: "not asked" counts the rows where req_help is not 1
    table = pc.mean(spread, "req_help_bribe")
    asked = data["req_help"] == 1
    assert table["excluded"].iloc[0].endswith(f"not asked: {int((~asked).sum())}")


def test_missing_codes_kept(client, waves):
    memory, spread = _designs(waves, "clusters", missing_codes="keep")
    for options in ({}, {"missing_codes": "exclude"}):
        assert_same(pc.proportion(spread, "req_help_bribe", by="wave", **options),
                    pc.proportion(memory, "req_help_bribe", by="wave", **options))
    memory, spread = _designs(waves, "clusters")
    assert_same(pc.proportion(spread, "trust_police", missing_codes="keep"),
                pc.proportion(memory, "trust_police", missing_codes="keep"))


@pytest.mark.parametrize("kind", ["clusters", "jkn"])
def test_select_multiple_one_row_per_option(client, waves, kind):
    memory, spread = _designs(waves, kind)
    for names in ("ca_type", ["trust_police", "ca_type", "ca_participated"]):
        want = pc.proportion(memory, names, by="wave", na_rm=True)
        got = pc.proportion(spread, names, by="wave", na_rm=True)
        assert_same(got, want)
    options = got[got["variable"] == "ca_type"]
    assert len(options) == 2 * len(waves[1].variable("ca_type").codes)


def test_select_multiple_blank_where_asked(client, waves):
    def blank(data):
        data = data.copy()
        rows = data.index[(data["ca_aware"] == 1).to_numpy()][[3, -2]]
        data.loc[rows, "ca_type"] = None
        return data

    data, ddf = _frames(waves, blank)
    q = waves[1]
    memory = pc.SurveyDesign(data, **DESIGN, questionnaire=q)
    spread = pc.SurveyDesign(ddf, **DESIGN, questionnaire=q)
    with pytest.raises(EstimationError, match="blank in 2 row"):
        pc.proportion(memory, "ca_type")
    with pytest.raises(EstimationError, match="blank in 2 row.*whole Dask DataFrame"):
        pc.proportion(spread, "ca_type")
    assert_same(pc.proportion(spread, "ca_type", by="region", na_rm=True),
                pc.proportion(memory, "ca_type", by="region", na_rm=True))


def test_quantities_of_categories_refused(waves):
    _, spread = _designs(waves, "clusters")
    for function, name, kind in ((pc.mean, "ca_participated", "categorical"),
                                 (pc.total, "ca_type", "select_multiple"),
                                 (pc.mean, "commune", "text"),
                                 (pc.quantile, "region", "categorical")):
        with pytest.raises(EstimationError, match=f"'{name}' is a {kind} variable"):
            function(spread, name)


def _with_gaps(waves, column: str, rows: list[int]):
    """The data (``rows`` of ``column`` blank, not a missing code) and their in-memory
    and Dask labelled designs."""
    def gaps(data):
        data = data.copy()
        data.loc[[r % len(data) for r in rows], column] = np.nan
        return data

    data, ddf = _frames(waves, gaps)
    q = waves[1]
    return (data, pc.SurveyDesign(data, **DESIGN, questionnaire=q),
            pc.SurveyDesign(ddf, **DESIGN, questionnaire=q))


def test_other_missing_values_still_follow_na_rm(client, waves):
    data, memory, spread = _with_gaps(waves, "trust_army", [5, -2])
    with pytest.raises(EstimationError, match=f"2 missing value.*5, {len(data) - 2}"):
        pc.mean(spread, "trust_army")
    assert_same(pc.mean(spread, "trust_army", by="wave", na_rm=True),
                pc.mean(memory, "trust_army", by="wave", na_rm=True))
    assert_same(pc.proportion(spread, "trust_army", na_rm=True),
                pc.proportion(memory, "trust_army", na_rm=True))


ANALYSES = {
    # a change per wave pair: the left-out answers of both waves counted
    "change": lambda d: pc.change(d, ["trust_police", "req_help_bribe", "ca_type"],
                                  over="wave", by="region"),
    "did": lambda d: pc.did(d, ["trust_police", "req_help_bribe"], treated="treated",
                            period="wave", by="region"),
    # educ's missing codes (8, 9) leave rows out of the fit, counted; the cells keep them
    "did_covariates": lambda d: pc.did(d, "trust_police", treated="treated",
                                       period="wave", covariates=["age", "hh_size", "educ"]),
    # a categorical question (sex, coded 1/2) enters as dummies, as C(sex) would
    "did_categorical": lambda d: pc.did(d, "trust_police", treated="treated",
                                        period="wave", covariates=["sex", "age"]),
    # the by column's missing codes leave rows out
    "list_experiment": lambda d: pc.list_experiment(d, count="le_count",
                                                    treatment="le_list", by="educ"),
}


@pytest.mark.parametrize("analysis", list(ANALYSES))
def test_labelled_analyses_equal_in_memory(client, waves, analysis):
    # the analyses leave the questionnaire's missing codes and skipped questions out
    # (their rows, their degrees of freedom) and count them, as in memory
    memory, spread = _designs(waves, "clusters")
    want, got = ANALYSES[analysis](memory), ANALYSES[analysis](spread)
    if analysis.startswith("did"):
        for part in ("cells", "coefficients"):
            assert_same(getattr(got, part), getattr(want, part))
        want, got = want.effects, got.effects
    assert {"n_excluded", "excluded", "variable_label"} <= set(got.columns)
    if analysis != "list_experiment":  # its by codes leave whole domains out
        assert got["n_excluded"].sum() > 0
    assert_same(got, want)


def test_labelled_did_with_gaps_and_select_multiple(client, waves):
    data, memory, spread = _with_gaps(waves, "trust_police", [7, -3])
    # a blank answer is missing, a missing code is left out: only the blanks are named
    with pytest.raises(EstimationError, match=f"2 missing value.*7, {len(data) - 3}"):
        pc.did(spread, "trust_police", treated="treated", period="wave")
    options = {"treated": "treated", "period": "wave", "na_rm": True}
    want = pc.did(memory, "trust_police", **options)
    got = pc.did(spread, "trust_police", **options)
    assert_same(got.effects, want.effects)
    assert_same(got.cells, want.cells)


def test_did_of_a_select_multiple_question_per_option(client, waves):
    # one DiD per option of ca_type (its 0/1 indicator; not asked and missing codes
    # left out), stacked under the question's name, as in memory
    memory, spread = _designs(waves, "clusters")
    options = {"treated": "treated", "period": "wave", "by": "region"}
    want = pc.did(memory, ["ca_type", "trust_police"], **options)
    got = pc.did(spread, ["ca_type", "trust_police"], **options)
    assert (got.effects["variable"] == "ca_type").sum() > 2 and "category" in got.effects
    for part in ("effects", "cells"):
        assert_same(getattr(got, part), getattr(want, part))
    # an option never chosen in a region: its coefficient is 0 with an SE of 0 (Dask,
    # from the cell means) or of 1e-16 (in memory, the rounding of the fit), so its t
    # and p are NaN or anything: compared where the SE is not 0
    zero = want.coefficients["se"].to_numpy() < 1e-12
    same = got.coefficients.assign(t=np.where(zero, 0.0, got.coefficients["t"]),
                                   p=np.where(zero, 1.0, got.coefficients["p"]))
    assert_same(same, want.coefficients.assign(
        t=np.where(zero, 0.0, want.coefficients["t"]),
        p=np.where(zero, 1.0, want.coefficients["p"])))
    # covariates keep their labels (missing codes out, a categorical one as dummies)
    # and the option rows the question's and the options' labels, as in memory
    # (and the cells: the outcome's means over the model's rows and those left out for
    # a covariate's missing code; a covariate left blank takes its row out, na_rm)
    options = {"treated": "treated", "period": "wave", "covariates": ["displaced", "educ"],
               "na_rm": True}
    _, memory, spread = _with_gaps(waves, "educ", [4, -6])
    want, got = pc.did(memory, "ca_type", **options), pc.did(spread, "ca_type", **options)
    assert {"category_label", "n_excluded"} <= set(got.effects.columns)
    assert (got.effects["n_excluded"] > 0).all()
    for part in ("effects", "cells", "coefficients"):
        assert_same(getattr(got, part), getattr(want, part))
    # a question left blank although asked: the rows named, as in memory
    # another role's missing value stays an error naming its rows, as in memory
    data, memory, spread = _with_gaps(waves, "treated", [5, -2])
    for design in (memory, spread):
        with pytest.raises(EstimationError, match=f"'treated'.*2 missing value.*5, "
                                                  f"{len(data) - 2}"):
            pc.did(design, "ca_type", treated="treated", period="wave")
    asked = int(np.flatnonzero(_frames(waves)[0]["ca_type"].notna().to_numpy())[0])
    data, memory, spread = _with_gaps(waves, "ca_type", [asked])
    with pytest.raises(EstimationError, match="blank in 1 row"):
        pc.did(memory, "ca_type", treated="treated", period="wave")
    with pytest.raises(EstimationError, match=f"blank in 1 row.*rows {asked} "):
        pc.did(spread, "ca_type", treated="treated", period="wave")


def _weightings(data: pd.DataFrame) -> dict:
    levels = sorted(data["sex"].dropna().unique())
    sex = dict(zip(levels, [1560, 1440], strict=True))  # not the sample's shares
    return {
        "poststratify": lambda d: pc.poststratify(d, "region", {1: 1000, 2: 2000}),
        "rake": lambda d: pc.rake(d, {"region": {1: 1000, 2: 2000}, "sex": sex}),
        "calibrate": lambda d: pc.calibrate(d, {"region": {1: 1000, 2: 2000}, "sex": sex}),
    }


@pytest.mark.parametrize("kind", ["clusters", "jkn", "columns"])
@pytest.mark.parametrize("weighting", ["poststratify", "rake", "calibrate"])
def test_labelled_weighted_designs_equal_in_memory(client, waves, kind, weighting):
    # a weighted labelled design stays labelled; its left-out rows keep their weights
    # in the adjustment's residuals, as the in-memory design's domain does
    if kind == "jkn" and weighting == "poststratify":
        pytest.skip("one replicate case per adjustment is enough")
    data, _ = _frames(waves)
    memory, spread = _designs(waves, kind)
    adjust = _weightings(data)[weighting]
    weighted_memory, weighted = adjust(memory), adjust(spread)
    assert weighted.questionnaire is memory.questionnaire
    for call in ("mean", "total", "proportion"):
        function, arguments, options = CALLS[call]
        got = function(weighted, *arguments, **options)
        assert got["n_excluded"].sum() > 0
        assert_same(got, function(weighted_memory, *arguments, **options))


def test_replicate_weight_columns_weighted_on_a_derived_margin(client, waves):
    # a margin that is a derived variable (age_grp, from age): each partition derives
    # it to find its rows' cells, as the design does
    data, ddf = _frames(waves, change=lambda d: d.drop(columns="age_grp"))
    arguments = {"weights": "w_final", "replicate_weights": "rw[0-9]", "method": "jk1",
                 "questionnaire": waves[1]}
    memory = pc.ReplicateDesign(data, **arguments)
    spread = pc.ReplicateDesign(ddf, **arguments)
    groups = memory.data["age_grp"].value_counts().to_dict()
    population = {level: 10 * count for level, count in groups.items()}
    weighted_memory = pc.poststratify(memory, "age_grp", population)
    weighted = pc.poststratify(spread, "age_grp", population)
    assert "age_grp" not in weighted._source.columns
    function, arguments, options = CALLS["mean"]
    assert_same(function(weighted, *arguments, **options),
                function(weighted_memory, *arguments, **options))


MODELS = {
    # missing codes of the outcome and skip logic of a covariate: out of the fit
    "gaussian": lambda d: pc.glm(d, "trust_police ~ C(region) + treated + req_help_bribe",
                                 na_rm=True),
    "binomial": lambda d: pc.glm(d, "trust_police_high ~ C(region) + treated",
                                 family="binomial"),
    "olr": lambda d: pc.olr(d, "trust_police ~ C(region) + treated"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_labelled_models_equal_in_memory(client, waves, kind):
    # the rows the questionnaire leaves out are out of the fit but in the design (their
    # weights and PSUs count), as in memory; n_excluded and excluded as in memory
    memory, spread = _designs(waves, kind)
    for name in (MODELS if kind == "clusters" else ["gaussian", "olr"]):
        want, got = MODELS[name](memory), MODELS[name](spread)
        np.testing.assert_allclose(got.coefficients[["estimate", "se"]].to_numpy(),
                                   want.coefficients[["estimate", "se"]].to_numpy(),
                                   rtol=1e-8, err_msg=name)
        assert got.df_residual == want.df_residual and got.n == want.n
        np.testing.assert_allclose(got.deviance, want.deviance, rtol=1e-10)
        for key in ("n_excluded", "excluded"):
            assert got.coefficients.attrs[key] == want.coefficients.attrs[key]
        assert got.coefficients.attrs["n_excluded"] > 0


def test_labelled_model_missing_values(client, waves):
    data, memory, spread = _with_gaps(waves, "treated", [4, -6])
    # a blank is missing, a missing code of the outcome is not: only the blanks named
    with pytest.raises(EstimationError, match=f"2 missing value.*4, {len(data) - 6}"):
        pc.glm(spread, "trust_police ~ treated")
    want = pc.glm(memory, "trust_police ~ treated", na_rm=True)
    got = pc.glm(spread, "trust_police ~ treated", na_rm=True)
    np.testing.assert_allclose(got.coefficients[["estimate", "se"]].to_numpy(),
                               want.coefficients[["estimate", "se"]].to_numpy(), rtol=1e-8)


def test_labelled_design_is_lazy_and_says_so(waves):
    _, ddf = _frames(waves)
    q = waves[1]
    design = pc.SurveyDesign(ddf, **DESIGN, questionnaire=q, lang="en")
    assert "trust_fsi_mean" in design.data.columns  # derived, not computed yet
    assert "questionnaire='centre_mali_trust', lang='en'" in repr(design)
    assert design.replicate("jkn").lang == "en"
    # unknown columns are named among the design's (derived variables included)
    with pytest.raises(EstimationError, match="'nope' given as denominator"):
        pc.ratio(design, "trust_police", "nope")
    with pytest.raises(EstimationError, match="'nope' given as by"):
        pc.proportion(design, "ca_type", by="nope")
    with pytest.raises(DesignError, match="missing_codes"):
        pc.SurveyDesign(ddf, **DESIGN, questionnaire=q, missing_codes="drop")
    with pytest.raises(DesignError, match="not a language"):
        pc.SurveyDesign(ddf, **DESIGN, questionnaire=q, lang="bm")


@pytest.fixture(scope="module")
def small_demo(waves):
    """The waves in memory, with their derived variables, and the questionnaire."""
    data = pd.read_parquet(waves[0])
    return waves[1].derive(data), waves[1]


NAMES = ["trust_police", "req_help_bribe", "trust_fsi_mean", "educ"]


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(0, 1199), max_size=4), keep=st.booleans(),
       lang=st.sampled_from(["fr", "en"]))
def test_reasons_do_not_depend_on_the_partitions(small_demo, cuts, keep, lang):
    """Whatever the partitions, each row gets the reason it gets in the whole frame, and
    the left-out rows counted piece by piece add up to the whole frame's counts."""
    data, q = small_demo
    whole, candidates, _ = exclusions(q, lang, data, NAMES, keep)
    bounds = [0, *sorted(cuts), len(data)]
    pieces = [data.iloc[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    codes = []
    sizes = []
    for piece in pieces:
        piece_codes, piece_candidates, _ = exclusions(q, lang, piece, NAMES, keep)
        assert piece_candidates == candidates
        codes.append(piece_codes)
        left = piece.loc[piece_codes >= 0, ["wave"]].assign(reason=piece_codes[piece_codes >= 0])
        sizes.append(left.groupby(["wave", "reason"]).size())
    np.testing.assert_array_equal(np.concatenate(codes), whole)
    table = pd.DataFrame({"wave": sorted(data["wave"].unique())})
    left = data.loc[whole >= 0, ["wave"]].assign(reason=whole[whole >= 0])
    assert (counts_by_row(pd.concat(sizes), table, ["wave"])
            == counts_by_row(left.groupby(["wave", "reason"]).size(), table, ["wave"]))


def test_proportion_of_blanked_codes_on_replicate_weight_columns(small_demo):
    """In memory too: a replicate design given by columns reads a column whose missing
    codes were blanked (an Int64 column with <NA>)."""
    data, q = small_demo
    data = data.assign(rw0=data["w_final"] * 0.9, rw1=data["w_final"] * 1.1)
    design = pc.ReplicateDesign(data, weights="w_final", replicate_weights=["rw0", "rw1"],
                                questionnaire=q)
    table = pc.proportion(design, "trust_police")
    valid = data["trust_police"].isin([0, 1, 2, 3])
    assert table["n"].iloc[0] == int(valid.sum())
    assert table["estimate"].sum() == pytest.approx(1.0)


def test_by_a_coded_column_gives_integer_domains(client, waves):
    # displaced has codes 8/9, blank in the prepared partitions (Int64 with NA): its
    # domains are the integers 0, 1, 2, as in memory, not 0.0, 1.0, 2.0
    memory, spread = _designs(waves, "clusters")
    for call in (lambda d: pc.mean(d, "trust_police", by="displaced"),
                 lambda d: pc.change(d, "trust_police", over="wave", by="displaced")):
        got, want = call(spread), call(memory)
        assert got["displaced"].dtype == want["displaced"].dtype
        assert_same(got, want)
