"""Designs sampled with probability proportional to size and their estimates, keyed as
``tests/reference/make_pps.R`` writes them (``pps_reference.csv``).

Designs: ``el_*`` on R's ``election_pps`` (40 counties, one stage, no strata), ``vil_*``
on a stratified two-stage sample of villages and households (``pps_villages.csv``),
``vl_*`` on one row per sampled village with a matrix of joint probabilities
(``pps_village_level.csv``, ``pps_village_joint.csv``).
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
from _core_cases import REFERENCE, _stat, read_reference

import perception as pc

PPS_FILE = REFERENCE / "pps_reference.csv"
QUANTILES = (0.25, 0.5, 0.75)
CIPROP_METHODS = ("logit", "beta", "mean", "xlogit", "asin")
# R's model terms -> the package's
TERMS = {"(Intercept)": "Intercept", "I(Nader > 0)TRUE": "nader"}


@cache
def reference() -> dict[str, dict[str, float]]:
    return read_reference(PPS_FILE)


@cache
def data(name: str) -> pd.DataFrame:
    """The data of make_pps.R (with the derived columns its models use)."""
    frame = pd.read_csv(REFERENCE / f"pps_{name}.csv")
    if name == "election":
        frame["bush_win"] = (frame["winner"] == "Bush").astype(float)
        frame["nader"] = (frame["Nader"] > 0).astype(float)
    return frame


@cache
def joint(name: str) -> np.ndarray | pd.DataFrame:
    """Joint inclusion probabilities: election's as an array (rows in data order), the
    villages' as a DataFrame labelled by village."""
    if name == "village_joint":
        return pd.read_csv(REFERENCE / "pps_village_joint.csv", index_col="village")
    return pd.read_csv(REFERENCE / f"pps_election_{name}.csv").to_numpy()


def design(name: str) -> pc.SurveyDesign:
    """The design of make_pps.R called ``name``."""
    if name.startswith("el_"):
        e = data("election")
        kinds = {"el_brewer": {"pps": "brewer"}, "el_overton": {"pps": "overton"},
                 "el_hr": {"pps": "hartley-rao"},
                 "el_hr_psum": {"pps": "hartley-rao",
                                "psum": reference()["el_hr_psum"]["psum"]},
                 "el_joint": {"pps": joint("jointprob")},
                 "el_joint_hr": {"pps": joint("jointHR")},
                 "el_joint_tol0": {"pps": joint("jointprob"), "pps_tolerance": 0.0}}
        return pc.SurveyDesign(e, fpc="p", **kinds[name])
    if name.startswith("vil_"):
        v = data("villages")
        if name == "vil_brewer2":
            return pc.SurveyDesign(v, strata="stratum", psu=["village", "hh"],
                                   fpc=["p1", "f2"], pps="brewer")
        if name == "vil_brewer1":
            return pc.SurveyDesign(v, weights="w", strata="stratum", psu="village", fpc="p1",
                                   pps="brewer")
        if name.startswith("vil_lonely_"):
            return pc.SurveyDesign(v, strata="stratum_l", psu=["village", "hh"],
                                   fpc=["p1", "f2"], pps="brewer",
                                   lonely_psu=name.removeprefix("vil_lonely_"))
        kinds = {"vil_overton": {"pps": "overton"}, "vil_hr": {"pps": "hartley-rao"},
                 "vil_hr_psum": {"pps": "hartley-rao", "psum": "psum"}}
        return pc.SurveyDesign(v, strata="stratum", psu="village", fpc="p1", **kinds[name])
    if name.startswith("vl_"):
        pps = {"vl_joint": joint("village_joint"), "vl_brewer": "brewer",
               "vl_overton": "overton"}[name]
        return pc.SurveyDesign(data("village_level"), strata="stratum", psu="village",
                               fpc="p1", pps=pps)
    raise KeyError(name)


# ------------------------------------------------------------------------ estimates --
def _by(table: pd.DataFrame, by: list[str]) -> dict:
    out = {}
    for _, row in table.iterrows():
        label = ".".join(str(row[b]) for b in by)
        out[f"{label}:est"] = row["estimate"]
        out[f"{label}:se"] = row["se"]
    return out


def _one(table: pd.DataFrame, keys=("est", "se")) -> dict:
    row = table.iloc[0]
    columns = {"est": "estimate", "se": "se", "p": "p", "df": "df", "lo": "ci_low",
               "hi": "ci_high"}
    return {key: row[columns[key]] for key in keys}


def _ciprop(table: pd.DataFrame, category) -> dict:
    return _one(table[table["category"] == category], ("est", "se", "lo", "hi", "df"))


def _quantiles(table: pd.DataFrame) -> dict:
    out = {}
    for _, row in table.iterrows():
        prefix = f"{row['variable']}:q{row['quantile']:g}"
        out.update({f"{prefix}:est": row["estimate"], f"{prefix}:lo": row["ci_low"],
                    f"{prefix}:hi": row["ci_high"], f"{prefix}:se": row["se"]})
    return out


