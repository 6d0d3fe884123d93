"""Fuzzing the wave validator and the questionnaire loader (hypothesis, derandomised).

- ``pc.validate`` on mutated demo waves never raises, returns a well-formed report, and
  never calls an unmutated row invalid (unless it shares a cross-row key, such as the
  respondent id, with a mutated row); benign changes (row or column order, an extra
  column, another index) keep a valid wave valid.
- ``pc.load_questionnaire`` on mutated YAML text, and ``Questionnaire.from_dict`` on a
  mutated mapping, either succeed or raise a ``QuestionnaireError`` -- nothing else; a
  questionnaire that loads can validate a wave without raising.

The mutations live in ``tests/_fuzz_cases.py``; ``benchmarks/fuzz_validate.py`` runs the
same on >= 10,000 waves.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest
import yaml
from _fuzz_cases import check_report, mutate_wave, mutate_yaml_data, mutate_yaml_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perception as pc
from perception.errors import QuestionnaireError
from perception.questionnaire.model import Questionnaire

ROOT = Path(__file__).resolve().parents[1]
QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
WAVE_ROWS = 8  # rows of each fuzzed wave
WAVE_EXAMPLES = 50  # validate() costs ~0.15 s: the benchmark runs 10,000
DATA_EXAMPLES = 150  # from_dict() is fast
TEXT_EXAMPLES = 25  # YAML parsing costs ~0.1 s
CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def questionnaire(demo) -> Questionnaire:
    return demo.questionnaire


@pytest.fixture(scope="module")
def parsed() -> dict:
    return yaml.safe_load(QUESTIONNAIRE.read_text(encoding="utf-8"))


def _sample(waves: pd.DataFrame, seed: int) -> pd.DataFrame:
    return waves.sample(WAVE_ROWS, random_state=seed).reset_index(drop=True)


def test_the_unmutated_samples_are_valid(demo, questionnaire):
    for seed in range(3):
        report = pc.validate(_sample(demo.waves, seed), questionnaire)
        assert report.ok, report.summary()


@settings(max_examples=WAVE_EXAMPLES, suppress_health_check=CHECKS)
@given(seed=st.integers(0, 2**16), rnd=st.randoms(use_true_random=False))
def test_validate_never_raises_nor_blames_valid_rows(demo, questionnaire, seed, rnd):
    mutated = mutate_wave(_sample(demo.waves, seed), rnd)
    report = pc.validate(mutated.data, questionnaire)  # never raises
    problems = check_report(report, mutated)
    assert not problems, "\n".join(problems)


@settings(max_examples=DATA_EXAMPLES, suppress_health_check=CHECKS)
@given(rnd=st.randoms(use_true_random=False))
def test_from_dict_raises_only_questionnaire_errors(parsed, rnd):
    try:
        q = Questionnaire.from_dict(mutate_yaml_data(parsed, rnd), source="fuzzed.yaml")
    except QuestionnaireError as exc:
        assert str(exc).startswith("fuzzed.yaml"), str(exc)
        return
    assert isinstance(q, Questionnaire) and len(q) > 0


@settings(max_examples=TEXT_EXAMPLES, suppress_health_check=CHECKS)
@given(rnd=st.randoms(use_true_random=False))
def test_load_questionnaire_raises_only_questionnaire_errors(demo, tmp_path, rnd):
    path = tmp_path / "fuzzed.yaml"
    path.write_text(mutate_yaml_text(QUESTIONNAIRE.read_text(encoding="utf-8"), rnd),
                    encoding="utf-8")
    try:
        q = pc.load_questionnaire(path)
    except QuestionnaireError as exc:
        assert "fuzzed.yaml" in str(exc) and "Fix" in str(exc), str(exc)
        return
    # a questionnaire that loads validates a wave without raising
    report = pc.validate(_sample(demo.waves, 0), q)
    assert isinstance(report.ok, bool)


def test_mutations_are_reproducible():
    """The same random state gives the same mutation (so a failure can be replayed)."""
    frame = pd.DataFrame({"a": range(5), "b": list("abcde")})
    first = mutate_wave(frame, random.Random(3))
    again = mutate_wave(frame, random.Random(3))
    pd.testing.assert_frame_equal(first.data, again.data)
    assert first.what == again.what
