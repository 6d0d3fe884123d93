"""Repeat tables: read from a KoboToolbox export (a sheet per repeat, or repeat columns in
a CSV), validated with the parent's answers and the repeat count, summarised onto the
parent rows."""

from __future__ import annotations

import hashlib

import numpy as np
import openpyxl
import pandas as pd
import pytest

import perception as pc

Q = {
    "id": "hh", "languages": ["en"],
    "code_lists": {"sex": {1: "Male", 2: "Female"}},
    "variables": [
        {"name": "resp_id", "type": "text", "label": "Id", "role": "id", "unique": True},
        {"name": "hh_size", "type": "integer", "label": "Household size", "required": True},
    ],
    "repeats": [
        {"name": "members", "label": "Members", "count": "${hh_size}", "variables": [
            {"name": "member_name", "type": "text", "label": "First name", "pii": True},
            {"name": "age", "type": "integer", "label": "Age", "required": True,
             "range": {"min": 0, "max": 120}},
            {"name": "sex", "type": "categorical", "codes": "sex", "label": "Sex"},
            {"name": "school", "type": "binary", "label": "At school?",
             "relevant": "${age} < 18 and ${hh_size} > 1"},
        ]},
        {"name": "jobs", "label": "Jobs", "parent": "members", "variables": [
            {"name": "job", "type": "text", "label": "Job", "relevant": "${age} >= 15"},
        ]},
    ],
}

MAIN = [["resp_id", "hh_size", "_id", "_uuid", "_index"],
        ["H1", 2, 101, "u1", 1], ["H2", 1, 102, "u2", 2], ["H3", 3, 103, "u3", 3]]
MEMBERS = [["member_name", "age", "sex", "school", "_index", "_parent_table_name",
            "_parent_index", "_submission__uuid"],
           ["Awa", 34, 2, None, 1, "main", 1, "u1"],
           ["Ali", 8, 1, 1, 2, "main", 1, "u1"],
           ["Sira", 61, 2, None, 3, "main", 2, "u2"],
           ["Oumar", 40, 1, None, 4, "main", 3, "u3"],
           ["Fanta", 12, 2, 0, 5, "main", 3, "u3"],
           ["Ibra", 16, 1, 1, 6, "main", 3, "u3"]]
JOBS = [["job", "_index", "_parent_table_name", "_parent_index", "_submission__uuid"],
        ["farmer", 1, "members", 1, "u1"], ["trader", 2, "members", 4, "u3"],
        ["herder", 3, "members", 6, "u3"]]


def _export(path, sheets):
    book = openpyxl.Workbook()
    first = True
    for name, rows in sheets.items():
        sheet = book.active if first else book.create_sheet(name)
        sheet.title = name
        first = False
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


@pytest.fixture()
def q():
    return pc.Questionnaire.from_dict(Q)


@pytest.fixture()
def export(tmp_path):
    return _export(tmp_path / "export.xlsx", {"main": MAIN, "members": MEMBERS, "jobs": JOBS})


def test_a_repeat_sheet_is_read_validated_and_linked(q, export):
    before = hashlib.sha256(export.read_bytes()).hexdigest()
    members = pc.read_repeat(export, q, "members")
    assert list(members.columns) == ["age", "sex", "school", "_index", "_parent_index",
                                     "_submission__uuid"]  # the first name (pii) dropped
    assert members["age"].tolist() == [34, 8, 61, 40, 12, 16]
    assert members["_submission__uuid"].tolist() == ["u1", "u1", "u2", "u3", "u3", "u3"]
    assert hashlib.sha256(export.read_bytes()).hexdigest() == before
    hashed = pc.read_repeat(export, q, "members", keep_pii="hash",
                            hash_key="a secret of 16+ bytes")
    assert len(hashed["member_name"].iloc[0]) == 64


def test_the_parents_answers_enter_the_skip_logic(q, export, tmp_path):
    rows = [list(r) for r in MEMBERS]
    rows[3][3] = 1  # Sira, 61, answered 'at school' although not asked (age >= 18)
    bad = _export(tmp_path / "bad.xlsx", {"main": MAIN, "members": rows, "jobs": JOBS})
    with pytest.raises(pc.WaveValidationError) as info:
        pc.read_repeat(bad, q, "members")
    errors = info.value.report.errors
    assert errors[["row", "column", "check"]].values.tolist() == [[2, "school", "relevant"]]


def test_the_repeat_count_is_checked(q, tmp_path):
    rows = MEMBERS[:-1]  # household H3 declares 3 members, the sheet holds 2
    path = _export(tmp_path / "short.xlsx", {"main": MAIN, "members": rows})
    with pytest.raises(pc.WaveValidationError) as info:
        pc.read_repeat(path, q, "members")
    message = str(info.value)
    assert "repeat_count" in message and "parent u3: 2 rows of 'members' but the count " \
        "${hh_size} says 3" in message


