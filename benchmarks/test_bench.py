"""pytest-benchmark entries of the suite (benchmarks/suite.py), outside the test suite.

Run::

    .venv/bin/python -m pytest benchmarks/test_bench.py --benchmark-only \\
        --benchmark-group-by=param:task [--benchmark-json=out.json]

``BENCH_ROWS`` sets the size (default 100000). Each task is timed for perception and,
for T1-T4, for the plain-numpy computation of the same numbers (checked to agree to
``suite.AGREE_RTOL`` first), so the two sit side by side in a group; svy and samplics
are added when installed (``pip install -e '.[bench]'``). R is timed by ``suite.py``
only (it runs in its own process).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import suite  # noqa: E402 - benchmarks/ put on sys.path first

pytest.importorskip("pytest_benchmark")

ROWS = int(float(os.environ.get("BENCH_ROWS", "1e5")))
TASKS = ["T1", "T2", "T3", "T4", "T5", "T6"]


@pytest.fixture(scope="module")
def setup() -> dict:
    data = suite.make_data(ROWS)
    design = suite.design_of(data)
    replicate = design.replicate("bootstrap", suite.REPLICATES, seed=suite.SEED)
    code_of_value = np.zeros(suite.N_PSU, dtype=np.int64)
    code_of_value[data["psu"].to_numpy()] = design.psu_codes
    extra = {"replicate": replicate, "margins": suite.rake_margins(data),
             "factors": np.ascontiguousarray(replicate._factors[code_of_value])}
    return {"data": data, "design": design, "extra": extra}


@pytest.mark.parametrize("task", TASKS)
def test_perception(benchmark, setup, task):
    run = suite.perception_task(task, setup["design"], setup["data"], setup["extra"])
    benchmark.group = task
    benchmark(run)


@pytest.mark.parametrize("task", ["T1", "T2", "T3", "T4"])
def test_numpy(benchmark, setup, task):
    plain = suite.numpy_task(task, setup["data"], setup["extra"])
    ours = suite.perception_task(task, setup["design"], setup["data"], setup["extra"])()
    assert suite.compare(ours, plain()) <= suite.AGREE_RTOL
    benchmark.group = task
    benchmark(plain)


@pytest.mark.parametrize("peer", ["svy", "samplics"])
@pytest.mark.parametrize("task", ["T1", "T2", "T3", "T4"])
def test_peer(benchmark, setup, task, peer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip(peer)
        maker = suite.svy_task if peer == "svy" else suite.samplics_task
        run = maker(task, setup["data"], setup["extra"])
    if run is None:
        pytest.skip(f"{peer} has no {task} here")
    benchmark.group = task
    benchmark.pedantic(run, rounds=3, iterations=1)
