"""XLSForm import: XLSForm -> YAML -> load_questionnaire -> validate a wave."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _xlsform_fixture import (
    CHOICES,
    EN,
    FR,
    SURVEY,
    wave_for_form,
    write_xlsform,
)

import perception as pc
from perception.cli import main
from perception.questionnaire.xlsform import (
    convert_xlsform,
    questionnaire_from_xlsform,
    xlsform_to_yaml,
)


@pytest.fixture(scope="module")
def form(tmp_path_factory) -> Path:
    return write_xlsform(tmp_path_factory.mktemp("xlsform") / "form.xlsx")


@pytest.fixture(scope="module")
def conversion(form):
    return convert_xlsform(form)


def _variable(conversion, name: str) -> dict:
    data = conversion.data
    entries = [v for m in data["modules"] for v in m.get("variables", [])] + data.get(
        "variables", [])
    return next(v for v in entries if v["name"] == name)


def test_round_trip_through_yaml(form, conversion, tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(xlsform_to_yaml(form), encoding="utf-8")
    q = pc.load_questionnaire(path)
    direct = questionnaire_from_xlsform(form)
    assert q.names == direct.names
    assert q.variables.drop(columns="codes").equals(direct.variables.drop(columns="codes"))
    report = pc.validate(wave_for_form(), q)
    assert report.ok, report.summary()


def test_settings_languages_and_modules(conversion):
    q = conversion.questionnaire()
    assert q.id == "centre_mali_trust_kobo" and q.version == "2024031501"
    assert q.languages == ("fr", "en")  # default_language first
    assert q.title["fr"].startswith("Confiance")
    assert [m["name"] for m in conversion.data["modules"]] == [
        "grp_id", "grp_demo", "grp_trust", "grp_vict", "grp_ca", "main"]
    assert q.variable("trust_police").module == "grp_trust"
    assert q.variable("ca_benefit").module == "grp_ca"  # outermost group is the module
    assert q.label("trust_police", "en") == "The National Police"


def test_types_codes_and_missing_codes(conversion):
    q = conversion.questionnaire()
    types = dict(zip(q.variables["name"], q.variables["type"], strict=True))
    assert types["consent"] == "binary"  # select_one with codes 0/1
    assert types["vict_theft"] == "binary"  # 0/1 plus missing 8/9
    assert types["sex"] == "categorical"
    assert types["ca_type"] == "select_multiple"
    assert types["age"] == "integer" and types["trust_sum"] == "numeric"
    assert types["gps"] == "text" and types["resp_tag"] == "text"
    assert q.missing_codes("trust_police") == [8, 9]
    assert q.valid_codes("trust_police") == [0, 1, 2, 3]
    assert q.missing_codes("vict_reported") == [7, 8, 9]
    assert q.labels("displaced", "en")[9] == "Don't know"
    assert "unused" not in conversion.data["code_lists"]


def test_flags_roles_and_pii(conversion):
    q = conversion.questionnaire()
    assert q.pii == ["resp_name", "phone", "gps"]  # the geopoint is pii by its type
    assert set(q.sensitive) == {"commune", "displaced"}
    assert q.roles == {"id": "resp_id", "wave": "wave"}
    assert q.variable("trust_sum").derived and not q.variable("trust_sum").required
    assert q.variable("commune").required is False


def test_skip_logic_and_constraints(conversion):
    q = conversion.questionnaire()
    assert q.variable("vict_reported").relevant == "${vict_theft} = 1"
    assert q.variable("ca_type_other").relevant == "selected(${ca_type}, '96')"
    # a group's relevant is joined to the relevant of every question inside it
    assert q.variable("ca_benefit").relevant == "${ca_aware} = 1"
    assert q.variable("ca_satisf").relevant == "(${ca_aware} = 1) and (${ca_benefit} > 0)"
    assert q.variable("consent").constraint == ". = 1"
    assert q.variable("consent").constraint_message == "Sans consentement, arrêtez l'entretien"
    assert q.variable("phone").constraint is None  # regex() is not in the safe language


def test_notes_name_what_was_skipped_or_changed(conversion):
    notes = "\n".join(conversion.notes)
    assert "row 14: constraint \"regex(., '^[0-9 +]+$')\" dropped" in notes
    assert "repeat group 'hh_members' skipped" in notes
    assert "start, end, today, deviceid" in notes
    assert "dynamic required '${ca_benefit} > 0'" in notes
    assert "'resp_tag': calculation" in notes
    assert "no 'fr' text" in notes  # calculations have no label
    names = [v for m in conversion.data["modules"] for v in m["variables"]]
    assert not any(v["name"] in ("member_name", "member_age", "intro") for v in names)


def test_validation_uses_the_imported_skip_logic(conversion):
    q = conversion.questionnaire()
    wave = wave_for_form()
    wave.loc[1, "vict_reported"] = 3  # asked although vict_theft = 0
    wave.loc[0, "trust_police"] = 5  # not a code
    errors = pc.validate(wave, q).errors
    assert set(zip(errors["column"], errors["check"], errors["row"], strict=True)) == {
        ("vict_reported", "relevant", 1), ("trust_police", "codes", 0)}


def test_yaml_text_is_safe_and_commented(form):
    text = xlsform_to_yaml(form)
    assert text.startswith("# Converted from the XLSForm form.xlsx")
    assert "&" not in text.split("\n\n", 1)[1].split(":")[0]  # no anchors
    assert "*" not in "".join(line.split(":")[0] for line in text.splitlines()
                              if not line.startswith("#"))
    assert yaml.safe_load(text)["languages"] == ["fr", "en"]
    assert "en: 'No'" in text  # YAML booleans quoted


def test_cli_import(form, tmp_path, capsys):
    out = tmp_path / "q.yaml"
    assert main(["questionnaire", "import", str(form), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "22 variables" in printed and "notes to review" in printed
    assert pc.load_questionnaire(out).id == "centre_mali_trust_kobo"
    assert main(["questionnaire", "import", str(form), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["questionnaire", "import", str(form), "--out", str(out), "--force"]) == 0


def test_cli_import_to_stdout(form, capsys):
    assert main(["questionnaire", "import", str(form)]) == 0
    assert "format: perception-questionnaire/1" in capsys.readouterr().out


def test_plain_labels_and_language_names(tmp_path):
    survey = [
        {"type": "select_one yn", "name": "ok", "label": "D'accord ?", "label::English": "OK?"},
        {"type": "integer", "name": "n", "label": "Nombre"},
    ]
    choices = [{"list_name": "yn", "name": 0, "label": "Non", "label::English": "No"},
               {"list_name": "yn", "name": 1, "label": "Oui", "label::English": "Yes"}]
    path = write_xlsform(tmp_path / "f.xlsx", survey, choices,
                         settings=[{"default_language": "French (fr)", "form_id": "mini"}],
                         survey_columns=["type", "name", "label", "label::English"],
                         choices_columns=["list_name", "name", "label", "label::English"])
    conversion = convert_xlsform(path)
    q = conversion.questionnaire()
    assert q.languages == ("fr", "en")
    assert q.label("ok", "en") == "OK?" and q.label("ok", "fr") == "D'accord ?"
    assert q.label("n", "en") == "Nombre"  # filled from French, and noted
    assert any("no 'en' text" in note and "question 'n'" in note for note in conversion.notes)


def test_unmarked_missing_choice_is_noted(tmp_path):
    survey = [{"type": "select_one t", "name": "trust", FR: "Confiance", EN: "Trust"}]
    choices = [{"list_name": "t", "name": c, FR: fr, EN: en}
               for c, fr, en in [(0, "Non", "No"), (1, "Oui", "Yes"), (9, "NSP", "Don't know")]]
    conversion = convert_xlsform(write_xlsform(tmp_path / "f.xlsx", survey, choices))
    assert any("choice 9 of list 't'" in note and "missing: yes" in note
               for note in conversion.notes)
    assert conversion.questionnaire().valid_codes("trust") == [0, 1, 9]


def test_malicious_skip_logic_is_dropped_not_run(tmp_path):
    survey = [
        {"type": "integer", "name": "a", FR: "A", EN: "A"},
        {"type": "integer", "name": "b", FR: "B", EN: "B", "required": "yes",
         "relevant": "__import__('os').system('touch pwned')"},
        {"type": "integer", "name": "c", FR: "C", EN: "C", "constraint": "${a}.__class__"},
    ]
    conversion = convert_xlsform(write_xlsform(tmp_path / "f.xlsx", survey, CHOICES[:2]))
    q = conversion.questionnaire()
    assert q.variable("b").relevant is None and not q.variable("b").required
    assert q.variable("c").constraint is None
    assert sum("dropped: outside the safe expression language" in note
               for note in conversion.notes) == 2
    assert not (Path.cwd() / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_every_problem_is_listed_with_sheet_and_row(tmp_path):
    survey = [
        *SURVEY[5:8],  # begin group grp_id, resp_id, wave
        {"type": "select_one nolist", "name": "x", FR: "X", EN: "X"},
        {"type": "text", "name": "resp_id", FR: "Encore", EN: "Again"},
        {"type": "magic_type", "name": "y", FR: "Y", EN: "Y"},
        {"type": "text", "name": "bad-name", FR: "Z", EN: "Z"},
    ]  # and the group is never closed
    choices = [*CHOICES, {"list_name": "wave", "name": 0, FR: "Double", EN: "Twice"}]
    with pytest.raises(pc.QuestionnaireError) as info:
        convert_xlsform(write_xlsform(tmp_path / "f.xlsx", survey, choices))
    message = str(info.value)
    assert "6 problems" in message
    for fragment in [
        f"sheet 'choices', row {len(choices) + 1}: choice 0 appears twice in list 'wave'",
        "sheet 'survey', row 5: choice list 'nolist' is not on the choices sheet",
        "sheet 'survey', row 6: name 'resp_id' already used on row 3",
        "sheet 'survey', row 7: unknown question type 'magic_type'",
        "sheet 'survey', row 8: name 'bad-name' is not a valid column name",
        "sheet 'survey', row 2: group 'grp_id' is never closed",
    ]:
        assert fragment in message


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("form.xlsx", b"type,name\n", "not an XLSX workbook: its content is text"),
        ("form.xls", b"\xd0\xcf\x11\xe0", r"must be an \.xlsx workbook"),
    ],
)
def test_not_an_xlsform(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(pc.QuestionnaireError, match=match):
        convert_xlsform(path)


def test_workbook_without_survey_sheet(tmp_path):
    import openpyxl

    path = tmp_path / "data.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["a", "b"])
    book.save(path)
    with pytest.raises(pc.QuestionnaireError, match="no sheet named 'survey'"):
        convert_xlsform(path)