def _glm(fit) -> dict:
    out = {}
    names = {ours: theirs for theirs, ours in TERMS.items()}
    for term, row in fit.coefficients.iterrows():
        name = names.get(term, term)
        out.update({f"{name}:est": row["estimate"], f"{name}:se": row["se"],
                    f"{name}:p": row["p"]})
    out["df.residual"] = fit.df_residual
    return out


def _chisq(result) -> dict:
    return {"statistic": result.statistic, "ndf": result.ndf, "ddf": result.ddf, "p": result.p}


def _contrast(table: pd.DataFrame) -> dict:
    return _one(table, ("est", "se", "p"))


def _design_facts(d) -> dict:
    return {"degf": d.degf, "n": d.n, "sum_weights": float(d.weights.sum())}


def election_estimates(name: str) -> dict:
    d = design(name)
    out = {name: _design_facts(d)}
    put = lambda case, compute: out.__setitem__(f"{name}/{case}", compute)  # noqa: E731
    put("mean", lambda: _stat(pc.mean(d, ["Bush", "Kerry"]), deff=True, vcov=True))
    put("total", lambda: _stat(pc.total(d, ["Bush", "Kerry"]), deff=True, vcov=True))
    put("ratio", lambda: _one(pc.ratio(d, "Bush", "votes")))
    put("prop_winner", lambda: _stat(pc.proportion(d, "winner"), deff=True,
                                     label=lambda r: f"winner{r['category']}"))
    for method in CIPROP_METHODS:
        put(f"ciprop_{method}",
            lambda m=method: _ciprop(pc.proportion(d, "winner", method=m), "Bush"))
    put("by_big_mean", lambda: _by(pc.mean(d, "kerry_share", by="big"), ["big"]))
    put("by_big_total", lambda: _by(pc.total(d, "Kerry", by="big"), ["big"]))
    put("by_big_ratio", lambda: _by(pc.ratio(d, "Bush", "votes", by="big"), ["big"]))
    put("subset_mean", lambda: _stat(pc.mean(d.subset(d.data["big"] == "big"), "Kerry")))
    put("contrast_big", lambda: _contrast(pc.contrast(
        pc.mean(d, "kerry_share", by="big"), {"small": 1, "big": -1})))
    put("glm_gaussian", lambda: _glm(pc.glm(d, "Kerry ~ Bush")))
    put("glm_binomial", lambda: _glm(pc.glm(d, "bush_win ~ nader", family="binomial")))
    put("chisq", lambda: _chisq(pc.chisq(d, "winner", "big")))
    put("change", lambda: _contrast(pc.change(d, "kerry_share", over="wave")))
    put("did", lambda: _glm_did(d, "kerry_share"))
    return out


def village_estimates(name: str) -> dict:
    d = design(name)
    out = {name: _design_facts(d)}
    put = lambda case, compute: out.__setitem__(f"{name}/{case}", compute)  # noqa: E731
    put("mean", lambda: _stat(pc.mean(d, ["trust", "score"]), deff=True, vcov=True))
    put("total", lambda: _stat(pc.total(d, "trust"), deff=True))
    put("ratio", lambda: _one(pc.ratio(d, "score", "age")))
    put("prop_score", lambda: _stat(pc.proportion(d, "score"), deff=True,
                                    label=lambda r: f"factor(score){r['category']}"))
    for method in CIPROP_METHODS:
        put(f"ciprop_{method}",
            lambda m=method: _ciprop(pc.proportion(d, "trust", method=m), 1))
    put("by_stratum_mean", lambda: _by(pc.mean(d, "trust", by="stratum"), ["stratum"]))
    put("by_wave_treated_mean", lambda: _by(pc.mean(d, "score", by=["wave", "treated"]),
                                            ["wave", "treated"]))
    put("subset_mean", lambda: _stat(pc.mean(d.subset(d.data["sex"] == "F"), "score")))
    put("quantile", lambda: _quantiles(pc.quantile(d, "age", QUANTILES)))
    put("quantile_score", lambda: _quantiles(
        pc.quantile(d, "age", QUANTILES, interval_type="score")))
    put("change", lambda: _contrast(pc.change(d, "trust", over="wave")))
    for group in (0, 1):
        put(f"change_treated{group}", lambda g=group: _contrast(
            (t := pc.change(d, "trust", over="wave", by="treated"))[t["treated"] == g]))
    put("did", lambda: _glm_did(d))
    put("glm_binomial", lambda: _glm(pc.glm(d, "trust ~ treated + age", family="binomial")))
    put("chisq", lambda: _chisq(pc.chisq(d, "sex", "trust")))
    return out


