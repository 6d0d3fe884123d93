"""Fuzz the wave validator on >= 10,000 mutated demo waves; print run time and count.

Each wave is a small random sample of ``pc.demo_survey(seed=1).waves`` with one random
mutation of ``tests/_fuzz_cases.py`` (cells set to strange values, whole columns
dropped, duplicated, renamed or retyped, or a benign change). For every wave
``pc.validate`` must not raise, and its report must be well formed and blame no
unmutated row (see ``_fuzz_cases.check_report``). Mutated YAML questionnaires are
loaded too (``--questionnaires``): only ``QuestionnaireError`` may come out.

Usage::

    .venv/bin/python benchmarks/fuzz_validate.py [--waves 10000] [--rows 8] [--seed 1]
        [--questionnaires 1000] [--workers 2]

Exit code 0 when every wave passed, 1 otherwise (the first failures are printed with
the seed that replays them). Not part of the test suite; ``tests/test_fuzz.py`` runs a
few hundred examples.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402 - tests/ put on sys.path first
from _fuzz_cases import (  # noqa: E402 - tests/ put on sys.path first
    check_report,
    mutate_wave,
    mutate_yaml_data,
    mutate_yaml_text,
)

import perception as pc  # noqa: E402 - tests/ put on sys.path first
from perception.errors import QuestionnaireError  # noqa: E402 - tests/ put on sys.path first
from perception.questionnaire.model import Questionnaire  # noqa: E402 - tests/ put on sys.path first

QUESTIONNAIRE = ROOT / "questionnaires" / "centre_mali_trust.yaml"
SHOWN = 5  # failures printed


def _waves(task: tuple[int, int, int, int]) -> tuple[int, dict, list[str]]:
    """Validate ``count`` mutated waves from seed ``start``; return count, kinds, failures."""
    start, count, rows, demo_seed = task
    demo = pc.demo_survey(seed=demo_seed)
    q = demo.questionnaire
    kinds: dict[str, int] = {}
    failures: list[str] = []
    for seed in range(start, start + count):
        rnd = random.Random(seed)
        sample = demo.waves.sample(rows, random_state=rnd.randrange(2**32)).reset_index(
            drop=True)
        mutated = mutate_wave(sample, rnd)
        kinds[mutated.kind] = kinds.get(mutated.kind, 0) + 1
        try:
            report = pc.validate(mutated.data, q)
        except Exception as exc:  # noqa: BLE001 - the point is to catch anything
            failures.append(f"seed {seed}: validate raised {type(exc).__name__}: {exc} "
                            f"after {mutated.what}")
            continue
        problems = check_report(report, mutated)
        if problems:
            failures.append(f"seed {seed}: " + "\n".join(problems))
    return count, kinds, failures


def _questionnaires(count: int, seed: int) -> tuple[int, int, list[str]]:
    text = QUESTIONNAIRE.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    loaded = 0
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.yaml"
        for i in range(count):
            rnd = random.Random(seed * 1_000_003 + i)
            try:
                if i % 2:
                    path.write_text(mutate_yaml_text(text, rnd), encoding="utf-8")
                    pc.load_questionnaire(path)
                else:
                    Questionnaire.from_dict(mutate_yaml_data(data, rnd), source="fuzzed.yaml")
                loaded += 1
            except QuestionnaireError:
                pass
            except Exception as exc:  # noqa: BLE001 - the point is to catch anything
                failures.append(f"questionnaire {i}: {type(exc).__name__}: {exc}")
    return count, loaded, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=8, help="rows of each fuzzed wave")
    parser.add_argument("--seed", type=int, default=1, help="first seed of the waves")
    parser.add_argument("--demo-seed", type=int, default=1)
    parser.add_argument("--questionnaires", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    chunk = max(1, -(-args.waves // (args.workers * 4)))
    tasks = [(args.seed + s, min(chunk, args.waves - s), args.rows, args.demo_seed)
             for s in range(0, args.waves, chunk)]
    total, kinds, failures = 0, {}, []
    with ProcessPoolExecutor(args.workers) as pool:
        for count, part, problems in pool.map(_waves, tasks):
            total += count
            failures += problems
            for kind, n in part.items():
                kinds[kind] = kinds.get(kind, 0) + n
    wave_time = time.perf_counter() - start
    print(f"waves: {total:,} mutated waves of {args.rows} rows validated in {wave_time:.1f} s "
          f"({1000 * wave_time / max(total, 1):.1f} ms per wave, {args.workers} workers); "
          f"mutations: " + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())))
    print(f"waves: {len(failures)} failure(s)")
    for failure in failures[:SHOWN]:
        print("  " + failure.replace("\n", "\n  "))

    q_start = time.perf_counter()
    count, loaded, q_failures = _questionnaires(args.questionnaires, args.seed)
    q_time = time.perf_counter() - q_start
    print(f"questionnaires: {count:,} mutated questionnaires in {q_time:.1f} s ({loaded:,} "
          f"still loaded, the rest raised QuestionnaireError); {len(q_failures)} failure(s)")
    for failure in q_failures[:SHOWN]:
        print("  " + failure)
    return 0 if not failures and not q_failures else 1


if __name__ == "__main__":
    sys.exit(main())
