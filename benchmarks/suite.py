"""Benchmark suite of ``perception`` against plain numpy, svy, samplics and R ``survey``.

Synthetic stratified two-stage survey: 20 strata x 50 PSUs (villages), rows spread at
random over the PSUs, 15 numeric items with a village effect, 5 categorical items
(levels 1-5), a 20-level domain, two waves, a treated arm (constant within PSU) and three
raking variables. Tasks:

- T1: ``pc.mean`` of the 15 items, Taylor SEs (full 15 x 15 covariance), whole sample;
- T2: the same by the 20-level domain (300 estimates, 300 x 300 covariance);
- T3: the same as T1 with 200 bootstrap replicates
  (``design.replicate("bootstrap", 200, seed=1)``, built outside the timing);
- T4: ``pc.proportion`` of the 5 categorical items by domain (logit intervals);
- T5: ``pc.rake`` to 3 margins (sex, age group, zone), then T1 on the raked design;
- T6: ``pc.did`` of q1, treated x wave (two waves);
- T7: ``perception figures --demo`` (the demo figure set; independent of --rows, run at
  the first size only).

Each (task, size) runs in its own subprocess, which makes the data, builds the design,
then times ``perception`` (best of --repeat, ``time.perf_counter``) interleaved with a
plain-numpy computation of the SAME numbers (T1-T4: estimate, SE, deff, df and, for T4,
the logit interval), asserted to agree to ``AGREE_RTOL``. Memory: the subprocess's peak
resident set (``getrusage`` maxrss: data, design and one run of the task) and the peak
of the allocations made by one (warm) run of each implementation (tracemalloc).
Peers, when installed (svy, samplics: imported in the same subprocess; R ``survey``:
``Rscript benchmarks/peers.R`` on the same data written to a temporary CSV, timed inside
R with ``system.time``), are timed on the same tasks; absent peers are skipped with a
note. Peers run the defaults a user would write (no deff, no covariance between domains),
which is less work than perception does: the ratios are conservative. A Python peer whose
run goes past ``--peer-limit`` seconds (samplics by domain at 10^6 rows) is stopped and
reported as a lower bound: "> 60.0" seconds, "> 480x" slower.

Run (not part of the test suite)::

    .venv/bin/python benchmarks/suite.py --rows 1e4,1e5,1e6 --tasks T1,T2,T3 --repeat 3
    .venv/bin/python benchmarks/suite.py --rows 1e7 --tasks T1,T2 --peers none

BLAS threads are pinned to one (``OPENBLAS_NUM_THREADS=1`` and friends, unless already
set): on a shared 2-core machine extra threads only add noise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402 - after the BLAS thread settings
import pandas as pd  # noqa: E402 - after the BLAS thread settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# a cold run (--cold-worker) times the import of perception itself: not imported before
if "--cold-worker" not in sys.argv:
    import perception as pc  # noqa: E402 - the repository put on sys.path first

STRATA, PSUS_PER_STRATUM, ITEMS, CATEGORICAL, DOMAINS, LEVELS = 20, 50, 15, 5, 20, 5
N_PSU = STRATA * PSUS_PER_STRATUM
REPLICATES = 200
SEED = 1
#: perception and the numpy reference must agree to this relative difference
AGREE_RTOL = 1e-10
ITEM_NAMES = [f"q{j + 1}" for j in range(ITEMS)]
CAT_NAMES = [f"c{j + 1}" for j in range(CATEGORICAL)]
RAKE_MARGINS = {"sex": 2, "agegrp": 4, "zone": 5}
DESIGN_COLUMNS = ["stratum", "psu", "w"]
TASKS = {
    "T1": "mean, 15 items, Taylor",
    "T2": "mean, 15 items x 20 domains",
    "T3": "mean, 15 items, 200 bootstrap",
    "T4": "proportion, 5 items x 20 domains",
    "T5": "rake to 3 margins + T1",
    "T6": "DiD of q1 (treated x wave)",
    "T7": "demo figure set (CLI)",
}
TASK_COLUMNS = {
    "T1": ITEM_NAMES,
    "T2": [*ITEM_NAMES, "domain"],
    "T3": ITEM_NAMES,
    "T4": [*CAT_NAMES, "domain"],
    "T5": [*ITEM_NAMES, *RAKE_MARGINS],
    "T6": ["q1", "wave", "treated"],
    "T7": [],
}
PEERS = ("svy", "samplics", "R")
#: largest size at which each peer runs (they are slow, or hold n x R matrices): samplics
#: loops over domains in Python, R copies the data per domain in svyby
PEER_MAX_ROWS = {"svy": 10**7, "samplics": 10**6, "R": 10**6}
PEER_TASK_MAX_ROWS = {("svy", "T3"): 10**6}  # svy's n x 200 replicate weights: 16 GB at 10^7
#: default time limit (seconds) of one run of a Python peer: a run still going is stopped
#: and its time so far reported as a lower bound (e.g. samplics T2 at 10^6 rows, which
#: loops over the domains in Python for minutes)
PEER_LIMIT = 60.0


def peer_runs(peer: str, task: str, n_rows: int) -> bool:
    limit = PEER_TASK_MAX_ROWS.get((peer, task), PEER_MAX_ROWS[peer])
    return n_rows <= limit


# ------------------------------------------------------------------------- data --
def _rng(name: str, seed: int) -> np.random.Generator:
    """One random stream per column, so a column is the same whatever else is made."""
    return np.random.default_rng([seed, sum(ord(c) * 31**i for i, c in enumerate(name))])


def make_data(n_rows: int, columns: list[str] | None = None, seed: int = SEED) -> pd.DataFrame:
    """The synthetic survey (design columns plus ``columns``; all columns when None).

    Columns are drawn one at a time from their own random stream and not copied into
    a block (``copy=False``), so making the data needs little more than its own size.
    """
    everything = [*ITEM_NAMES, *CAT_NAMES, "domain", "wave", "treated", *RAKE_MARGINS]
    wanted = everything if columns is None else list(columns)
    psu = _rng("psu", seed).integers(0, N_PSU, n_rows)
    frame: dict[str, np.ndarray] = {
        "stratum": psu // PSUS_PER_STRATUM,
        "psu": psu,
        "w": _rng("w", seed).uniform(50, 150, n_rows),
    }
    village = _rng("village", seed).normal(0, 1, N_PSU)
    for name in wanted:
        rng = _rng(name, seed)
        if name.startswith("q"):
            j = int(name[1:])
            column = rng.normal(0, 1, n_rows)
            column += 3 + 0.3 * village[psu] + 0.02 * j
        elif name.startswith("c"):
            column = rng.integers(1, LEVELS + 1, n_rows)
        elif name == "domain":
            column = rng.integers(1, DOMAINS + 1, n_rows)
        elif name == "wave":
            column = rng.integers(0, 2, n_rows)
        elif name == "treated":
            column = (psu % 2).astype(np.int64)
        elif name in RAKE_MARGINS:
            column = rng.integers(1, RAKE_MARGINS[name] + 1, n_rows)
        else:
            raise ValueError(f"unknown benchmark column {name!r}")
        frame[name] = column
    return pd.DataFrame(frame, copy=False)


def rake_margins(data: pd.DataFrame) -> dict[str, dict[int, float]]:
    """Population margins for T5: the weighted counts of the sample tilted by a few
    per cent (so raking moves the weights), all adding up to the same total."""
    total = float(data["w"].sum()) * 1.1
    margins = {}
    for name, levels in RAKE_MARGINS.items():
        counts = np.bincount(data[name].to_numpy(), weights=data["w"].to_numpy(),
                             minlength=levels + 1)[1:]
        tilt = 1 + 0.05 * np.cos(np.arange(levels))
        shares = counts * tilt / (counts * tilt).sum()
        margins[name] = {level + 1: float(total * shares[level]) for level in range(levels)}
    return margins


# ------------------------------------------------------------------ perception --
def design_of(data: pd.DataFrame) -> pc.SurveyDesign:
    return pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu")


def run_figures() -> None:
    from perception.cli import main

    with tempfile.TemporaryDirectory() as out:
        code = main(["figures", "--demo", "--out", out])
    if code != 0:
        raise RuntimeError(f"perception figures --demo exited with {code}")


def perception_task(task: str, design, data: pd.DataFrame, extra: dict) -> Callable:
    """The perception call of a task (a function of no argument)."""
    if task == "T1":
        return lambda: pc.mean(design, ITEM_NAMES)
    if task == "T2":
        return lambda: pc.mean(design, ITEM_NAMES, by="domain")
    if task == "T3":
        return lambda: pc.mean(extra["replicate"], ITEM_NAMES)
    if task == "T4":
        return lambda: pc.proportion(design, CAT_NAMES, by="domain")
    if task == "T5":
        return lambda: pc.mean(pc.rake(design, extra["margins"]), ITEM_NAMES)
    if task == "T6":
        return lambda: pc.did(design, "q1", treated="treated", period="wave").effects
    if task == "T7":
        return run_figures
    raise ValueError(task)


# ----------------------------------------------------------- plain numpy references --
# What a numpy programmer writes for the same numbers, as fast as plain numpy goes: one
# pass per column over the rows (np.bincount of w*y by PSU x domain, a dot product for
# the squares), then everything on the PSU totals: linearised score totals
# (T_wy - theta T_w) / W, the with-replacement stratified variance of those totals, deff
# as R's deff = "replace" from sum w (y - theta)^2 = sum w y^2 - theta^2 W.
def _psu_stratum(psu: np.ndarray, stratum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratum of each PSU value, and which PSU values hold rows."""
    out = np.zeros(N_PSU, dtype=np.int64)
    out[psu] = stratum
    return out, np.bincount(psu, minlength=N_PSU) > 0


