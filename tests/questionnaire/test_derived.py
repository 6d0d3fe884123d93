"""Derived variables (the ``derived:`` section): checked when the questionnaire is built,
computed missing in, missing out, and imported from XLSForm ``calculate`` fields (their
use by read_wave, designs and the CLI: tests/test_derived_variables.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

import perception as pc
from perception.errors import QuestionnaireError
from perception.questionnaire.derived import derive
from perception.questionnaire.xlsform import convert_xlsform

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
TRUST4 = {0: "Not at all", 1: "A little", 2: "Somewhat", 3: "A lot"}
DK = {8: "Refused", 9: "Don't know"}


def _questionnaire(derived: dict, extra: list | None = None) -> pc.Questionnaire:
    return pc.Questionnaire.from_dict({
        "id": "t", "languages": ["en"],
        "variables": [
            {"name": "a", "type": "ordinal", "label": "A", "codes": TRUST4, "missing": DK},
            {"name": "b", "type": "ordinal", "label": "B", "codes": TRUST4, "missing": DK},
            {"name": "c", "type": "integer", "label": "C", "relevant": "${a} >= 1",
             "missing": {99: "Don't know"}},
            {"name": "town", "type": "text", "label": "Town"},
            *(extra or []),
        ],
        "derived": derived})


# ------------------------------------------------------------ missing in, missing out --

ANSWERS = st.sampled_from([0, 1, 2, 3, 8, 9, None])
FORMULAS = {
    "mean_ab": "(${a} + ${b}) div 2",
    "a_high": "if(${a} >= 2, 1, 0)",
    "ac": "${a} * ${c}",
    "sum3": "${a} + ${b} + ${c}",
}
Q = _questionnaire({name: {"expression": text, "label": name} for name, text in
                    FORMULAS.items()} | {"a_high": {"expression": FORMULAS["a_high"],
                                                    "type": "binary", "label": "A high"}})


def _is_missing(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A source is NA, a missing code or not asked (c is asked where a >= 1 on the
    tablet, the codes 8 and 9 of a included, as ODK evaluated it)."""
    values = frame[name]
    out = values.isna() | values.isin([8, 9, 99])
    if name == "c":
        out |= ~(frame["a"] >= 1)
    return out.to_numpy()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(ANSWERS, ANSWERS, st.sampled_from([0, 4, 99, None])),
                min_size=1, max_size=30))
def test_a_derived_value_is_missing_exactly_when_a_source_is(rows):
    frame = pd.DataFrame(rows, columns=["a", "b", "c"], dtype="float64")
    before = frame.copy()
    out = derive(frame, Q)
    pd.testing.assert_frame_equal(frame, before)  # the input is never modified
    sources = {"a": _is_missing(frame, "a"), "b": _is_missing(frame, "b"),
               "c": _is_missing(frame, "c")}
    for name, text in FORMULAS.items():
        used = [s for s in "abc" if f"${{{s}}}" in text]
        expected = np.logical_or.reduce([sources[s] for s in used])
        np.testing.assert_array_equal(out[name].isna().to_numpy(), expected, err_msg=name)
    # never 0 for a missing source: the values that are known are the formula's
    known = ~sources["a"] & ~sources["b"]
    np.testing.assert_allclose(out.loc[known, "mean_ab"],
                               (frame.loc[known, "a"] + frame.loc[known, "b"]) / 2)
    np.testing.assert_array_equal(out.loc[~sources["a"], "a_high"].to_numpy(dtype=float),
                                  (frame.loc[~sources["a"], "a"] >= 2).astype(float))


def test_three_valued_logic_and_the_branch_taken():
    q = _questionnaire({
        "any_high": {"expression": "if(${a} >= 2 or ${b} >= 2, 1, 0)", "type": "binary",
                     "label": "Any"},
        "both_high": {"expression": "if(${a} >= 2 and ${b} >= 2, 1, 0)", "type": "binary",
                      "label": "Both"},
        "pick": {"expression": "if(${a} = 0, 0, ${b})", "type": "integer", "label": "Pick"},
        "first": {"expression": "coalesce(${a}, ${b})", "type": "integer", "label": "First"},
    })
    frame = pd.DataFrame({"a": [3, 0, 9, 0, 1], "b": [9, 9, 3, 1, None]})
    out = q.derive(frame)
    assert out["any_high"].tolist() == [1, pd.NA, 1, 0, pd.NA]   # true or NA is true
    assert out["both_high"].tolist() == [pd.NA, 0, pd.NA, 0, 0]  # false and NA is false
    assert out["pick"].tolist() == [pd.NA, 0, pd.NA, 0, pd.NA]   # b read only when a != 0
    assert out["first"].tolist() == [3, 0, 3, 0, 1]


# -------------------------------------------------------------------- errors --


def _error(derived: dict, extra: list | None = None) -> str:
    with pytest.raises(QuestionnaireError) as info:
        _questionnaire(derived, extra)
    return str(info.value)


def test_an_unknown_variable_is_named_with_the_expression_and_the_fix():
    message = _error({"x": {"expression": "${aa} + 1", "label": "X"}})
    assert "variable 'x' (module 'derived'), field 'expression'" in message
    assert "'${aa} + 1' refers to unknown variable 'aa'" in message
    assert "Fix:" in message


def test_a_cycle_between_derived_variables_is_refused():
    message = _error({"x": {"expression": "${y} + 1", "label": "X"},
                      "y": {"expression": "${x} * 2", "label": "Y"}})
    assert "cycle: x -> y -> x" in message and "Fix:" in message


