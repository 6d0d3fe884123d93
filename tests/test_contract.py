"""The contract battery: one set of checks run over every public estimator.

Every estimator of the public API (``mean``, ``total``, ``ratio``, ``proportion``,
``quantile``, ``glm``, ``change``, ``did``, ``likert``, ``index``, ``list_experiment``) is
run on four designs of one synthetic survey (a Taylor ``SurveyDesign``;
``design.replicate("jkn")``; ``design.replicate("bootstrap")``; a ``ReplicateDesign``
read from replicate-weight columns) and checked for:

- result columns exactly as the public API contract lists them (written out below, one
  list per estimator; ``likert``'s as its docstring says);
- inputs never mutated (the data frame is compared deeply before and after);
- row-order invariance (the same rows in another order give the same numbers);
- weight-scale invariance (weights times a constant leave means, proportions, ratios,
  models, changes and their SEs unchanged, and scale totals and their SEs);
- domains: the ``by=`` estimate of a domain equals the estimate on
  ``design.subset(domain)`` (weights zeroed outside it; R's ``svyby``/``subset``);
- totals of domains add to the overall total, and so does their variance;
- "nothing lost": every estimate reports ``n``, the number of rows that entered it.

An estimator that does not exist yet is skipped with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

import perception as pc

# ----------------------------------------------------------------- constants --
SEED = 20240
N_STRATA = 4
PSU_PER_STRATUM = 5
ROWS_PER_PSU_AND_WAVE = 3
N_BOOTSTRAP = 20
WEIGHT_FACTOR = 3.7  # every weight times this constant
RTOL = 1e-9  # closed-form estimates computed in another order or on another design
ATOL = 1e-11
GLM_RTOL = 1e-6  # iterative fits (IRLS) converge to R's tolerance, not to the last digit
GLM_ATOL = 1e-8
DESIGN_KINDS = ("taylor", "jkn", "bootstrap", "columns")
RESULT = ["estimate", "se", "ci_low", "ci_high", "df", "deff", "n"]
DOMAIN = "g"
REP_COLUMNS = [f"rw{r + 1}" for r in range(N_BOOTSTRAP)]


# ----------------------------------------------------------------------- data --
def survey_data(replicates: int = N_BOOTSTRAP) -> pd.DataFrame:
    """A stratified two-wave survey: 4 strata x 5 villages (PSUs), each visited at both
    waves, 3 respondents per village and wave; treated villages (2 per stratum); a
    numeric outcome with missing values, a positive denominator, a 0/1 and a 3-level
    item, a row-level domain (2:1) and three Likert items (0-3 with the
    missing codes 8 and 9). Bootstrap replicate weights are attached as columns."""
    rng = np.random.default_rng(SEED)
    rows = []
    for s in range(N_STRATA):
        for v in range(PSU_PER_STRATUM):
            for wave in (0, 1):
                for _ in range(ROWS_PER_PSU_AND_WAVE):
                    rows.append({"s": f"S{s}", "v": f"S{s}V{v}", "treated": int(v < 2),
                                 "wave": wave})
    df = pd.DataFrame(rows)
    n = len(df)
    df["w"] = rng.lognormal(3.0, 0.5, n)
    df["y"] = rng.normal(50.0, 10.0, n) + 5.0 * df["treated"] * df["wave"]
    df.loc[rng.choice(n, 6, replace=False), "y"] = np.nan
    df["x"] = rng.uniform(1.0, 5.0, n)
    df["b"] = rng.integers(0, 2, n)
    df["c"] = rng.choice(["a", "b", "c"], n)
    # two domains (2:1), both present in every village and wave, so that no bootstrap
    # replicate loses a whole treated x wave cell of a domain (R then discards the
    # replicate from the joint model of did(by=), which a subset does not do; see
    # test_reliability_reference.py)
    pattern = ["north", "north", "south"]
    df[DOMAIN] = np.concatenate([rng.permutation(pattern) for _ in range(n // 3)])
    for item in ("t1", "t2", "t3"):
        values = rng.integers(0, 4, n).astype(float)
        values[rng.choice(n, 8, replace=False)] = rng.choice([8.0, 9.0], 8)
        df[item] = values
    # a list experiment: the list heard (0/1) and the count of 3 control items (+ 1 on
    # the treatment list for a sensitive item held by 30%)
    df["lt"] = rng.integers(0, 2, n)
    df["lc"] = rng.binomial(3, 0.5, n) + df["lt"] * (rng.random(n) < 0.3)
    df.index = pd.RangeIndex(1000, 1000 + n)  # labels that are not positions
    base = pc.SurveyDesign(df, weights="w", strata="s", psu="v")
    boot = base.replicate("bootstrap", replicates=replicates, seed=SEED)
    weights = boot.replicate_weights.set_axis([f"rw{r + 1}" for r in range(replicates)],
                                              axis=1)
    return pd.concat([df, weights], axis=1)


def build_design(kind: str, data: pd.DataFrame):
    """The design of ``kind`` over ``data`` (rows in any order)."""
    taylor = pc.SurveyDesign(data, weights="w", strata="s", psu="v")
    if kind == "taylor":
        return taylor
    if kind == "jkn":
        return taylor.replicate("jkn")
    if kind == "bootstrap":
        return taylor.replicate("bootstrap", replicates=N_BOOTSTRAP, seed=SEED)
    if kind == "columns":
        return pc.ReplicateDesign(data, weights="w", replicate_weights=REP_COLUMNS,
                                  scale=1.0 / (N_BOOTSTRAP - 1))
    raise KeyError(kind)


def scaled(data: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The data with every weight (and replicate weight) times ``factor``."""
    columns = ["w", *REP_COLUMNS]
    return data.assign(**{c: data[c] * factor for c in columns})