def _stratified_vcov(totals: np.ndarray, psu_stratum: np.ndarray, sampled: np.ndarray
                     ) -> np.ndarray:
    """sum_h n_h/(n_h-1) sum_i (t_hi - mean_h)(t_hi - mean_h)' over the totals (P, k) of
    the ``sampled`` PSUs (at small sizes a PSU may hold no row)."""
    totals, psu_stratum = totals[sampled], psu_stratum[sampled]
    n_h = np.bincount(psu_stratum, minlength=STRATA).astype(float)
    sums = np.zeros((STRATA, totals.shape[1]))
    np.add.at(sums, psu_stratum, totals)
    dev = totals - (sums / n_h[:, None])[psu_stratum]
    dev *= np.sqrt(n_h / (n_h - 1))[psu_stratum][:, None]
    return dev.T @ dev


def _degf(psu: np.ndarray, psu_stratum: np.ndarray, domain: np.ndarray | None = None,
          n_domains: int = 1) -> np.ndarray:
    """PSUs minus strata holding rows of each domain."""
    if domain is None:
        present = np.bincount(psu, minlength=N_PSU)[None, :] > 0
    else:
        present = (np.bincount(domain * N_PSU + psu, minlength=n_domains * N_PSU) > 0
                   ).reshape(n_domains, N_PSU)
    strata = np.zeros((present.shape[0], STRATA), dtype=bool)
    for h in range(STRATA):
        strata[:, h] = present[:, psu_stratum == h].any(axis=1)
    return present.sum(axis=1) - strata.sum(axis=1)


