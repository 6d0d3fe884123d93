"""Designs on a Dask DataFrame read from Parquet, on a ``dask.distributed`` cluster.

Writes the synthetic survey of ``suite.py`` (20 strata x 50 PSUs, 15 numeric items, 5
categorical items, a 20-level domain) as a Parquet dataset of files of ``--file-rows``
rows, then times T1 (mean of the 15 items), T2 (the same by domain) and T4 (proportions
of the 5 categorical items by domain) on ``pc.SurveyDesign(dd.read_parquet(...), ...)``
with a LocalCluster of ``--workers`` single-threaded worker processes, each limited to
``--memory`` (Dask's ``memory_limit``: a worker past it is restarted, so a finished run
stayed within it). Reports wall time and the workers' CPU time per task (on a shared
machine the wall time also counts the time other processes held the cores), the peak
resident memory of each worker process (``getrusage`` maxrss, asked of each worker
after the tasks) and of the client. A real cluster runs the same code with ``Client("tcp://scheduler:8786")``.

Run (not part of the test suite)::

    .venv/bin/python benchmarks/dask_cluster.py --rows 1e7 --out /tmp/survey_parquet
    .venv/bin/python benchmarks/dask_cluster.py --rows 1e8 --out /tmp/survey_parquet

The data are written once per size (``--out``/rows_<n>) and reused by later runs.
Items are stored as float32 (answers on a scale; halves the reading), design columns
as int32, categorical items and the domain as int8.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402  (the synthetic survey of the suite)

TASKS = {"T1": "mean, 15 items", "T2": "mean, 15 items x 20 domains",
         "T4": "proportion, 5 items x 20 domains"}


def write_dataset(n_rows: int, out: Path, file_rows: int) -> Path:
    """The survey as Parquet files of ``file_rows`` rows (each from its own seed)."""
    target = out / f"rows_{n_rows}"
    done = target / "_complete"
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    columns = [*suite.ITEM_NAMES, *suite.CAT_NAMES, "domain"]
    start = 0
    part = 0
    while start < n_rows:
        rows = min(file_rows, n_rows - start)
        frame = suite.make_data(rows, columns, seed=suite.SEED + part)
        frame = frame.astype({"stratum": np.int32, "psu": np.int32, "domain": np.int8,
                              **{c: np.float32 for c in suite.ITEM_NAMES},
                              **{c: np.int8 for c in suite.CAT_NAMES}})
        frame.to_parquet(target / f"part_{part:04d}.parquet", index=False,
                         row_group_size=file_rows)
        start += rows
        part += 1
        del frame
    done.write_text(str(n_rows))
    return target


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    return time.process_time()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e7")
    parser.add_argument("--out", default="/tmp/perception_parquet")
    parser.add_argument("--file-rows", type=float, default=2e6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory", default="4GiB")
    parser.add_argument("--tasks", default="T1,T2,T4")
    args = parser.parse_args(argv)
    n_rows = int(float(args.rows))
    started = time.perf_counter()
    path = write_dataset(n_rows, Path(args.out), int(args.file_rows))
    written = time.perf_counter() - started
    size = sum(f.stat().st_size for f in path.glob("*.parquet"))

    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import perception as pc

    results = []
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      memory_limit=args.memory, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        ddf = dd.read_parquet(path)
        design = pc.SurveyDesign(ddf, weights="w", strata="stratum", psu="psu")
        for task in args.tasks.split(","):
            cpu0 = client.run(_cpu_seconds)
            t0 = time.perf_counter()
            if task == "T1":
                table = pc.mean(design, suite.ITEM_NAMES)
            elif task == "T2":
                table = pc.mean(design, suite.ITEM_NAMES, by="domain")
            elif task == "T4":
                table = pc.proportion(design, suite.CAT_NAMES, by="domain")
            else:
                raise SystemExit(f"unknown task {task!r}")
            seconds = time.perf_counter() - t0
            cpu1 = client.run(_cpu_seconds)
            # CPU seconds of the workers: on a shared machine the wall time also counts
            # the time other processes held the cores
            cpu = sum(cpu1[k] - cpu0[k] for k in cpu1)
            results.append({"task": task, "what": TASKS[task], "seconds": round(seconds, 2),
                            "worker_cpu_seconds": round(cpu, 1), "rows_out": len(table)})
            print(json.dumps(results[-1]), flush=True)
        workers = client.run(_maxrss_mib)
    report = {
        "rows": n_rows, "files": len(list(path.glob("*.parquet"))),
        "parquet_gib": round(size / 2**30, 2), "written_seconds": round(written, 1),
        "partitions": ddf.npartitions, "workers": args.workers, "memory_limit": args.memory,
        "tasks": results,
        "worker_peak_rss_mib": sorted(round(v) for v in workers.values()),
        "client_peak_rss_mib": round(_maxrss_mib()),
        "pandas": pd.__version__,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
