"""Select-multiple answers as one 0/1 indicator per option (questionnaire/multiple.py):
space-separated answers and KoboToolbox option columns read the same; each row without an
answer says why (not asked, a missing code, blank)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perception.errors import QuestionnaireError
from perception.questionnaire import Questionnaire
from perception.questionnaire.multiple import (
    NO_ANSWER,
    NOT_ASKED,
    option_columns,
    option_indicators,
)

CODES = [1, 2, 3, 0]
Q = Questionnaire.from_dict({
    "id": "m", "languages": ["en"],
    "variables": [
        {"name": "aware", "type": "categorical", "label": "Aware",
         "codes": {0: "No", 1: "Yes"}, "missing": {9: "Don't know"}},
        {"name": "ca", "type": "select_multiple", "label": "Which?",
         "relevant": "${aware} = 1",
         "codes": {1: "Water", 2: "School", 3: "Health", 0: "None"},
         "missing": {98: "Refused", 99: "Don't know"}},
    ],
})
VAR = Q.variable("ca")

answer = st.one_of(
    st.none(), st.sampled_from(["98", "99"]),
    st.lists(st.sampled_from(["1", "2", "3"]), min_size=1, max_size=3, unique=True)
    .map(" ".join), st.just("0"))


@st.composite
def waves(draw):
    rows = draw(st.lists(st.tuples(st.sampled_from([0, 1, 9]), answer), min_size=1,
                         max_size=40))
    aware = [a for a, _ in rows]
    ca = [c if a == 1 else None for a, c in rows]  # answers only where asked
    return pd.DataFrame({"aware": aware, "ca": pd.Series(ca, dtype=object)})


def kobo(data: pd.DataFrame, sep: str) -> pd.DataFrame:
    out = data.drop(columns="ca")
    tokens = data["ca"].map(lambda t: t.split(), na_action="ignore")
    for code in [*CODES, 98, 99]:
        out[f"ca{sep}{code}"] = tokens.map(lambda r, c=str(code): int(c in r),
                                           na_action="ignore")
    return out


@settings(max_examples=60, deadline=None)
@given(waves(), st.sampled_from(["/", "."]))
def test_option_columns_and_space_separated_answers_agree(data, sep):
    spaced = option_indicators(data, VAR)
    columns = option_indicators(kobo(data, sep), VAR)
    pd.testing.assert_frame_equal(spaced.indicators, columns.indicators)
    assert spaced.reason.tolist() == columns.reason.tolist()


@settings(max_examples=60, deadline=None)
@given(waves())
def test_indicators_count_the_chosen_codes_and_reasons_explain_the_rest(data):
    answers = option_indicators(data, VAR)
    answered = answers.reason.isna().to_numpy()
    chosen = answers.indicators.to_numpy()
    assert np.isnan(chosen[~answered]).all()
    counts = [len(t.split()) for t in data["ca"][answered]]
    np.testing.assert_array_equal(chosen[answered].sum(axis=1), counts)
    expected = [None if a == 1 and c not in ("98", "99") and c is not None
                else NOT_ASKED if a != 1 else NO_ANSWER if c is None else int(c)
                for a, c in zip(data["aware"], data["ca"], strict=True)]
    assert answers.reason.tolist() == expected


def test_keep_missing_gives_the_missing_codes_an_indicator():
    data = pd.DataFrame({"aware": [1, 1, 0], "ca": ["98", "1 2", None]})
    answers = option_indicators(data, VAR, keep_missing=True)
    assert answers.options == [*CODES, 98, 99]
    assert answers.indicators["98"].tolist()[:2] == [1.0, 0.0]
    assert answers.reason.tolist() == [None, None, NOT_ASKED]


def test_without_the_skip_logic_columns_blanks_are_no_answers():
    answers = option_indicators(pd.DataFrame({"ca": ["1", None]}), VAR)
    assert answers.reason.tolist() == [None, NO_ANSWER] and not answers.skip_logic


def test_option_columns_are_found_by_their_code():
    assert option_columns(["ca/1", "ca.0", "ca-98", "ca/7", "cab/1", "aware"], VAR) == {
        "ca/1": 1, "ca.0": 0, "ca-98": 98}


@pytest.mark.parametrize("frame, words", [
    (pd.DataFrame({"aware": [1, 1], "ca": ["1", "1 98"]}), ["missing code together", "1"]),
    (pd.DataFrame({"aware": [1, 1], "ca": ["1", "5"]}), ["'5'", "rows 1"]),
    (pd.DataFrame({"aware": [0], "ca": ["1"]}), ["not asked", "${aware} = 1"]),
    (pd.DataFrame({"aware": [1], "ca/1": [2]}), ["must hold 0 or 1", "ca/1"]),
    (pd.DataFrame({"aware": [1]}), ["no column 'ca'", "option column"]),
])
def test_bad_answers_are_named(frame, words):
    with pytest.raises(QuestionnaireError) as err:
        option_indicators(frame, VAR)
    for word in words:
        assert word in str(err.value)


def test_not_a_select_multiple_is_refused():
    with pytest.raises(QuestionnaireError, match="categorical, not select_multiple"):
        option_indicators(pd.DataFrame({"aware": [1]}), Q.variable("aware"))