def _domain_summary(T_wy: np.ndarray, T_wyy: np.ndarray, T_w: np.ndarray, n_d: np.ndarray,
                    psu_stratum: np.ndarray, sampled: np.ndarray) -> dict:
    """Means, covariance and deff from totals: T_wy (P, D, k) by PSU and domain,
    T_wyy (D, k) weighted squares, T_w (P, D) weights, n_d (D,) rows per domain."""
    P, D, k = T_wy.shape
    W = T_w.sum(axis=0)
    theta = T_wy.sum(axis=0) / W[:, None]
    scores = (T_wy - theta[None] * T_w[:, :, None]) / W[None, :, None]
    vcov = _stratified_vcov(scores.reshape(P, D * k), psu_stratum, sampled)
    spread = T_wyy - theta**2 * W[:, None]  # sum w (y - theta)^2
    vsrs = spread / W[:, None] / (n_d[:, None] - 1)  # R's deff = "replace" denominator
    se = np.sqrt(np.diag(vcov)).reshape(D, k)
    return {"estimate": theta.ravel(), "se": se.ravel(), "deff": (se**2 / vsrs).ravel()}


def numpy_means(data: pd.DataFrame, items: list, by: str | None = None) -> dict:
    """Means (by domain), SE, deff and df of ``pc.mean`` from plain numpy."""
    w = data["w"].to_numpy()
    psu = data["psu"].to_numpy()
    psu_stratum, sampled = _psu_stratum(psu, data["stratum"].to_numpy())
    if by is None:
        index, D, n_d = psu, 1, np.array([len(w)], dtype=float)
    else:
        codes, levels = pd.factorize(data[by], sort=True)
        D = len(levels)
        index = psu * D + codes
        n_d = np.bincount(codes, minlength=D).astype(float)
    T_w = np.bincount(index, weights=w, minlength=N_PSU * D).reshape(N_PSU, D)
    T_wy = np.empty((N_PSU, D, len(items)))
    T_wyy = np.empty((D, len(items)))
    for j, name in enumerate(items):
        y = data[name].to_numpy(dtype=float)
        wy = w * y
        T_wy[:, :, j] = np.bincount(index, weights=wy, minlength=N_PSU * D).reshape(N_PSU, D)
        if by is None:
            T_wyy[0, j] = wy @ y
        else:
            wy *= y
            T_wyy[:, j] = np.bincount(codes, weights=wy, minlength=D)
    out = _domain_summary(T_wy, T_wyy, T_w, n_d, psu_stratum, sampled)
    out["df"] = np.repeat(_degf(psu, psu_stratum), D * len(items)).astype(float)
    return out


def numpy_proportions(data: pd.DataFrame, items: list[str], by: str) -> dict:
    """Level shares of categorical items by domain (``pc.proportion``): one bincount per
    item over PSU x domain x level, and R's svyciprop logit interval on each domain's df."""
    from scipy import special, stats

    w = data["w"].to_numpy()
    psu = data["psu"].to_numpy()
    psu_stratum, sampled = _psu_stratum(psu, data["stratum"].to_numpy())
    codes, levels = pd.factorize(data[by], sort=True)
    D, k = len(levels), len(items) * LEVELS
    index = (psu * D + codes) * LEVELS
    T_w = np.bincount(psu * D + codes, weights=w, minlength=N_PSU * D).reshape(N_PSU, D)
    T_wy = np.empty((N_PSU, D, k))
    for j, name in enumerate(items):
        level = data[name].to_numpy() - 1
        T_wy[:, :, j * LEVELS:(j + 1) * LEVELS] = np.bincount(
            index + level, weights=w, minlength=N_PSU * D * LEVELS).reshape(N_PSU, D, LEVELS)
    T_wyy = T_wy.sum(axis=0)  # an indicator is its own square
    n_d = np.bincount(codes, minlength=D).astype(float)
    out = _domain_summary(T_wy, T_wyy, T_w, n_d, psu_stratum, sampled)
    df = np.repeat(_degf(psu, psu_stratum, codes, D), k).astype(float)
    out["df"] = df
    # svyciprop(method = "logit"): interval for logit(p) with se/(p(1-p)), df per domain
    p, se = out["estimate"], out["se"]
    half = stats.t.ppf(0.975, df) * se / (p * (1 - p))
    out["ci_low"] = special.expit(special.logit(p) - half)
    out["ci_high"] = special.expit(special.logit(p) + half)
    return out