def permuted(data: pd.DataFrame, kind: str, seed: int = 7) -> pd.DataFrame:
    """The rows in a random order (index labels travel with their rows).

    The bootstrap built by ``design.replicate`` draws PSUs in their order of first
    appearance (as R does), so for it the rows are shuffled while PSUs keep that order.
    """
    order = np.random.default_rng(seed).permutation(len(data))
    out = data.iloc[order]
    if kind == "bootstrap":
        first = {psu: rank for rank, psu in enumerate(pd.unique(data["v"]))}
        out = out.iloc[np.argsort(out["v"].map(first).to_numpy(), kind="stable")]
    return out


# ----------------------------------------------------------------- estimators --
@dataclass(frozen=True)
class Estimator:
    """How the battery calls one public estimator and reads its result."""

    name: str
    call: Callable[[Any, str | None], Any]
    table: Callable[[Any], pd.DataFrame]  # the tidy table of the result
    columns: Callable[[list[str]], list[str]]  # the contract's columns for `by`
    keys: Callable[[list[str]], list[str]]  # columns that identify a row
    used: Callable[[pd.DataFrame], np.ndarray]  # rows that enter the estimate
    extensive: bool = False  # scales with the weights (totals)
    iterative: bool = False  # IRLS fit: compare at GLM_RTOL
    by_argument: bool = True  # has by=


def _func(name: str) -> Callable:
    return getattr(pc, name)  # every estimator of the battery is public: none may be missing


def _plain(names: list[str]) -> list[str]:
    return [*names, "variable", *RESULT]


def _index_used(data: pd.DataFrame) -> np.ndarray:
    items = data[["t1", "t2", "t3"]]
    valid = items.isin([0, 1, 2, 3]).sum(axis=1)
    return (valid >= math.ceil(3 / 2)).to_numpy()


def _all(data: pd.DataFrame) -> np.ndarray:
    return np.ones(len(data), dtype=bool)


def _y(data: pd.DataFrame) -> np.ndarray:
    return data["y"].notna().to_numpy()


