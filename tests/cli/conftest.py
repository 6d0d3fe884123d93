"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest

import perception as pc


@pytest.fixture(scope="module")
def wave_file(tmp_path_factory):
    """The demo's waves (seed 2, 400 adults a wave) written as one CSV file."""
    demo = pc.demo_survey(seed=2, n_per_wave=400)
    path = tmp_path_factory.mktemp("waves") / "waves.csv"
    demo.waves.to_csv(path, index=False, date_format="%Y-%m-%d")
    return path
