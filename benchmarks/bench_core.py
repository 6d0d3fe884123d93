"""Speed of the estimation core against plain numpy, on a large synthetic survey.

1,000,000 respondents in 20 strata x 50 PSUs (villages), 15 numeric items and a
20-level domain. Timed (best of 3, time.perf_counter):

- T1: ``pc.mean`` of the 15 items with Taylor SEs (full 15 x 15 covariance), whole sample;
- T2: the same by the 20-level domain (300 estimates and their 300 x 300 covariance);
- T3: ``pc.total`` of the 15 items by domain;
- T4: ``pc.proportion`` of a 5-level item by domain;

each next to a plain numpy computation of the same numbers (weighted means, linearised
scores, PSU totals with ``np.bincount``, centring within strata, cross-products), which
is also checked to agree. Prints a table and the peak memory (tracemalloc).

Run: ``.venv/bin/python benchmarks/bench_core.py`` (not part of the test suite).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd

import perception as pc

STRATA, PSUS_PER_STRATUM, ITEMS, DOMAINS = 20, 50, 15, 20


def make_data(n_rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_psu = STRATA * PSUS_PER_STRATUM
    psu = np.sort(rng.integers(0, n_psu, n_rows))
    stratum = psu // PSUS_PER_STRATUM
    village_effect = rng.normal(0, 1, n_psu)[psu]
    frame = {"stratum": stratum, "psu": psu,
             "w": rng.uniform(50, 150, n_rows),
             "domain": rng.integers(0, DOMAINS, n_rows)}
    for j in range(ITEMS):
        frame[f"q{j + 1}"] = 3 + village_effect * 0.3 + rng.normal(0, 1, n_rows)
    frame["trust"] = rng.integers(1, 6, n_rows)
    return pd.DataFrame(frame)


# ------------------------------------------------------------- plain numpy versions --
def _strat_vcov(totals: np.ndarray, psu_stratum: np.ndarray) -> np.ndarray:
    """With-replacement stratified covariance of PSU totals (n_h / (n_h - 1) centring)."""
    n_h = np.bincount(psu_stratum)
    sums = np.zeros((n_h.size, totals.shape[1]))
    np.add.at(sums, psu_stratum, totals)
    dev = totals - (sums / n_h[:, None])[psu_stratum]
    dev *= np.sqrt(n_h / (n_h - 1))[psu_stratum][:, None]
    return dev.T @ dev


def _bincount_columns(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    return np.column_stack([np.bincount(index, weights=values[:, j], minlength=size)
                            for j in range(values.shape[1])])


def numpy_means(data: pd.DataFrame, items: list[str], by: str | None = None):
    y = data[items].to_numpy()
    w = data["w"].to_numpy()
    psu = data["psu"].to_numpy()
    n_psu = int(psu.max()) + 1
    psu_stratum = np.zeros(n_psu, dtype=np.int64)
    psu_stratum[psu] = data["stratum"].to_numpy()
    if by is None:
        total_w = w.sum()
        means = (w @ y) / total_w
        scores = w[:, None] * (y - means) / total_w
        return means, _strat_vcov(_bincount_columns(psu, scores, n_psu), psu_stratum)
    d = data[by].to_numpy()
    n_dom = int(d.max()) + 1
    total_w = np.bincount(d, weights=w, minlength=n_dom)
    means = _bincount_columns(d, w[:, None] * y, n_dom) / total_w[:, None]
    scores = w[:, None] * (y - means[d]) / total_w[d][:, None]
    totals = _bincount_columns(psu * n_dom + d, scores, n_psu * n_dom)
    totals = totals.reshape(n_psu, n_dom * len(items))
    return means, _strat_vcov(totals, psu_stratum)


def numpy_totals(data: pd.DataFrame, items: list[str], by: str):
    y = data[items].to_numpy()
    w = data["w"].to_numpy()
    psu = data["psu"].to_numpy()
    n_psu = int(psu.max()) + 1
    psu_stratum = np.zeros(n_psu, dtype=np.int64)
    psu_stratum[psu] = data["stratum"].to_numpy()
    d = data[by].to_numpy()
    n_dom = int(d.max()) + 1
    scores = w[:, None] * y
    totals = _bincount_columns(psu * n_dom + d, scores, n_psu * n_dom).reshape(n_psu, -1)
    return totals.sum(axis=0), _strat_vcov(totals, psu_stratum)


def numpy_proportions(data: pd.DataFrame, item: str, by: str):
    levels = np.unique(data[item].to_numpy())
    indicators = (data[item].to_numpy()[:, None] == levels[None, :]).astype(float)
    frame = pd.DataFrame(indicators, columns=[f"l{v}" for v in levels])
    frame[["w", "psu", "stratum", by]] = data[["w", "psu", "stratum", by]]
    return numpy_means(frame, list(frame.columns[: len(levels)]), by=by)


# ------------------------------------------------------------------------ timing --
def best_of(function, repeat: int = 3) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    data = make_data(args.rows)
    items = [f"q{j + 1}" for j in range(ITEMS)]
    start = time.perf_counter()
    design = pc.SurveyDesign(data, weights="w", strata="stratum", psu="psu")
    build = time.perf_counter() - start

    cases = [
        ("T1 mean, 15 items", lambda: pc.mean(design, items),
         lambda: numpy_means(data, items)),
        ("T2 mean, 15 items by 20 domains", lambda: pc.mean(design, items, by="domain"),
         lambda: numpy_means(data, items, by="domain")),
        ("T3 total, 15 items by 20 domains", lambda: pc.total(design, items, by="domain"),
         lambda: numpy_totals(data, items, "domain")),
        ("T4 proportion, 5 levels by 20 domains",
         lambda: pc.proportion(design, "trust", by="domain"),
         lambda: numpy_proportions(data, "trust", "domain")),
    ]
    print(f"{args.rows:,} rows, {STRATA} strata x {PSUS_PER_STRATUM} PSUs, {ITEMS} items, "
          f"{DOMAINS} domains; design built in {build:.2f} s")
    print(f"{'case':40s} {'perception':>11s} {'numpy':>9s} {'ratio':>7s} {'max rel diff':>13s}")
    for name, ours, plain in cases:
        t_ours, table = best_of(ours, args.repeat)
        t_plain, (estimate, vcov) = best_of(plain, args.repeat)
        se = np.sqrt(np.diag(vcov))
        diff = max(
            np.max(np.abs(table["estimate"].to_numpy() - np.ravel(estimate))
                   / np.abs(np.ravel(estimate))),
            np.max(np.abs(table["se"].to_numpy() - se) / se),
        )
        print(f"{name:40s} {t_ours:10.3f}s {t_plain:8.3f}s {t_ours / t_plain:6.2f}x "
              f"{diff:13.1e}")

    tracemalloc.start()
    pc.mean(design, items, by="domain")
    _, peak_ours = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    numpy_means(data, items, by="domain")
    _, peak_plain = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak memory of T2: perception {peak_ours / 2**20:.0f} MiB, "
          f"numpy {peak_plain / 2**20:.0f} MiB (data: "
          f"{data.memory_usage(deep=True).sum() / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
