"""The ``list_experiments`` section of a questionnaire: its checks when the questionnaire
is built, and the validation of a wave's counts and lists."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

import perception as pc
from perception.errors import QuestionnaireError
from perception.questionnaire import Questionnaire

BASE = {
    "id": "le", "languages": ["fr", "en"],
    "variables": [
        {"name": "rid", "type": "text", "label": {"fr": "Id", "en": "Id"}, "role": "id"},
        {"name": "n_items", "type": "integer", "label": {"fr": "Combien ?", "en": "How many?"},
         "range": {"min": 0, "max": 4}, "missing": {8: {"fr": "Refus", "en": "Refused"}},
         "required": True},
        {"name": "list", "type": "binary", "label": {"fr": "Liste", "en": "List"},
         "required": True},
        {"name": "direct", "type": "binary", "label": {"fr": "Directe", "en": "Direct"}},
        {"name": "age", "type": "integer", "label": {"fr": "Âge", "en": "Age"}},
    ],
    "list_experiments": [{
        "name": "abuse", "count": "n_items", "assignment": "list", "direct": "direct",
        "control_items": [{"fr": "Radio", "en": "Radio"}, {"fr": "Marché", "en": "Market"},
                          {"fr": "Voyage", "en": "Travel"}],
        "sensitive_item": {"fr": "Maltraité", "en": "Mistreated"},
    }],
}


def build(change=None) -> Questionnaire:
    data = copy.deepcopy(BASE)
    if change:
        change(data)
    return Questionnaire.from_dict(data)


def test_a_list_experiment_is_declared():
    q = build()
    (experiment,) = q.list_experiments
    assert (experiment.name, experiment.count, experiment.assignment, experiment.direct) == (
        "abuse", "n_items", "list", "direct")
    assert experiment.n_control_items == 3
    assert experiment.control_items[1]["en"] == "Market"
    assert experiment.count_range("treatment") == (0, 4)


def test_the_demo_questionnaire_declares_its_list_experiment():
    q = pc.load_questionnaire(pc.questionnaire_path())
    (experiment,) = q.list_experiments
    assert experiment.n_control_items == 4 and experiment.direct == "abuse_hh"
    assert set(experiment.sensitive_item) == {"fr", "en"}


def _set(path: list, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


@pytest.mark.parametrize("change, fragments", [
    (_set(["list_experiments", 0, "count"], "nope"),
     ["list experiment 'abuse', field 'count'", "'nope' is not a variable"]),
    (_set(["list_experiments", 0, "count"], "direct"),
     ["field 'count'", "type 'binary'", "type: integer"]),
    (_set(["list_experiments", 0, "assignment"], "age"),
     ["field 'assignment'", "type 'integer'", "type: binary"]),
    (_set(["list_experiments", 0, "control_items"], []),
     ["field 'control_items'", "non-empty list"]),
    (_set(["list_experiments", 0, "control_items", 1], {"fr": "Marché"}),
     ["control item 2", "no 'en' label"]),
    (_set(["list_experiments", 0, "sensitive_item"], None),
     ["no 'sensitive_item'"]),
    (_set(["list_experiments", 0, "colour"], "red"), ["key 'colour'", "unknown key"]),
    (_set(["variables", 1, "range"], {"min": 0, "max": 3}),
     ["variable 'n_items', field 'range'", "0 to J + 1 = 4", "max: 4"]),
    (_set(["list_experiments"], {"name": "x"}), ["must be a list of experiments"]),
    (lambda d: d["list_experiments"].append(copy.deepcopy(d["list_experiments"][0])),
     ["duplicate name"]),
    (_set(["list_experiments", 0, "assignment"], "n_items"),
     ["field 'assignment'", "type 'integer'"]),
])
def test_every_problem_is_reported_with_the_fix(change, fragments):
    with pytest.raises(QuestionnaireError) as info:
        build(change)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "Fix:" in message


def test_every_failing_row_of_a_wave_is_reported():
    q = build()
    wave = pd.DataFrame({
        "rid": ["a", "b", "c", "d", "e", "f", "g"],
        "n_items": [3, 4, 4, 0, 8, 2, None],
        "list": [0, 1, 0, 1, 0, None, 1],
        "direct": [0, 1, 0, 0, 1, 0, 0],
        "age": [30] * 7,
    })
    report = pc.validate(wave, q)
    errors = report.errors
    counts = errors[errors["check"] == "list_count"]
    # row 2: 4 items on the 3-item control list; the refusal code 8 (row 4) is not a count
    assert counts["row"].tolist() == [2]
    assert "control list (list = 0): 0 to 3" in counts["message"].iloc[0]
    lists = errors[errors["check"] == "list_assignment"]
    assert lists["row"].tolist() == [5]
    assert "0 (control list, 3 statements) or 1 (treatment list, 4 statements)" in \
        lists["message"].iloc[0]
    wave.loc[1, "n_items"] = 5  # above J + 1 on the treatment list: the range check too
    errors = pc.validate(wave, q).errors
    assert errors[(errors["check"] == "list_count")]["row"].tolist() == [1, 2]


def test_the_demo_waves_pass():
    demo = pc.demo_survey(seed=1)
    assert pc.validate(demo.waves, demo.questionnaire).ok
