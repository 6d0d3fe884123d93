"""Names every docstring example may use without importing them (``pytest
--doctest-modules perception``): ``pc``, ``np`` and ``pd``, as the documentation writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import perception as pc


@pytest.fixture(autouse=True, scope="session")
def _example_names(doctest_namespace: dict) -> None:
    doctest_namespace.update(pc=pc, np=np, pd=pd)