def numpy_bootstrap_means(data: pd.DataFrame, items: list[str], factors: np.ndarray
                          ) -> dict:
    """Means and their bootstrap SEs from per-PSU replicate factors (P, R), rows in PSU
    value order: replicate totals are factors' @ PSU totals."""
    w = data["w"].to_numpy()
    psu = data["psu"].to_numpy()
    T_w = np.bincount(psu, weights=w, minlength=N_PSU)
    T_wy = np.empty((N_PSU, len(items)))
    T_wyy = np.empty(len(items))
    for j, name in enumerate(items):
        y = data[name].to_numpy(dtype=float)
        wy = w * y
        T_wy[:, j] = np.bincount(psu, weights=wy, minlength=N_PSU)
        T_wyy[j] = wy @ y
    W = T_w.sum()
    theta = T_wy.sum(axis=0) / W
    reps = (factors.T @ T_wy) / (factors.T @ T_w)[:, None]
    dev = reps - reps.mean(axis=0)
    var = (dev * dev).sum(axis=0) / (factors.shape[1] - 1)
    vsrs = (T_wyy - theta**2 * W) / W / (len(w) - 1)
    return {"estimate": theta, "se": np.sqrt(var), "deff": var / vsrs}


def numpy_rake_means(data: pd.DataFrame, items: list[str], margins: dict) -> dict:
    """T5 in plain numpy: raking on the cells of the margins' cross-table, then the means
    of ``items`` with the raking-residualised scores (R's ``rake`` + ``svymean``).

    Raking multiplies every row of a cell (a combination of the margins' levels) by the
    cell's factor, so iterative proportional fitting runs on the (C,) cell totals of the
    weights: w = w0 * factor[cell]. The variance sweeps each score through the margins
    (R's ``svyrecvar``, 10 passes): every row of a cell loses base * shift[cell], where
    the shift comes from the cells' sums of score / base = factor * (y - theta) / W. So
    two bincounts per item (w y by PSU, y by cell) and one of the base weights by
    PSU x cell give everything.
    """
    w0 = data["w"].to_numpy()
    psu = data["psu"].to_numpy()
    psu_stratum, sampled = _psu_stratum(psu, data["stratum"].to_numpy())
    names = list(RAKE_MARGINS)
    sizes = [RAKE_MARGINS[name] for name in names]
    C = math.prod(sizes)
    cell = data[names[0]].to_numpy() - 1
    for name, size in zip(names[1:], sizes[1:], strict=True):
        cell = cell * size + (data[name].to_numpy() - 1)
    level = np.array(np.unravel_index(np.arange(C), sizes)).T  # (C, M)
    targets = [np.array([margins[name][lv + 1] for lv in range(size)])
               for name, size in zip(names, sizes, strict=True)]
    # iterative proportional fitting on the cell totals (R: maxit 100, epsilon 1e-8)
    base = np.bincount(cell, weights=w0, minlength=C)
    epsilon = 1e-8 * float(base.sum())
    factor = np.ones(C)
    after = np.empty((len(names), C))
    old = base
    for _ in range(100):
        for m, size in enumerate(sizes):
            totals = np.bincount(level[:, m], weights=factor * base, minlength=size)
            factor = factor * (targets[m] / totals)[level[:, m]]
            after[m] = factor
        new = factor * base
        converged = np.max(np.abs(old - new)) < epsilon
        old = new
        if converged:
            break
    w = w0 * factor[cell]
    # the means and their scores' totals by PSU and by cell
    n_c = np.bincount(cell, minlength=C).astype(float)
    T_w = np.bincount(psu, weights=w, minlength=N_PSU)
    T_wy = np.empty((N_PSU, len(items)))
    S_y = np.empty((C, len(items)))
    T_wyy = np.empty(len(items))
    for j, name in enumerate(items):
        y = data[name].to_numpy()
        wy = w * y
        T_wy[:, j] = np.bincount(psu, weights=wy, minlength=N_PSU)
        S_y[:, j] = np.bincount(cell, weights=y, minlength=C)
        T_wyy[j] = wy @ y
    W = T_w.sum()
    theta = T_wy.sum(axis=0) / W
    scores = (T_wy - theta * T_w[:, None]) / W
    # the sweeps on the cells' sums of score / base (psw = base * factor of the margin)
    level_sums = factor[:, None] * (S_y - theta * n_c[:, None]) / W
    shift = np.zeros_like(level_sums)
    for _ in range(10):
        for m, size in enumerate(sizes):
            f = after[m]
            sums = np.zeros((size, len(items)))
            np.add.at(sums, level[:, m], level_sums / f[:, None])
            rows = np.bincount(level[:, m], weights=n_c, minlength=size)
            step = f[:, None] * (sums / rows[:, None])[level[:, m]]
            level_sums -= n_c[:, None] * step
            shift += step
    B = np.bincount(psu * C + cell, weights=w0, minlength=N_PSU * C).reshape(N_PSU, C)
    scores -= B @ shift
    vcov = _stratified_vcov(scores, psu_stratum, sampled)
    se = np.sqrt(np.diag(vcov))
    vsrs = (T_wyy - theta**2 * W) / W / (len(w) - 1)
    return {"estimate": theta, "se": se, "deff": se**2 / vsrs,
            "df": np.repeat(_degf(psu, psu_stratum), len(items)).astype(float)}