def _glm_did(d, outcome: str = "score") -> dict:
    res = pc.did(d, outcome, treated="treated", period="wave")
    out = {}
    for _, row in res.coefficients.iterrows():
        name = {"Intercept": "(Intercept)", "wave[T.2]": "factor(wave)2",
                "treated:wave[T.2]": "treated:factor(wave)2"}.get(row["term"], row["term"])
        out.update({f"{name}:est": row["estimate"], f"{name}:se": row["se"],
                    f"{name}:p": row["p"]})
    effect = res.effects.iloc[0]
    assert effect["estimate"] == out["treated:factor(wave)2:est"]
    out["df.residual"] = effect["df"]
    return out


def lonely_estimates(name: str) -> dict:
    d = design(name)
    return {name: _design_facts(d),
            f"{name}/mean": lambda: _stat(pc.mean(d, ["trust", "score"])),
            f"{name}/by_wave_mean": lambda: _by(pc.mean(d, "trust", by="wave"), ["wave"])}


def village_level_estimates(name: str) -> dict:
    d = design(name)
    out = {name: _design_facts(d)}
    put = lambda case, compute: out.__setitem__(f"{name}/{case}", compute)  # noqa: E731
    put("mean", lambda: _stat(pc.mean(d, ["incidents", "chief_age"]), deff=True, vcov=True))
    put("total", lambda: _quiet(lambda: _stat(pc.total(d, ["incidents", "households"]),
                                              deff=True, vcov=True)))
    put("ratio", lambda: _one(pc.ratio(d, "incidents", "households")))
    for method in ("logit", "mean"):
        put(f"ciprop_{method}",
            lambda m=method: _ciprop(pc.proportion(d, "police_post", method=m), 1))
    put("by_stratum_total", lambda: _by(pc.total(d, "incidents", by="stratum"), ["stratum"]))
    put("quantile", lambda: _quantiles(pc.quantile(d, "chief_age", QUANTILES)))
    put("glm_gaussian", lambda: _glm(pc.glm(d, "incidents ~ households")))
    return out


def _quiet(compute):
    """Compute without the warning of a negative variance (``vl_overton``'s total of
    the size variable; tests/survey/test_pps.py checks the warning)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the Horvitz-Thompson variance estimate is negative")
        return compute()


WEIGHTINGS = ("ps_big", "rake", "cal_votes")


def weighted(name: str, weighting: str) -> pc.SurveyDesign:
    """An election design weighted as make_pps.R weights it."""
    margins = reference()["margins"]
    d = design(name)
    big = {"big": margins["big:big"], "small": margins["big:small"]}
    if weighting == "ps_big":
        return pc.poststratify(d, "big", big)
    if weighting == "rake":
        winner = {"Bush": margins["winner:Bush"], "Kerry": margins["winner:Kerry"]}
        return pc.rake(d, {"big": big, "winner": winner}, tol=1e-10)
    if weighting == "cal_votes":
        return pc.calibrate(d, {"(Intercept)": margins["N"], "votes": margins["votes"]})
    raise KeyError(weighting)


def weighting_estimates(name: str, weighting: str) -> dict:
    d = weighted(name, weighting)
    case = f"{name}/{weighting}"
    return {
        case: {"sum_weights": float(d.weights.sum())},
        f"{case}/mean": _stat(pc.mean(d, ["Bush", "kerry_share"])),
        f"{case}/total": _stat(pc.total(d, ["Kerry", "votes"])),
        f"{case}/by_winner_mean": _by(pc.mean(d, "kerry_share", by="winner"), ["winner"]),
    }


def village_weighting_estimates() -> dict:
    sex = {"F": 61000, "M": 57000}
    out = {}
    for name in ("vil_brewer2", "vil_brewer1", "vil_overton"):
        d = pc.poststratify(design(name), "sex", sex)
        out[f"{name}/ps_sex/mean"] = _stat(pc.mean(d, ["trust", "score"]))
        if name == "vil_brewer2":
            out[f"{name}/ps_sex/by_stratum_mean"] = _by(pc.mean(d, "trust", by="stratum"),
                                                        ["stratum"])
    return out


def group_of(case: str) -> tuple[str, ...]:
    """The group of computations a reference case belongs to."""
    parts = case.split("/")
    if len(parts) >= 2 and parts[1] in WEIGHTINGS:
        return ("weighting", parts[0], parts[1])
    if len(parts) >= 3 and parts[1] == "ps_sex":
        return ("village_weighting",)
    return ("design", parts[0])


@cache
def group(key: tuple[str, ...]) -> dict:
    """``{case: values or a function computing them}`` of one group."""
    if key[0] == "weighting":
        return weighting_estimates(key[1], key[2])
    if key[0] == "village_weighting":
        return village_weighting_estimates()
    name = key[1]
    for prefix, compute in (("el_", election_estimates), ("vil_lonely_", lonely_estimates),
                            ("vil_", village_estimates),
                            ("vl_", village_level_estimates)):
        if name.startswith(prefix):
            return compute(name)
    raise KeyError(name)


def computed(case: str) -> dict[str, float]:
    """The values perception computes for one reference case."""
    value = group(group_of(case))[case]
    return value() if callable(value) else value
