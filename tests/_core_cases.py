"""Designs and estimates of the core reference cases, keyed as the R reference files.

The R scripts (``tests/reference/make_reference.R``, ``make_core_extra.R``) write one
row per number: ``case,key,value``, e.g. ``clus2/mean,api00:se,30.099...``. This module
builds the same designs with perception and computes the same numbers under the same
keys, so the tests only compare two dictionaries.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

import perception as pc

TESTS = Path(__file__).resolve().parent
REFERENCE = TESTS / "reference"

QUANTILES = (0.25, 0.5, 0.75)
CIPROP_METHODS = ("logit", "beta", "mean", "xlogit", "asin")
LONELY_OPTIONS = ("remove", "certainty", "adjust", "average")
BOOT_SCALE = 15 / 686  # n / ((n - 1)(R - 1)) for 15 PSUs and 50 replicates


def read_csv(path: Path) -> pd.DataFrame:
    """Read a data file written by an R script (pandas 3 parses floats exactly; ``cds``
    kept as text; R's dotted column names with underscores, as in ``pc.datasets``)."""
    data = pd.read_csv(path, dtype={"cds": str})
    return data.rename(columns=lambda c: c.replace(".", "_"))


@cache
def api(name: str) -> pd.DataFrame:
    """R survey's api data set, as bundled in ``perception.datasets``."""
    return pc.datasets.load(name)


# api columns whose R names hold dots: pc.datasets turns them into underscores, the R
# reference files key their values by R's names
R_DOTTED = ("sch.wide", "comp.imp", "yr.rnd", "acs.k3", "acs.46", "acs.core", "pct.resp",
            "not.hsg", "some.col", "col.grad", "grad.sch", "avg.ed", "api.stu")
R_NAMES = {name.replace(".", "_"): name for name in R_DOTTED}


def r_name(column: str) -> str:
    """R's name of an api column: ``sch_wide`` -> ``sch.wide``; other names unchanged."""
    return R_NAMES.get(column, column)


@cache
def reference_data(name: str) -> pd.DataFrame:
    return read_csv(REFERENCE / name)


def read_reference(path: Path) -> dict[str, dict[str, float]]:
    """``{case: {key: value}}`` from a long reference file."""
    table = pd.read_csv(path, dtype={"case": str, "key": str})
    out: dict[str, dict[str, float]] = {}
    for case, key, value in table.itertuples(index=False):
        out.setdefault(case, {})[key] = float(value)
    return out


# ------------------------------------------------------------------------- designs --
def taylor_design(name: str) -> pc.SurveyDesign:
    """The linearisation designs of make_reference.R, by case name."""
    if name == "strat":
        return pc.SurveyDesign(api("apistrat"), weights="pw", strata="stype", fpc="fpc")
    if name == "strat_nofpc":
        return pc.SurveyDesign(api("apistrat"), weights="pw", strata="stype")
    if name == "clus1":
        return pc.SurveyDesign(api("apiclus1"), weights="pw", psu="dnum", fpc="fpc")
    if name == "clus1_nofpc":
        return pc.SurveyDesign(api("apiclus1"), weights="pw", psu="dnum")
    if name == "clus2":
        return pc.SurveyDesign(api("apiclus2"), psu=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    if name == "clus2_nofpc":
        return pc.SurveyDesign(api("apiclus2"), weights="pw", psu=["dnum", "snum"])
    if name == "srs":
        return pc.SurveyDesign(api("apistrat"), weights="pw")
    if name.startswith("lonely_"):
        return pc.SurveyDesign(
            reference_data("lonely_data.csv"), weights="pw", strata="stype", psu="dnum",
            nest=True, lonely_psu=name.removeprefix("lonely_"),
        )
    if name == "brr_linearization":
        return pc.SurveyDesign(reference_data("brr_data.csv"), weights="pw", strata="stratum",
                               psu="psu")
    raise KeyError(name)


def replicate_design(name: str) -> pc.ReplicateDesign:
    """The replicate designs of make_reference.R, by case name."""
    if name == "jk1_clus1":
        return taylor_design("clus1").replicate("jk1")
    if name == "jk1_clus1_mse":
        return taylor_design("clus1").replicate("jk1", mse=True)
    if name == "jk1_clus1_nofpc":
        return taylor_design("clus1_nofpc").replicate("jk1")
    if name == "jkn_strat":
        return taylor_design("strat").replicate("jkn")
    if name == "jkn_strat_nofpc":
        return taylor_design("strat_nofpc").replicate("jkn")
    if name == "jkn_clus1_nofpc_stype":
        design = pc.SurveyDesign(api("apiclus1"), weights="pw", psu="dnum", strata="stype",
                                 nest=True)
        return design.replicate("jkn")
    if name.startswith("jkn_lonely_"):
        option = name.removeprefix("jkn_lonely_")
        return taylor_design(f"lonely_{option}").replicate("jkn")
    if name.startswith(("boot_", "other_")):
        kind, _, rest = name.partition("_")
        scale = None if rest == "default" else BOOT_SCALE
        return pc.ReplicateDesign(
            api("apiclus1_boot50"), weights="pw", replicate_weights="rw[0-9]+",
            scale=scale, mse=rest.endswith("_mse"),
            method="bootstrap" if kind == "boot" else "other",
        )
    if name in ("brr", "fay03"):
        # R's Hadamard matrices are precomputed tables; use R's replicate weights
        weights = reference_data(f"{name}_repweights.csv")
        data = reference_data("brr_data.csv")
        assert (weights["cds"].to_numpy() == data["cds"].to_numpy()).all()
        columns = [c for c in weights.columns if c.startswith("rep")]
        frame = pd.concat([data, weights[columns]], axis=1)
        rho = 0.0 if name == "brr" else 0.3
        return pc.ReplicateDesign(
            frame, weights="pw", replicate_weights=columns,
            scale=1 / (len(columns) * (1 - rho) ** 2),
        )
    raise KeyError(name)


# ------------------------------------------------------------------------ estimates --
def _stat(table: pd.DataFrame, prefix: str = "", deff: bool = False, vcov: bool = False,
          label=None) -> dict[str, float]:
    out: dict[str, float] = {}
    names = [label(row) for _, row in table.iterrows()] if label else list(table["variable"])
    for name, (_, row) in zip(names, table.iterrows(), strict=True):
        out[f"{prefix}{name}:est"] = row["estimate"]
        out[f"{prefix}{name}:se"] = row["se"]
        if deff:
            out[f"{prefix}{name}:deff"] = row["deff"]
    if vcov:
        matrix = table.attrs["vcov"]
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                out[f"vcov:{a}:{b}"] = matrix[i, j]
    return out


def _ratio(table: pd.DataFrame) -> dict[str, float]:
    return {"est": table["estimate"].iloc[0], "se": table["se"].iloc[0]}


def _by(table: pd.DataFrame, by: list[str], deff: bool = False) -> dict[str, float]:
    # R's svyby row names: levels joined by "." with the first by variable varying fastest
    out = {}
    for _, row in table.iterrows():
        label = ".".join(str(row[b]) for b in by)
        out[f"{label}:est"] = row["estimate"]
        out[f"{label}:se"] = row["se"]
        if deff:
            out[f"{label}:deff"] = row["deff"]
    return out


def _ciprop(table: pd.DataFrame) -> dict[str, float]:
    row = table[table["category"] == "Yes"].iloc[0]
    return {"est": row["estimate"], "se": row["se"], "lo": row["ci_low"],
            "hi": row["ci_high"], "df": row["df"]}


def _quantiles(table: pd.DataFrame) -> dict[str, float]:
    out = {}
    for _, row in table.iterrows():
        prefix = f"{row['variable']}:q{row['quantile']:g}"
        out[f"{prefix}:est"] = row["estimate"]
        out[f"{prefix}:lo"] = row["ci_low"]
        out[f"{prefix}:hi"] = row["ci_high"]
        out[f"{prefix}:se"] = row["se"]
    return out


def _levels(table: pd.DataFrame) -> dict[str, float]:
    return _stat(table, deff=True, label=lambda r: f"{r_name(r['variable'])}{r['category']}")


class Failed:
    """A computation that raised: the test of that case re-raises it."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _attempt(out: dict, case: str, compute) -> None:
    try:
        out[case] = compute()
    except Exception as error:  # reported by the test of that case
        out[case] = Failed(error)


def taylor_estimates(name: str) -> dict:
    """Every core estimate of one linearisation case: ``{case: {key: value}}``."""
    d = taylor_design(name)
    out: dict = {name: {"degf": d.degf, "n": d.n, "sum_weights": float(d.weights.sum())}}
    put = lambda case, compute: _attempt(out, f"{name}/{case}", compute)  # noqa: E731 - a one-line alias
    put("mean", lambda: _stat(pc.mean(d, ["api00", "api99"]), deff=True, vcov=True))
    put("total_api00", lambda: _stat(pc.total(d, "api00")))
    put("ratio", lambda: _ratio(pc.ratio(d, "api00", "api99")))
    put("prop_stype", lambda: _levels(pc.proportion(d, "stype")))
    put("prop_schwide", lambda: _levels(pc.proportion(d, "sch_wide")))
    put("by_stype_mean", lambda: _by(pc.mean(d, "api00", by="stype"), ["stype"], deff=True))
    put("by_stype_schwide_mean", lambda: _by(
        pc.mean(d, "api00", by=["stype", "sch_wide"]), ["stype", "sch_wide"]))
    put("by_stype_ratio", lambda: _by(pc.ratio(d, "api00", "api99", by="stype"), ["stype"]))
    put("mean_enroll_narm", lambda: _stat(pc.mean(d, "enroll", na_rm=True), deff=True))
    put("total", lambda: _stat(pc.total(d, "enroll", na_rm=True), deff=True))
    put("by_stype_total", lambda: _by(pc.total(d, "enroll", by="stype", na_rm=True), ["stype"]))
    put("quantile_enroll_narm", lambda: _quantiles(
        pc.quantile(d, "enroll", QUANTILES, na_rm=True)))
    for method in CIPROP_METHODS:
        put(f"ciprop_{method}",
            lambda m=method: _ciprop(pc.proportion(d, "sch_wide", method=m)))
    put("quantile", lambda: _quantiles(pc.quantile(d, "api00", QUANTILES)))
    for kind in ("beta", "xlogit", "asin", "score"):
        put(f"quantile_{kind}", lambda k=kind: _quantiles(
            pc.quantile(d, "api00", QUANTILES, interval_type=k)))
    return out


def replicate_estimates(name: str) -> dict:
    """Every core estimate of one replicate case: ``{case: {key: value}}``."""
    r = replicate_design(name)
    info = {"degf": r.degf, "scale": r.scale, "n_replicates": r.n_replicates,
            "mse": float(r.mse)}
    info.update({f"rscales:{i + 1}": v for i, v in enumerate(r.rscales)})
    out: dict = {name: info}
    put = lambda case, compute: _attempt(out, f"{name}/{case}", compute)  # noqa: E731 - a one-line alias
    put("mean", lambda: _stat(pc.mean(r, ["api00", "api99"]), vcov=True))
    put("ratio", lambda: _ratio(pc.ratio(r, "api00", "api99")))
    put("total", lambda: _stat(pc.total(r, "enroll", na_rm=True)))
    put("total_api00", lambda: _stat(pc.total(r, "api00")))
    put("mean_api00", lambda: _stat(pc.mean(r, "api00")))
    put("prop_stype", lambda: _stat(
        pc.proportion(r, "stype"), label=lambda row: f"{r_name(row['variable'])}{row['category']}"))
    put("by_stype_mean", lambda: _by(pc.mean(r, "api00", by="stype"), ["stype"]))
    for method in ("logit", "mean"):
        put(f"ciprop_{method}", lambda m=method: _ciprop(pc.proportion(r, "sch_wide", method=m)))
    put("quantile", lambda: _quantiles(pc.quantile(r, "api00", QUANTILES)))
    put("quantile_rep", lambda: _quantiles(
        pc.quantile(r, "api00", QUANTILES, interval_type="quantile")))
    return out


TAYLOR_CASES = ("strat", "strat_nofpc", "clus1", "clus1_nofpc", "clus2", "clus2_nofpc", "srs",
                *(f"lonely_{o}" for o in LONELY_OPTIONS))
REPLICATE_CASES = ("jk1_clus1", "jk1_clus1_mse", "jk1_clus1_nofpc", "jkn_strat",
                   "jkn_strat_nofpc", "jkn_clus1_nofpc_stype",
                   *(f"jkn_lonely_{o}" for o in LONELY_OPTIONS),
                   "boot_default", "boot_scale", "other_scale", "boot_scale_mse",
                   "other_scale_mse", "brr", "fay03")


@cache
def estimates(name: str) -> dict[str, dict[str, float]]:
    """All computed values of a top-level case (a design), as the reference keys them."""
    if name in TAYLOR_CASES or name == "brr_linearization":
        return taylor_estimates(name)
    return replicate_estimates(name)


def relative_difference(ours: float, theirs: float) -> float:
    if ours == theirs or (np.isnan(ours) and np.isnan(theirs)):
        return 0.0
    return abs(ours - theirs) / max(abs(theirs), 1e-300)


# --------------------------------------------------------------- core_extra.csv --
def _extra_taylor(name: str) -> pc.SurveyDesign:
    if name in ("strat", "clus1", "clus2"):
        return taylor_design(name)
    raise KeyError(name)


def _extra_design(name: str):
    if name in ("jk1_clus1", "jkn_strat"):
        return replicate_design(name)
    if name == "boot_scale":
        return replicate_design("boot_scale")
    return _extra_taylor(name)


def _by_level(table: pd.DataFrame, column: str) -> dict[str, pd.Series]:
    return {str(row[column]): row for _, row in table.iterrows()}


def extra_estimates(case: str) -> dict[str, float]:
    """The values of one case of core_extra.csv (see make_core_extra.R)."""
    parts = case.split("/")
    head = parts[0]
    if head == "rep_deff":
        r = _extra_design(parts[1])
        what = parts[2]
        if what == "mean":
            return _stat(pc.mean(r, ["api00", "api99"]), deff=True)
        if what == "total":
            return _stat(pc.total(r, "api00"), deff=True)
        if what == "prop_stype":
            return _levels(pc.proportion(r, "stype"))
        if what == "ratio":
            t = pc.ratio(r, "api00", "api99")
            return {**_ratio(t), "deff": t["deff"].iloc[0]}
        if what == "by_stype_mean":
            return _by(pc.mean(r, "api00", by="stype"), ["stype"], deff=True)
    if head == "ratio_deff":
        t = pc.ratio(_extra_taylor(parts[1]), "api00", "api99")
        return {**_ratio(t), "deff": t["deff"].iloc[0]}
    if head == "domain_degf":
        d = _extra_design(parts[1])
        t = pc.proportion(d, "sch_wide", by="stype")
        return {str(s): float(g["df"].iloc[0]) for s, g in t.groupby("stype")}
    if head == "domain_ciprop":
        d = _extra_design(parts[1])
        t = pc.proportion(d, "sch_wide", by="stype", method=parts[2])
        row = t[(t["stype"] == parts[3]) & (t["category"] == "Yes")].iloc[0]
        return {"est": row["estimate"], "se": row["se"], "lo": row["ci_low"],
                "hi": row["ci_high"], "df": row["df"]}
    if head == "domain_quantile":
        d = _extra_design(parts[1])
        t = pc.quantile(d, "api00", QUANTILES, by="stype")
        return _quantiles(t[t["stype"] == parts[2]])
    if head == "ties":
        data = reference_data("core_ties_data.csv").copy()
        data["w2"] = data["w"] / 10 + 0.1
        ref = read_reference(REFERENCE / "core_extra.csv")
        if len(parts) == 1:
            return ref["ties"]
        if parts[1] == "quantile":
            probs = [ref["ties"][f"p:{i + 1}"] for i in range(len(ref["ties"]))]
            weights = "w"
        else:
            probs = [0.1, 0.3, 0.5, 0.7, 0.9]
            weights = "w2"
        d = pc.SurveyDesign(data, weights=weights, psu="psu", strata="stratum")
        return _quantiles(pc.quantile(d, "x", probs))
    if head.startswith("clus2_lonely_"):
        d = pc.SurveyDesign(reference_data("core_clus2_lonely_data.csv"),
                            psu=["dnum", "snum"], fpc=["fpc1", "fpc2"],
                            lonely_psu=head.removeprefix("clus2_lonely_"))
        if parts[1] == "mean":
            return _stat(pc.mean(d, ["api00", "api99"]), deff=True)
        if parts[1] == "total":
            return _stat(pc.total(d, "api00"))
        if parts[1] == "by_stype_mean":
            return _by(pc.mean(d, "api00", by="stype"), ["stype"])
    if head.startswith("lonely_schwide_"):
        d = taylor_design("lonely_" + head.removeprefix("lonely_schwide_"))
        estimator = pc.mean if parts[1] == "by_schwide_mean" else pc.total
        return _by(estimator(d, "api00", by="sch_wide"), ["sch_wide"])
    raise KeyError(case)


# ------------------------------------------------------------------- comparison --
EST_RTOL = 1e-8  # estimates, weights sums, scales: relative difference to R
SE_RTOL = 1e-6  # standard errors, covariances, deffs, interval bounds
ZERO_ATOL = 1e-12  # both sides numerically zero (structural zeros R prints as 0 or 1e-16)
EXACT_KEYS = ("degf", "n", "n_replicates", "mse", "df")


def tolerance(key: str) -> float:
    """Relative tolerance of one reference key ("api00:se", "E:est", "degf", ...)."""
    last = key.split(":")[-1]
    if key in EXACT_KEYS or last in EXACT_KEYS:
        return 0.0
    if last == "est" or key in ("sum_weights", "scale") or key.startswith(("rscales", "p:")):
        return EST_RTOL
    return SE_RTOL


def mismatches(ours: dict, theirs: dict, skip: tuple[str, ...] = ()) -> list[str]:
    """Keys whose values differ beyond :func:`tolerance` (or are missing)."""
    problems = []
    for key, expected in theirs.items():
        if key in skip:
            continue
        if key not in ours:
            problems.append(f"{key}: not computed (R: {expected!r})")
            continue
        got = float(ours[key])
        if np.isnan(expected) or np.isnan(got):
            if not (np.isnan(expected) and np.isnan(got)):
                problems.append(f"{key}: ours {got!r}, R {expected!r}")
            continue
        if abs(got) < ZERO_ATOL and abs(expected) < ZERO_ATOL:
            continue
        rtol = tolerance(key)
        if not relative_difference(got, expected) <= rtol:
            problems.append(f"{key}: ours {got!r}, R {expected!r} "
                            f"(relative difference {relative_difference(got, expected):.2e} > {rtol:g})")
    return problems
