"""Shared pytest configuration of the test suite (the demo fixtures ``demo`` and
``demo_factory``, shared with the docstring examples, are in ../conftest.py), and the
wave file of the command-line tests."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# ---------------------------------------------------------------------------------
# hypothesis: the one profile loaded by default, in CI and locally, for the property
# tests of the estimation core and the reliability tests. Derandomised: the same
# examples on every run and every machine, so a property test cannot pass or fail by
# chance; no deadline (CI machines are slow and shared); tests that need fewer or more
# examples say so with @settings(max_examples=...). HYPOTHESIS_PROFILE=explore searches
# more (and randomly) when working on the engine.
# ---------------------------------------------------------------------------------
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def client():
    """A ``dask.distributed`` LocalCluster of two worker processes, one thread each, and
    its client, shared by the test session (each module starting its own cost about 3 s
    a module): a partition is summed in another process."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as connected:
            yield connected


@pytest.fixture(scope="module")
def wave_file(tmp_path_factory, demo_factory):
    """The demo's waves (seed 2, 400 adults a wave) written as one CSV file: the input of
    the command-line tests."""
    demo = demo_factory(seed=2, n_per_wave=400)
    path = tmp_path_factory.mktemp("waves") / "waves.csv"
    demo.waves.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path