def numpy_task(task: str, data: pd.DataFrame, extra: dict) -> Callable | None:
    if task == "T1":
        return lambda: numpy_means(data, ITEM_NAMES)
    if task == "T2":
        return lambda: numpy_means(data, ITEM_NAMES, by="domain")
    if task == "T3":
        return lambda: numpy_bootstrap_means(data, ITEM_NAMES, extra["factors"])
    if task == "T4":
        return lambda: numpy_proportions(data, CAT_NAMES, by="domain")
    if task == "T5":
        return lambda: numpy_rake_means(data, ITEM_NAMES, extra["margins"])
    return None


def compare(table: pd.DataFrame, reference: dict) -> float:
    """Largest relative difference between a perception table and a numpy result (inf
    when one of them is missing a value the other has)."""
    worst = 0.0
    for column, values in reference.items():
        ours = table[column].to_numpy(dtype=float)
        theirs = np.asarray(values, dtype=float)
        if not np.array_equal(np.isnan(ours), np.isnan(theirs)):
            return math.inf
        scale = np.maximum(np.abs(theirs), 1e-300)
        worst = max(worst, float(np.nanmax(np.abs(ours - theirs) / scale)))
    return worst


# ------------------------------------------------------------------- python peers --
def svy_task(task: str, data: pd.DataFrame, extra: dict) -> Callable | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import polars as pl
            import svy
    except ImportError:
        return None
    frame = pl.from_pandas(data)
    sample = svy.Sample(frame, svy.Design(stratum="stratum", psu="psu", wgt="w"))
    if task == "T1":
        return lambda: sample.estimation.mean(ITEM_NAMES)
    if task == "T2":
        return lambda: sample.estimation.mean(ITEM_NAMES, by="domain")
    if task == "T3":
        rep = sample.weighting.create_bs_wgts(n_reps=REPLICATES, rstate=SEED)
        return lambda: rep.estimation.mean(ITEM_NAMES, method="replication")
    if task == "T4":
        return lambda: [sample.estimation.prop(c, by="domain") for c in CAT_NAMES]
    if task == "T5":  # svy's tol is on the margins' relative error
        return lambda: sample.weighting.rake(controls=extra["margins"], tol=1e-8
                                             ).estimation.mean(ITEM_NAMES)
    if task == "T6":  # the DiD as the treated x wave interaction of a linear model
        return lambda: sample.glm.fit("q1", x=["treated", svy.Cat("wave"),
                                               svy.Cross("treated", svy.Cat("wave"))])
    return None


def samplics_task(task: str, data: pd.DataFrame, extra: dict) -> Callable | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from samplics.estimation import ReplicateEstimator, TaylorEstimator
            from samplics.utils import PopParam, RepMethod
            from samplics.weighting import ReplicateWeight
    except ImportError:
        return None
    w = data["w"].to_numpy()
    stratum = data["stratum"].to_numpy()
    psu = data["psu"].to_numpy()

    def taylor(param, names: list[str], domain: np.ndarray | None = None) -> list:
        out = []
        for name in names:
            est = TaylorEstimator(param)
            est.estimate(y=data[name].to_numpy(), samp_weight=w, stratum=stratum, psu=psu,
                         domain=domain)
            out.append(est)
        return out

    if task == "T1":
        return lambda: taylor(PopParam.mean, ITEM_NAMES)
    if task == "T2":
        return lambda: taylor(PopParam.mean, ITEM_NAMES, data["domain"].to_numpy())
    if task == "T3":
        maker = ReplicateWeight(RepMethod.bootstrap, strat=True, nb_reps=REPLICATES,
                                rand_seed=SEED)
        frame = maker.replicate(w, psu, stratum)
        rep_weights = frame.iloc[:, -REPLICATES:].to_numpy()

        def bootstrap() -> list:
            out = []
            for name in ITEM_NAMES:
                est = ReplicateEstimator(RepMethod.bootstrap, PopParam.mean)
                est.estimate(y=data[name].to_numpy(), samp_weight=w, rep_weights=rep_weights)
                out.append(est)
            return out

        return bootstrap
    if task == "T4":
        return lambda: taylor(PopParam.prop, CAT_NAMES, data["domain"].to_numpy())
    return None


# ------------------------------------------------------------------------ timing --
def peak_rss_mib() -> float:
    """Peak resident set of this process so far (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def traced_peak_mib(function: Callable) -> tuple[float, object]:
    """Peak of the memory allocated by one call (tracemalloc; numpy reports its arrays)."""
    tracemalloc.start()
    try:
        result = function()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / 2**20, result


class PeerTimeout(Exception):
    """A peer's run went past its time limit."""


