"""Shared pytest configuration of the test suite (the demo fixtures ``demo`` and
``demo_factory``, shared with the docstring examples, are in ../conftest.py)."""

from __future__ import annotations

import os

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

