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


def test_or_and_missing_is_false(df: pd.DataFrame) -> None:
    assert ev("${vict_theft} = 1 or ${vict_attack} = 1", df) == [True, True, False, False, False]
    assert ev("${vict_theft} = 0 and ${vict_attack} = 0", df) == [False, False, False, False, True]
    # a missing answer makes every comparison false, != included
    assert ev("${vict_theft} != 1", df) == [False, True, False, True, True]
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
    assert ev("${age} div 0 > 1", df) == [False] * 5  # division by zero is missing


def test_text_and_numbers_in_text(df: pd.DataFrame) -> None:
    assert ev("${commune} = 'Mopti'", df) == [True, False, False, False, False]
    assert ev('${commune} != "Mopti"', df) == [False, True, False, True, True]
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
    assert ev("${x} != 1", frame) == [False, False, True]


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
