"""The questionnaire layer: the Central Mali instrument loads; bad questionnaires fail clearly."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import perception as pc
from perception.errors import QuestionnaireError
from perception.questionnaire.model import ROLES, VARIABLE_KEYS, VARIABLE_TYPES, Questionnaire

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
CERCLES = ROOT / "perception" / "demo" / "data" / "centre_mali_cercles_rgph2009.csv"  # RGPH 2009
DOC = ROOT / "docs" / "questionnaire_format.md"


@pytest.fixture(scope="module")
def q() -> Questionnaire:
    return pc.load_questionnaire(QUESTIONNAIRE)


# ------------------------------------------------------------------ the real instrument


def test_loads_with_roles_pii_and_languages(q: Questionnaire) -> None:
    assert q.id == "centre_mali_trust"
    assert q.languages == ("fr", "en")
    assert q.roles == {
        "id": "resp_id",
        "wave": "wave",
        "psu": "psu_id",
        "stratum": "stratum",
        "weight": "w_final",
        "treated": "treated",
    }
    assert q.pii == ["resp_name", "phone", "gps_lat", "gps_lon"]
    for name in ("commune", "ethnic", "fsi_equal", "abuse_heard", "trust_selfdef"):
        assert name in q.sensitive


def test_variables_table(q: Questionnaire) -> None:
    table = q.variables
    assert list(table.columns[:7]) == [
        "name",
        "type",
        "module",
        "label_fr",
        "label_en",
        "pii",
        "sensitive",
    ]
    assert table["name"].is_unique
    assert set(table["type"]) <= set(VARIABLE_TYPES)
    assert table["label_fr"].notna().all() and table["label_en"].notna().all()
    # a copy: changing it leaves the questionnaire alone
    table.loc[0, "name"] = "changed"
    assert q.variables.loc[0, "name"] == "resp_id"


def test_names_of_the_brief_are_present(q: Questionnaire) -> None:
    expected = """resp_id wave region cercle commune psu_id stratum w_final treated survey_date
    consent language resp_name phone gps_lat gps_lon sex age age_grp educ activity displaced
    hh_size ethnic safe_night sec_change state_protects unsafe_freq vict_theft vict_attack
    vict_reported vict_reported_to trust_police trust_gend trust_gn trust_pc trust_army
    trust_justice trust_mayor trust_trad trust_relig trust_selfdef fsi_present fsi_seen_30d
    fsi_respect fsi_equal racket_freq corr_fsi abuse_heard would_report judic_handover
    impunity req_help req_help_bribe ca_aware ca_type ca_participated ca_benefit ca_satisf
    ca_local_labour ca_hh_employed""".split()
    assert [n for n in expected if n not in q] == []


def test_trust_items_share_one_scale(q: Questionnaire) -> None:
    trust = q.module("trust")
    assert len(trust) == 10
    for name in trust:
        assert q.variable(name).type == "ordinal"
        assert q.valid_codes(name) == [0, 1, 2, 3]
        assert q.missing_codes(name) == [8, 9]
    assert q.labels("trust_police", "en")[3] == "A lot"
    assert q.labels("trust_police", "fr")[0] == "Pas du tout"
    assert q.labels("trust_police", "en", missing=False) == {
        0: "Not at all",
        1: "Just a little",
        2: "Somewhat",
        3: "A lot",
    }


def test_missing_codes_and_ranges(q: Questionnaire) -> None:
    age = q.variable("age")
    assert (age.type, age.min, age.max) == ("integer", 18, 110)
    assert q.missing_codes("age") == [998, 999]
    # activity uses 8 and 9 as valid codes, so its missing codes are two-digit
    assert 8 in q.valid_codes("activity") and q.missing_codes("activity") == [98, 99]
    assert q.labels("age", "fr")[998] == "Refus"


def test_skip_logic(q: Questionnaire) -> None:
    assert q.variable("vict_reported").relevant == "${vict_theft} = 1 or ${vict_attack} = 1"
    assert q.variable("vict_reported_to").relevant_expr.variables == {"vict_reported"}
    assert q.variable("req_help_bribe").relevant == "${req_help} = 1"
    for name in ("ca_type", "ca_participated", "ca_benefit", "ca_satisf", "ca_local_labour"):
        assert q.variable(name).relevant == "${ca_aware} = 1"
    assert q.variable("ca_type").type == "select_multiple"


def test_cercles_match_the_census_table(q: Questionnaire) -> None:
    census = pd.read_csv(CERCLES)
    cercle = q.labels("cercle", "fr", missing=False)
    region = q.labels("region", "fr", missing=False)
    assert len(cercle) == 15
    mapping = next(r for r in q.consistency if r.name == "cercle_in_region").mapping
    assert set(mapping) == set(cercle)
    got = sorted((region[mapping[code]], name) for code, name in cercle.items())
    assert got == sorted(zip(census["region"], census["cercle"], strict=True))
    assert sum(1 for r, _ in got if r == "Mopti") == 8


def test_label_and_unknown_names(q: Questionnaire) -> None:
    assert q.label("age", "en") == "How old are you (completed years)?"
    assert q.label("age").startswith("Quel âge")  # default language: fr
    with pytest.raises(QuestionnaireError, match="did you mean 'trust_police'"):
        q.variable("trust_polize")
    with pytest.raises(QuestionnaireError, match="no labels in language 'de'"):
        q.labels("age", "de")


def test_immutable(q: Questionnaire) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        q.variable("age").codes[5] = {"en": "x"}  # type: ignore[index]
    roles = q.roles
    roles["weight"] = "other"
    assert q.roles["weight"] == "w_final"


def test_schema_method(q: Questionnaire) -> None:
    import pandera.pandas as pa

    schema = q.schema()
    assert isinstance(schema, pa.DataFrameSchema)
    assert set(q.names) <= set(schema.columns)


def test_documentation_covers_every_field_and_its_example_loads() -> None:
    text = DOC.read_text(encoding="utf-8")
    for key in VARIABLE_KEYS:
        assert f"`{key}`" in text, key
    for role in ROLES:
        assert f"`{role}`" in text, role
    example = text.split("## Complete small example")[1].split("```yaml")[1].split("```")[0]
    mini = Questionnaire.from_dict(yaml.safe_load(example))
    assert mini.roles["weight"] == "w_final" and mini.pii == ["phone"]


# ------------------------------------------------------------------ bad questionnaires

BASE: dict[str, Any] = {
    "id": "mini",
    "languages": ["fr", "en"],
    "modules": [
        {
            "name": "m",
            "label": {"fr": "M", "en": "M"},
            "variables": [
                {"name": "rid", "type": "text", "role": "id", "label": {"fr": "Id", "en": "Id"}},
                {
                    "name": "w",
                    "type": "numeric",
                    "role": "weight",
                    "label": {"fr": "Poids", "en": "Weight"},
                },
                {
                    "name": "age",
                    "type": "integer",
                    "label": {"fr": "Âge", "en": "Age"},
                    "range": {"min": 18, "max": 110},
                    "missing": {998: {"fr": "Refus", "en": "Refused"}},
                },
                {
                    "name": "theft",
                    "type": "binary",
                    "label": {"fr": "Vol", "en": "Theft"},
                },
                {
                    "name": "reported",
                    "type": "categorical",
                    "label": {"fr": "Signalé", "en": "Reported"},
                    "relevant": "${theft} = 1",
                    "codes": {1: {"fr": "Oui", "en": "Yes"}, 3: {"fr": "Non", "en": "No"}},
                },
            ],
        }
    ],
}


def variables(data: dict[str, Any]) -> list[dict[str, Any]]:
    return data["modules"][0]["variables"]


def var(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in variables(data) if v["name"] == name)


def test_base_is_valid() -> None:
    assert Questionnaire.from_dict(copy.deepcopy(BASE)).names == [
        "rid",
        "w",
        "age",
        "theft",
        "reported",
    ]


def _unknown_type(d):
    var(d, "age")["type"] = "integr"


def _duplicate_name(d):
    variables(d).append(copy.deepcopy(var(d, "theft")))


def _missing_collides_with_code(d):
    var(d, "reported")["missing"] = {3: {"fr": "NSP", "en": "DK"}}


def _missing_inside_range(d):
    var(d, "age")["missing"] = {99: {"fr": "NSP", "en": "DK"}}


def _relevant_unknown(d):
    var(d, "reported")["relevant"] = "${thef} = 1"


def _relevant_later(d):
    var(d, "age")["relevant"] = "${theft} = 1"


def _self_cycle(d):
    var(d, "reported")["relevant"] = "${reported} = 1"


def _two_cycle(d):
    var(d, "theft")["relevant"] = "${reported} = 1"


def _min_above_max(d):
    var(d, "age")["range"] = {"min": 110, "max": 18}


def _range_on_coded(d):
    var(d, "reported")["range"] = {"min": 1, "max": 3}


def _typo_field(d):
    var(d, "reported")["relevent"] = "${theft} = 1"


def _boolean_label(d):
    var(d, "reported")["codes"][3]["en"] = False  # YAML's unquoted No


def _label_language_missing(d):
    var(d, "age")["label"] = {"fr": "Âge"}


def _unknown_role(d):
    var(d, "age")["role"] = "weights"


def _role_twice(d):
    var(d, "age")["role"] = "id"


def _weight_not_numeric(d):
    var(d, "w")["type"] = "text"


def _pii_design(d):
    var(d, "rid")["pii"] = True


def _malicious_relevant(d):
    var(d, "reported")["relevant"] = "__import__('os').system('x')"


def _binary_three_codes(d):
    var(d, "theft")["codes"] = {
        0: {"fr": "Non", "en": "No"},
        1: {"fr": "Oui", "en": "Yes"},
        2: {"fr": "?", "en": "?"},
    }


def _unknown_code_list(d):
    var(d, "reported")["codes"] = "yes_no"


def _categorical_without_codes(d):
    del var(d, "reported")["codes"]


def _mapping_bad_code(d):
    d["consistency"] = [
        {"name": "m1", "type": "mapping", "from": "reported", "to": "theft", "map": {2: 1}}
    ]


def _rule_unknown_variable(d):
    d["consistency"] = [{"name": "r1", "type": "rule", "condition": "${agee} >= 18"}]


def _required_not_boolean(d):
    var(d, "age")["required"] = "yes"


def _float_code(d):
    var(d, "reported")["codes"] = {1.5: {"fr": "a", "en": "a"}}


BAD_CASES = [
    (_unknown_type, ["'age'", "'type'", "unknown type 'integr'", "did you mean 'integer'"]),
    (_duplicate_name, ["'theft'", "duplicate variable name"]),
    (_missing_collides_with_code, ["'reported'", "'missing'", "missing code(s) 3 also declared"]),
    (_missing_inside_range, ["'age'", "'missing'", "inside the valid range"]),
    (_relevant_unknown, ["'reported'", "'relevant'", "unknown variable 'thef'", "'theft'"]),
    (_relevant_later, ["'age'", "'relevant'", "comes later"]),
    (_self_cycle, ["'reported'", "cycle: reported -> reported"]),
    (_two_cycle, ["cycle", "theft", "reported"]),
    (_min_above_max, ["'age'", "'range'", "min 110 is greater than max 18"]),
    (_range_on_coded, ["'reported'", "'range'", "cannot have a range"]),
    (_typo_field, ["'reported'", "'relevent'", "unknown field", "did you mean 'relevant'"]),
    (_boolean_label, ["'reported'", "is the boolean False", 'quote it: en: "No"']),
    (_label_language_missing, ["'age'", "'label'", "no 'en' label"]),
    (_unknown_role, ["'age'", "'role'", "unknown role 'weights'"]),
    (_role_twice, ["role 'id'", "rid, age"]),
    (_weight_not_numeric, ["'w'", "role 'weight' needs type numeric or integer"]),
    (_pii_design, ["'rid'", "'pii'", "cannot be pii"]),
    (_malicious_relevant, ["'reported'", "'relevant'", "unknown function '__import__'"]),
    (_binary_three_codes, ["'theft'", "exactly 2 valid codes"]),
    (_unknown_code_list, ["'reported'", "'codes'", "no code_lists entry named 'yes_no'"]),
    (_categorical_without_codes, ["'reported'", "needs codes"]),
    (_mapping_bad_code, ["consistency check 'm1'", "2 is not a valid code of 'reported'"]),
    (_rule_unknown_variable, ["consistency check 'r1'", "unknown variable(s) agee"]),
    (_required_not_boolean, ["'age'", "'required'", "must be true or false"]),
    (_float_code, ["'reported'", "invalid code 1.5"]),
]


@pytest.mark.parametrize(("mutate", "fragments"), BAD_CASES, ids=[c[0].__name__ for c in BAD_CASES])
def test_bad_questionnaire(mutate, fragments: list[str]) -> None:
    data = copy.deepcopy(BASE)
    mutate(data)
    with pytest.raises(QuestionnaireError) as info:
        Questionnaire.from_dict(data, source="bad.yaml")
    message = str(info.value)
    assert message.startswith("bad.yaml: invalid questionnaire")
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "Fix:" in message


def test_every_problem_is_listed_at_once() -> None:
    data = copy.deepcopy(BASE)
    _unknown_type(data)
    _missing_collides_with_code(data)
    _typo_field(data)
    with pytest.raises(QuestionnaireError) as info:
        Questionnaire.from_dict(data)
    message = str(info.value)
    assert "3 problems" in message
    assert message.count("\n  - ") == 3


# ------------------------------------------------------------------ bad files


def write(tmp_path: Path, text: str | bytes, name: str = "q.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(QuestionnaireError, match="questionnaire file not found"):
        pc.load_questionnaire(tmp_path / "absent.yaml")
    with pytest.raises(QuestionnaireError, match="the file is empty"):
        pc.load_questionnaire(write(tmp_path, "  \n"))
    with pytest.raises(QuestionnaireError, match="exceeds the limit of 10 bytes"):
        pc.load_questionnaire(QUESTIONNAIRE, max_bytes=10)
    with pytest.raises(QuestionnaireError, match=r"not UTF-8 text \(byte 7, line 1"):
        pc.load_questionnaire(write(tmp_path, "id: caf\xe9 \xe9".encode("latin-1")))
    with pytest.raises(QuestionnaireError, match="must hold a mapping"):
        pc.load_questionnaire(write(tmp_path, "- a\n- b\n"))


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, "id: x\nlanguages: [fr, en\nmodules: []\n")
    with pytest.raises(QuestionnaireError, match=r"invalid YAML at line \d+, column \d+"):
        pc.load_questionnaire(path)


def test_duplicate_code_key_in_file(tmp_path: Path) -> None:
    text = QUESTIONNAIRE.read_text(encoding="utf-8").replace(
        '          2: {fr: "Femme", en: "Female"}',
        '          2: {fr: "Femme", en: "Female"}\n          1: {fr: "Autre", en: "Other"}',
    )
    assert text != QUESTIONNAIRE.read_text(encoding="utf-8")
    with pytest.raises(QuestionnaireError, match=r"duplicate key 1 \(first on line \d+\)"):
        pc.load_questionnaire(write(tmp_path, text))


def test_aliases_rejected(tmp_path: Path) -> None:
    text = "id: x\ntitle: &t {en: a}\nlanguages: [en]\nmodules: *t\n"
    with pytest.raises(QuestionnaireError, match="aliases"):
        pc.load_questionnaire(write(tmp_path, text))


def test_unquoted_no_in_a_file(tmp_path: Path) -> None:
    text = """