def run_limited(function: Callable, limit: float) -> float | None:
    """Seconds taken by ``function()``, or None when it was stopped after ``limit``
    seconds (SIGALRM: the handler raises between two Python bytecodes, so a peer
    looping in Python stops on time; a long C call finishes first)."""
    import signal

    def stop(signum, frame):
        raise PeerTimeout

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, limit)
    start = time.perf_counter()
    try:
        function()
        return time.perf_counter() - start
    except PeerTimeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def interleaved_best(functions: dict[str, Callable], repeat: int, budget: float
                     ) -> dict[str, float]:
    """Best time of each function over ``repeat`` rounds, the functions taking turns
    inside each round (so a noisy moment hits them alike). A function whose runs have
    taken more than ``budget`` seconds in all is not run again."""
    best = {name: math.inf for name in functions}
    spent = dict.fromkeys(functions, 0.0)
    for _ in range(repeat):
        for name, function in functions.items():
            if spent[name] > budget:
                continue
            start = time.perf_counter()
            function()
            elapsed = time.perf_counter() - start
            spent[name] += elapsed
            best[name] = min(best[name], elapsed)
    return best


def worker(task: str, n_rows: int, repeat: int, peers: list[str], budget: float,
           peer_limit: float = PEER_LIMIT) -> dict:
    """Run one task at one size in this process; returns the measurements.

    A peer whose first run is still going after ``peer_limit`` seconds is stopped: its
    time is then reported as ``{peer}_s`` with ``{peer}_lower_bound`` true (the task
    takes more than that)."""
    result: dict = {"task": task, "rows": n_rows, "notes": []}
    columns = TASK_COLUMNS[task]
    data = make_data(n_rows, columns) if task != "T7" else make_data(10, [])
    result["data_mib"] = float(data.memory_usage(deep=True).sum()) / 2**20
    start = time.perf_counter()
    design = design_of(data)
    result["design_s"] = time.perf_counter() - start
    extra: dict = {}
    if task == "T3":
        start = time.perf_counter()
        extra["replicate"] = design.replicate("bootstrap", REPLICATES, seed=SEED)
        result["replicate_build_s"] = time.perf_counter() - start
        # the same draws for numpy, rows ordered by PSU value
        code_of_value = np.zeros(N_PSU, dtype=np.int64)
        code_of_value[data["psu"].to_numpy()] = design.psu_codes
        extra["factors"] = np.ascontiguousarray(extra["replicate"]._factors[code_of_value])
    if task == "T5":
        extra["margins"] = rake_margins(data)
    result["rss_before_mib"] = peak_rss_mib()

    ours = perception_task(task, design, data, extra)
    if task == "T7":  # tens of seconds of Python: timed once, without tracemalloc
        start = time.perf_counter()
        ours()
        result["perception_s"] = time.perf_counter() - start
        result["peak_rss_mib"] = peak_rss_mib()
        return result
    ours()  # warm-up: one-time imports and caches stay out of the measures
    result["peak_rss_mib"] = peak_rss_mib()
    result["perception_alloc_mib"], table = traced_peak_mib(ours)
    functions = {"perception": ours}

    plain = numpy_task(task, data, extra)
    if plain is not None:
        plain()
        result["numpy_alloc_mib"], reference = traced_peak_mib(plain)
        diff = compare(table, reference)
        result["numpy_max_rel_diff"] = diff
        if not diff <= AGREE_RTOL:
            raise AssertionError(
                f"{task} at {n_rows} rows: perception and numpy differ by {diff:.3g} "
                f"(relative), more than {AGREE_RTOL:g}"
            )
        functions["numpy"] = plain
    peer_makers = {"svy": svy_task, "samplics": samplics_task}
    for peer in peers:
        if peer not in peer_makers:
            continue
        if not peer_runs(peer, task, n_rows):
            result["notes"].append(f"{peer} not run on {task} at this size (too slow)")
            continue
        function = peer_makers[peer](task, data, extra)
        if function is None:
            continue
        start = time.perf_counter()
        try:
            first = run_limited(function, peer_limit)  # warm-up (and a check that it runs)
        except Exception as error:  # a peer's failure is reported, not fatal
            result["notes"].append(f"{peer} failed: {type(error).__name__}: {error}"[:200])
            continue
        if first is None:
            result[f"{peer}_s"] = time.perf_counter() - start
            result[f"{peer}_lower_bound"] = True
            result["notes"].append(f"{peer} stopped after {result[f'{peer}_s']:.0f} s: its "
                                   "time is a lower bound")
            continue
        functions[peer] = function
    times = interleaved_best(functions, repeat, budget)
    for name, seconds in times.items():
        result[f"{name}_s"] = seconds
    return result


# ------------------------------------------------------------------------ cold --
#: the tools timed from a cold start, and the rows of the cold runs' table
COLD_TOOLS = ("perception", "svy", "R")