def test_a_nested_repeat_links_to_its_parent_repeat(q, export):
    jobs = pc.read_repeat(export, q, "jobs")
    assert jobs["job"].tolist() == ["farmer", "trader", "herder"]
    members = pc.read_repeat(export, q, "members")
    out = pc.attach_repeat(members, jobs, {"n_jobs": "count"})
    assert out["n_jobs"].tolist() == [1, 0, 0, 1, 0, 1]


def test_repeat_columns_of_a_csv_export(tmp_path):
    q = pc.Questionnaire.from_dict({
        "id": "t", "languages": ["en"],
        "variables": [{"name": "name_of_hh", "type": "text", "label": "Household"}],
        "repeats": [{"name": "children", "variables": [
            {"name": "childs_name", "type": "text", "label": "Name", "pii": True},
            {"name": "childs_age", "type": "integer", "label": "Age"}]}]})
    path = tmp_path / "export.csv"
    path.write_text(
        "name_of_hh,children[1]/childs_name,children[1]/childs_age,children[2]/childs_name,"
        "children[2]/childs_age,_uuid,_index\n"
        "Diallo,Aminata,3,Moussa,7,u1,1\n"
        "Traore,Sekou,12,n/a,n/a,u2,2\n"
        "Keita,n/a,n/a,n/a,n/a,u3,3\n", encoding="utf-8")
    children = pc.read_repeat(path, q, "children")
    assert children["childs_age"].tolist() == [3, 7, 12]
    assert children["_submission__uuid"].tolist() == ["u1", "u1", "u2"]
    assert children["_parent_index"].tolist() == [1, 1, 2]
    wave = pc.read_wave(path, q)
    assert wave["_uuid"].tolist() == ["u1", "u2", "u3"]  # kept to link the repeat
    out = pc.attach_repeat(wave, children, {
        "n_children": "count", "mean_age": ("mean", "${childs_age}"),
        "any_teen": ("any", "${childs_age} >= 10"),
        "age_sum_young": ("sum", "${childs_age}", "${childs_age} < 10")})
    assert out["n_children"].tolist() == [2, 1, 0]
    assert out["mean_age"].tolist()[:2] == [5.0, 12.0] and np.isnan(out["mean_age"].iloc[2])
    assert out["any_teen"].tolist() == [False, True, False]
    assert out["age_sum_young"].tolist() == [10.0, 0.0, 0.0]


def test_attach_repeat_through_read_wave(q, export):
    wave = pc.read_wave(export, q)
    members = pc.read_repeat(export, q, "members")
    out = pc.attach_repeat(wave, members, {
        "n_members": "count", "n_children": ("count", None, "${age} < 18"),
        "n_women": ("count", None, "${sex} = 2"), "oldest": ("max", "${age}"),
        "any_pupil": ("any", "${school} = 1")})
    assert out["n_members"].tolist() == [2, 1, 3]
    assert out["n_children"].tolist() == [1, 0, 2]
    assert out["n_women"].tolist() == [1, 1, 1]
    assert out["oldest"].tolist() == [34.0, 61.0, 40.0]
    assert out["any_pupil"].tolist() == [True, False, True]
    assert "n_members" not in wave.columns  # the input is not modified


@pytest.mark.parametrize(
    ("summaries", "match"),
    [
        ({"x": "median"}, "unknown statistic 'median'"),
        ({"x": ("mean",)}, "mean needs an expression"),
        ({"x": 3}, "is not a summary"),
        ({"hh_size": "count"}, "already have column"),
        ({"x": ("mean", "${nope}")}, "nope"),
    ],
)
def test_attach_repeat_errors(q, export, summaries, match):
    wave = pc.read_wave(export, q)
    members = pc.read_repeat(export, q, "members")
    with pytest.raises(pc.PerceptionError, match=match):
        pc.attach_repeat(wave, members, summaries)


def test_no_link_no_repeat(q, export, tmp_path):
    with pytest.raises(pc.PerceptionError, match="cannot link"):
        pc.attach_repeat(pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [1]}), {"n": "count"})
    with pytest.raises(pc.QuestionnaireError, match="no repeat 'roster'"):
        pc.read_repeat(export, q, "roster")
    only_main = _export(tmp_path / "main.xlsx", {"main": MAIN})
    with pytest.raises(pc.PerceptionError, match="no data of the repeat 'members'"):
        pc.read_repeat(only_main, q, "members")