id: x
languages: [en]
variables:
  - {name: ok, type: binary, label: Is it fine, codes: {0: No, 1: Yes}}
"""
    with pytest.raises(QuestionnaireError, match="YAML reads unquoted"):
        pc.load_questionnaire(write(tmp_path, text))


def test_questionnaire_file_untouched(tmp_path: Path) -> None:
    before = QUESTIONNAIRE.read_bytes()
    pc.load_questionnaire(QUESTIONNAIRE)
    assert QUESTIONNAIRE.read_bytes() == before


def test_the_waves_key_names_the_waves_and_its_problems_are_reported_with_the_others():
    base = {"id": "x", "languages": ["fr", "en"], "variables": [
        {"name": "wave", "type": "integer", "role": "wave",
         "label": {"fr": "Vague", "en": "Wave"}}]}
    q = pc.Questionnaire.from_dict({**base, "waves": {
        0: {"fr": "Situation de référence", "en": "Baseline"},
        1: {"fr": "Fin de projet", "en": "Endline"}}})
    assert (q.wave_label(0, "en"), q.wave_label(1.0, "fr"), q.wave_label(2)) == (
        "Baseline", "Fin de projet", None)
    with pytest.raises(QuestionnaireError) as caught:
        pc.Questionnaire.from_dict({**base, "waves": {0: {"de": "Anfang"}},
                                    "consistency": "not a list"})
    message = str(caught.value)
    assert "top level, key 'waves'" in message and "'de'" in message
    assert "top level, key 'consistency'" in message
