"""Monte Carlo check of ``pc.select_pps``: do the drawn frequencies match the inclusion
probabilities the draw reports?

For each frame and method (systematic PPS in random order, Sampford), the whole public
draw (certainty units, reserve list, phase-2 split) is repeated ``--draws`` times with
one seeded Generator. For every unit the frequency of being surveyed (in the sample,
not the reserve) is compared with ``pi``, and of being drawn at all (sample or reserve)
with ``pi_draw``; for Sampford every pair's frequency of being surveyed together is
compared with ``pc.joint_inclusion``. Reported: the largest ``|z|`` (difference over its
Monte Carlo SE ``sqrt(p (1 - p) / R)``) with the number of comparisons and the
Bonferroni 1% bound for that many, and ``sum z^2`` (approximately chi-square with as
many degrees of freedom as comparisons, the frequencies being nearly independent) with
its p-value; certainty units must be selected in every draw.

The expected probabilities of every unit and pair of the frame (also those a run never
draws) are derived here again from the design (certainty rule, phase-1 PPS of ``n' +
reserve``, Sampford's exact joint probabilities, random phase-2 split); every draw's
reported ``pi`` and ``pi_draw``, and ``pc.joint_inclusion`` of the first 100 draws, must
equal them (to 1e-12). Pairs expected fewer than 10 times (or all but 10 times) in the
run are too rare for a normal z: they are pooled into 10 bins of similar probability,
each bin's count compared with its expected count.

Frames:

- ``demo``: the village frame of the Central Mali example (``pc.demo_village_frame``,
  seed 1), strata Youwarou (59 villages, 6 drawn) and Ségou (328 villages, 12 drawn)
  by adults, reserve 2;
- ``skewed``: 15 units with lognormal sizes (sigma 1.2, seed 3), 5 drawn, reserve 2:
  certainty units and units certain at the first phase.

Usage::

    .venv/bin/python benchmarks/selection_inclusion.py [--draws 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd
from scipy import stats

import perception as pc


def frames() -> dict[str, tuple[pd.DataFrame, str, dict, str]]:
    villages = pc.demo_village_frame(pc.demo_survey(seed=1))
    demo = villages[villages["cercle"].isin([18, 21])].reset_index(drop=True)
    rng = np.random.default_rng(3)
    skewed = pd.DataFrame({"size": np.round(rng.lognormal(3, 1.2, 15), 1)})
    skewed["one"] = "all"
    return {
        "demo": (demo, "adults", {18: 6, 21: 12}, "cercle"),
        "skewed": (skewed, "size", {"all": 5}, "one"),
    }


def design_matrix(frame, size, n, strata, reserve, method):
    """Expected pi (probability of being surveyed), pi_draw and, for Sampford, pi_ij of
    every unit of the frame, derived from the design."""
    from perception.sampling.pps import pps_probabilities
    from perception.sampling.sampford import sampford_joint

    N = len(frame)
    x = frame[size].to_numpy(dtype=float)
    pi = np.zeros(N)
    pi_draw = np.zeros(N)
    pij = np.zeros((N, N))
    certain = np.zeros(N, dtype=bool)
    for key, n_h in n.items():
        rows = np.flatnonzero((frame[strata] == key).to_numpy())
        _, c0 = pps_probabilities(x[rows], n_h)
        rest = rows[~c0]
        n_survey = n_h - int(c0.sum())
        m1 = 0 if n_survey == 0 else min(n_survey + reserve, rest.size)
        p1, c1 = pps_probabilities(x[rest], m1)
        j1 = np.minimum.outer(p1, p1)  # phase-1 certain with any unit: the other's pi
        free = np.flatnonzero(~c1)
        if method == "sampford" and free.size >= 2 and m1 - c1.sum() >= 2:
            j1[np.ix_(free, free)] = sampford_joint(p1[free])
        factor = n_survey * (n_survey - 1) / (m1 * (m1 - 1)) if m1 > 1 else 0.0
        pi[rows[c0]] = pi_draw[rows[c0]] = 1.0
        certain[rows[c0]] = True
        pi[rest] = p1 * n_survey / m1 if m1 else 0.0
        pi_draw[rest] = p1
        pij[np.ix_(rest, rest)] = j1 * factor
    pij[certain, :] = pi[None, :].repeat(certain.sum(), 0)
    pij[:, certain] = pi[:, None].repeat(certain.sum(), 1)
    strata_of = frame[strata].to_numpy()
    across = strata_of[:, None] != strata_of[None, :]
    pij[across] = np.outer(pi, pi)[across]
    np.fill_diagonal(pij, pi)
    return pi, pi_draw, pij, certain


def run(frame, size, n, strata, method, draws, seed, reserve=2):
    N = len(frame)
    rng = np.random.default_rng(seed)
    surveyed = np.zeros((N, N)) if method == "sampford" else np.zeros(N)
    in_draw = np.zeros(N)
    pi, pi_draw, pij, certain = design_matrix(frame, size, n, strata, reserve, method)
    certain_hits = np.zeros(N)
    inconsistent = 0
    start = time.perf_counter()
    for _ in range(draws):
        s = pc.select_pps(frame, size, n=n, strata=strata, method=method, seed=rng,
                          reserve=reserve)
        rows = s.index.to_numpy()
        main = rows[~s["reserve"].to_numpy()]
        if method == "sampford":
            surveyed[np.ix_(main, main)] += 1
        else:
            surveyed[main] += 1
        in_draw[rows] += 1
        for name, store in (("pi", pi), ("pi_draw", pi_draw)):
            inconsistent += int(np.sum(np.abs(store[rows] - s[name].to_numpy()) > 1e-12))
        inconsistent += int(np.any(s["certainty"].to_numpy() != certain[rows]))
        certain_hits[main] += certain[main]
        if method == "sampford" and _ < 100:
            j = pc.joint_inclusion(s, reserve=True)
            idx = j.index.to_numpy()
            inconsistent += int(np.sum(np.abs(pij[np.ix_(idx, idx)] - j.to_numpy()) > 1e-12))
    elapsed = time.perf_counter() - start
    return dict(surveyed=surveyed, in_draw=in_draw, pi=pi, pi_draw=pi_draw, pij=pij,
                certain=certain, certain_ok=bool((certain_hits[certain] == draws).all()),
                inconsistent=inconsistent, ms_per_draw=1000 * elapsed / draws)


#: expected count below which a comparison is pooled with others of similar probability
MIN_EXPECTED = 10
RARE_BINS = 10


def compare(freq: np.ndarray, p: np.ndarray, draws: int) -> dict:
    """Largest |z|, sum of z^2 and its p-value over the comparisons with 0 < p < 1;
    rare ones pooled in bins of similar probability."""
    inside = (p > 0) & (p < 1)
    common = inside & (draws * p >= MIN_EXPECTED) & (draws * (1 - p) >= MIN_EXPECTED)
    z = list((freq[common] - p[common]) / np.sqrt(p[common] * (1 - p[common]) / draws))
    rare = np.flatnonzero(inside & ~common)
    if rare.size:
        order = rare[np.argsort(p[rare])]
        for part in np.array_split(order, min(RARE_BINS, order.size)):
            expected = draws * p[part].sum()
            observed = draws * freq[part].sum()
            z.append((observed - expected) / math.sqrt(expected))  # Poisson: var = mean
    outside = ~inside & (np.abs(freq - p) > 0)  # p = 0 or 1 must be met exactly
    z = np.asarray(z)
    k = z.size
    chi2 = float((z**2).sum())
    bound = float(stats.norm.isf(0.005 / max(k, 1)))  # two-sided 1% Bonferroni
    return dict(k=k, pooled=int(rare.size), max_z=float(np.abs(z).max()) if k else 0.0,
                bound=bound, chi2=chi2, p=float(stats.chi2.sf(chi2, k)) if k else 1.0,
                exact_missed=int(outside.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = []
    for name, (frame, size, n, strata) in frames().items():
        for method in ("systematic", "sampford"):
            r = run(frame, size, n, strata, method, args.draws, args.seed)
            if method == "sampford":
                first = np.diag(r["surveyed"]) / args.draws
            else:
                first = r["surveyed"] / args.draws
            checks = {"pi": compare(first, r["pi"], args.draws),
                      "pi_draw": compare(r["in_draw"] / args.draws, r["pi_draw"], args.draws)}
            if method == "sampford":
                upper = np.triu(np.ones_like(r["pij"], dtype=bool), 1)
                checks["pi_ij"] = compare((r["surveyed"] / args.draws)[upper],
                                          r["pij"][upper], args.draws)
            for what, c in checks.items():
                rows.append(dict(frame=name, method=method, check=what, comparisons=c["k"],
                                 pooled=c["pooled"], max_z=round(c["max_z"], 2),
                                 bonferroni_1pct=round(c["bound"], 2),
                                 sum_z2=round(c["chi2"], 1), p_value=round(c["p"], 3),
                                 exact_missed=c["exact_missed"]))
            print(f"{name:6s} {method:10s}: certainty units {int(r['certain'].sum())}, "
                  f"selected in every draw: {r['certain_ok']}; reported pi, pi_draw, "
                  f"certainty and joint_inclusion equal the design: {r['inconsistent'] == 0}; "
                  f"{r['ms_per_draw']:.2f} ms per draw")
            if not r["certain_ok"] or r["inconsistent"]:
                raise SystemExit("FAILED: a certainty unit was missed or a reported "
                                 "probability differs from the design")
    table = pd.DataFrame(rows)
    print(f"\n{args.draws} draws per frame and method, seed {args.seed}")
    print(table.to_string(index=False))
    failed = table[(table["max_z"] > table["bonferroni_1pct"]) | (table["p_value"] < 0.001)
                   | (table["exact_missed"] > 0)]
    print("\nall within Monte Carlo error" if failed.empty else f"\nOUTSIDE:\n{failed}")


if __name__ == "__main__":
    main()
