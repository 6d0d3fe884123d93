"""Shared pytest configuration of the test suite."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

import perception as pc

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


# ---------------------------------------------------------------------------------
# The Central Mali demo takes seconds to build: each set of arguments is built once per
# run and shared by every test that asks for it. Tests must not change a shared demo
# (work on a copy: ``demo.waves.copy()``); the end of the run checks that none did.
# ---------------------------------------------------------------------------------
def _fingerprint(demo: pc.DemoSurvey) -> tuple:
    return tuple(
        (tuple(frame.columns), tuple(map(str, frame.dtypes)),
         int(pd.util.hash_pandas_object(frame, index=True).sum()))
        for frame in (demo.waves, demo.truth)
    )


@pytest.fixture(scope="session")
def demo_factory() -> Iterator[Callable[..., pc.DemoSurvey]]:
    """``pc.demo_survey(**arguments)``, built once per set of arguments in the run."""
    make = pc.demo_survey  # the function itself (a test may route pc.demo_survey here)
    signature = inspect.signature(make)
    built: dict[tuple, tuple[pc.DemoSurvey, tuple]] = {}

    def build(**arguments) -> pc.DemoSurvey:
        bound = signature.bind(**arguments)
        bound.apply_defaults()
        key = tuple(sorted(bound.arguments.items()))
        if key not in built:
            demo = make(**arguments)
            built[key] = (demo, _fingerprint(demo))
        return built[key][0]

    yield build
    changed = [dict(key) for key, (demo, before) in built.items()
               if _fingerprint(demo) != before]
    assert not changed, f"a test changed the shared demo survey {changed}: work on a copy"


@pytest.fixture(scope="session")
def demo(demo_factory) -> pc.DemoSurvey:
    """``pc.demo_survey(seed=1)``, the demo of the examples and of the command line."""
    return demo_factory(seed=1)