@pytest.mark.parametrize(("expression", "words"), [
    ("${town} + 1", "type mismatch in '${town} + 1': ${town} holds text"),
    ("concat(${town}, 'x')", "gives text, and a numeric variable holds numbers"),
    ("if(${a} >= 2, 'yes', 0)", "the values of if() are text and a number"),
])
def test_a_type_mismatch_is_named(expression, words):
    message = _error({"x": {"expression": expression, "label": "X"}})
    assert words in message and "derived" in message and "Fix:" in message


def test_fields_and_names_of_the_section_are_checked():
    message = _error({"a": {"expression": "${b}", "label": "A again"},
                      "z": {"expression": "${a}", "label": "Z", "relevant": "${b} = 1"},
                      "t": {"expression": "${a}", "label": "T", "type": "text"},
                      "k": {"expression": "${a}", "label": "K", "type": "categorical",
                            "codes": {"x": "X"}}})
    assert "derived variable 'a': also the name of a variable" in message
    assert "derived variable 'z', field 'relevant': unknown field" in message
    assert "type 'text' cannot be derived" in message
    assert "derived variable 'k', field 'codes': text codes" in message


def test_a_derived_variable_holds_disclosure_roles_only_and_sits_beside_its_sources():
    message = _error({"w": {"expression": "${a} * 2", "label": "W", "role": "weight"}})
    assert "derived variable 'w', field 'role': role 'weight' cannot be derived" in message
    q = _questionnaire({"a2": {"expression": "${a} * 2", "label": "A2", "module": "main",
                               "role": "quasi_identifier"},
                        "late": {"expression": "${b}", "label": "Late"}})
    assert q.names[:3] == ["a", "a2", "b"] and q.names[-1] == "late"
    assert q.quasi_identifiers == ["a2"]


def test_a_value_outside_the_codes_is_an_error_naming_the_rows():
    q = _questionnaire({"x": {"expression": "${a} + 1", "type": "binary", "label": "X"}})
    with pytest.raises(QuestionnaireError, match=r"'x' \('\$\{a\} \+ 1'\) gives 2, 3 in rows 1, 2"):
        q.derive(pd.DataFrame({"a": [0, 1, 2]}))


def test_the_old_derived_flag_warns_and_is_an_answer_column():
    entry = {"name": "grp", "type": "integer", "label": "Group", "derived": True}
    with pytest.warns(DeprecationWarning, match="derived: section"):
        q = _questionnaire({}, [entry])
    assert not q.variable("grp").derived and not q.variable("grp").required


def test_the_questionnaire_has_no_old_flag_left():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q = pc.load_questionnaire(QUESTIONNAIRE)
    assert q.derived[:2] == ["age_grp", "trust_police_high"]


def test_derive_of_a_named_variable_needs_its_sources():
    with pytest.raises(QuestionnaireError, match="needs column\\(s\\) b"):
        derive(pd.DataFrame({"a": [1]}), Q, ["mean_ab"])
    with pytest.raises(QuestionnaireError, match="'a' is not a derived variable"):
        derive(pd.DataFrame({"a": [1]}), Q, ["a"])
    # without names, those whose sources are absent are left out
    assert list(derive(pd.DataFrame({"a": [1]}), Q).columns) == ["a", "a_high"]


# ----------------------------------------------------------- XLSForm calculate --


def _xlsform(path: Path) -> Path:
    book = Workbook()
    survey = book.active
    survey.title = "survey"
    rows = [
        ("type", "name", "label", "calculation", "relevant"),
        ("select_one trust", "trust_police", "Police", None, None),
        ("select_one trust", "trust_gend", "Gendarmerie", None, None),
        ("integer", "age", "Age", None, None),
        ("text", "village", "Village", None, None),
        ("calculate", "police_high", None, "if(${trust_police} >= 2, 1, 0)", None),
        ("calculate", "fsi_mean", None, "(${trust_police} + ${trust_gend}) div 2", None),
        ("calculate", "adult", None, "${age} >= 18", None),
        ("calculate", "tag", None, "concat(${village}, '-', ${age})", None),
        ("calculate", "lookup", None, "pulldata('towns', 'code', 'name', ${village})", None),
        ("integer", "visits", "Visits", None, "${police_high} = 1"),
    ]
    for row in rows:
        survey.append(row)
    choices = book.create_sheet("choices")
    choices.append(("list_name", "name", "label"))
    for code, label in [*TRUST4.items(), (9, "Don't know")]:
        choices.append(("trust", code, label))
    settings_sheet = book.create_sheet("settings")
    settings_sheet.append(("form_id", "form_title"))
    settings_sheet.append(("calc_test", "Calculations"))
    book.save(path)
    return path


def test_xlsform_calculations_become_derived_variables(tmp_path):
    conversion = convert_xlsform(_xlsform(tmp_path / "form.xlsx"))
    q = conversion.questionnaire()
    assert q.derived == ["police_high", "fsi_mean"]
    assert q.variable("police_high").expression == "if(${trust_police} >= 2, 1, 0)"
    # the others stay columns of the data, each with the reason
    for name in ("adult", "tag", "lookup"):
        assert not q.variable(name).derived and not q.variable(name).required
    notes = "\n".join(conversion.notes)
    assert "calculations: imported as derived variables" in notes
    assert "giving true/false (write if(..., 1, 0)" in notes and "(adult)" in notes
    assert "giving text" in notes and "(tag)" in notes
    assert "pulldata()" in notes and "(lookup)" in notes
    # a later question may still depend on a derived variable
    assert q.variable("visits").relevant == "${police_high} = 1"
    frame = pd.DataFrame({"trust_police": [3, 9, 1], "trust_gend": [1, 2, None]})
    out = q.derive(frame)
    assert out["police_high"].isna().tolist() == [False, True, False]
    assert out["police_high"].dropna().tolist() == [1.0, 0.0]
    assert out["fsi_mean"].isna().tolist() == [False, True, True]
    assert out["fsi_mean"].iloc[0] == 2.0
