"""Fixtures shared by the docstring examples (``pytest --doctest-modules perception``)
and the test suite (``tests/``).

The Central Mali demo takes seconds to build: each set of arguments of
``pc.demo_survey`` is built once per run and shared, by the tests that ask for the
``demo`` or ``demo_factory`` fixtures and by the examples (their ``pc.demo_survey(...)``
returns the shared demo). Nothing may change a shared demo (work on a copy:
``demo.waves.copy()``); the end of the run checks that nothing did.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import perception as pc


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

    def build(*args: Any, **arguments: Any) -> pc.DemoSurvey:
        bound = signature.bind(*args, **arguments)
        bound.apply_defaults()
        key = tuple(sorted(bound.arguments.items()))
        if key not in built:
            demo = make(*args, **arguments)
            built[key] = (demo, _fingerprint(demo))
        return built[key][0]

    yield build
    changed = [dict(key) for key, (demo, before) in built.items()
               if _fingerprint(demo) != before]
    assert not changed, f"something changed the shared demo survey {changed}: work on a copy"


@pytest.fixture(scope="session")
def demo(demo_factory) -> pc.DemoSurvey:
    """``pc.demo_survey(seed=1)``, the demo of the examples and of the command line."""
    return demo_factory(seed=1)


class _ExamplesPerception(types.ModuleType):
    """``perception`` as the examples see it: ``pc.demo_survey`` gives the shared demo."""

    def __init__(self, demo_survey: Callable[..., pc.DemoSurvey]) -> None:
        super().__init__("perception", pc.__doc__)
        self.demo_survey = demo_survey

    def __getattr__(self, name: str) -> Any:
        return getattr(pc, name)


@pytest.fixture(autouse=True, scope="session")
def _example_names(doctest_namespace: dict, demo_factory) -> None:
    """Names every example may use without importing them, as the documentation writes:
    ``pc``, ``np`` and ``pd`` (examples must not import perception themselves)."""
    doctest_namespace.update(pc=_ExamplesPerception(demo_factory), np=np, pd=pd)
