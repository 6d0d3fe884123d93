"""XLSForm import through pyxform: XLSForm -> YAML -> load_questionnaire -> validate.

The forms are written for the tests (openpyxl for .xlsx, xlwt for .xls): the Central
Mali form of ``_xlsform_fixture`` and small forms that each carry one thing the field
produces (type aliases, old syntax, loops, cascading lists, repeats, mixed code lists,
don't-know codes, a wrong declared sheet size, an .xls workbook).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _xlsform_fixture import (
    CHOICES,
    EN,
    FR,
    SURVEY,
    wave_for_form,
    write_form_xls,
    write_xls,
    write_xlsform,
)

import perception as pc
from perception.cli import main
from perception.questionnaire.xlsform import (
    convert_xlsform,
    questionnaire_from_xlsform,
    xlsform_to_yaml,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "waves"))
from test_readers_inputs import _set_dimension  # noqa: E402 - a helper of the reader tests


@pytest.fixture(scope="module")
def form(tmp_path_factory) -> Path:
    return write_xlsform(tmp_path_factory.mktemp("xlsform") / "form.xlsx")


@pytest.fixture(scope="module")
def conversion(form):
    return convert_xlsform(form)


def _notes(conversion) -> str:
    return "\n".join(conversion.notes)


def _form(tmp_path: Path, survey: list[dict], choices: list[dict] = (), settings=None,
          name: str = "f.xlsx") -> Path:
    survey_columns = list(dict.fromkeys(k for row in survey for k in row))
    choices_columns = list(dict.fromkeys(k for row in choices for k in row)) or [
        "list_name", "name", "label"]
    return write_xlsform(tmp_path / name, survey, list(choices), settings,
                         survey_columns=survey_columns, choices_columns=choices_columns)


# ------------------------------------------------------------ the Central Mali form --
def test_round_trip_through_yaml(form, conversion, tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text(xlsform_to_yaml(form), encoding="utf-8")
    q = pc.load_questionnaire(path)
    direct = questionnaire_from_xlsform(form)
    assert q.names == direct.names
    assert q.variables.drop(columns="codes").equals(direct.variables.drop(columns="codes"))
    assert list(q.repeats) == ["hh_members"]
    report = pc.validate(wave_for_form(), q)
    assert report.ok, report.summary()


def test_the_xls_workbook_imports_the_same(form, conversion, tmp_path):
    xls = questionnaire_from_xlsform(write_form_xls(tmp_path / "form.xls"))
    xlsx = conversion.questionnaire()
    assert xls.names == xlsx.names and xls.languages == xlsx.languages
    assert xls.variables.equals(xlsx.variables)


def test_a_form_declaring_a_wrong_sheet_size_imports(form, conversion, tmp_path):
    import shutil

    for ref in ("A1", "A1:AMJ1048576"):
        copy = tmp_path / f"dim_{ref.replace(':', '_')}.xlsx"
        shutil.copy(form, copy)
        q = questionnaire_from_xlsform(_set_dimension(copy, ref))
        assert q.names == conversion.questionnaire().names


def test_settings_languages_and_modules(conversion):
    q = conversion.questionnaire()
    assert q.id == "centre_mali_trust_kobo" and q.version == "2024031501"
    assert q.languages == ("fr", "en")  # default_language first
    assert q.title["fr"].startswith("Confiance")
    assert [m["name"] for m in conversion.data["modules"]] == [
        "metadata", "grp_id", "grp_demo", "grp_trust", "grp_vict", "grp_ca", "main"]
    assert q.variable("trust_police").module == "grp_trust"
    assert q.variable("ca_benefit").module == "grp_ca"  # outermost group is the module
    assert q.label("trust_police", "en") == "The National Police"
    assert q.label("trust_police", "fr") == "La Police nationale"


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
    assert q.variable("sex").code_type == "integer"
    assert "unused" not in conversion.data["code_lists"]


def test_flags_roles_and_pii(conversion):
    q = conversion.questionnaire()
    assert q.pii == ["deviceid", "resp_name", "phone", "gps"]
    assert q.variable("deviceid").module == "metadata"
    assert set(q.sensitive) == {"commune", "displaced"}
    assert q.roles == {"id": "resp_id", "wave": "wave"}
    assert q.variable("trust_sum").derived and not q.variable("trust_sum").required
    assert q.variable("commune").required is False
    notes = _notes(conversion)
    assert "deviceid (device or SIM metadata, row 5)" in notes
    assert "gps (location, row 15)" in notes
    assert "resp_name (the form's pii column, row 13)" in notes
    # codes the form's missing column marks are not reported as inferred
    assert "list 'trust4'" not in notes


def test_skip_logic_and_constraints(conversion):
    q = conversion.questionnaire()
    assert q.variable("vict_reported").relevant == "${vict_theft} = 1"
    assert q.variable("ca_type_other").relevant == "selected(${ca_type}, '96')"
    # a group's relevant is joined to the relevant of every question inside it
    assert q.variable("ca_benefit").relevant == "${ca_aware} = 1"
    assert q.variable("ca_satisf").relevant == "(${ca_aware} = 1) and (${ca_benefit} > 0)"
    assert q.variable("consent").constraint == ". = 1"
    assert q.variable("consent").constraint_message == "Sans consentement, arrêtez l'entretien"
    assert q.variable("phone").constraint == "regex(., '^[0-9 +]+$')"


def test_notes_say_each_thing_once_with_its_rows(conversion):
    notes = conversion.notes
    timing = [n for n in notes if n.startswith("metadata timing the interview")]
    assert len(timing) == 1 and "row 2 (start), row 3 (end), row 4 (today)" in timing[0]
    assert any(n.startswith("dynamic required") and "row 36 (ca_satisf): ${ca_benefit} > 0"
               in n for n in notes)
    assert any(n.startswith("calculations") and "row 39 (trust_sum), row 40 (resp_tag)" in n
               for n in notes)
    assert any(n.startswith("repeat groups imported") and "row 41 (hh_members)" in n
               for n in notes)
    assert any("labels with no text" in n and "question 'trust_sum'" in n for n in notes)


def test_repeat_becomes_a_table(conversion):
    q = conversion.questionnaire()
    members = q.repeat("hh_members")
    assert members.names == ["member_name", "member_age"] and members.parent is None
    assert members.pii == ["member_name"]  # a first name
    assert members.label("member_age", "en") == "Age"
    with pytest.raises(pc.QuestionnaireError, match="no repeat 'members'"):
        q.repeat("members")


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
    assert "pyxform 4.5.0" in text.splitlines()[0]
    assert "&" not in text.split("\n\n", 1)[1].split(":")[0]  # no anchors
    assert "*" not in "".join(line.split(":")[0] for line in text.splitlines()
                              if not line.startswith("#"))
    assert yaml.safe_load(text)["languages"] == ["fr", "en"]
    assert "en: 'No'" in text  # YAML booleans quoted
    assert "# Notes (" in text and "personal data flagged pii" in text


def test_cli_import(form, tmp_path, capsys):
    out = tmp_path / "q.yaml"
    assert main(["questionnaire", "import", str(form), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "23 variables" in printed and "1 repeat" in printed
    assert "notes to review" in printed
    assert pc.load_questionnaire(out).id == "centre_mali_trust_kobo"
    assert main(["questionnaire", "import", str(form), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["questionnaire", "import", str(form), "--out", str(out), "--force"]) == 0


def test_cli_import_to_stdout_and_xls(form, tmp_path, capsys):
    assert main(["questionnaire", "import", str(form)]) == 0
    assert "format: perception-questionnaire/1" in capsys.readouterr().out
    xls = write_form_xls(tmp_path / "form.xls")
    assert main(["questionnaire", "import", str(xls), "--out", str(tmp_path / "x.yaml")]) == 0


# ------------------------------------------------------------ what the field writes --
def test_type_aliases_and_old_syntax(tmp_path):
    survey = [
        {"type": "select one from yes_no", "name": "hosts", "label": "Hosts someone?",
         "bind:required": "yes"},
        {"type": "select all that apply from sources or specify other", "name": "sources",
         "label": "Sources", "bind:relevant": "${hosts} = 'yes'"},
        {"type": "gps", "name": "where", "label": "Where"},
        {"type": "photo", "name": "pic", "label": "Picture"},
        {"type": "imei", "name": "imei"},
        {"type": "uri:deviceid", "name": "device"},
        {"type": "int", "name": "n", "label": "How many", "bind:required": "T"},
        {"type": "select_one yes_no", "name": "again", "label": "Again?",
         "bind:required": "TRUE"},
    ]
    choices = [
        {"list name": "yes_no", "name": "yes", "label": "Yes"},
        {"list name": "yes_no", "name": "no", "label": "No"},
        {"list name": "sources", "name": "well", "label": "Well"},
        {"list name": "sources", "name": "tap", "label": "Tap"},
        {"list name": None, "name": None, "label": "a stray row with a label only"},
    ]
    conversion = convert_xlsform(_form(tmp_path, survey, choices))
    q = conversion.questionnaire()
    assert q.variable("hosts").type == "categorical" and q.variable("hosts").required
    assert q.valid_codes("hosts") == ["yes", "no"]
    assert q.variable("sources").type == "select_multiple"
    assert q.valid_codes("sources") == ["well", "tap", "other"]  # or specify other
    assert q.variable("sources").relevant == "${hosts} = 'yes'"
    assert q.variable("sources_other").relevant == "selected(${sources}, 'other')"
    assert q.pii == ["where", "pic", "imei", "device"]
    assert q.variable("n").type == "integer" and q.variable("n").required
    assert q.variable("again").required


def test_mixed_and_text_code_lists(tmp_path):
    survey = [{"type": "select_one hp", "name": "pump", "label": "Pump"},
              {"type": "select_one yn", "name": "hosted", "label": "Hosted?"},
              {"type": "select_one n", "name": "rooms", "label": "Rooms"}]
    choices = [{"list_name": "hp", "name": n, "label": lab} for n, lab in
               [("hand_pump", "Hand pump"), ("0.5", "Half"), ("1", "One")]]
    choices += [{"list_name": "yn", "name": n, "label": lab} for n, lab in
                [("yes", "Yes"), ("no", "No"), ("-99", "Don't know"), ("-88", "Refused")]]
    choices += [{"list_name": "n", "name": n, "label": lab} for n, lab in
                [(1, "One"), (2, "Two"), (3, "Three"), (99, "No answer")]]
    conversion = convert_xlsform(_form(tmp_path, survey, choices))
    q = conversion.questionnaire()
    assert q.valid_codes("pump") == ["hand_pump", "0.5", "1"]
    assert q.variable("pump").code_type == "text"
    assert q.valid_codes("hosted") == ["yes", "no"] and q.missing_codes("hosted") == ["-99",
                                                                                      "-88"]
    assert q.valid_codes("rooms") == [1, 2, 3] and q.missing_codes("rooms") == [99]
    notes = _notes(conversion)
    assert "'hp' (numbers kept as text: 0.5, 1)" in notes
    assert "list 'yn': -99 Don't know (choices row 7); -88 Refused (choices row 8)" in notes
    wave = pd.DataFrame({"pump": ["1", "hand_pump"], "hosted": ["-99", "yes"],
                         "rooms": [99, 2]})
    assert pc.validate(wave, q).ok
    # the YAML keeps the codes as text
    path = tmp_path / "q.yaml"
    path.write_text(conversion.to_yaml(), encoding="utf-8")
    assert pc.load_questionnaire(path).valid_codes("pump") == ["hand_pump", "0.5", "1"]


@pytest.mark.parametrize(
    ("name", "label", "others", "missing"),
    [
        ("dk", "Don't know", ["a", "b"], True),
        ("refuse", "Refused", ["a", "b"], True),
        ("x9", "Ne sait pas", ["a", "b"], True),
        ("x8", "Refus de répondre", ["a", "b"], True),
        ("pnta", "Prefer not to answer", ["a", "b"], True),
        ("98", "98", ["1", "2", "3"], True),
        ("99", "99", [str(i) for i in range(1, 100)], False),  # an age, not a code
        ("other", "Other (specify)", ["a"], False),
        ("none", "None of these", ["a"], False),
    ],
)
def test_missing_codes_are_inferred(tmp_path, name, label, others, missing):
    rows = [{"list_name": "l", "name": o, "label": f"answer {o}"} for o in others if o != name]
    rows.append({"list_name": "l", "name": name, "label": label})
    q = convert_xlsform(_form(tmp_path, [{"type": "select_one l", "name": "q", "label": "Q"}],
                              rows)).questionnaire()
    code = int(name) if name.isdigit() and all(o.isdigit() for o in others) else name
    assert (code in q.missing_codes("q")) is missing


def test_the_forms_missing_column_decides(tmp_path):
    choices = [{"list_name": "l", "name": "dk", "label": "Don't know", "missing": "no"},
               {"list_name": "l", "name": "a", "label": "A"},
               {"list_name": "l", "name": "z", "label": "Zed", "missing": "yes"}]
    q = convert_xlsform(_form(tmp_path, [{"type": "select_one l", "name": "q", "label": "Q"}],
                              choices)).questionnaire()
    assert q.valid_codes("q") == ["dk", "a"] and q.missing_codes("q") == ["z"]


def test_personal_data_is_inferred_and_can_be_overridden(tmp_path):
    survey = [
        {"type": "text", "name": "respondent_name", "label": "Name of the respondent"},
        {"type": "text", "name": "village_name", "label": "Village"},
        {"type": "text", "name": "contact_phone", "label": "Phone"},
        {"type": "integer", "name": "phone_credit_spent", "label": "Spent on phone credit"},
        {"type": "text", "name": "nom_chef", "label": "Nom du chef", "pii": "no"},
        {"type": "geoshape", "name": "field", "label": "Field"},
        {"type": "username", "name": "username"},
    ]
    conversion = convert_xlsform(_form(tmp_path, survey))
    assert conversion.questionnaire().pii == [
        "respondent_name", "contact_phone", "field", "username"]
    assert "respondent_name (name-like text, row 2)" in _notes(conversion)


def test_choice_filter_is_kept_and_checked_row_by_row(tmp_path):
    survey = [{"type": "select_one state", "name": "state", "label": "State"},
              {"type": "select_one district", "name": "district", "label": "District",
               "choice_filter": "state=${state}"}]
    choices = [{"list_name": "state", "name": "n", "label": "North"},
               {"list_name": "state", "name": "s", "label": "South"}]
    choices += [{"list_name": "district", "name": d, "label": d.upper(), "state": st}
                for d, st in [("d1", "n"), ("d2", "n"), ("d3", "s")]]
    conversion = convert_xlsform(_form(tmp_path, survey, choices))
    assert conversion.data["choice_columns"] == {
        "district": {"state": {"d1": "n", "d2": "n", "d3": "s"}}}
    q = conversion.questionnaire()
    assert q.variable("district").choice_filter == "state=${state}"
    wave = pd.DataFrame({"state": ["n", "n", "s"], "district": ["d2", "d3", "d3"]})
    errors = pc.validate(wave, q).errors
    assert errors[["row", "column", "check"]].values.tolist() == [
        [1, "district", "choice_filter"]]


def test_repeats_nested_with_count_and_outer_references(tmp_path):
    survey = [
        {"type": "integer", "name": "hh_size", "label": "Size"},
        {"type": "begin repeat", "name": "members", "label": "Members",
         "repeat_count": "${hh_size}"},
        {"type": "integer", "name": "age", "label": "Age"},
        {"type": "text", "name": "school", "label": "School", "relevant": "${hh_size} > 1"},
        {"type": "begin repeat", "name": "jobs", "label": "Jobs"},
        {"type": "text", "name": "job", "label": "Job", "relevant": "${age} >= 15"},
        {"type": "end repeat"},
        {"type": "end repeat"},
    ]
    q = convert_xlsform(_form(tmp_path, survey)).questionnaire()
    members, jobs = q.repeat("members"), q.repeat("jobs")
    assert members.count == "${hh_size}" and members.parent is None
    assert jobs.parent == "members" and jobs.names == ["job"]
    assert members.variable("school").relevant == "${hh_size} > 1"


def test_loops_are_expanded(tmp_path):
    survey = [
        {"type": "select all that apply animals", "name": "owned", "label": "Owned"},
        {"type": "begin loop over animals", "name": "loop"},
        {"type": "integer", "name": "count", "label": "How many %(label)s?",
         "relevant": "selected(${owned}, '%(name)s')"},
        {"type": "end loop"},
    ]
    choices = [{"list_name": "animals", "name": "cow", "label": "cows"},
               {"list_name": "animals", "name": "goat", "label": "goats"}]
    q = convert_xlsform(_form(tmp_path, survey, choices)).questionnaire()
    assert q.names == ["owned", "cow_count", "goat_count"]
    assert q.label("goat_count") == "How many goats?"
    assert q.variable("cow_count").relevant == "selected(${owned}, 'cow')"


def test_a_dropped_group_relevant_leaves_its_questions_optional(tmp_path):
    survey = [
        {"type": "text", "name": "a", "label": "A"},
        {"type": "begin group", "name": "g", "label": "G",
         "relevant": "pulldata('f', 'x', 'y', ${a}) = 1"},
        {"type": "text", "name": "b", "label": "B", "required": "yes"},
        {"type": "end group"},
    ]
    conversion = convert_xlsform(_form(tmp_path, survey))
    q = conversion.questionnaire()
    assert not q.variable("b").required and q.variable("b").relevant is None
    assert "group relevant using function pulldata(), outside the expression language: " \
           "dropped: row 3 (g)" in _notes(conversion)
    assert "questions inside a relevant that was dropped" in _notes(conversion)


def test_an_odk_skip_is_not_a_false_relevant_error(tmp_path):
    survey = [{"type": "select_one yn", "name": "hosted", "label": "Hosted?"},
              {"type": "integer", "name": "rent", "label": "Rent",
               "relevant": "${hosted} != 'yes'", "required": "yes"}]
    choices = [{"list_name": "yn", "name": "yes", "label": "Yes"},
               {"list_name": "yn", "name": "no", "label": "No"}]
    q = convert_xlsform(_form(tmp_path, survey, choices)).questionnaire()
    # rent was asked (and answered) where hosted was skipped, as ODK Collect asks it
    wave = pd.DataFrame({"hosted": ["no", None, "yes"], "rent": [10, 20, None]})
    assert pc.validate(wave, q).ok
    wave.loc[1, "rent"] = None
    errors = pc.validate(wave, q).errors
    assert errors[["row", "check"]].values.tolist() == [[1, "required"]]


def test_malicious_skip_logic_is_dropped_not_run(tmp_path):
    survey = [
        {"type": "integer", "name": "a", FR: "A", EN: "A"},
        {"type": "integer", "name": "b", FR: "B", EN: "B", "required": "yes",
         "relevant": "${a} = 1 and not(${a} = 2) or count-selected(${a}) = 'x'"},
        {"type": "integer", "name": "c", FR: "C", EN: "C",
         "constraint": "string-length(.) > 0 and . != 'x'"},
    ]
    q = convert_xlsform(_form(tmp_path, survey)).questionnaire()
    assert q.variable("b").required and q.variable("c").constraint
    assert not (Path.cwd() / "pwned").exists()


def test_labels_in_every_language_kept(tmp_path):
    survey = [
        {"type": "select_one yn", "name": "ok", "label": "D'accord ?", "label::English": "OK?",
         "label::Bambara": "A ka ɲi wa?"},
        {"type": "integer", "name": "n", "label": "Nombre"},
    ]
    choices = [{"list_name": "yn", "name": 0, "label": "Non", "label::English": "No",
                "label::Bambara": "Ayi"},
               {"list_name": "yn", "name": 1, "label": "Oui", "label::English": "Yes",
                "label::Bambara": "Awɔ"}]
    conversion = convert_xlsform(_form(tmp_path, survey, choices,
                                       settings=[{"default_language": "French (fr)",
                                                  "form_id": "mini"}]))
    q = conversion.questionnaire()
    assert q.languages == ("fr", "en", "bm")
    assert q.label("ok", "bm") == "A ka ɲi wa?" and q.labels("ok", "bm") == {0: "Ayi", 1: "Awɔ"}
    assert q.label("n", "en") == "Nombre"  # filled from French, and noted
    assert any("labels with no text" in n and "question 'n'" in n for n in conversion.notes)


def test_an_xls_form_with_old_syntax(tmp_path):
    path = write_xls(tmp_path / "old.xls", {
        "survey": (["type", "name", "label:English", "label:French", "bind:relevant"], [
            {"type": "select one from yn or_other", "name": "ok", "label:English": "OK?",
             "label:French": "OK ?"},
            {"type": "text", "name": "why", "label:English": "Why", "label:French": "Pourquoi",
             "bind:relevant": "${ok} = 'no'"}]),
        "choices": (["list name", "name", "label:English", "label:French"], [
            {"list name": "yn", "name": "yes", "label:English": "Yes", "label:French": "Oui"},
            {"list name": "yn", "name": "no", "label:English": "No", "label:French": "Non"}]),
    })
    q = questionnaire_from_xlsform(path)
    assert q.languages == ("en", "fr")
    assert q.valid_codes("ok") == ["yes", "no", "other"]
    assert q.variable("why").relevant == "${ok} = 'no'"


# ------------------------------------------------------------ refused by pyxform --
def test_what_pyxform_refuses_is_refused_with_its_message_and_row(tmp_path):
    survey = [{"type": "begin group", "name": "g", "label": "G"},
              {"type": "text", "name": "x", "label": "X"},
              {"type": "text", "name": "x", "label": "X again"},
              {"type": "end group"}]
    with pytest.raises(pc.QuestionnaireError) as info:
        convert_xlsform(_form(tmp_path, survey))
    message = str(info.value)
    assert "pyxform 4.5.0, the XLSForm reference, refuses the form (sheet row 4)" in message
    assert "'x' is invalid" in message and "Fix:" in message


def test_duplicate_choices_refused(tmp_path):
    choices = [{"list_name": "l", "name": "a", "label": "A"},
               {"list_name": "l", "name": "a", "label": "A again"}]
    with pytest.raises(pc.QuestionnaireError, match=r"sheet rows? 3.*unique for each choice"):
        convert_xlsform(_form(tmp_path, [{"type": "select_one l", "name": "q", "label": "Q"}],
                              choices))


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("form.xlsx", b"type,name\n", "not an XLSForm workbook: its content is text"),
        ("form.xls", b"\xd0\xcf\x11\xe0" + b"\x00" * 600, "unreadable XLSForm|refuses"),
        ("empty.xlsx", b"", "the file is empty"),
    ],
)
def test_not_an_xlsform(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(pc.QuestionnaireError, match=match):
        convert_xlsform(path)


def test_workbook_without_survey_sheet(tmp_path, capsys):
    import openpyxl

    path = tmp_path / "data.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "data"
    book.active.append(["a", "b"])
    book.create_sheet("other").append(["c"])
    book.save(path)
    with pytest.raises(pc.QuestionnaireError, match="You must have a sheet named 'survey'"):
        convert_xlsform(path)
    assert main(["questionnaire", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "refuses the form" in err


def test_the_example_of_the_survey_sheet(tmp_path):
    assert len(SURVEY) > 30 and len(CHOICES) > 30  # the fixture is the realistic form


# ------------------------------------------------------------ the whole corpus --
_CORPUS = {
    "aliases": ([{"type": "select one from yn", "name": "a", "label": "A"},
                 {"type": "select all that apply from src or specify other", "name": "b",
                  "label": "B"},
                 {"type": "gps", "name": "c", "label": "C"}, {"type": "imei", "name": "d"}],
                [{"list name": "yn", "name": "yes", "label": "Yes"},
                 {"list name": "yn", "name": "no", "label": "No"},
                 {"list name": "src", "name": "well", "label": "Well"}]),
    "mixed": ([{"type": "select_one hp", "name": "pump", "label::English (en)": "Pump",
                "label::French (fr)": "Pompe"}],
              [{"list_name": "hp", "name": n, "label::English (en)": f"en {n}",
                "label::French (fr)": f"fr {n}"} for n in ("hand_pump", "0.5", "1", "-99")]),
    "loop_repeat": ([{"type": "select_multiple animals", "name": "owned", "label": "Owned"},
                     {"type": "begin loop over animals", "name": "loop"},
                     {"type": "integer", "name": "count", "label": "How many %(label)s?"},
                     {"type": "end loop"},
                     {"type": "begin repeat", "name": "herders", "label": "Herders"},
                     {"type": "select_one animals", "name": "kind", "label": "Kind"},
                     {"type": "end repeat"}],
                    [{"list_name": "animals", "name": n, "label": n} for n in ("cow", "goat")]),
    "cascade": ([{"type": "select_one st", "name": "st", "label": "State"},
                 {"type": "select_one di", "name": "di", "label": "District",
                  "choice_filter": "st = ${st}"}],
                [{"list_name": "st", "name": "n", "label": "N"},
                 {"list_name": "di", "name": "d1", "label": "D1", "st": "n"},
                 {"list_name": "di", "name": "d2", "label": "D2", "st": "s"}]),
}


@pytest.mark.parametrize("case", ["fixture", "fixture.xls", *_CORPUS])
def test_every_form_pyxform_converts_imports_with_its_codes_and_labels(tmp_path, case):
    from pyxform.xls2xform import convert

    if case == "fixture":
        path = write_xlsform(tmp_path / "form.xlsx")
    elif case == "fixture.xls":
        path = write_form_xls(tmp_path / "form.xls")
    else:
        path = _form(tmp_path, *_CORPUS[case])
    convert(str(path), validate=False)  # pyxform converts it ...
    conversion = convert_xlsform(path)  # ... so it imports
    q = conversion.questionnaire()
    if path.suffix == ".xls":  # the same choices as the .xlsx fixture
        choices = pd.DataFrame(CHOICES).astype(str)
    else:
        choices = pd.read_excel(path, sheet_name="choices", dtype=str, engine="openpyxl")
    choices = choices.rename(columns={"list name": "list_name"})
    tables = [q, *q.repeats.values()]
    for table in tables:
        for v in table.variable_list:
            assert set(v.labels) == set(q.languages), v.name  # every language
            if not v.codes:
                continue
            kept = {str(c) for c in [*v.codes, *v.missing]}
            lists = [{str(n).strip() for n in choices.loc[choices["list_name"] == name,
                                                          "name"].dropna()}
                     for name in choices["list_name"].dropna().unique()]
            # the variable keeps every code of its list, as valid or missing code
            assert any(names <= kept and kept - {"other"} <= names for names in lists), v.name


def test_the_role_column_takes_the_disclosure_roles(tmp_path):
    survey = [{"type": "text", "name": "hh", "label": "Household", "role": "identifier"},
              {"type": "integer", "name": "age", "label": "Age", "role": "quasi_identifier"},
              {"type": "integer", "name": "n", "label": "N", "role": "no_such_role"}]
    conversion = convert_xlsform(_form(tmp_path, survey))
    q = conversion.questionnaire()
    assert q.identifiers == ["hh"] and q.quasi_identifiers == ["age"] and q.roles == {}
    assert "row 4 (n): no_such_role" in _notes(conversion)