def _coefficients(fit) -> pd.DataFrame:
    return fit.coefficients.reset_index()


ESTIMATORS = [
    Estimator("mean", lambda d, by: _func("mean")(d, ["y", "x"], by=by, na_rm=True),
              lambda r: r, _plain, lambda b: [*b, "variable"], _y),
    Estimator("total", lambda d, by: _func("total")(d, "y", by=by, na_rm=True),
              lambda r: r, _plain, lambda b: [*b, "variable"], _y, extensive=True),
    Estimator("ratio", lambda d, by: _func("ratio")(d, "y", "x", by=by, na_rm=True),
              lambda r: r, _plain, lambda b: [*b, "variable"], _y),
    Estimator("proportion", lambda d, by: _func("proportion")(d, ["c", "b"], by=by),
              lambda r: r, lambda b: [*b, "variable", "category", *RESULT, "n_category"],
              lambda b: [*b, "variable", "category"], _all),
    Estimator("quantile",
              lambda d, by: _func("quantile")(d, "y", [0.25, 0.5, 0.75], by=by, na_rm=True),
              lambda r: r, lambda b: [*b, "variable", "quantile", *RESULT],
              lambda b: [*b, "variable", "quantile"], _y),
    Estimator("glm", lambda d, by: _func("glm")(d, "y ~ x + b", na_rm=True),
              _coefficients,
              lambda b: ["term", "estimate", "se", "t", "p", "ci_low", "ci_high"],
              lambda b: ["term"], _y, iterative=True, by_argument=False),
    Estimator("change", lambda d, by: _func("change")(d, "y", over="wave", by=by, na_rm=True),
              lambda r: r,
              lambda b: [*b, "variable", "from", "to", "estimate", "se", "ci_low", "ci_high",
                         "df", "p", "n", "n_from", "n_to"],
              lambda b: [*b, "variable", "from", "to"], _y),
    Estimator("did",
              lambda d, by: _func("did")(d, "y", treated="treated", period="wave", by=by,
                                         na_rm=True),
              lambda r: r.effects,
              lambda b: [*b, "variable", "period", "estimate", "se", "ci_low", "ci_high",
                         "df", "p", "n", "n_min"],
              lambda b: [*b, "variable", "period"], _y),
    Estimator("likert",
              lambda d, by: _func("likert")(d, ["t1", "t2"], by=by, missing=(8, 9)),
              lambda r: r, lambda b: [*b, "variable", "category", *RESULT, "missing_code", "n_category"],
              lambda b: [*b, "variable", "category"], _all),
    Estimator("index",
              lambda d, by: _func("index")(d, ["t1", "t2", "t3"], by=by, missing=(8, 9)),
              lambda r: r, _plain, lambda b: [*b, "variable"], _index_used),
    Estimator("list_experiment",
              lambda d, by: _func("list_experiment")(d, count="lc", treatment="lt", by=by,
                                                     n_control_items=3),
              lambda r: r, lambda b: [*_plain(b), "n_control", "n_treatment"],
              lambda b: [*b, "variable"], _all),
]
IDS = [e.name for e in ESTIMATORS]
NUMERIC = ["estimate", "se", "ci_low", "ci_high", "df", "deff", "n", "t", "p", "n_from",
           "n_to", "n_min"]
SCALED = ["estimate", "se", "ci_low", "ci_high"]  # the columns of a total that scale


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return survey_data()


@pytest.fixture(scope="module")
def designs(data) -> dict:
    return {kind: build_design(kind, data) for kind in DESIGN_KINDS}


@pytest.fixture(scope="module")
def result(designs) -> Callable[[Estimator, str, str | None], Any]:
    """The result of an estimator on a design of the battery, computed once per module
    (tests only read it: tables are copied before they are merged)."""
    memo: dict[tuple, Any] = {}

    def get(est: Estimator, kind: str, by: str | None) -> Any:
        key = (est.name, kind, by if est.by_argument else None)
        if key not in memo:
            memo[key] = est.call(designs[kind], key[2])
        return memo[key]

    return get


