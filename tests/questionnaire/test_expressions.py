"""The XLSForm expression subset: parsing, vectorised evaluation, rejection of the rest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perception.errors import QuestionnaireError
from perception.questionnaire.expressions import MAX_EXPRESSION_LENGTH, parse_expression


@pytest.fixture()
def df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "vict_theft": [1, 0, np.nan, 9, 0],
            "vict_attack": [0, 1, np.nan, 0, 0],
            "ca_type": ["1 3", "2", None, "99", "3 96"],
            "commune": ["Mopti", "San", None, "Bla", "mopti"],
            "age": [19, 45, np.nan, 998, 70],
            "coded_text": ["1", "2", None, "x", "3"],
            "day": pd.to_datetime(["2024-01-05", "2024-03-01", None, "2023-12-31", "2024-06-30"]),
        },
        index=["a", "b", "c", "d", "e"],
    )


def ev(text: str, frame: pd.DataFrame, **kw) -> list[bool]:
    return parse_expression(text).evaluate(frame, **kw).tolist()


def test_variables_and_current() -> None:
    e = parse_expression("${vict_theft} = 1 or ${vict_attack} = 1")
    assert e.variables == {"vict_theft", "vict_attack"}
    assert not e.uses_current
    c = parse_expression(". >= 18 and . <= ${age_max}")
    assert c.uses_current and c.variables == {"age_max"}


def test_or_and_blank_answers_as_in_odk(df: pd.DataFrame) -> None:
    assert ev("${vict_theft} = 1 or ${vict_attack} = 1", df) == [True, True, False, False, False]
    assert ev("${vict_theft} = 0 and ${vict_attack} = 0", df) == [False, False, False, False, True]
    # ODK: a blank answer is '' (NaN as a number): = is false, != is true
    assert ev("${vict_theft} != 1", df) == [False, True, True, True, True]
    assert ev("not(${vict_theft} = 1)", df) == [False, True, True, True, True]


def test_result_is_aligned_boolean_series(df: pd.DataFrame) -> None:
    out = parse_expression("${age} > 30").evaluate(df)
    assert out.dtype == bool
    assert list(out.index) == list(df.index)


def test_selected_and_count_selected(df: pd.DataFrame) -> None:
    assert ev("selected(${ca_type}, '3')", df) == [True, False, False, False, True]
    assert ev("selected(${ca_type}, 3)", df) == [True, False, False, False, True]
    assert ev("count-selected(${ca_type}) >= 2", df) == [True, False, False, False, True]
    assert ev("count-selected(${ca_type}) = 0", df) == [False, False, True, False, False]


def test_arithmetic_and_precedence(df: pd.DataFrame) -> None:
    assert ev("1 + 2 * 3 = 7", df) == [True] * 5
    assert ev("(1 + 2) * 3 = 9", df) == [True] * 5
    assert ev("7 div 2 = 3.5 and 7 mod 2 = 1", df) == [True] * 5
    assert ev("-${age} < -40", df) == [False, True, False, True, True]
    # division by zero is infinity, as in ODK (blank stays NaN: false)
    assert ev("${age} div 0 > 1", df) == [True, True, False, True, True]


def test_text_and_numbers_in_text(df: pd.DataFrame) -> None:
    assert ev("${commune} = 'Mopti'", df) == [True, False, False, False, False]
    assert ev('${commune} != "Mopti"', df) == [False, True, True, True, True]
    # text holding numbers compares as numbers against a number
    assert ev("${coded_text} >= 2", df) == [False, True, False, False, True]


def test_dates(df: pd.DataFrame) -> None:
    assert ev("${day} >= '2024-01-01'", df) == [True, True, False, False, True]


def test_current_value(df: pd.DataFrame) -> None:
    assert ev(". >= 18 and . <= 110", df, current="age") == [True, True, False, False, True]
    assert ev(". > 20", df, current=df["age"]) == [False, True, False, True, True]


def test_nullable_integer_columns() -> None:
    frame = pd.DataFrame({"x": pd.array([1, None, 0], dtype="Int64")})
    assert ev("${x} = 1", frame) == [True, False, False]
    assert ev("${x} != 1", frame) == [False, True, True]


def test_input_not_mutated(df: pd.DataFrame) -> None:
    before = df.copy(deep=True)
    parse_expression("selected(${ca_type}, '3') or ${age} * 2 > 3").evaluate(df)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os').system('x')", "unknown function '__import__'"),
        ("eval('1')", "unknown function 'eval'"),
        ("${a}.__class__", "position 4"),
        ("os.system('ls')", "bare name 'os'"),
        ("lambda: 1", "unexpected character ':'"),
        ("${a} == 1", "position 6"),
        ("${a} = 'abc", "unterminated"),
        ("${1a} = 1", "invalid variable reference"),
        ("${a} = 1 and", "found the end of the expression"),
        ("not(1, 2)", "not() takes 1 argument"),
        ("if(1, 2)", "if() takes 3 argument"),
        ("pulldata('a', 'b')", "unknown function 'pulldata'"),
        ("../a = 1", "unexpected character '/'"),
        ("jr:choice-name(${a}, '${a}')", "unexpected character ':'"),
        ("regex(., '[a-')", "invalid regular expression"),
        ("selected(1, '2')", "first argument of selected()"),
        ("(${a} = 1", "expected ')'"),
        ("${a} = 1)", "expected an operator"),
        ("and ${a}", "missing its left operand"),
        ("${a}; import os", "unexpected character ';'"),
        ("${a} = 1 # comment", "unexpected character '#'"),
        ("", "empty expression"),
        ("(" * 50 + "1" + ")" * 50, "nested more than"),
    ],
)
def test_rejected(text: str, fragment: str) -> None:
    with pytest.raises(QuestionnaireError) as info:
        parse_expression(text)
    message = str(info.value)
    assert fragment in message
    assert "position" in message
    assert "Fix:" in message
    assert repr(text)[:40] in message or "..." in message


def test_too_long_and_not_text() -> None:
    with pytest.raises(QuestionnaireError, match="longer than"):
        parse_expression("1 + " * MAX_EXPRESSION_LENGTH + "1")
    with pytest.raises(QuestionnaireError, match="must be text"):
        parse_expression(12)  # type: ignore[arg-type]


def test_evaluation_errors(df: pd.DataFrame) -> None:
    with pytest.raises(QuestionnaireError, match="nope"):
        parse_expression("${nope} = 1").evaluate(df)
    with pytest.raises(QuestionnaireError, match="only has a meaning in a constraint"):
        parse_expression(". = 1").evaluate(df)


# ---------------------------------------------------------------- ODK's behaviour
# Each case is what JavaRosa (ODK Collect's engine, version 5.1) gives for the same
# expression on the same answers: 'blank' is a question left empty, 'name' holds
# "Maria da Silva", 'services' the select_multiple answer "water power".
ODK = pd.DataFrame({
    "age": [42], "blank": [np.nan], "blank_text": [None], "name": ["Maria da Silva"],
    "services": ["water power"], "one_service": ["water"], "cpf": ["12345678901"],
    "spaced": ["  padded  "], "hosted": [None],
})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${blank} = 0", False),
        ("${blank} != 0", True),
        ("${blank_text} = ''", True),
        ("${blank} = ''", True),
        ("${hosted} != 'yes'", True),
        ("${hosted} = 'yes'", False),
        ("${age} = 42", True),
        ("${age} = '42'", True),
        ("${age} > 18", True),
        ("'a' < 'b'", False),
        ("number('abc') = number('abc')", False),
        ("number('abc') > 0", False),
        ("1 < 2 and 2 < 3", True),
        ("1 > 2 or 2 < 3", True),
        ("selected(${services}, 'water')", True),
        ("selected(${services}, 'wat')", False),
        ("selected(${one_service}, 'water')", True),
        ("boolean('0')", True),
        ("boolean('')", False),
        ("boolean(${blank})", False),
        ("boolean-from-string('TRUE')", True),
        ("boolean-from-string('no')", False),
        ("not(true())", False),
        ("contains(${name}, 'Silva')", True),
        ("contains(${name}, 'silva')", False),
        ("starts-with(${name}, 'Maria')", True),
        ("ends-with(${name}, 'Silva')", True),
        ("regex('12345678901', '[0-9]{11}')", True),
        ("regex('12345678901', '^[0-9]{11}$')", True),
        ("regex(${cpf}, '[0-9]{11}')", True),
        ("regex('a12345678901b', '[0-9]{11}')", False),  # the whole text must match
        ("regex('abc123', '[0-9]+')", False),
    ],
)
def test_conditions_as_odk_evaluates_them(text: str, expected: bool) -> None:
    assert parse_expression(text).evaluate(ODK).tolist() == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 1", 2.0),
        ("7 div 2", 3.5),
        ("7 mod 3", 1.0),
        ("-7 mod 3", -1.0),
        ("1 div 0", np.inf),
        ("-1 div 0", -np.inf),
        ("0 div 0", np.nan),
        ("number('abc')", np.nan),
        ("number('42')", 42.0),
        ("number(${age})", 42.0),
        ("number(${blank})", np.nan),
        ("${blank} + 1", np.nan),  # missing in, missing out
        ("round(1.5)", 2.0),
        ("round(2.5)", 3.0),
        ("round(-1.5)", -1.0),
        ("round(1.2345, 2)", 1.23),
        ("round(1235.5, -2)", 1200.0),
        ("int(1.9)", 1.0),
        ("int(-1.9)", -1.0),
        ("abs(-3)", 3.0),
        ("pow(2, 10)", 1024.0),
        ("min(3, 1, 2)", 1.0),
        ("max(3, 1, 2)", 3.0),
        ("string-length(${name})", 14.0),
        ("string-length(${blank})", 0.0),
        ("count-selected(${services})", 2.0),
        ("count-selected(${one_service})", 1.0),
        ("count-selected(${blank})", 0.0),
        ("if(${blank} != '', 1 div 0, -1)", -1.0),
    ],
)
def test_numbers_as_odk_computes_them(text: str, expected: float) -> None:
    value = parse_expression(text).values(ODK).iloc[0]
    assert (np.isnan(expected) and np.isnan(value)) or value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("string(${age})", "42"),
        ("string(${blank})", None),
        ("concat('a', 'b', 'c')", "abc"),
        ("concat(${name}, '!')", "Maria da Silva!"),
        ("normalize-space(${spaced})", "padded"),
        ("substr('hello', 2, 3)", "l"),
        ("substr('hello', 0, 2)", "he"),
        ("substr('hello', -2)", "lo"),
        ("selected-at(${services}, 0)", "water"),
        ("selected-at(${services}, 1)", "power"),
        ("selected-at(${services}, 5)", None),
        ("coalesce(${blank_text}, 'fallback')", "fallback"),
        ("coalesce(${name}, 'fallback')", "Maria da Silva"),
        ("if(${age} > 18, 'adult', 'child')", "adult"),
    ],
)
def test_text_as_odk_computes_it(text: str, expected: str | None) -> None:
    assert parse_expression(text).values(ODK).iloc[0] == expected


def test_today_and_dates() -> None:
    import datetime as dt

    frame = pd.DataFrame({"dob": pd.to_datetime(["2000-03-01", None])})
    e = parse_expression("int((today() - ${dob}) div 365.25)")
    assert e.values(frame, today=dt.date(2024, 3, 1)).tolist()[0] == 24.0
    assert np.isnan(e.values(frame, today=dt.date(2024, 3, 1)).tolist()[1])
    assert parse_expression("today() > date('2024-01-01')").evaluate(
        frame, today=dt.date(2024, 3, 1)).tolist() == [True, True]
    assert parse_expression("${dob} < '2001-01-01'").evaluate(frame).tolist() == [True, False]


def test_choice_filter_columns() -> None:
    e = parse_expression("state = ${state} and name != 'x'", choice_filter=True)
    assert e.choice_columns == {"state", "name"} and e.variables == {"state"}
    frame = pd.DataFrame({"state": ["s1", "s2", None]})
    assert e.evaluate(frame, choice={"state": "s1", "name": "d1"}).tolist() == [
        True, False, False]
    with pytest.raises(QuestionnaireError, match="bare name 'state'"):
        parse_expression("state = ${state}")


def test_unsupported_features_are_named() -> None:
    from perception.questionnaire.expressions import ExpressionError

    for text, feature in [("pulldata('a', 'b', 'c', 'd')", "function pulldata()"),
                          ("../a = 1", "XPath paths (/, ../)"),
                          ("jr:choice-name(1, 2)", "namespaced functions (jr:..., a:b)"),
                          ("position(..) = 1", "function position()")]:
        with pytest.raises(ExpressionError) as info:
            parse_expression(text)
        assert info.value.feature == feature


# ------------------------------------------------------------------ invariants
from hypothesis import given, settings  # noqa: E402 - the property tests of the module
from hypothesis import strategies as st  # noqa: E402

_cells = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["", "yes", "no", "1", "2"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_cells, _cells), min_size=1, max_size=8))
def test_different_is_not_equal_whatever_the_answers(pairs) -> None:
    frame = pd.DataFrame({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]},
                         dtype=object)
    for left, right in [("${a}", "${b}"), ("${a}", "'yes'"), ("${a}", "1"), ("${b}", "''")]:
        equal = parse_expression(f"{left} = {right}").evaluate(frame)
        different = parse_expression(f"{left} != {right}").evaluate(frame)
        negated = parse_expression(f"not({left} = {right})").evaluate(frame)
        assert (different == negated).all()  # as in ODK: a NaN is different from all
        assert not (equal & different).any()
