"""Every renamed argument, every argument that became keyword-only and every renamed
attribute of the public API keeps working for one release, with a DeprecationWarning,
and gives the same result as the new spelling; each is listed in CHANGELOG.md.

The cases are listed by hand (each needs its own arguments); the last tests find the
deprecations in the source, so a new one without a case here or a line in the
changelog fails.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import perception as pc
from perception.deprecation import positional_deprecated, renamed_argument

ROOT = Path(__file__).resolve().parents[1]
KEY = "a secret of sixteen bytes or more"
TYPES = {"E": 4421, "H": 755, "M": 1018}
SCHWIDE = {"No": 1072, "Yes": 5122}
WAVE_FILE = ROOT / "tests" / "data" / "centre_mali_wave_small.csv"
VILLAGES = pd.DataFrame({"cercle": np.repeat(["Mopti", "Ségou"], 100)})
REPLICATES = pd.DataFrame({"w": [1.0, 2, 3], "r1": [1.0, 2, 2], "r2": [2.0, 1, 3]})


@dataclass(frozen=True)
class Inputs:
    demo: pc.DemoSurvey
    design: Any           # the demo's design
    api: Any              # apistrat, stratified with fpc
    wave: pd.DataFrame    # a few hundred rows of the demo's waves
    table: pd.DataFrame   # an estimate table with small cells


@pytest.fixture(scope="module")
def inputs(demo) -> Inputs:
    api = pc.SurveyDesign(pc.datasets.load("apistrat"), weights="pw", strata="stype",
                          fpc="fpc")
    wave = demo.waves[demo.waves["wave"] == 0].head(300).copy()
    table = pc.proportion(api, "sch_wide", by="stype")
    return Inputs(demo, demo.design(), api, wave, table)


TRUST = ["trust_police", "trust_gend", "trust_gn"]


@dataclass(frozen=True)
class Case:
    """``old(inputs)`` warns with ``match`` and equals ``new(inputs)``."""

    function: str     # the qualified name, as in the source
    change: str       # "old->new" for a rename, "positional" for a keyword-only change
    old: Callable[[Inputs], Any]
    new: Callable[[Inputs], Any]
    match: str

    @property
    def id(self) -> str:
        return f"{self.function}:{self.change}"


def renamed(function: str, old: str, new: str, old_call, new_call) -> Case:
    return Case(function, f"{old}->{new}", old_call, new_call, f"{old}= is renamed {new}=")


def positional(function: str, old_call, new_call) -> Case:
    return Case(function, "positional", old_call, new_call, "keyword-only; giving")


def attribute(owner: str, old: str, new: str, old_call, new_call) -> Case:
    return Case(f"{owner}.{old}", f"{old}->{new}", old_call, new_call,
                f"{owner}.{old} is renamed {owner}.{new}")


def _q(i: Inputs):
    return i.demo.questionnaire


CASES = [
    # -------------------------------------------------------------- renamed arguments
    renamed("change", "var", "variables",
            lambda i: pc.change(i.design, var="trust_police"),
            lambda i: pc.change(i.design, variables="trust_police")),
    renamed("did", "var", "variables",
            lambda i: pc.did(i.design, var="trust_police").effects,
            lambda i: pc.did(i.design, variables="trust_police").effects),
    renamed("icc", "var", "variables",
            lambda i: pc.icc(i.design, var="trust_police"),
            lambda i: pc.icc(i.design, variables="trust_police")),
    renamed("mde", "design", "analysis",
            lambda i: pc.mde(40, 15, 0.1, p=0.5, design="did"),
            lambda i: pc.mde(40, 15, 0.1, p=0.5, analysis="did")),
    renamed("sample_size", "design", "analysis",
            lambda i: pc.sample_size(0.1, 15, 0.1, p=0.5, design="did"),
            lambda i: pc.sample_size(0.1, 15, 0.1, p=0.5, analysis="did")),
    renamed("allocate", "design", "analysis",
            lambda i: pc.allocate(VILLAGES, strata="cercle", method="mde", effect=0.12,
                                  cluster_size=15, icc=0.1, p=0.5, design="change").table,
            lambda i: pc.allocate(VILLAGES, strata="cercle", method="mde", effect=0.12,
                                  cluster_size=15, icc=0.1, p=0.5, analysis="change").table),
    renamed("attrition", "id", "respondent",
            lambda i: pc.attrition(i.demo.waves, id="resp_id"),
            lambda i: pc.attrition(i.demo.waves, respondent="resp_id")),
    *[renamed(name, "items", "variables",
              lambda i, f=f: f(i, items=TRUST), lambda i, f=f: f(i, variables=TRUST))
      for name, f in [
          ("likert", lambda i, **a: pc.likert(i.design, **a)),
          ("top_box", lambda i, **a: pc.top_box(i.design, **a)),
          ("index", lambda i, **a: pc.index(i.design, **a)),
          ("index_scores", lambda i, **a: pc.index_scores(i.wave, **a)),
          ("cronbach_alpha", lambda i, **a: pc.cronbach_alpha(i.wave, **a)),
          ("item_nonresponse", lambda i, **a: pc.item_nonresponse(i.wave, **a)),
      ]],
    renamed("top_box_scores", "item", "variable",
            lambda i: pc.top_box_scores(i.wave, item="trust_police"),
            lambda i: pc.top_box_scores(i.wave, variable="trust_police")),
    *[renamed(name, "q", "questionnaire",
              lambda i, f=f: f(i, q=_q(i)), lambda i, f=f: f(i, questionnaire=_q(i)))
      for name, f in [
          ("likert", lambda i, **a: pc.likert(i.design, "trust_police", **a)),
          ("top_box", lambda i, **a: pc.top_box(i.design, "trust_police", **a)),
          ("top_box_scores", lambda i, **a: pc.top_box_scores(i.wave, "trust_police", **a)),
          ("index", lambda i, **a: pc.index(i.design, TRUST, **a)),
          ("index_scores", lambda i, **a: pc.index_scores(i.wave, TRUST, **a)),
          ("cronbach_alpha", lambda i, **a: pc.cronbach_alpha(i.wave, TRUST, **a)),
          ("item_nonresponse", lambda i, **a: pc.item_nonresponse(i.wave, TRUST, **a)),
          ("read_wave", lambda i, **a: pc.read_wave(WAVE_FILE, **a)),
          ("validate", lambda i, **a: pc.validate(i.wave, **a).errors),
          ("recode_missing", lambda i, **a: pc.recode_missing(i.wave, **a)),
          ("drop_pii", lambda i, **a: pc.drop_pii(i.wave, **a)),
          ("hash_pii", lambda i, **a: pc.hash_pii(i.wave, hash_key=KEY, **a)),
          ("anonymise_wave", lambda i, **a: pc.anonymise_wave(i.wave, **a)),
      ]],
    *[renamed(name, "df", "data",
              lambda i, f=f: f(i, df=i.wave), lambda i, f=f: f(i, data=i.wave))
      for name, f in [
          ("validate", lambda i, **a: pc.validate(questionnaire=_q(i), **a).errors),
          ("recode_missing", lambda i, **a: pc.recode_missing(questionnaire=_q(i), **a)),
          ("drop_pii", lambda i, **a: pc.drop_pii(questionnaire=_q(i), **a)),
          ("hash_pii", lambda i, **a: pc.hash_pii(questionnaire=_q(i), hash_key=KEY, **a)),
          ("k_anonymity", lambda i, **a: pc.k_anonymity(quasi_identifiers=["sex"], **a)),
          ("anonymise_wave", lambda i, **a: pc.anonymise_wave(questionnaire=_q(i), **a)),
      ]],
    renamed("hash_pii", "key", "hash_key",
            lambda i: pc.hash_pii(i.wave, _q(i), key=KEY),
            lambda i: pc.hash_pii(i.wave, _q(i), hash_key=KEY)),
    renamed("anonymise_wave", "key", "hash_key",
            lambda i: pc.anonymise_wave(i.wave, _q(i), keep_pii="hash", key=KEY),
            lambda i: pc.anonymise_wave(i.wave, _q(i), keep_pii="hash", hash_key=KEY)),
    renamed("anonymise_wave", "pii", "keep_pii",
            lambda i: pc.anonymise_wave(i.wave, _q(i), pii="hash", hash_key=KEY),
            lambda i: pc.anonymise_wave(i.wave, _q(i), keep_pii="hash", hash_key=KEY)),
    renamed("chisq", "statistic", "test",
            lambda i: pc.chisq(i.api, "sch_wide", "stype", statistic="Chisq").to_frame(),
            lambda i: pc.chisq(i.api, "sch_wide", "stype", test="Chisq").to_frame()),
    renamed("rake", "margins", "population",
            lambda i: pc.rake(i.api, margins={"stype": TYPES, "sch_wide": SCHWIDE}),
            lambda i: pc.rake(i.api, population={"stype": TYPES, "sch_wide": SCHWIDE})),
    renamed("ReplicateDesign.__init__", "type", "method",
            lambda i: pc.ReplicateDesign(REPLICATES, "w", ["r1", "r2"], type="bootstrap"),
            lambda i: pc.ReplicateDesign(REPLICATES, "w", ["r1", "r2"], method="bootstrap")),
    renamed("GLMResult.predict", "type", "scale",
            lambda i: pc.glm(i.api, "api00 ~ ell").predict(type="response"),
            lambda i: pc.glm(i.api, "api00 ~ ell").predict(scale="response")),
    # ------------------------------------------------------------ renamed attributes
    attribute("ChisqResult", "table", "proportions",
              lambda i: pc.chisq(i.api, "sch_wide", "stype").table,
              lambda i: pc.chisq(i.api, "sch_wide", "stype").proportions),
    attribute("ReplicateDesign", "type", "method",
              lambda i: pc.ReplicateDesign(REPLICATES, "w", ["r1", "r2"]).type,
              lambda i: pc.ReplicateDesign(REPLICATES, "w", ["r1", "r2"]).method),
    attribute("Anonymised", "rare", "rare_combinations",
              lambda i: pc.anonymise_wave(i.wave, _q(i)).rare,
              lambda i: pc.anonymise_wave(i.wave, _q(i)).rare_combinations),
    # ------------------------------------------------- arguments now keyword-only
    positional("mean", lambda i: pc.mean(i.api, "api00", "stype", False, 0.9),
               lambda i: pc.mean(i.api, "api00", by="stype", na_rm=False, level=0.9)),
    positional("total", lambda i: pc.total(i.api, "enroll", "stype", True),
               lambda i: pc.total(i.api, "enroll", by="stype", na_rm=True)),
    positional("proportion", lambda i: pc.proportion(i.api, "sch_wide", None, "beta"),
               lambda i: pc.proportion(i.api, "sch_wide", method="beta")),
    positional("ratio", lambda i: pc.ratio(i.api, "api00", "api99", "stype"),
               lambda i: pc.ratio(i.api, "api00", "api99", by="stype")),
    positional("quantile", lambda i: pc.quantile(i.api, "api00", 0.5, "stype"),
               lambda i: pc.quantile(i.api, "api00", 0.5, by="stype")),
    positional("glm", lambda i: pc.glm(i.api, "api00 ~ ell", "gaussian").coefficients,
               lambda i: pc.glm(i.api, "api00 ~ ell", family="gaussian").coefficients),
    positional("chisq", lambda i: pc.chisq(i.api, "sch_wide", "stype", "Wald").to_frame(),
               lambda i: pc.chisq(i.api, "sch_wide", "stype", test="Wald").to_frame()),
    positional("contrast", lambda i: pc.contrast(i.table, [1, -1, 0, 0, 0, 0], 0.9),
               lambda i: pc.contrast(i.table, [1, -1, 0, 0, 0, 0], level=0.9)),
    positional("rake", lambda i: pc.rake(i.api, {"stype": TYPES}, 1e-6, 20),
               lambda i: pc.rake(i.api, {"stype": TYPES}, tol=1e-6, max_iter=20)),
    positional("calibrate", lambda i: pc.calibrate(i.api, {"stype": TYPES}, "raking"),
               lambda i: pc.calibrate(i.api, {"stype": TYPES}, method="raking")),
    positional("trim_weights", lambda i: pc.trim_weights(i.api, 40.0),
               lambda i: pc.trim_weights(i.api, upper=40.0)),
    positional("weight_diagnostics", lambda i: pc.weight_diagnostics(i.api, "stype"),
               lambda i: pc.weight_diagnostics(i.api, by="stype")),
    positional("change", lambda i: pc.change(i.design, "trust_police", "wave", "treated"),
               lambda i: pc.change(i.design, "trust_police", over="wave", by="treated")),
    positional("did",
               lambda i: pc.did(i.design, "trust_police", "treated", "wave").effects,
               lambda i: pc.did(i.design, "trust_police", treated="treated",
                                period="wave").effects),
    positional("icc", lambda i: pc.icc(i.design, "trust_police", True),
               lambda i: pc.icc(i.design, "trust_police", weighted=True)),
    positional("mde", lambda i: pc.mde(40, 15, 0.1, 0.5),
               lambda i: pc.mde(40, 15, 0.1, p=0.5)),
    positional("sample_size", lambda i: pc.sample_size(0.1, 15, 0.1, None, 1.0),
               lambda i: pc.sample_size(0.1, 15, 0.1, sd=1.0)),
    positional("attrition", lambda i: pc.attrition(i.demo.waves, "resp_id", "wave"),
               lambda i: pc.attrition(i.demo.waves, "resp_id", over="wave")),
    positional("likert", lambda i: pc.likert(i.design, "trust_police", "wave"),
               lambda i: pc.likert(i.design, "trust_police", by="wave")),
    positional("top_box", lambda i: pc.top_box(i.design, "trust_police", 3),
               lambda i: pc.top_box(i.design, "trust_police", top=3)),
    positional("top_box_scores", lambda i: pc.top_box_scores(i.wave, "trust_police", 3),
               lambda i: pc.top_box_scores(i.wave, "trust_police", top=3)),
    positional("index", lambda i: pc.index(i.design, TRUST, "wave", 2),
               lambda i: pc.index(i.design, TRUST, by="wave", min_items=2)),
    positional("index_scores", lambda i: pc.index_scores(i.wave, TRUST, (0, 3), 3),
               lambda i: pc.index_scores(i.wave, TRUST, scale=(0, 3), min_items=3)),
    positional("item_nonresponse",
               lambda i: pc.item_nonresponse(i.wave, TRUST, _q(i)),
               lambda i: pc.item_nonresponse(i.wave, TRUST, questionnaire=_q(i))),
    positional("disclosure_check", lambda i: pc.disclosure_check(i.table, 30, 5),
               lambda i: pc.disclosure_check(i.table, 30, k=5)),
    positional("protect_table", lambda i: pc.protect_table(i.table, 30, 5),
               lambda i: pc.protect_table(i.table, 30, k=5)),
    positional("suppress_small_cells", lambda i: pc.suppress_small_cells(i.table, 60, "n"),
               lambda i: pc.suppress_small_cells(i.table, 60, n_column="n")),
    positional("k_anonymity", lambda i: pc.k_anonymity(i.wave, ["sex"], 5),
               lambda i: pc.k_anonymity(i.wave, ["sex"], k=5)),
    positional("recode_missing", lambda i: pc.recode_missing(i.wave, _q(i), "en"),
               lambda i: pc.recode_missing(i.wave, _q(i), lang="en")),
]


def _same(old: Any, new: Any) -> None:
    if isinstance(old, tuple):
        assert len(old) == len(new)
        for a, b in zip(old, new, strict=True):
            _same(a, b)
    elif isinstance(old, pd.DataFrame):
        pd.testing.assert_frame_equal(old, new)
    elif isinstance(old, pd.Series):
        pd.testing.assert_series_equal(old, new)
    elif hasattr(old, "weights"):      # a design
        assert type(old) is type(new)
        pd.testing.assert_series_equal(old.weights, new.weights)
        assert getattr(old, "method", None) == getattr(new, "method", None)
    else:
        assert isinstance(old, str | int | float) and old == new


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_old_spelling_warns_and_gives_the_same_result(inputs, case):
    with pytest.warns(DeprecationWarning, match=re.escape(case.match)) as caught:
        old = case.old(inputs)
    # the warning points at the caller's line, not at the package
    assert all(Path(w.filename).name == Path(__file__).name for w in caught
               if issubclass(w.category, DeprecationWarning)), [w.filename for w in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new = case.new(inputs)
    _same(old, new)


def test_old_and_new_name_together_are_refused(inputs):
    with pytest.raises(TypeError, match="both var= and variables="):
        pc.change(inputs.design, var="trust_police", variables="trust_police")
    with pytest.raises(TypeError, match="multiple values for argument 'by'"):
        pc.mean(inputs.api, "api00", "stype", by="stype")
    with pytest.raises(TypeError, match="takes 2 positional arguments but 6 were given"):
        pc.mean(inputs.api, "api00", None, False, 0.95, "extra")


def test_decorators_check_their_own_arguments():
    with pytest.raises(TypeError, match=r"\['level'\] are not keyword-only"):
        @positional_deprecated("level")
        def f(design, variables, level=0.95):
            return level

    @positional_deprecated("level")
    @renamed_argument("conf", "level")
    def g(design, *, level=0.95):
        return level

    with pytest.warns(DeprecationWarning) as caught:
        assert g("d", 0.9) == 0.9
        assert g("d", conf=0.8) == 0.8
    assert len(caught) == 2
    assert {Path(w.filename).name for w in caught} == {Path(__file__).name}


# ----------------------------------------- every deprecation is tested and listed --
def _deprecations_in_source() -> set[tuple[str, str]]:
    """(qualified function name, "old->new" or "positional") of every decorator of the
    package, and of every ``warn_renamed_attribute`` call."""
    found = set()
    for path in (ROOT / "perception").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for owner, node in _functions(tree):
            name = f"{owner}.{node.name}" if owner else node.name
            for deco in node.decorator_list:
                if not isinstance(deco, ast.Call) or not isinstance(deco.func, ast.Name):
                    continue
                args = [a.value for a in deco.args if isinstance(a, ast.Constant)]
                if deco.func.id == "renamed_argument":
                    found.add((name, f"{args[0]}->{args[1]}"))
                elif deco.func.id == "positional_deprecated":
                    found.add((name, "positional"))
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                        and call.func.id == "warn_renamed_attribute"):
                    cls, old, new = (a.value for a in call.args if isinstance(a, ast.Constant))
                    found.add((f"{cls}.{old}", f"{old}->{new}"))
    return found


def _functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield "", node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    yield node.name, item


def test_every_deprecation_in_the_source_has_a_case():
    in_source = _deprecations_in_source()
    cases = {(c.function, c.change) for c in CASES}
    assert in_source - cases == set(), "deprecations without a case in this file"
    assert cases - in_source == set(), "cases of deprecations the source does not have"


def _changelog_tables() -> dict[str, list[list[str]]]:
    """The tables of CHANGELOG.md by the last cell of their header: rows of cells."""
    tables: dict[str, list[list[str]]] = {}
    block: list[list[str]] = []
    for line in [*(ROOT / "CHANGELOG.md").read_text(encoding="utf-8").splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip("|").split("|")])
        elif block:
            tables[block[0][-1]] = [row for row in block[2:]]
            block = []
    return tables


def test_every_deprecation_is_in_the_changelog():
    tables = _changelog_tables()
    renames, positional = tables["now"], tables["keyword-only now"]
    missing = []
    for function, change in sorted(_deprecations_in_source()):
        if change == "positional":
            hit = any(f"`{function}`" in row[0] for row in positional)
        else:
            old, new = change.split("->")
            owner, _, attr = function.removesuffix(".__init__").rpartition(".")
            if attr == old:      # a renamed attribute: `Owner` | `.old` | `.new`
                hit = any(f"`{owner}`" in r[0] and f"`.{old}`" in r[1] and f"`.{new}`" in r[2]
                          for r in renames)
            else:                # a renamed argument: `function` | `old=` | `new=`
                name = function.removesuffix(".__init__")
                hit = any(f"`{name}`" in r[0] and f"`{old}=`" in r[1] and f"`{new}=`" in r[2]
                          for r in renames)
        if not hit:
            missing.append(f"{function}: {change}")
    assert missing == [], f"CHANGELOG.md has no row for {missing}"


def test_renamed_tables_say_what_they_hold(inputs):
    """The planning tables name the analysis, as the argument now does."""
    table = pc.mde(40, 15, 0.1, p=0.5, analysis="did")
    assert table["analysis"].tolist() == ["did"]
    assert "design" not in table.columns
    assert np.isfinite(table["mde"]).all()