def run(est: Estimator, design, by: str | None = None) -> pd.DataFrame:
    return est.table(est.call(design, by if est.by_argument else None))


def by_list(est: Estimator, by: str | None) -> list[str]:
    return [by] if (by and est.by_argument) else []


def bare(table: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy without ``attrs`` (pandas compares attrs when it merges frames)."""
    out = table.copy(deep=False)
    out.attrs = {}
    return out


def assert_same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str], est: Estimator,
                columns: list[str] | None = None, factor: float = 1.0) -> None:
    """Rows of ``a`` and ``b`` matched on ``keys`` hold the same numbers (those in
    :data:`SCALED` times ``factor`` in ``b`` when ``factor`` != 1)."""
    rtol, atol = (GLM_RTOL, GLM_ATOL) if est.iterative else (RTOL, ATOL)
    assert len(a) == len(b), (len(a), len(b))
    a, b = bare(a), bare(b)
    merged = a.merge(b, on=keys, suffixes=("_a", "_b"), validate="one_to_one")
    assert len(merged) == len(a), "rows do not match on " + ", ".join(keys)
    for column in columns or [c for c in NUMERIC if c in a.columns]:
        expected = merged[f"{column}_a"].to_numpy(dtype=float)
        if column in SCALED:
            expected = expected * factor
        np.testing.assert_allclose(merged[f"{column}_b"].to_numpy(dtype=float), expected,
                                   rtol=rtol, atol=atol * max(factor, 1.0), equal_nan=True,
                                   err_msg=f"{est.name}: column {column!r}")


# --------------------------------------------------------------------- checks --
@pytest.mark.parametrize("kind", DESIGN_KINDS)
@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
@pytest.mark.parametrize("by", [None, DOMAIN])
def test_result_columns_are_the_contract(est, kind, by, result):
    table = est.table(result(est, kind, by))
    assert list(table.columns) == est.columns(by_list(est, by))
    assert len(table) > 0
    # a quantile's SE is its interval's width over 2 t: NaN with the bound (R's too)
    open_interval = table["ci_low"].isna() | table["ci_high"].isna()
    assert (table["estimate"].notna() & (table["se"].notna() | open_interval)).all(), table
    assert (table["se"].dropna() >= 0).all()
    # a bound is NaN where R's is (a quantile's bound whose probability leaves [0, 1])
    below = (table["ci_low"] <= table["estimate"]) | table["ci_low"].isna()
    above = (table["estimate"] <= table["ci_high"]) | table["ci_high"].isna()
    assert (below & above).all(), table


@pytest.mark.parametrize("kind", DESIGN_KINDS)
@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_inputs_are_never_mutated(est, kind, data):
    frame = data.copy(deep=True)
    before = frame.copy(deep=True)
    design = build_design(kind, frame)
    weights = design.weights.copy()
    domain = design.in_domain.copy()
    run(est, design, DOMAIN)
    run(est, design.subset((frame[DOMAIN] == "north").to_numpy()), None)
    pd.testing.assert_frame_equal(frame, before, check_exact=True)
    pd.testing.assert_series_equal(design.weights, weights, check_exact=True)
    np.testing.assert_array_equal(design.in_domain, domain)
    assert design.data is not None and design.data.shape == before.shape


@pytest.mark.parametrize("kind", DESIGN_KINDS)
@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_row_order_does_not_matter(est, kind, data, result):
    by = DOMAIN if est.by_argument else None
    original = est.table(result(est, kind, by))
    shuffled = run(est, build_design(kind, permuted(data, kind)), by)
    assert_same(original, shuffled, est.keys(by_list(est, by)), est)


@pytest.mark.parametrize("kind", DESIGN_KINDS)
@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_scaling_the_weights(est, kind, data, result):
    by = DOMAIN if est.by_argument else None
    original = est.table(result(est, kind, by))
    heavier = run(est, build_design(kind, scaled(data, WEIGHT_FACTOR)), by)
    factor = WEIGHT_FACTOR if est.extensive else 1.0
    assert_same(original, heavier, est.keys(by_list(est, by)), est, factor=factor)


def _domain_rows(table: pd.DataFrame, value: str) -> pd.DataFrame:
    return table[table[DOMAIN] == value].drop(columns=DOMAIN).reset_index(drop=True)


@pytest.mark.parametrize("kind", DESIGN_KINDS)
@pytest.mark.parametrize("est", [e for e in ESTIMATORS if e.by_argument],
                         ids=[e.name for e in ESTIMATORS if e.by_argument])
def test_domain_estimate_equals_subset(est, kind, data, designs, result):
    design = designs[kind]
    by_table = bare(est.table(result(est, kind, DOMAIN)))
    keys = est.keys([])
    # the domain's df is the full design's in by= tables (R's svyby), the cut design's
    # in a subset (R's degf(subset(...))): compare df and intervals only where they agree
    compared = [c for c in ("estimate", "se", "deff", "n") if c in by_table.columns]
    for value in ("north", "south"):
        sub = bare(run(est, design.subset((data[DOMAIN] == value).to_numpy()), None))
        dom = _domain_rows(by_table, value)
        # a level absent from the domain is a row of the by= table with estimate 0
        extra = dom.merge(sub[keys], on=keys, how="left", indicator=True)
        absent = extra["_merge"] == "left_only"
        assert (dom.loc[absent.to_numpy(), "estimate"] == 0).all()
        dom = dom[~absent.to_numpy()].reset_index(drop=True)
        assert_same(dom, sub, keys, est, columns=compared)
        merged = dom.merge(sub, on=keys, suffixes=("_by", "_subset"))
        agree = (merged["df_by"] == merged["df_subset"]).to_numpy()
        for bound in ("ci_low", "ci_high"):
            np.testing.assert_allclose(merged.loc[agree, f"{bound}_subset"].to_numpy(float),
                                       merged.loc[agree, f"{bound}_by"].to_numpy(float),
                                       rtol=RTOL, atol=ATOL, equal_nan=True)


@pytest.mark.parametrize("kind", DESIGN_KINDS)
def test_glm_domain_equals_subset(kind, data, designs):
    """A model fitted on a domain equals that domain's terms in the model fully
    interacted with the domain (its estimating equations involve only its rows)."""
    glm = _func("glm")
    design = designs[kind]
    full = glm(design, "y ~ (x + b) * C(g)", na_rm=True).coefficients
    sub = glm(design.subset((data[DOMAIN] == "north").to_numpy()), "y ~ x + b",
              na_rm=True).coefficients
    for column in ("estimate", "se"):
        np.testing.assert_allclose(full.loc[["Intercept", "x", "b"], column].to_numpy(),
                                   sub.loc[["Intercept", "x", "b"], column].to_numpy(),
                                   rtol=GLM_RTOL, atol=GLM_ATOL, err_msg=column)


@pytest.mark.parametrize("kind", DESIGN_KINDS)
def test_totals_of_domains_add_to_the_total(kind, designs):
    total = _func("total")
    design = designs[kind]
    overall = total(design, ["y", "x"], na_rm=True)
    domains = total(design, ["y", "x"], by=DOMAIN, na_rm=True)
    for j, variable in enumerate(["y", "x"]):
        rows = (domains["variable"] == variable).to_numpy()
        np.testing.assert_allclose(domains.loc[rows, "estimate"].sum(),
                                   overall["estimate"].iloc[j], rtol=RTOL)
        ones = rows.astype(float)
        variance = ones @ pc.vcov(domains).to_numpy() @ ones
        np.testing.assert_allclose(math.sqrt(variance), overall["se"].iloc[j], rtol=RTOL)
        assert domains.loc[rows, "n"].sum() == overall["n"].iloc[j]


@pytest.mark.parametrize("kind", DESIGN_KINDS)
def test_proportions_of_each_domain_add_to_one(kind, designs):
    table = _func("proportion")(designs[kind], "c", by=DOMAIN)
    sums = table.groupby(DOMAIN)["estimate"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=RTOL)


# ------------------------------------------------------------- nothing lost --
def _reported_n(est: Estimator, result) -> pd.Series:
    """The n of each domain reported by a result (DataFrame tables carry an ``n``
    column; a model its ``n``; change and DiD the n of the per-wave cells)."""
    if est.name == "glm":
        return pd.Series({"all": result.n})
    if est.name == "change":
        cells = result.attrs["estimates"]
        return cells.groupby(DOMAIN)["n"].sum() if DOMAIN in cells else pd.Series(
            {"all": cells["n"].sum()})
    if est.name == "did":
        cells = result.cells
        return cells.groupby(DOMAIN)["n"].sum() if DOMAIN in cells else pd.Series(
            {"all": cells["n"].sum()})
    table = est.table(result)
    first = table.drop_duplicates(subset=[c for c in table.columns if c in (DOMAIN, "variable")])
    if DOMAIN in table:
        return first.groupby(DOMAIN)["n"].first()
    return pd.Series({"all": first["n"].iloc[0]})


@pytest.mark.parametrize("kind", ["taylor", "columns"])
@pytest.mark.parametrize("by", [None, DOMAIN])
@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_every_estimate_reports_n(est, kind, by, data, result):
    """n counts the rows that entered the estimate: the rows of the domain left after
    missing values (``na_rm=True``), never silently fewer or more."""
    outcome = result(est, kind, by)
    table = est.table(outcome)
    if est.name == "glm":
        assert isinstance(outcome.n, int | np.integer)
    else:
        assert "n" in table.columns and pd.api.types.is_integer_dtype(table["n"])
    used = est.used(data)
    reported = _reported_n(est, outcome)
    if by is None or not est.by_argument:
        assert reported.to_dict() == {"all": int(used.sum())}
    else:
        expected = pd.Series(used, index=data.index).groupby(data[DOMAIN]).sum()
        assert reported.astype(int).to_dict() == expected.astype(int).to_dict()


@pytest.mark.parametrize("kind", ["taylor", "columns"])
@pytest.mark.parametrize("by", [None, DOMAIN])
def test_change_and_did_report_the_rows_of_their_cells(kind, by, data, result):
    """A change reports the rows of its two waves (``n_from``, ``n_to``, ``n`` their
    sum); a DiD effect the rows of its four treated x period cells (``n``) and of the
    smallest (``n_min``), counted here from the data."""
    used = pd.Series(_y(data), index=data.index)
    keys = [by] if by else []

    def at(counts: pd.Series, *key) -> int:
        return int(counts[key if len(key) > 1 else key[0]])

    per_wave = used.groupby([data[c] for c in [*keys, "wave"]]).sum()
    changes = result(ESTIMATORS[IDS.index("change")], kind, by)
    for _, row in changes.iterrows():
        domain = tuple(row[c] for c in keys)
        assert row["n_from"] == at(per_wave, *domain, row["from"])
        assert row["n_to"] == at(per_wave, *domain, row["to"])
        assert row["n"] == row["n_from"] + row["n_to"]
    cells = used.groupby([data[c] for c in [*keys, "treated", "wave"]]).sum()
    effects = result(ESTIMATORS[IDS.index("did")], kind, by).effects
    for _, row in effects.iterrows():
        domain = tuple(row[c] for c in keys)
        four = [at(cells, *domain, arm, wave) for arm in (0, 1) for wave in (0, row["period"])]
        assert row["n"] == sum(four) and row["n_min"] == min(four)
    for table in (changes, effects):
        for column in ("n", "n_from", "n_to", "n_min"):
            if column in table:
                assert pd.api.types.is_integer_dtype(table[column]), column