def cold_worker(tool: str, n_rows: int) -> dict:
    """A cold start in this new process (pandas and the data already there, as in a
    user's session): import the tool, build the design, first estimate (T1). Returns
    the seconds of each step and in all."""
    data = make_data(n_rows, TASK_COLUMNS["T1"])
    times: dict = {"tool": tool, "rows": n_rows}
    start = time.perf_counter()
    if tool == "perception":
        import perception

        imported = time.perf_counter()
        design = perception.SurveyDesign(data, weights="w", strata="stratum", psu="psu")
        built = time.perf_counter()
        perception.mean(design, ITEM_NAMES)
    elif tool == "svy":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import polars as pl
            import svy

        imported = time.perf_counter()
        sample = svy.Sample(pl.from_pandas(data), svy.Design(stratum="stratum", psu="psu",
                                                             wgt="w"))
        built = time.perf_counter()
        sample.estimation.mean(ITEM_NAMES)
    else:
        raise ValueError(f"no cold run of {tool!r} in Python")
    done = time.perf_counter()
    times.update(import_s=imported - start, design_s=built - imported,
                 first_s=done - built, cold_s=done - start)
    return times


def run_cold(tool: str, n_rows: int, workdir: Path) -> dict | None:
    """One cold run of ``tool`` in a new process (R: a new Rscript, timed inside R from
    after reading the data: library(survey), svydesign, svymean); None when it failed."""
    if tool == "R":
        data = make_data(n_rows, TASK_COLUMNS["T1"])
        csv = workdir / f"cold_{n_rows}.csv"
        data.to_csv(csv, index=False)
        out = workdir / f"cold_r_{n_rows}.csv"
        done = subprocess.run(["Rscript", str(R_SCRIPT), str(csv), "-", "cold", "1",
                               str(out), "0", "0"], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"  note: R cold run failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
            return None
        table = pd.read_csv(out).set_index("step")["seconds"]
        return {"tool": "R", "rows": n_rows, "import_s": float(table["import"]),
                "design_s": float(table["design"]), "first_s": float(table["first"]),
                "cold_s": float(table.sum())}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--cold-worker",
                           tool, str(n_rows)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  note: {tool} cold run failed: {done.stderr.strip()[-300:]}",
              file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


COLD_HEADER = (f"{'cold':4s} {'rows':>9s} {'tool':>10s} {'import s':>9s} {'design s':>9s} "
               f"{'first s':>9s} {'cold s':>9s} {'/ours':>7s}")


def format_cold(r: dict, ours: float | None) -> str:
    ratio = (f"{r['cold_s'] / ours:.2f}x" if ours else "-")
    return (f"{'T1':4s} {r['rows']:>9,d} {r['tool']:>10s} {r['import_s']:9.3f} "
            f"{r['design_s']:9.3f} {r['first_s']:9.3f} {r['cold_s']:9.3f} {ratio:>7s}")


# ------------------------------------------------------------------------- R peer --
R_SCRIPT = HERE / "peers.R"


def run_r(n_rows: int, tasks: list[str], repeat: int, workdir: Path, budget: float
          ) -> dict[str, float]:
    """Time the R tasks on the same data (CSV in ``workdir``); {task: seconds}."""
    r_tasks = [t for t in tasks if t in ("T1", "T2", "T3", "T4", "T5", "T6")]
    if not r_tasks:
        return {}
    data = make_data(n_rows)
    csv = workdir / f"data_{n_rows}.csv"
    data.to_csv(csv, index=False)
    margins = workdir / f"margins_{n_rows}.csv"
    rows = [(name, level, count) for name, levels in rake_margins(data).items()
            for level, count in levels.items()]
    pd.DataFrame(rows, columns=["variable", "level", "count"]).to_csv(margins, index=False)
    out = workdir / f"r_{n_rows}.csv"
    command = ["Rscript", str(R_SCRIPT), str(csv), str(margins), ",".join(r_tasks),
               str(repeat), str(out), str(budget), str(REPLICATES)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  note: R failed: {done.stderr.strip()[-300:]}", file=sys.stderr)
        return {}
    table = pd.read_csv(out)
    return dict(zip(table["task"], table["seconds"], strict=True))


def r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(["Rscript", "-e", "library(survey); library(data.table)"],
                           capture_output=True)
    return check.returncode == 0


# ------------------------------------------------------------------------ driver --
def parse_rows(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "pandas": pd.__version__, "perception": pc.__version__}
    for name in ("scipy", "svy", "samplics", "pyarrow"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except Exception:
            pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": memory, "load": load, **versions}


def format_row(r: dict) -> str:
    """One line of the results; a peer stopped at its time limit shows "> seconds" and
    "> ratio" (lower bounds)."""
    def bound(key):
        return ">" if r.get(key.replace("_s", "_lower_bound")) else ""

    def t(key):
        value = r.get(key)
        if not (isinstance(value, float) and math.isfinite(value)):
            return f"{'-':>9s}"
        return f"{bound(key) + format(value, '.4f' if not bound(key) else '.1f'):>9s}"

    def ratio(a, b, inverse=False):
        x, y = r.get(a), r.get(b)
        if not (isinstance(x, float) and isinstance(y, float) and math.isfinite(x)
                and math.isfinite(y) and x > 0 and y > 0):
            return f"{'-':>7s}"
        return f"{bound(b) + format(y / x if inverse else x / y, '.2f') + 'x':>7s}"

    return (f"{r['task']:3s} {r['rows']:>9,d} {t('perception_s')} {t('numpy_s')} "
            f"{ratio('perception_s', 'numpy_s')} {t('svy_s')} "
            f"{ratio('perception_s', 'svy_s', True)} {t('samplics_s')} "
            f"{ratio('perception_s', 'samplics_s', True)} {t('R_s')} "
            f"{ratio('perception_s', 'R_s', True)} {r.get('peak_rss_mib', 0):8.0f} "
            f"{r.get('perception_alloc_mib', 0):8.0f} {r.get('numpy_alloc_mib', 0):8.0f}")


HEADER = (f"{'task':3s} {'rows':>9s} {'ours s':>9s} {'numpy s':>9s} {'/numpy':>7s} "
          f"{'svy s':>9s} {'svy/us':>7s} {'samplics':>9s} {'smp/us':>7s} {'R s':>9s} "
          f"{'R/us':>7s} {'peakRSS':>8s} {'ours MiB':>8s} {'np MiB':>8s}")


def cold_runs(args, peers: list[str], use_r: bool, workdir: Path) -> list[dict]:
    """The cold runs of every size of ``--cold``, best of ``--repeat`` new processes per
    tool, printed as a table; the results."""
    sizes = [] if args.cold.strip().lower() == "none" else parse_rows(args.cold)
    if not sizes:
        return []
    tools = ["perception", *(t for t in ("svy", "R") if t in peers)]
    if "R" in tools and not use_r:
        tools.remove("R")
    print(COLD_HEADER)
    out = []
    for n_rows in sizes:
        ours = None
        for tool in tools:
            runs = [run_cold(tool, n_rows, workdir) for _ in range(args.repeat)]
            runs = [r for r in runs if r is not None]
            if not runs:
                continue
            best = min(runs, key=lambda r: r["cold_s"])
            if tool == "perception":
                ours = best["cold_s"]
            out.append(best)
            print(format_cold(best, ours), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e4,1e5,1e6",
                        help="comma-separated sizes, e.g. 1e4,1e5,1e6,1e7")
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help="comma-separated tasks among " + ", ".join(TASKS))
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--peers", default="svy,samplics,R",
                        help="peers to time: svy, samplics, R, or none")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds after which a slow implementation is not re-run")
    parser.add_argument("--peer-limit", type=float, default=PEER_LIMIT,
                        help="seconds after which one run of a Python peer is stopped "
                             "(its time is then reported as a lower bound, '>')")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--cold", default="1e6",
                        help="sizes of the cold runs (a new process: import, design, first "
                             "T1; best of --repeat), or none")
    parser.add_argument("--worker", nargs=2, metavar=("TASK", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--cold-worker", nargs=2, metavar=("TOOL", "ROWS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    peers = [] if args.peers.strip().lower() == "none" else [
        p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        parser.error(f"unknown peer(s) {unknown}; choose among {', '.join(PEERS)} or none")

    if args.cold_worker:
        tool, rows = args.cold_worker
        print(json.dumps(cold_worker(tool, int(float(rows)))))
        return 0
    if args.worker:
        task, rows = args.worker
        print(json.dumps(worker(task, int(float(rows)), args.repeat, peers, args.budget,
                                args.peer_limit)))
        return 0

    tasks = [t.strip().upper() for t in args.tasks.split(",") if t.strip()]
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        parser.error(f"unknown task(s) {bad}; choose among {', '.join(TASKS)}")
    sizes = parse_rows(args.rows)
    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    for peer in ("svy", "samplics"):
        if peer in peers:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    __import__(peer)
            except ImportError:
                print(f"note: {peer} is not installed: skipped (pip install -e '.[bench]')")
    use_r = "R" in peers and r_available()
    if "R" in peers and not use_r:
        print("note: Rscript with the survey and data.table packages not found: R skipped")
    print(HEADER)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, n_rows in enumerate(sizes):
            r_times = {}
            if use_r and n_rows <= PEER_MAX_ROWS["R"]:
                r_times = run_r(n_rows, tasks, args.repeat, Path(tmp), args.budget)
            for task in tasks:
                if task == "T7" and index > 0:
                    continue
                command = [sys.executable, str(Path(__file__).resolve()), "--worker", task,
                           str(n_rows), "--repeat", str(args.repeat), "--budget",
                           str(args.budget), "--peer-limit", str(args.peer_limit),
                           "--peers", ",".join(
                               p for p in peers if p != "R") or "none"]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    print(f"{task} {n_rows:,}: FAILED\n{done.stderr.strip()[-2000:]}")
                    results.append({"task": task, "rows": n_rows, "failed": True})
                    continue
                record = json.loads(done.stdout.strip().splitlines()[-1])
                if task in r_times:
                    record["R_s"] = float(r_times[task])
                results.append(record)
                print(format_row(record), flush=True)
                for note in record.get("notes", []):
                    print(f"    note: {note}")
        cold = cold_runs(args, peers, use_r, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results, "cold": cold},
                                        indent=1))
    return 1 if any(r.get("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
