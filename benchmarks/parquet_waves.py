"""Validating a wave larger than memory: a Parquet dataset, partition by partition.

Writes the demo's waves (``pc.demo_survey(seed=1)``: two waves of about 4,000
respondents, 68 columns), copied ``--copies`` times per file (each copy with its own
respondent ids, so the wave stays valid) into ``--files`` Parquet files, then validates
it in a fresh process each way and reports wall time and peak resident memory
(``getrusage`` maxrss of that process):

- ``memory``: the files read and concatenated, then ``pc.validate`` (the whole data in
  memory);
- ``partitions``: ``pc.validate(read_parquet_dataset(dir), q)`` with Dask's synchronous
  scheduler (one partition at a time in this process);
- ``read``: ``pc.read_wave(dir, q)`` then a mean by wave on the lazy frame.

Both reports are checked equal. Run (not part of the test suite)::

    .venv/bin/python benchmarks/parquet_waves.py --files 20 --copies 5 --out /tmp/pw
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def write(out: Path, files: int, copies: int) -> Path:
    import pandas as pd

    import perception as pc

    target = out / f"waves_{files}x{copies}"
    if (target / "_complete").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    waves = pc.demo_survey(seed=1).waves
    for f in range(files):
        parts = []
        for c in range(copies):
            copy = waves.copy()
            copy["resp_id"] = copy["resp_id"].astype(str) + f"-{f}-{c}"
            parts.append(copy)
        pd.concat(parts, ignore_index=True).to_parquet(target / f"part_{f:04d}.parquet",
                                                       index=False)
    (target / "_complete").write_text("")
    return target


def run(way: str, path: Path) -> dict:
    import dask
    import pandas as pd

    import perception as pc
    from perception.waves.partitions import read_parquet_dataset

    q = pc.demo_survey(seed=1).questionnaire
    start = time.perf_counter()
    with dask.config.set(scheduler="synchronous"):
        if way == "memory":
            data = pd.concat([pd.read_parquet(f) for f in sorted(path.glob("*.parquet"))],
                             ignore_index=True)
            report = pc.validate(data, q)
            rows = len(data)
        elif way == "partitions":
            report = pc.validate(read_parquet_dataset(path), q)
            rows = report.n_rows
        else:
            wave = pc.read_wave(path, q)
            design = pc.SurveyDesign(wave, weights="w_final", strata="stratum",
                                     psu="psu_id")
            pc.mean(design, "trust_police", by="wave", na_rm=True)
            report, rows = None, None
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
    return {"way": way, "rows": rows, "seconds": round(seconds, 1),
            "peak_MiB": round(peak), "errors": None if report is None else len(report.errors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("/tmp/parquet_waves"))
    parser.add_argument("--way", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.way:  # one measurement, in its own process
        print(json.dumps(run(args.way, args.path)))
        return
    path = write(args.out, args.files, args.copies)
    for way in ("memory", "partitions", "read"):
        done = subprocess.run([sys.executable, __file__, "--way", way, "--path", str(path)],
                              capture_output=True, text=True, check=True)
        print(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
