"""A design's questionnaire settings: checked once, carried by every derived design."""

from __future__ import annotations

import pytest

import perception as pc
from perception.errors import DesignError


@pytest.fixture(scope="module")
def demo():
    return pc.demo_survey(seed=1, n_per_wave=400)


def test_demo_design_is_labelled(demo):
    d = demo.design()
    assert d.questionnaire is demo.questionnaire
    assert d.lang == demo.questionnaire.languages[0]
    assert d.missing_codes == "exclude"


def test_settings_survive_subset_and_replicate(demo):
    d = pc.SurveyDesign(demo.waves, weights="w_final", strata="stratum", psu="psu_id",
                        questionnaire=demo.questionnaire, lang="en", missing_codes="keep")
    for derived in (d.subset(d.data["wave"] == 0), d.replicate("jkn")):
        assert derived.questionnaire is demo.questionnaire
        assert (derived.lang, derived.missing_codes) == ("en", "keep")


def test_unlabelled_design_has_no_questionnaire():
    api = pc.datasets.load("apistrat")
    d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    assert d.questionnaire is None and d.lang is None
    assert "questionnaire" not in repr(d)


@pytest.mark.parametrize("kwargs, words", [
    ({"lang": "de"}, ["lang='de'", "'fr'", "'en'"]),
    ({"missing_codes": "drop"}, ["'exclude'", "'keep'"]),
    ({"questionnaire": "centre_mali_trust.yaml"}, ["load_questionnaire", "str"]),
])
def test_bad_settings_are_named(demo, kwargs, words):
    args = {"questionnaire": demo.questionnaire, **kwargs}
    with pytest.raises(DesignError) as err:
        pc.SurveyDesign(demo.waves, weights="w_final", strata="stratum", psu="psu_id", **args)
    for word in words:
        assert word in str(err.value)


def test_lang_without_questionnaire_is_refused():
    api = pc.datasets.load("apistrat")
    with pytest.raises(DesignError, match="give the questionnaire"):
        pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc", lang="en")


def test_with_labels_keeps_the_design(demo):
    d = demo.design()
    en = d.with_labels(demo.questionnaire, lang="en")
    assert en.lang == "en" and d.lang == "fr"
    assert en.weight_array is d.weight_array
    assert d.with_labels(None).questionnaire is None


def test_a_bad_missing_codes_argument_is_named_on_any_design():
    api = pc.datasets.load("apistrat")
    d = pc.SurveyDesign(api, weights="pw", strata="stype", fpc="fpc")
    with pytest.raises(DesignError, match="'exclude'.*'keep'"):
        pc.mean(d, "api00", missing_codes="drop")
