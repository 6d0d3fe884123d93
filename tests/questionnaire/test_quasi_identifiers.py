"""Quasi-identifiers, identifiers and coarsening ladders declared in the questionnaire:
read into ``Variable.coarsen``, listed by ``q.quasi_identifiers`` and ``q.identifiers``
(never in ``q.roles``), and every bad ladder refused with the variable and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

import perception as pc

ROOT = Path(__file__).resolve().parents[2]


def _q(*variables: dict) -> pc.Questionnaire:
    return pc.Questionnaire.from_dict({"id": "x", "languages": ["en"], "variables": [
        {"name": "region", "type": "categorical", "label": "Region", "codes": {1: "a", 2: "b"},
         "role": "quasi_identifier"},
        *variables]})


def _age(**extra) -> dict:
    return {"name": "age", "type": "integer", "label": "Age", "role": "quasi_identifier",
            **extra}


def test_the_roles_and_ladders_are_read():
    q = _q(_age(coarsen=[{"name": "band", "bands": [18, 35, 55]}]),
           {"name": "cercle", "type": "categorical", "label": "Cercle",
            "codes": {11: "c", 21: "d"}, "role": "quasi_identifier",
            "coarsen": [{"name": "region", "variable": "region"}]},
           {"name": "hh_id", "type": "text", "label": "Household", "role": "identifier"},
           {"name": "rid", "type": "text", "label": "Id", "role": "id"})
    assert q.quasi_identifiers == ["region", "age", "cercle"]
    assert q.identifiers == ["hh_id"] and q.roles == {"id": "rid"}
    assert q.variable("age").coarsen[0].bands == (18, 35, 55)
    assert q.variable("cercle").coarsen[0].variable == "region"
    assert q.variables.set_index("name").loc["age", "coarsen"] == "band"
    # a quasi-identifier is not a required design column
    assert not q.schema().columns["age"].required


def test_the_central_mali_questionnaire_declares_them():
    q = pc.load_questionnaire(ROOT / "questionnaires" / "centre_mali_trust.yaml")
    assert {"commune", "cercle", "region", "sex", "age", "age_grp", "ethnic", "activity",
            "displaced"} <= set(q.quasi_identifiers)
    assert q.identifiers == ["hh_id"]
    assert q.variable("commune").coarsen[0].variable == "cercle"
    assert q.variable("cercle").coarsen[0].variable == "region"
    assert q.variable("age").coarsen[0].bands == (18, 25, 35, 45, 55)


@pytest.mark.parametrize(("variable", "expected"), [
    (_age(coarsen=[{"name": "b", "bands": [35, 18]}]),
     "variable 'age' (module 'main'), field 'coarsen', step 1: bands must be increasing"),
    (_age(coarsen=[{"name": "b", "bands": [18], "variable": "region"}]),
     "needs exactly one of bands, map, variable"),
    (_age(coarsen=[{"bands": [18]}]), "step 1: needs a name"),
    (_age(coarsen=[{"name": "b", "bands": [18]}, {"name": "b", "bands": [18, 40]}]),
     "level 'b' named twice"),
    (_age(coarsen=[{"name": "r", "variable": "regoin"}]),
     "variable 'regoin' is not declared (did you mean 'region'?)"),
    (_age(coarsen=[{"name": "r", "variable": "age"}]), "is the variable itself"),
    (_age(coarsen=[{"name": "m", "map": {1: "a"}}]), "map applies to coded variables"),
    (_age(coarsen="band"), "must be a non-empty list of steps"),
    ({"name": "sex", "type": "categorical", "label": "Sex", "codes": {1: "m", 2: "f"},
      "role": "quasi_identifier", "coarsen": [{"name": "m", "map": {1: "x"}}]},
     "code(s) 2 are not mapped"),
    ({"name": "sex", "type": "categorical", "label": "Sex", "codes": {1: "m", 2: "f"},
      "role": "quasi_identifier", "coarsen": [{"name": "m", "map": {1: "x", 2: "x", 3: "y"}}]},
     "code(s) 3 are not codes of the variable"),
    ({"name": "sex", "type": "categorical", "label": "Sex", "codes": {1: "m", 2: "f"},
      "coarsen": [{"name": "m", "map": {1: "x", 2: "x"}}]},
     "only a quasi-identifier has a coarsening ladder. Fix: add role: quasi_identifier"),
    ({"name": "sex", "type": "categorical", "label": "Sex", "codes": {1: "m", 2: "f"},
      "role": "quasi_identifier", "coarsen": [{"name": "b", "bands": [1, 2]}]},
     "bands apply to integer and numeric variables"),
    ({"name": "phone", "type": "text", "label": "Phone", "pii": True, "role": "identifier"},
     "cannot also be pii"),
    ({"name": "x", "type": "date", "label": "When", "role": "quasi_identifier"},
     "role 'quasi_identifier' needs type"),
])
def test_a_bad_ladder_names_the_variable_and_the_fix(variable, expected):
    with pytest.raises(pc.QuestionnaireError) as caught:
        _q(variable)
    assert expected in str(caught.value)
    assert "Fix:" in str(caught.value)


def test_disclosure_roles_may_be_held_by_many_variables():
    q = _q({"name": "a", "type": "text", "label": "A", "role": "identifier"},
           {"name": "b", "type": "text", "label": "B", "role": "identifier"})
    assert q.identifiers == ["a", "b"]
    with pytest.raises(pc.QuestionnaireError, match="given to several variables"):
        _q({"name": "w1", "type": "numeric", "label": "W", "role": "weight"},
           {"name": "w2", "type": "numeric", "label": "W", "role": "weight"})
